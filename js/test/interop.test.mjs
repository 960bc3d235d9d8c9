// Interop both ways with jose: tokens minted by the package verify with jose.jwtVerify using
// the same JWK, and tokens jose signs with the v1 header and claims verify with the package.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as jose from "jose";
import { generateKey, Issuer, Verifier, TaskTokenError } from "tasktoken";

const ISS = "https://auth.example";
const { privateJwk, publicJwk } = generateKey({ kid: "k1" });

test("generateKey returns OKP Ed25519 JWKs that jose imports", async () => {
  assert.equal(privateJwk.kty, "OKP");
  assert.equal(privateJwk.crv, "Ed25519");
  assert.equal(privateJwk.kid, "k1");
  assert.equal(typeof privateJwk.d, "string");
  assert.equal(publicJwk.d, undefined, "the public JWK has no private part");
  assert.equal(publicJwk.x, privateJwk.x);
  await jose.importJWK(privateJwk, "EdDSA");
  await jose.importJWK(publicJwk, "EdDSA");
});

test("a token minted by the package verifies with jose.jwtVerify", async () => {
  const token = new Issuer({ iss: ISS, key: privateJwk }).mint({
    sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821",
    scope: "customers:read", res: ["customers/4821"], ttl: 60, claims: { ticket: "OPS-7" },
  });
  const { payload, protectedHeader } = await jose.jwtVerify(
    token, await jose.importJWK(publicJwk, "EdDSA"),
    { issuer: ISS, audience: "crm-api", typ: "tt+jwt", algorithms: ["EdDSA"] },
  );
  assert.deepEqual(protectedHeader, { alg: "EdDSA", typ: "tt+jwt", kid: "k1" });
  assert.equal(payload.exp - payload.iat, 60);
  assert.equal(payload.ticket, "OPS-7");
  assert.match(payload.jti, /^[A-Za-z0-9_-]{22}$/);
});

test("a token signed by jose with the v1 header and claims verifies with the package", async () => {
  const token = await new jose.SignJWT({
    task: "export-1234", scope: "datasets:export", res: ["datasets/1234"],
  })
    .setProtectedHeader({ alg: "EdDSA", typ: "tt+jwt", kid: "k1" })
    .setIssuer(ISS).setSubject("agent:exporter").setAudience(["crm-api", "exports"])
    .setIssuedAt().setExpirationTime("90s").setJti(randomBytes(16).toString("base64url"))
    .sign(await jose.importJWK(privateJwk, "EdDSA"));
  const verifier = new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: "exports" });
  const claims = verifier.verify(token, { action: "datasets:export", resource: "datasets/1234" });
  assert.equal(claims.sub, "agent:exporter");
  assert.throws(
    () => verifier.verify(token, { action: "datasets:export", resource: "datasets/1235" }),
    (e) => e instanceof TaskTokenError && e.code === "resource_denied",
  );
});

test("a jose JWT of another type is wrong_type, whatever its claims", async () => {
  const token = await new jose.SignJWT({ task: "t", scope: "a", res: ["r"] })
    .setProtectedHeader({ alg: "EdDSA", typ: "JWT", kid: "k1" })
    .setIssuer(ISS).setSubject("s").setAudience("crm-api").setIssuedAt()
    .setExpirationTime("1m").setJti("x")
    .sign(await jose.importJWK(privateJwk, "EdDSA"));
  const verifier = new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: "crm-api" });
  assert.throws(() => verifier.verify(token, { action: "a", resource: "r" }), { code: "wrong_type" });
});
