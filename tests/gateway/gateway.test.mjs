// The edge gateway end to end: Node's test runner drives real HTTP against `wrangler dev`
// (local workerd, no account, no network), with a local origin behind it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as jose from "jose";
import { Issuer, createProof, generateProofKey, signRevocationSnapshot } from "tasktoken";
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

test("x-tasktoken-* headers the client sends never reach the origin, whatever their case", async () => {
  const before = origin.seen.length;
  const res = await rawRequest(gw.base, "/customers/4821", {
    token: mint(),
    headers: { "X-Tasktoken-Sub": "ops:admin", "x-tasktoken-foo": "bar", "X-TASKTOKEN-ROLE": "admin" },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(origin.seen.length, before + 1);
  const received = origin.seen.at(-1).headers;
  const ours = Object.keys(received).filter((name) => name.startsWith("x-tasktoken-")).sort();
  assert.deepEqual(ours, ["x-tasktoken-jti", "x-tasktoken-sub", "x-tasktoken-task"]);
  assert.equal(received["x-tasktoken-sub"], "agent:lookup-bot");
  assert.equal(res.body.sub, "agent:lookup-bot");
});

test("nor do their underscore spellings, which CGI-style origins read as the same header", async () => {
  const res = await rawRequest(gw.base, "/customers/4821", {
    token: mint(),
    headers: { "x-tasktoken_sub": "ops:admin", "X_TASKTOKEN_ROLE": "admin", "x_tasktoken-jti": "x",
      // Nor can a client name ours hop-by-hop, for a proxy in front of the origin to drop.
      "connection": "keep-alive, x-tasktoken-sub" },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const headers = origin.seen.at(-1).headers;
  const received = Object.keys(headers)
    .filter((name) => name.replaceAll("_", "-").startsWith("x-tasktoken-")).sort();
  assert.deepEqual(received, ["x-tasktoken-jti", "x-tasktoken-sub", "x-tasktoken-task"]);
  assert.ok(!(headers.connection ?? "").includes("x-tasktoken"), headers.connection);
});

test("headers that restate the method, path or host behind the decision never reach the origin", async () => {
  const rewriting = {
    "X-HTTP-Method-Override": "DELETE", "X-HTTP-Method": "DELETE", "X-Method-Override": "DELETE",
    "x_http_method_override": "DELETE", "X-Original-URL": "/customers/4822", "X-Rewrite-URL": "/customers/4822",
    "X-Forwarded-Prefix": "/admin", "X-Forwarded-Host": "admin.internal", "X-Forwarded-For": "10.0.0.1",
    "X-Forwarded-Scheme": "http", "X-Original-Host": "admin.internal",
    "Forwarded": "for=10.0.0.1;host=admin.internal", "X-Real-IP": "10.0.0.1", "X-Keep": "kept",
  };
  const res = await rawRequest(gw.base, "/customers/4821", { token: mint(), headers: rewriting });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const headers = origin.seen.at(-1).headers;
  for (const name of Object.keys(rewriting).filter((n) => n !== "X-Keep")) {
    const variants = [name.toLowerCase(), name.toLowerCase().replaceAll("_", "-")];
    for (const v of variants) assert.equal(headers[v], undefined, `${v} reached the origin`);
  }
  assert.equal(headers["x-keep"], "kept", "other headers still pass");
});

test("a sub outside Latin-1 and a task with CR LF are proxied, percent-encoded", async () => {
  const sub = "agent:ünïcode-✓";
  const task = "lookup-4821\r\nx-injected: 1 %41+";
  const res = await rawRequest(gw.base, "/customers/4821", { token: mint({ sub, task }) });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.sub, sub, "the origin decodes what it got back to the claim");
  assert.equal(res.body.task, task);
  const received = origin.seen.at(-1).headers;
  assert.equal(received["x-tasktoken-sub"], "agent:%C3%BCn%C3%AFcode-%E2%9C%93");
  assert.equal(received["x-tasktoken-task"], "lookup-4821%0D%0Ax-injected:%201%20%2541%2B");
  assert.equal(received["x-injected"], undefined);
});

test("the query string: only a route's own parameters pass, once each, re-encoded", async () => {
  const token = mint({ res: ["customers/4821", "customers/4821/orders"], scope: "customers:read orders:read" });
  const before = origin.seen.length;
  const refused = [
    "/customers/4821?id=4822",
    "/customers/4821?x",
    "/customers/4821?=4822",
    "/customers/4821/orders?limit=10&id=4822",
    "/customers/4821/orders?limit=10&limit=20",
    "/customers/4821/orders?lim%69t=1&limit=2",
  ];
  for (const path of refused) {
    const res = await rawRequest(gw.base, path, { token });
    assert.equal(res.status, 400, `${path}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error, "malformed");
  }
  assert.equal(origin.seen.length, before, "the origin saw none of them");

  const bare = await rawRequest(gw.base, "/customers/4821?", { token });
  assert.equal(bare.status, 200);
  assert.equal(bare.body.path, "/customers/4821", "a route without `query` passes no `?`");
  const orders = await rawRequest(gw.base, "/customers/4821/orders?limit=10&cursor=a%20b", { token });
  assert.equal(orders.status, 200, JSON.stringify(orders.body));
  assert.equal(orders.body.path, "/customers/4821/orders?limit=10&cursor=a+b");
  const semicolon = await rawRequest(gw.base, "/customers/4821/orders?limit=10;id=4822", { token });
  assert.equal(semicolon.body.path, "/customers/4821/orders?limit=10%3Bid%3D4822",
    "an origin that splits on `;` cannot find a parameter the gateway did not see");
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

/** The `jti` claim of a token (read without verification: the tests minted it). */
function jtiOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url")).jti;
}

async function revocationSerial() {
  const auditor = mint({ sub: "ops:auditor", task: "audit", scope: "tokens:audit", res: ["stats"] });
  const res = await rawRequest(gw.base, "/_tasktoken/stats", { token: auditor });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.revocation.serial;
}

test("revoking a revoked token again publishes nothing", async () => {
  const token = mint({ sub: "agent:twice", task: "lookup-4821-twice" });
  const admin = mint({ sub: "ops:twice", task: "revoke-again", scope: "tokens:revoke", res: ["tokens/*"] });
  const first = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.new, true);
  const serial = await revocationSerial();
  const answers = [];
  for (let i = 0; i < 3; i++) {
    answers.push(await rawRequest(gw.base, "/_tasktoken/revoke", {
      method: "POST", token: admin, body: JSON.stringify({ token }),
    }));
  }
  assert.equal(await revocationSerial(), serial, "no delta, no snapshot");
  for (const again of answers) {
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.deepEqual(again.body, { revoked: jtiOf(token), new: false });
  }
});

test("concurrent revocations share publications, at most one a second", async () => {
  const count = 8;
  const tokens = Array.from({ length: count }, (_, i) => mint({ sub: `agent:burst-${i}`, task: `burst-${i}` }));
  const started = Date.now();
  const answers = await Promise.all(tokens.map(async (token) => {
    const res = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token });
    const at = Date.now() - started;
    // Answered only once KV holds it: this isolate refuses the token at once.
    const after = await rawRequest(gw.base, "/customers/4821", { token });
    return { res, at, after };
  }));
  for (const { res, after } of answers) {
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.new, true);
    assert.equal(after.status, 401);
    assert.equal(after.body.error, "revoked");
  }
  const bySerial = new Map();
  for (const { res, at } of answers) {
    bySerial.set(res.body.serial, Math.min(at, bySerial.get(res.body.serial) ?? at));
  }
  const times = [...bySerial.values()].sort((a, b) => a - b);
  assert.ok(bySerial.size < count, `${bySerial.size} publications for ${count} revocations`);
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i] - times[i - 1] >= 900, `publications ${times[i] - times[i - 1]} ms apart`);
  }
});

test("a revocation body that is not an object with a string token: 400 malformed", async () => {
  const bodies = ["null", "[]", "[\"x\"]", "1", "\"x\"", "true", "{\"token\": 5}", "{\"token\": null}",
    "{\"token\": \"a.b.c\", \"more\": 1}", "{", "x".repeat(20000)];
  for (const body of bodies) {
    const token = mint({ task: "lookup-4821-bodies" });
    const res = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token, body });
    assert.equal(res.status, 400, `${body.slice(0, 20)}: ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error, "malformed");
    // Not revoked by accident.
    assert.equal((await rawRequest(gw.base, "/customers/4821", { token })).status, 200);
  }
});

test("revocations are rate-limited per caller: 429 with Retry-After", async () => {
  const tokens = Array.from({ length: 16 }, (_, i) => mint({ sub: "agent:flood", task: `flood-${i}` }));
  const answers = await Promise.all(tokens.map((token) =>
    rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token })));
  const limited = answers.filter((a) => a.status === 429);
  assert.ok(limited.length >= 1, answers.map((a) => a.status).join(" "));
  assert.ok(answers.filter((a) => a.status === 200).length <= 11);
  for (const a of limited) {
    assert.ok(Number(a.headers["retry-after"]) >= 1, a.headers["retry-after"]);
    assert.equal(a.body.error, "rate_limited");
  }
  const other = await rawRequest(gw.base, "/_tasktoken/revoke", {
    method: "POST", token: mint({ sub: "agent:calm", task: "calm" }),
  });
  assert.equal(other.status, 200, "other callers are not limited");
});

test("revoking another token: the caller is authorized first, the target is no oracle", async () => {
  const now = Math.floor(Date.now() / 1000);
  const genuine = mint({ task: "lookup-4821-target" });
  const [h, p, s] = mint({ task: "lookup-4821-forged" }).split(".");
  const forged = `${h}.${p}.${s.slice(0, -4)}AAAA`;
  const expired = await new jose.SignJWT({ task: "t", scope: "customers:read", res: ["customers/4821"] })
    .setProtectedHeader({ alg: "EdDSA", typ: "tt+jwt", kid: "gw-k1" })
    .setIssuer(ISSUER).setSubject("agent:x").setAudience(AUDIENCE)
    .setIssuedAt(now - 600).setExpirationTime(now - 300).setJti("expired-target-000000000")
    .sign(await jose.importJWK(keys.k1.privateJwk, "EdDSA"));
  const targets = [genuine, "garbage", "a.b.c", forged, expired];
  const callers = [
    [mint({ sub: "agent:no-revoke", task: "oracle" }), 403],
    [mint({ sub: "ops:narrow", task: "oracle", scope: "tokens:revoke", res: ["tokens/some-other-jti"] }), 403],
  ];
  for (const [caller, status] of callers) {
    const answers = [];
    for (const target of targets) {
      const res = await rawRequest(gw.base, "/_tasktoken/revoke", {
        method: "POST", token: caller, body: JSON.stringify({ token: target }),
      });
      answers.push({ status: res.status, body: res.body, challenge: res.headers["www-authenticate"] });
    }
    assert.equal(answers[0].status, status, JSON.stringify(answers[0]));
    for (const answer of answers.slice(1)) assert.deepEqual(answer, answers[0]);
  }
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: genuine })).status, 200,
    "the genuine target is not revoked");
});

test("single use: two concurrent downloads with one export token, exactly one reaches the origin", async () => {
  const token = mint({ sub: "user:export", task: "export-1234", scope: "datasets:export",
    res: ["datasets/1234"] });
  const path = "/datasets/1234/export";
  const before = origin.seen.filter((r) => r.path.startsWith(path)).length;
  const answers = await Promise.all([1, 2].map(() => rawRequest(gw.base, path, { method: "POST", token })));
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401], JSON.stringify(answers.map((a) => a.body)));
  assert.equal(answers.find((a) => a.status === 401).body.error, "revoked");
  const third = await rawRequest(gw.base, `${path}?format=csv`, { method: "POST", token });
  assert.equal(third.status, 401);
  assert.equal(third.body.error, "revoked");
  assert.equal(origin.seen.filter((r) => r.path.startsWith(path)).length, before + 1);
});

test("single use costs one authority round-trip (median of 50, local workerd)", async (t) => {
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const timed = async (path, method, token) => {
    const started = process.hrtime.bigint();
    const res = await rawRequest(gw.base, path, { method, token });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return Number(process.hrtime.bigint() - started) / 1e6;
  };
  // Fresh tokens for both (no verification cache), interleaved, after a warm-up: a gated
  // request with the authority's consume and one without.
  const exportOf = (id) => mint({ sub: "user:export", task: `export-${id}`, scope: "datasets:export",
    res: [`datasets/${id}`] });
  const lookup = () => mint({ task: "lookup-4821-latency" });
  for (let i = 0; i < 5; i++) {
    await timed(`/datasets/w${i}/export`, "POST", exportOf(`w${i}`));
    await timed("/customers/4821", "GET", lookup());
  }
  const single = [];
  const plain = [];
  for (let i = 0; i < 50; i++) {
    single.push(await timed(`/datasets/m${i}/export`, "POST", exportOf(`m${i}`)));
    plain.push(await timed("/customers/4821", "GET", lookup()));
  }
  t.diagnostic(`single-use route: median ${median(single).toFixed(2)} ms; without: ` +
    `${median(plain).toFixed(2)} ms; added ${(median(single) - median(plain)).toFixed(2)} ms`);
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
  const good = signRevocationSnapshot(keys.authority.privateJwk,
    { issuer: ISSUER, jtis: ["x"], serial: 7, issuedAt: now, nextUpdate: now + 300 });
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
  const stale = signRevocationSnapshot(keys.authority.privateJwk,
    { issuer: ISSUER, jtis: [], serial: 3, issuedAt: now - 3600, nextUpdate: now - 600 });
  await withSeededKv(stale, async (seeded) => {
    const res = await rawRequest(seeded.base, "/customers/4821", { token: mint() });
    assert.equal(res.status, 503);
    assert.equal(res.body.error, "stale_revocation");
  });
});

test("KV holding a snapshot signed by a token key, not the authority's: fail closed", async () => {
  const now = Math.floor(Date.now() / 1000);
  // Validly signed, fresh, for our issuer, and empty — but by an issuer key: with
  // REVOCATION_JWKS set, only the authority's keys may sign revocation data.
  const wrongKey = signRevocationSnapshot(keys.k1.privateJwk,
    { issuer: ISSUER, jtis: [], serial: 5, issuedAt: now, nextUpdate: now + 300 });
  await withSeededKv(wrongKey, async (seeded) => {
    const res = await rawRequest(seeded.base, "/customers/4821", { token: mint() });
    assert.equal(res.status, 503, JSON.stringify(res.body));
    assert.equal(res.body.error, "stale_revocation");
  });
});

test("a replica on an older generation reads the new one at once (KV's 410 rule)", async (t) => {
  // KV holds a fresh, validly signed snapshot at serial 7 of a generation this authority never
  // published (an authority started over): no delta from serial 7 will ever come.
  const now = Math.floor(Date.now() / 1000);
  const old = signRevocationSnapshot(keys.authority.privateJwk,
    { issuer: ISSUER, jtis: [], serial: 7, issuedAt: now, nextUpdate: now + 300 });
  await withSeededKv(old, async (seeded) => {
    const token = mint({ task: "lookup-4821-generation" });
    assert.equal((await rawRequest(seeded.base, "/customers/4821", { token })).status, 200);
    // Revoked in the authority's first generation: the replica, at serial 7, is told the
    // current generation starts later and takes its snapshot in the same refresh.
    const started = Date.now();
    const done = await rawRequest(seeded.base, "/_tasktoken/revoke", { method: "POST", token });
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.ok(done.body.serial > 7);
    let res;
    do {
      res = await rawRequest(seeded.base, "/customers/4821", { token });
    } while (res.status === 200 && Date.now() - started < REFRESH_SECONDS * 1000 + 1500);
    t.diagnostic(`old generation → revoked in the new one: ${Date.now() - started} ms`);
    assert.equal(res.status, 401, JSON.stringify(res.body));
    assert.equal(res.body.error, "revoked");
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
  // Audit events go out in batches, one JSON line each (at most AUDIT_BATCH_MS after the first).
  assert.match(output, /\{"audit":"tasktoken","count":\d+,"events":\[/, "batched audit lines");
  assert.match(output, /"outcome":"ok"/, "every gated request's decision");
  assert.match(output, /"outcome":"resource_denied"/);
  assert.match(output, /"decided_by":"edge-gateway"/);
  assert.match(output, /event: 'revoke'/, "revocations are audited at the authority");
  for (const token of issuedTokens) {
    for (const part of token.split(".")) assert.ok(!output.includes(part), "token text in the logs");
  }
  for (const key of [keys.k1, keys.k2, keys.authority]) {
    assert.ok(!output.includes(key.privateJwk.d), "a private key in the logs");
  }
});

test("a DPoP-bound token goes through the Worker only with a fresh proof (RFC 9449)", async () => {
  const proofKey = generateProofKey({ alg: "ES256" });
  const token = mint({ cnfJkt: proofKey.jkt });
  const url = `${gw.base}/customers/4821`;
  const proof = createProof({ key: proofKey.privateJwk, method: "GET", url, token });
  const dpop = (p) => ({ headers: { authorization: `DPoP ${token}`, dpop: p } });
  const before = origin.seen.length;
  const ok = await rawRequest(gw.base, "/customers/4821", dpop(proof));
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(origin.seen.length, before + 1);
  const replayed = await rawRequest(gw.base, "/customers/4821", dpop(proof));
  assert.equal(replayed.status, 401);
  assert.equal(replayed.body.error, "proof_replayed");
  assert.match(replayed.headers["www-authenticate"], /^DPoP .*error="invalid_dpop_proof"/);
  const bearer = await rawRequest(gw.base, "/customers/4821", { token });
  assert.equal(bearer.status, 401, "a bound token sent as Bearer");
  assert.equal(bearer.body.error, "binding_required");
  const elsewhere = createProof({ key: proofKey.privateJwk, method: "GET", url: `${gw.base}/customers/4822`, token });
  const wrongUrl = await rawRequest(gw.base, "/customers/4821", dpop(elsewhere));
  assert.equal(wrongUrl.body.error, "invalid_proof");
  assert.equal(origin.seen.length, before + 1, "only the first reached the origin");
});
