// Interop proof, both ways, between the `tasktoken` CLI (the Rust core) and jose, an
// independent JOSE implementation: tokens we mint verify with jose's jwtVerify, and tokens
// jose signs with the v1 header and claims verify with `tasktoken verify`. Also: every
// valid shared vector verifies with jose, and jose rejects every bad-signature vector.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import * as jose from "jose";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = process.env.TASKTOKEN_BIN ?? join(root, "target", "release", "tasktoken");
const dir = mkdtempSync(join(tmpdir(), "tasktoken-interop-"));
const ISS = "https://auth.example";
const AUD = "crm-api";

function cli(args, input) {
  return spawnSync(bin, args, { input, encoding: "utf8" });
}

const jwks = JSON.parse(
  execFileSync(bin, ["keygen", "--kid", "k1", "--out", join(dir, "k1.jwk")], { encoding: "utf8" }),
);
writeFileSync(join(dir, "jwks.json"), JSON.stringify(jwks));
const privateJwk = JSON.parse(readFileSync(join(dir, "k1.jwk"), "utf8"));

test("a token minted by tasktoken verifies with jose.jwtVerify", async () => {
  const minted = cli([
    "mint", "--key", join(dir, "k1.jwk"), "--iss", ISS, "--sub", "agent:lookup-bot",
    "--aud", AUD, "--task", "lookup-4821", "--scope", "customers:read",
    "--res", "customers/4821", "--ttl", "5m",
  ]);
  assert.equal(minted.status, 0, minted.stderr);
  const token = minted.stdout.trim();
  const key = await jose.importJWK(jwks.keys[0], "EdDSA");
  const { payload, protectedHeader } = await jose.jwtVerify(token, key, {
    issuer: ISS, audience: AUD, typ: "tt+jwt", algorithms: ["EdDSA"],
  });
  assert.equal(protectedHeader.kid, "k1");
  assert.equal(payload.sub, "agent:lookup-bot");
  assert.equal(payload.task, "lookup-4821");
  assert.deepEqual(payload.res, ["customers/4821"]);
  assert.equal(payload.exp - payload.iat, 300);
  assert.match(payload.jti, /^[A-Za-z0-9_-]{22}$/, "128 random bits, base64url");
});

async function joseToken({ typ = "tt+jwt", claims = {} } = {}) {
  const key = await jose.importJWK(privateJwk, "EdDSA");
  return new jose.SignJWT({
    task: "deploy-8812/stage:deploy", scope: "artifacts:read", res: ["artifacts/web/*"], ...claims,
  })
    .setProtectedHeader({ alg: "EdDSA", typ, kid: "k1" })
    .setIssuer(ISS).setSubject("ci:acme/web#8812").setAudience(AUD)
    .setIssuedAt().setExpirationTime("2m")
    .setJti(randomBytes(16).toString("base64url"))
    .sign(key);
}

function verify(token, action, resource) {
  return cli([
    "verify", "--jwks", join(dir, "jwks.json"), "--iss", ISS, "--aud", AUD,
    "--action", action, "--resource", resource, "-",
  ], token);
}

test("a token signed by jose with the v1 header and claims verifies with tasktoken", async () => {
  const token = await joseToken({ claims: { ticket: "OPS-1" } });
  const ok = verify(token, "artifacts:read", "artifacts/web/build-8812.tar");
  assert.equal(ok.status, 0, ok.stderr);
  const claims = JSON.parse(ok.stdout);
  assert.equal(claims.sub, "ci:acme/web#8812");
  assert.equal(claims.ticket, "OPS-1", "unknown claims are returned");

  const denied = verify(token, "artifacts:write", "artifacts/web/build-8812.tar");
  assert.equal(denied.status, 1);
  assert.equal(JSON.parse(denied.stderr).error, "action_denied");
});

test("a jose token with another typ is refused as wrong_type", async () => {
  const token = await joseToken({ typ: "JWT" });
  const out = verify(token, "artifacts:read", "artifacts/web/x");
  assert.equal(out.status, 1);
  assert.deepEqual(Object.keys(JSON.parse(out.stderr)), ["error", "message"]);
  assert.equal(JSON.parse(out.stderr).error, "wrong_type");
  assert.ok(!out.stderr.includes(token.split(".")[1]), "no token text in the error");
});

test("jose agrees with the shared vectors on every valid token and every bad signature", async () => {
  const vectors = JSON.parse(readFileSync(join(root, "tests", "vectors", "tokens.json"), "utf8"));
  const keys = new Map();
  for (const cfg of Object.values(vectors.verifiers)) {
    for (const [iss, { keys: set }] of Object.entries(cfg.issuers)) {
      for (const jwk of set) keys.set(jwk.kid, { iss, jwk });
    }
  }
  let checked = 0;
  for (const c of vectors.cases) {
    const isValid = !c.expect.error;
    if (!isValid && c.expect.error !== "bad_signature") continue;
    if (c.verifier !== "default") continue;
    // A delegation chain (ROOT~LINK…): jose knows no chains, but a valid chain's root is a
    // task token jose verifies (a bad signature of a chain is a link's, not jose's to judge).
    const chain = c.token.includes("~");
    if (chain && !isValid) continue;
    const token = chain ? c.token.split("~")[0] : c.token;
    const kid = jose.decodeProtectedHeader(token).kid;
    const { jwk } = keys.get(kid);
    const alg = jose.decodeProtectedHeader(token).alg;
    const key = await jose.importJWK({ ...jwk, alg }, alg);
    const attempt = jose.jwtVerify(token, key, {
      audience: vectors.verifiers.default.audience,
      currentDate: new Date(c.now * 1000),
      clockTolerance: 30,
      typ: "tt+jwt",
    });
    if (isValid) {
      const { payload } = await attempt;
      if (chain) assert.equal(payload.iss, c.expect.claims.iss, c.name);
      else assert.deepEqual(payload, c.expect.claims, c.name);
    } else {
      await assert.rejects(attempt, c.name);
    }
    checked += 1;
  }
  assert.ok(checked > 20, `checked ${checked} vectors`);
});
