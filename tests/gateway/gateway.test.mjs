// The edge gateway end to end: Node's test runner drives real HTTP against `wrangler dev`
// (local workerd, no account, no network), with a local origin behind it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as jose from "jose";
import { Issuer, signRevocationSnapshot } from "tasktoken";
import {
  AUDIENCE, ISSUER, makeKeys, rawRequest, seedKv, startGateway, startOrigin,
} from "./harness.js";

const REFRESH_SECONDS = 1;
let origin;
let gw;
const keys = makeKeys();
const issuer = new Issuer({ iss: ISSUER, key: keys.k1.privateJwk });
const rotated = new Issuer({ iss: ISSUER, key: keys.k2.privateJwk });

const issuedTokens = [];

function mint(overrides = {}, by = issuer) {
  return remember(by.mint({
    sub: "agent:lookup-bot", aud: AUDIENCE, task: "lookup-4821", scope: "customers:read",
    res: ["customers/4821"], ttl: 300, ...overrides,
  }));
}

function remember(token) {
  issuedTokens.push(token);
  return token;
}

before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ keys, origin, refreshSeconds: REFRESH_SECONDS });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

test("an allowed route gets the origin's answer, without the token", async () => {
  const res = await rawRequest(gw.base, "/customers/4821", { token: mint() });
  assert.equal(res.status, 200);
  assert.equal(res.body.origin, "crm");
  assert.equal(res.body.path, "/customers/4821");
  assert.equal(res.body.sub, "agent:lookup-bot");
  assert.equal(res.body.authorization, null, "the task token is not forwarded");
});

test("a token from the second key of the JWKS is accepted (rotation)", async () => {
  const res = await rawRequest(gw.base, "/customers/4821", { token: mint({}, rotated) });
  assert.equal(res.status, 200);
});

test("no token: 401", async () => {
  const res = await rawRequest(gw.base, "/customers/4821");
  assert.equal(res.status, 401);
  assert.match(res.headers["www-authenticate"], /^Bearer/);
});

test("expired or tampered: 401 with the code", async () => {
  const now = Math.floor(Date.now() / 1000);
  const expired = await new jose.SignJWT({ task: "t", scope: "customers:read", res: ["customers/4821"] })
    .setProtectedHeader({ alg: "EdDSA", typ: "tt+jwt", kid: "gw-k1" })
    .setIssuer(ISSUER).setSubject("agent:x").setAudience(AUDIENCE)
    .setIssuedAt(now - 600).setExpirationTime(now - 300).setJti("expired-jti-0000000000")
    .sign(await jose.importJWK(keys.k1.privateJwk, "EdDSA"));
  const e = await rawRequest(gw.base, "/customers/4821", { token: expired });
  assert.equal(e.status, 401);
  assert.equal(e.body.error, "expired");
  const [h, p, s] = mint().split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  claims.res = ["customers/*"];
  const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
  const t = await rawRequest(gw.base, "/customers/4822", { token: forged });
  assert.equal(t.status, 401);
  assert.equal(t.body.error, "bad_signature");
});

test("wrong action or resource: 403", async () => {
  const token = mint();
  const action = await rawRequest(gw.base, "/datasets/4821/export", { method: "POST", token });
  assert.equal(action.status, 403);
  assert.equal(action.body.error, "action_denied");
  const resource = await rawRequest(gw.base, "/customers/4822", { token });
  assert.equal(resource.status, 403);
  assert.equal(resource.body.error, "resource_denied");
});

test("path traversal in the URL never reaches the origin", async () => {
  const token = mint({ res: ["customers/4821"] });
  const before = origin.seen.length;
  const attempts = [
    "/customers/4821/../4822",
    "/customers/4821/%2e%2e/4822",
    "/customers/4821/%2E%2E/4822",
    "/customers/4821%2F..%2F4822",
    "/customers/4821%2f..%2f4822",
    "/customers/4821/..%2F4822",
    "/customers/4821%5C..%5C4822",
    "/customers/4821/./../4822",
    "/customers//4822",
    "/customers/4821%252F..%252F4822",
  ];
  for (const path of attempts) {
    const res = await rawRequest(gw.base, path, { token });
    assert.ok(res.status === 403 || res.status === 400 || res.status === 404,
      `${path}: ${res.status} ${JSON.stringify(res.body)}`);
  }
  assert.equal(origin.seen.length, before, "the origin saw none of them");
});

test("revoked via the authority: refused within the refresh interval", async (t) => {
  const victim = mint({ task: "lookup-4821-victim" });
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: victim })).status, 200);
  const jti = JSON.parse(Buffer.from(victim.split(".")[1], "base64url")).jti;
  const admin = mint({ sub: "ops:revoker", task: "revoke-leaked", scope: "tokens:revoke", res: ["tokens/*"] });
  const noScope = await rawRequest(gw.base, "/_tasktoken/revoke", {
    method: "POST", token: mint(), body: JSON.stringify({ token: victim }),
  });
  assert.equal(noScope.status, 403, "revoking another token needs tokens:revoke");

  const started = Date.now();
  const res = await rawRequest(gw.base, "/_tasktoken/revoke", {
    method: "POST", token: admin, body: JSON.stringify({ token: victim }),
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.revoked, jti);
  let refused;
  while (Date.now() - started < (REFRESH_SECONDS + 5) * 1000) {
    refused = await rawRequest(gw.base, "/customers/4821", { token: victim });
    if (refused.status === 401) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const propagationMs = Date.now() - started;
  t.diagnostic(`revocation propagation: ${propagationMs} ms (refresh interval ${REFRESH_SECONDS} s)`);
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error, "revoked");
  assert.ok(propagationMs <= REFRESH_SECONDS * 1000 + 1500, `${propagationMs} ms`);
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: mint() })).status, 200,
    "other tokens still pass");
});

test("a token revokes itself when its task is done (completeTask)", async () => {
  const token = mint({ task: "lookup-4821-self" });
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token })).status, 200);
  const done = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token });
  assert.equal(done.status, 200, JSON.stringify(done.body));
  const after = await rawRequest(gw.base, "/customers/4821", { token });
  assert.equal(after.status, 401);
  assert.equal(after.body.error, "revoked");
});

/** A gateway whose KV already holds `snapshot` before it starts. */
async function withSeededKv(snapshot, check) {
  const persistTo = mkdtempSync(join(tmpdir(), "tasktoken-gateway-seeded-"));
  seedKv(persistTo, "revocation/snapshot", snapshot);
  const seeded = await startGateway({ keys, origin, persistTo });
  try {
    await check(seeded);
  } finally {
    await seeded.stop();
  }
}

test("KV holding a tampered snapshot: fail closed with stale_revocation", async () => {
  const now = Math.floor(Date.now() / 1000);
  const good = signRevocationSnapshot(keys.k1.privateJwk,
    { jtis: ["x"], serial: 7, issuedAt: now, nextUpdate: now + 300 });
  const tampered = Uint8Array.from(good, (b, i) => (i === 60 ? b ^ 1 : b));
  const before = origin.seen.length;
  await withSeededKv(tampered, async (seeded) => {
    const res = await rawRequest(seeded.base, "/customers/4821", { token: mint() });
    assert.equal(res.body.error, "stale_revocation", JSON.stringify(res.body));
    assert.equal(res.status, 503);
  });
  assert.equal(origin.seen.length, before, "never open");
});

test("KV holding a stale (validly signed) snapshot: fail closed with stale_revocation", async () => {
  const now = Math.floor(Date.now() / 1000);
  const stale = signRevocationSnapshot(keys.k1.privateJwk,
    { jtis: [], serial: 3, issuedAt: now - 3600, nextUpdate: now - 600 });
  await withSeededKv(stale, async (seeded) => {
    const res = await rawRequest(seeded.base, "/customers/4821", { token: mint() });
    assert.equal(res.status, 503);
    assert.equal(res.body.error, "stale_revocation");
  });
});

test("stats are gated by tokens:audit and count outcomes; log lines carry events, never tokens", async () => {
  const denied = await rawRequest(gw.base, "/_tasktoken/stats", { token: mint() });
  assert.equal(denied.status, 403);
  const auditor = mint({ sub: "ops:auditor", task: "audit", scope: "tokens:audit", res: ["stats"] });
  const res = await rawRequest(gw.base, "/_tasktoken/stats", { token: auditor });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.ok(res.body.outcomes.ok >= 3, JSON.stringify(res.body));
  assert.ok(res.body.outcomes.resource_denied >= 1);
  assert.ok(res.body.outcomes.revoked >= 1);
  assert.ok(res.body.revocation.serial >= 1);
  assert.equal(typeof res.body.revocation.ageSeconds, "number");

  const output = gw.output();
  assert.match(output, /outcome: 'ok'/, "one structured line per gated request");
  assert.match(output, /outcome: 'resource_denied'/);
  assert.match(output, /decided_by: 'edge-gateway'/);
  assert.match(output, /event: 'revoke'/, "revocations are audited at the authority");
  for (const token of issuedTokens) {
    for (const part of token.split(".")) assert.ok(!output.includes(part), "token text in the logs");
  }
  assert.ok(!output.includes(keys.k1.privateJwk.d), "a private key in the logs");
});
