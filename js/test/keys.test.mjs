// Keys that follow the service: a RemoteKeySet fetched from a local node:http JWKS server and
// trusted by a Verifier in place of a fixed key set. Rotation without a new Verifier, a flood
// of made-up kids held to one fetch per minRefresh, failures keeping the last good keys,
// fail-closed before the first load, and what a rebuilt core keeps (revocation, replay cache).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import {
  Issuer, RemoteKeySet, RevocationReplica, TaskTokenError, Verifier, createProof, generateKey,
  generateProofKey, signRevocationSnapshot,
} from "tasktoken";
import * as verifyOnly from "tasktoken/verify";

const ISS = "https://auth.example";
const k1 = generateKey({ kid: "remote-1" });
const k2 = generateKey({ kid: "remote-2" });
const mintRequest = { sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821",
  scope: "customers:read", res: ["customers/4821"], ttl: 60 };
const route = { action: "customers:read", resource: "customers/4821" };
const mint = (key, extra = {}) => new Issuer({ iss: ISS, key: key.privateJwk }).mint({ ...mintRequest, ...extra });
const code = (fn) => {
  try {
    fn();
    return "ok";
  } catch (error) {
    assert.ok(error instanceof TaskTokenError, String(error));
    return error.code;
  }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** Waits until `predicate()` holds (a background refresh landed), at most 2 s. */
async function until(predicate) {
  for (let i = 0; i < 200 && !predicate(); i++) await sleep(10);
  assert.ok(predicate(), "timed out");
}

/** A JWKS server: `serve.keys` is what it publishes; `serve.answer` overrides the reply. */
async function jwksServer(t) {
  const state = { keys: [k1.publicJwk], answer: undefined, fetches: 0 };
  const server = createServer((req, res) => {
    state.fetches++;
    if (state.answer) return state.answer(res);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  return Object.assign(state, { url: `http://127.0.0.1:${server.address().port}/.well-known/jwks.json` });
}

/** A compact token with a made-up kid: refused at the key lookup, before any signature. */
function madeUp(kid) {
  const b64 = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
  return `${b64({ alg: "EdDSA", typ: "tt+jwt", kid })}.${b64({ iss: ISS })}.${Buffer.alloc(64).toString("base64url")}`;
}

test("before keys were ever loaded, verification fails closed with unknown_key", async (t) => {
  const jwks = await jwksServer(t);
  jwks.answer = (res) => res.writeHead(503).end();
  const errors = [];
  const keys = new RemoteKeySet({ url: jwks.url, onError: (e) => errors.push(e) });
  assert.equal(keys.jwks, null);
  assert.equal(keys.version, 0);
  const verifier = new Verifier({ issuers: { [ISS]: keys }, audience: "crm-api" });
  const token = mint(k1);
  assert.equal(code(() => verifier.verify(token, route)), "unknown_key");
  assert.equal(code(() => verifier.verifyForRevocation(token)), "unknown_key");
  assert.equal(code(() => verifier.verify(token, {})), "malformed", "arguments are checked first");
  await assert.rejects(keys.refresh(), { code: "unknown_key" }, "refresh rejects while nothing is loaded");
  assert.ok(errors.length >= 1 && errors.every((e) => e instanceof TaskTokenError));
  jwks.answer = undefined;
  await keys.refresh();
  assert.equal(verifier.verify(token, route).sub, "agent:lookup-bot", "the same verifier, once loaded");
  assert.deepEqual(verifier.stats(), { unknown_key: 1, malformed: 1, ok: 1 });
});

test("rotation: a new kid verifies after a refresh, an old one stops, without a new Verifier", async (t) => {
  const jwks = await jwksServer(t);
  const keys = new RemoteKeySet({ url: jwks.url, minRefresh: 0.05 });
  await keys.refresh();
  assert.equal(keys.version, 1);
  assert.deepEqual(keys.jwks, { keys: [k1.publicJwk] });
  const verifier = new verifyOnly.Verifier({ issuers: { [ISS]: keys }, audience: "crm-api" });
  const old = mint(k1);
  const fresh = mint(k2);
  assert.equal(verifier.verify(old, route).sub, "agent:lookup-bot");

  jwks.keys = [k1.publicJwk, k2.publicJwk];
  await keys.refresh();
  assert.equal(keys.version, 2);
  assert.equal(verifier.verify(fresh, route).sub, "agent:lookup-bot");
  assert.equal(verifier.verify(old, route).sub, "agent:lookup-bot");
  await keys.refresh();
  assert.equal(keys.version, 2, "the same keys again are no change");

  // The service drops k1 and adds a k3; an unknown kid asks for the refresh itself.
  const k3 = generateKey({ kid: "remote-3" });
  jwks.keys = [k2.publicJwk, k3.publicJwk];
  await sleep(60);
  const newest = mint(k3);
  const before = jwks.fetches;
  assert.equal(code(() => verifier.verify(newest, route)), "unknown_key");
  await until(() => keys.version === 3);
  assert.equal(jwks.fetches, before + 1);
  assert.equal(verifier.verify(newest, route).sub, "agent:lookup-bot");
  assert.equal(code(() => verifier.verify(old, route)), "unknown_key", "a dropped key is no longer trusted");
});

test("a flood of made-up kids: at most one fetch per minRefresh", async (t) => {
  const jwks = await jwksServer(t);
  const keys = new RemoteKeySet({ url: jwks.url, minRefresh: 1 });
  await keys.refresh();
  const verifier = new Verifier({ issuers: { [ISS]: keys }, audience: "crm-api" });
  assert.equal(jwks.fetches, 1);
  for (let i = 0; i < 2000; i++) assert.equal(code(() => verifier.verify(madeUp(`kid-${i}`), route)), "unknown_key");
  await sleep(50);
  assert.equal(jwks.fetches, 1, "the last fetch was under minRefresh ago: none");
  await sleep(1000);
  for (let i = 0; i < 2000; i++) code(() => verifier.verify(madeUp(`again-${i}`), route));
  await until(() => jwks.fetches === 2);
  await sleep(50);
  assert.equal(jwks.fetches, 2, "one fetch for the whole second flood");
  assert.equal(verifier.verify(mint(k1), route).sub, "agent:lookup-bot");

  // A failing service is not hammered either: failed attempts count.
  jwks.answer = (res) => res.destroy();
  const quiet = new RemoteKeySet({ url: jwks.url, onError: () => {} });
  const closed = new Verifier({ issuers: { [ISS]: quiet }, audience: "crm-api" });
  const at = jwks.fetches;
  for (let i = 0; i < 500; i++) code(() => closed.verify(madeUp(`x-${i}`), route));
  await sleep(100);
  assert.equal(jwks.fetches, at + 1, "one attempt, then the 30 s floor");
});

test("a failed refresh keeps the last good keys and is reported", async (t) => {
  const jwks = await jwksServer(t);
  const errors = [];
  const keys = new RemoteKeySet({ url: jwks.url, onError: (e) => errors.push(e) });
  await keys.refresh();
  const verifier = new Verifier({ issuers: { [ISS]: keys }, audience: "crm-api" });
  const token = mint(k1);
  const failures = {
    "HTTP 500": (res) => res.writeHead(500).end(),
    "a dropped connection": (res) => res.destroy(),
    "not JSON": (res) => res.end("<html>"),
    "not a JWKS": (res) => res.end('{"keys":"k1"}'),
    "no keys": (res) => res.end('{"keys":[]}'),
    "over 64 KiB": (res) => res.end(JSON.stringify({ keys: [k1.publicJwk], pad: "x".repeat(70000) })),
    "over 64 KiB, chunked": (res) => {
      res.write('{"keys":[');
      for (let i = 0; i < 100; i++) res.write(`${JSON.stringify(k1.publicJwk)},`);
      res.end(`${JSON.stringify(k2.publicJwk)}]}`);
    },
    "17 keys": (res) => res.end(JSON.stringify({ keys: Array.from({ length: 17 }, (_, i) => ({ ...k1.publicJwk, kid: `k${i}` })) })),
    "a private key": (res) => res.end(JSON.stringify({ keys: [k1.privateJwk] })),
    "two keys with one kid": (res) => res.end(JSON.stringify({ keys: [k1.publicJwk, { ...k2.publicJwk, kid: k1.publicJwk.kid }] })),
    "an RSA key": (res) => res.end(JSON.stringify({ keys: [{ kty: "RSA", kid: "r", n: "AQAB", e: "AQAB" }] })),
    "a redirect": (res) => res.writeHead(302, { location: "http://127.0.0.1:1/" }).end(),
  };
  for (const [what, answer] of Object.entries(failures)) {
    jwks.answer = answer;
    errors.length = 0;
    assert.deepEqual(await keys.refresh(), { keys: [k1.publicJwk] }, what);
    assert.equal(errors.length, 1, what);
    assert.ok(errors[0] instanceof TaskTokenError, `${what}: ${errors[0]}`);
    assert.ok(!errors[0].message.includes(k1.privateJwk.d), what);
    assert.equal(keys.version, 1, what);
    assert.equal(verifier.verify(token, route).sub, "agent:lookup-bot", what);
  }
});

test("a rebuilt core keeps the revocation source, the options and the proofs it saw", async (t) => {
  const jwks = await jwksServer(t);
  const keys = new RemoteKeySet({ url: jwks.url });
  await keys.refresh();
  const revoked = mint(k1);
  const now = Math.floor(Date.now() / 1000);
  const replica = new RevocationReplica({ keys: { keys: [k1.publicJwk] }, issuer: ISS, loader: () => null });
  const jti = JSON.parse(Buffer.from(revoked.split(".")[1], "base64url")).jti;
  replica.offer(signRevocationSnapshot(k1.privateJwk, { issuer: ISS, jtis: [jti], serial: 1, issuedAt: now, nextUpdate: now + 300 }));
  const verifier = new Verifier({ issuers: { [ISS]: keys }, audience: "crm-api", revocation: replica, maxLifetime: 120 });
  const proofKey = generateProofKey();
  const bound = mint(k1, { cnfJkt: proofKey.jkt });
  const url = "https://api.example/customers/4821";
  const proof = createProof({ key: proofKey.privateJwk, method: "GET", url, token: bound });
  const dpop = { proof, method: "GET", url };
  assert.equal(verifier.verify(bound, { ...route, dpop }).cnf.jkt, proofKey.jkt);
  assert.equal(code(() => verifier.verify(revoked, route)), "revoked");

  jwks.keys = [k1.publicJwk, k2.publicJwk];
  await keys.refresh();
  assert.equal(code(() => verifier.verify(bound, { ...route, dpop })), "proof_replayed",
    "a proof seen before the rebuild is still a replay after it");
  assert.equal(code(() => verifier.verify(revoked, route)), "revoked", "the same revocation source");
  assert.equal(code(() => verifier.verify(mint(k2, { ttl: 300 }), route)), "lifetime_too_long", "the same options");
  const again = createProof({ key: proofKey.privateJwk, method: "GET", url, token: bound });
  assert.equal(verifier.verify(bound, { ...route, dpop: { ...dpop, proof: again } }).cnf.jkt, proofKey.jkt);
});

test("keys the core refuses together keep the last good core, reported to the key set", async (t) => {
  const jwks = await jwksServer(t);
  const errors = [];
  const keys = new RemoteKeySet({ url: jwks.url, onError: (e) => errors.push(e) });
  await keys.refresh();
  const other = generateKey({ kid: "other-1" });
  const verifier = new Verifier({
    issuers: { [ISS]: keys, "https://ci.example": { keys: [other.publicJwk] } }, audience: "crm-api",
  });
  const token = mint(k1);
  // The remote issuer now publishes a key with the other issuer's kid: no verifier may trust both.
  jwks.keys = [k1.publicJwk, { ...k2.publicJwk, kid: "other-1" }];
  await keys.refresh();
  assert.equal(keys.version, 2, "the set alone is fine");
  assert.equal(verifier.verify(token, route).sub, "agent:lookup-bot", "the last good core");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "malformed");
  assert.equal(verifier.verify(token, route).sub, "agent:lookup-bot", "reported once, not per call");
  assert.equal(errors.length, 1);
});

test("RemoteKeySet: options are checked; start() and stop(); refreshIfDue", async (t) => {
  for (const options of [undefined, {}, { url: "ftp://x/jwks" }, { url: 5 }, { url: "https://a/j", interval: 0 },
    { url: "https://a/j", minRefresh: 0 }, { url: "https://a/j", interval: 10, minRefresh: 20 },
    { url: "https://a/j", fetch: 1 }, { url: "https://a/j", onError: "x" }, { url: "https://u:p@a/j" },
    { url: "https://a/j", timeout: 0 }, { url: "https://a/j", timeout: 121 }, { url: "https://a/j", timeout: "5" }]) {
    assert.throws(() => new RemoteKeySet(options), { code: "malformed" }, JSON.stringify(options));
  }
  const jwks = await jwksServer(t);
  const keys = new RemoteKeySet({ url: new URL(jwks.url), interval: 60 });
  assert.equal(await keys.refreshIfDue().then(() => jwks.fetches), 1, "never attempted: due");
  assert.equal(await keys.refreshIfDue().then(() => jwks.fetches), 1, "within the interval: nothing");
  keys.start();
  await until(() => jwks.fetches === 2);
  keys.stop();
  assert.ok(keys.age < 1);
  const copy = keys.jwks;
  copy.keys.length = 0;
  assert.equal(keys.jwks.keys.length, 1, "jwks is a copy");
});

/** Runs `fn` as in a Worker whose request is over: timers set meanwhile never fire. */
function withoutTimers(fn) {
  const real = globalThis.setTimeout;
  globalThis.setTimeout = () => 0;
  try {
    return fn();
  } finally {
    globalThis.setTimeout = real;
  }
}

/** What `promise` came to within `ms`, or "hung". */
const within = (ms, promise) => Promise.race([promise, sleep(ms).then(() => "hung")]);

test("a fetch that never answers: the refresh gives up after `timeout`, keeping the last keys", async (t) => {
  const jwks = await jwksServer(t);
  const errors = [];
  const keys = new RemoteKeySet({ url: jwks.url, timeout: 0.2, onError: (e) => errors.push(e) });
  await keys.refresh();
  const held = [];
  jwks.answer = (res) => held.push(res);
  t.after(() => held.forEach((res) => res.destroy()));
  const started = Date.now();
  assert.deepEqual(await within(2000, keys.refresh()), { keys: [k1.publicJwk] });
  assert.ok(Date.now() - started < 1000);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "unknown_key");
  assert.equal(errors[0].cause.name, "TimeoutError");

  // The answer starts but its body never ends: the deadline covers reading it too.
  jwks.answer = (res) => {
    res.writeHead(200, { "content-type": "application/json" }).write('{"keys":[');
    held.push(res);
  };
  assert.deepEqual(await within(2000, keys.refresh()), { keys: [k1.publicJwk] });
  assert.equal(errors.length, 2);
});

test("a refresh that never settles (a Worker's fetch cut off with its request) is dropped " +
  "after `timeout`: the next refresh fetches anew", async (t) => {
  const jwks = await jwksServer(t);
  let stall = false;
  const seen = [];
  const fetch = (input, init) => {
    seen.push(init.signal);
    return stall ? new Promise(() => {}) : globalThis.fetch(input, init);
  };
  const keys = new RemoteKeySet({ url: jwks.url, timeout: 0.2, minRefresh: 0.05, fetch, onError: () => {} });
  await keys.refresh();
  const verifier = new Verifier({ issuers: { [ISS]: keys }, audience: "crm-api" });
  assert.equal(keys.pending, null, "nothing running");

  // An unknown kid starts a background refresh; the request ends, and with it the fetch.
  stall = true;
  await sleep(60);
  withoutTimers(() => assert.equal(code(() => verifier.verify(mint(k2), route)), "unknown_key"));
  const pending = keys.pending;
  assert.ok(pending instanceof Promise, "the refresh it started, for ctx.waitUntil()");
  assert.equal(keys.pending, pending, "the same one while it runs");
  assert.ok(seen.at(-1) instanceof AbortSignal);
  assert.equal(await within(300, pending), "hung", "and it never settles");

  // Later requests are not held up by it.
  stall = false;
  jwks.keys = [k1.publicJwk, k2.publicJwk];
  assert.equal(keys.pending, null, "older than timeout: forgotten");
  const next = await within(2000, keys.refresh());
  assert.deepEqual(next, { keys: [k1.publicJwk, k2.publicJwk] });
  assert.equal(verifier.verify(mint(k2), route).sub, "agent:lookup-bot");

  // Nor is the next background refresh an unknown kid asks for.
  stall = true;
  await sleep(60);
  withoutTimers(() => code(() => verifier.verify(madeUp("stuck"), route)));
  await sleep(250);
  stall = false;
  const k3 = generateKey({ kid: "remote-3" });
  jwks.keys = [k2.publicJwk, k3.publicJwk];
  assert.equal(code(() => verifier.verify(mint(k3), route)), "unknown_key");
  await within(2000, keys.pending);
  assert.equal(keys.version, 3);
  assert.equal(verifier.verify(mint(k3), route).sub, "agent:lookup-bot");
});

test("pending: resolves once the refresh has ended, also when it failed, for ctx.waitUntil()", async (t) => {
  const jwks = await jwksServer(t);
  const errors = [];
  const keys = new RemoteKeySet({ url: jwks.url, minRefresh: 0.05, onError: (e) => errors.push(e) });
  await keys.refresh();
  jwks.answer = (res) => res.writeHead(500).end();
  await sleep(60);
  keys.requestRefresh();
  assert.equal(await keys.pending, undefined);
  assert.equal(errors.length, 1);
  assert.equal(keys.pending, null);
  assert.equal(keys.version, 1, "the last good keys");
});

test("after a failed first load, refreshIfDue tries again after minRefresh, not a whole interval", async (t) => {
  const jwks = await jwksServer(t);
  jwks.answer = (res) => res.writeHead(503).end();
  const keys = new RemoteKeySet({ url: jwks.url, interval: 300, minRefresh: 0.1, onError: () => {} });
  const verifier = new Verifier({ issuers: { [ISS]: keys }, audience: "crm-api" });
  await assert.rejects(keys.refreshIfDue(), { code: "unknown_key" });
  assert.equal(await keys.refreshIfDue(), null, "under minRefresh: nothing fetched");
  assert.equal(jwks.fetches, 1);
  assert.equal(code(() => verifier.verify(mint(k1), route)), "unknown_key", "fail closed meanwhile");
  jwks.answer = undefined;
  await sleep(150);
  assert.deepEqual(await keys.refreshIfDue(), { keys: [k1.publicJwk] });
  assert.equal(jwks.fetches, 2);
  assert.equal(verifier.verify(mint(k1), route).sub, "agent:lookup-bot");
  await sleep(150);
  await keys.refreshIfDue();
  assert.equal(jwks.fetches, 2, "once loaded, the interval again");
});

/**
 * A revocation authority signing with a key that may change: `/rev/snapshot`, and
 * `/rev/delta/<serial>` for the delta published on `serial` (404 while there is none).
 */
async function revocationAuthority(t) {
  const { planRevocationPublication, signRevocationDelta } = await import("tasktoken");
  const plan = (previousSerial) => {
    const { serial, issuedAt, nextUpdate } = planRevocationPublication({
      previousSerial, now: Math.floor(Date.now() / 1000), adding: 1, live: 1,
    });
    return { serial, issuedAt, nextUpdate };
  };
  const state = { snapshot: undefined, deltas: new Map(), serial: 0, fetches: [] };
  state.newGeneration = (key, jtis) => {
    const next = plan(state.serial);
    state.snapshot = signRevocationSnapshot(key.privateJwk, { issuer: ISS, jtis, ...next });
    state.deltas.clear();
    state.serial = next.serial;
  };
  state.revoke = (key, jti) => {
    const next = plan(state.serial);
    state.deltas.set(state.serial, signRevocationDelta(key.privateJwk, state.snapshot,
      { jtis: [jti], baseSerial: state.serial, ...next }));
    state.serial = next.serial;
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    state.fetches.push(path);
    if (path === "/rev/snapshot") return res.end(state.snapshot);
    const delta = state.deltas.get(Number(path.split("/").pop()));
    if (delta === undefined) return res.writeHead(404).end();
    res.end(delta);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  return Object.assign(state, { url: `http://127.0.0.1:${server.address().port}/rev` });
}

const jtiOf = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url")).jti;

test("a replica following the RemoteKeySet: the service rotates its revocation signing key, the " +
  "replica keeps its filter and takes data signed by the new key, under the same Verifier", async (t) => {
  const jwks = await jwksServer(t);
  const authority = await revocationAuthority(t);
  const errors = [];
  const keys = new RemoteKeySet({ url: jwks.url, minRefresh: 0.05 });
  await keys.refresh();
  const [revoked, later, rotatedAway, fine] = [mint(k1), mint(k1), mint(k1), mint(k1)];
  authority.newGeneration(k1, [jtiOf(revoked)]);
  const replica = new RevocationReplica({ keys, url: authority.url, onError: (e) => errors.push(e) });
  const verifier = new Verifier({ issuers: { [ISS]: keys }, audience: "crm-api", revocation: replica });
  await replica.refresh();
  assert.equal(code(() => verifier.verify(revoked, route)), "revoked");
  authority.revoke(k1, jtiOf(later));
  await replica.refresh();
  assert.equal(code(() => verifier.verify(later, route)), "revoked", "a delta signed by the first key");
  const serial = replica.info.serial;

  // The service puts a new key first: it signs tokens and revocation data from now on.
  jwks.keys = [k2.publicJwk, k1.publicJwk];
  await keys.refresh();
  assert.equal(keys.version, 2);
  assert.equal(replica.info.serial, serial, "the filter kept: the new keys verify what it held");
  assert.equal(code(() => verifier.verify(revoked, route)), "revoked");
  assert.equal(code(() => verifier.verify(later, route)), "revoked");
  const newToken = mint(k2);
  assert.equal(verifier.verify(newToken, route).sub, "agent:lookup-bot", "the new key's tokens, same Verifier");
  authority.revoke(k2, jtiOf(rotatedAway));
  authority.revoke(k2, jtiOf(newToken));
  await replica.refresh();
  assert.equal(code(() => verifier.verify(rotatedAway, route)), "revoked", "a delta signed by the new key");
  assert.equal(code(() => verifier.verify(newToken, route)), "revoked");
  assert.equal(verifier.verify(fine, route).sub, "agent:lookup-bot");
  assert.deepEqual(errors, []);

  // The first key is removed: what it signed is dropped (reported), verification fails
  // closed until the replica has data the keys verify, then follows it.
  jwks.keys = [k2.publicJwk];
  await keys.refresh();
  assert.equal(code(() => verifier.verify(mint(k2), route)), "stale_revocation");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "stale_revocation");
  authority.newGeneration(k2, [jtiOf(newToken)]);
  await replica.refresh();
  assert.equal(code(() => verifier.verify(newToken, route)), "revoked");
  assert.equal(verifier.verify(mint(k2), route).sub, "agent:lookup-bot");
});

test("a replica following a RemoteKeySet that has no keys yet holds nothing, fails closed, and " +
  "its refresh waits for the key set's", async (t) => {
  const jwks = await jwksServer(t);
  const authority = await revocationAuthority(t);
  const revoked = mint(k1);
  authority.newGeneration(k1, [jtiOf(revoked)]);
  jwks.answer = (res) => res.writeHead(503).end();
  const revocationKeys = new RemoteKeySet({ url: jwks.url, minRefresh: 0.05, onError: () => {} });
  const replica = new RevocationReplica({ keys: revocationKeys, issuer: ISS, url: authority.url, onError: () => {} });
  const verifier = new Verifier({ issuers: { [ISS]: { keys: [k1.publicJwk] } }, audience: "crm-api", revocation: replica });
  assert.equal(replica.info, null);
  assert.equal(replica.has(jtiOf(revoked)), false);
  assert.throws(() => replica.offer(authority.snapshot), { code: "unknown_key" });
  assert.throws(() => verifier.verify(revoked, route), (e) => e.code === "stale_revocation" && /RemoteKeySet/.test(e.message));
  await assert.rejects(replica.refresh(), { code: "stale_revocation" });
  assert.deepEqual(authority.fetches, [], "nothing to verify data with: nothing read");

  jwks.answer = undefined;
  await sleep(60);
  assert.equal((await replica.refresh()).serial, authority.serial, "the key set's refresh, then the data");
  assert.equal(revocationKeys.version, 1);
  assert.equal(code(() => verifier.verify(revoked, route)), "revoked");
  assert.equal(verifier.verify(mint(k1), route).sub, "agent:lookup-bot");
});
