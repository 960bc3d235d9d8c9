// Revocation in the package: the shared revocation vectors through RevocationFilter, the
// replica's ordering and fallback rules, a replica fed over HTTP plugged into a Verifier,
// exact checks, fail-open warnings, and completeTask.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import {
  RemoteKeySet, RevocationFilter, RevocationReplica, TaskTokenError, Verifier, completeTask,
  generateKey,
} from "tasktoken";
import { base64url } from "./suite/vectors.js";


const vectors = (name) =>
  JSON.parse(readFileSync(new URL(`../../tests/vectors/${name}`, import.meta.url), "utf8"));
const rev = vectors("revocation.json");
const tokens = vectors("tokens.json");
const snapshot = base64url(rev.snapshot.bytes);
const delta = base64url(rev.delta.bytes);
const chain = rev.chain.deltas.map(base64url);

test("revocation.json: membership before and after the delta", () => {
  const filter = RevocationFilter.fromSnapshot(snapshot, rev.keys);
  assert.equal(filter.info.serial, 41);
  for (const jti of rev.snapshot.revoked) assert.equal(filter.has(jti), true, jti);
  for (const jti of rev.snapshot.notRevoked) assert.equal(filter.has(jti), false, jti);
  filter.applyDelta(delta);
  assert.equal(filter.info.serial, 42);
  for (const jti of rev.delta.revokedAfter) assert.equal(filter.has(jti), true, jti);
});

test("revocation.json: every hostile snapshot and delta is refused with its code", () => {
  for (const c of rev.snapshotErrors) {
    const forIssuer = { issuer: rev.issuer, now: rev.now };
    assert.throws(() => RevocationFilter.fromSnapshot(base64url(c.bytes), rev.keys, forIssuer),
      (e) => e instanceof TaskTokenError && e.code === c.expect.error, c.name);
  }
  for (const c of rev.deltaErrors) {
    const filter = RevocationFilter.fromSnapshot(snapshot, rev.keys);
    const attempt = c.asSnapshot
      ? () => RevocationFilter.fromSnapshot(base64url(c.bytes), rev.keys, { issuer: rev.issuer })
      : () => filter.applyDelta(base64url(c.bytes));
    assert.throws(attempt, (e) => e.code === c.expect.error, c.name);
    assert.equal(filter.info.serial, 41, `${c.name} leaves the filter as it was`);
  }
});

test("a replica given deltas out of order ends in the same state, and never goes back", () => {
  const all = [delta, ...chain];
  const orders = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]];
  for (const order of orders) {
    const replica = new RevocationReplica({ keys: rev.keys, loader: () => null });
    replica.offer(all[order[0]]);
    assert.equal(replica.offer(snapshot), "replaced");
    for (const i of order.slice(1)) replica.offer(all[i]);
    assert.equal(replica.info.serial, 44, `order ${order}`);
    for (const jti of rev.chain.revokedAfter) assert.equal(replica.has(jti), true);
    assert.equal(replica.offer(snapshot), "ignored", "an older snapshot is ignored");
  }
});

test("a replica falls back to a snapshot on a gap, and keeps its last good filter", async () => {
  const asked = [];
  let serve = "chain-tail"; // first only the last delta arrives: a gap
  const replica = new RevocationReplica({
    keys: rev.keys,
    loader: ({ serial }) => {
      asked.push(serial);
      if (serial === null) return [snapshot, delta, ...chain];
      if (serve === "chain-tail") return chain[1];
      if (serve === "tampered") return Uint8Array.from(chain[0], (b, i) => (i === 30 ? b ^ 1 : b));
      return null;
    },
    onError: () => {},
  });
  await replica.refresh();
  assert.deepEqual(asked, [null, 44], "no filter: a snapshot, then the deltas after it");
  assert.equal(replica.info.serial, 44);
  assert.ok(replica.age < 1);
  serve = "tampered";
  asked.length = 0;
  const healthyAge = replica.age;
  await new Promise((r) => setTimeout(r, 20));
  await replica.refresh();
  assert.equal(replica.info.serial, 44, "tampered data is refused, the filter kept");
  assert.deepEqual(asked, [44, null, 44], "data that failed: the snapshot is read again");
  assert.ok(replica.age > healthyAge, "a refresh that met bad data does not count as healthy");
});

function serve(handler) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((r) => server.close(r)),
    }));
  });
}

test("a replica over HTTP plugged into a Verifier: revoked once the delta arrives", async (t) => {
  let published = [snapshot];
  const authority = await serve((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path === "/rev/snapshot") return res.end(published[0]);
    const from = Number(path.split("/").pop());
    const next = published.slice(1).find((d) => d.from === from);
    if (!next) return res.writeHead(404).end();
    res.end(next.bytes);
  });
  t.after(() => authority.close());
  const replica = new RevocationReplica({ keys: rev.keys, url: `${authority.url}/rev/` });
  const config = tokens.verifiers.default;
  const verifier = new Verifier({ ...config, revocation: replica });
  const c = tokens.cases.find((x) => x.name === "valid_basic"); // jti 7Qj0… is in the snapshot
  const other = tokens.cases.find((x) => x.name === "valid_minted_by_issuer"); // another jti
  const now = rev.snapshot.issuedAt + 10;
  assert.throws(() => verifier.verify(c.token, { ...c.request, now }), { code: "stale_revocation" },
    "nothing loaded yet: fail closed");
  await replica.refresh();
  assert.throws(() => verifier.verify(c.token, { ...c.request, now }), { code: "revoked" });
  assert.equal(verifier.verify(other.token, { ...other.request, now }).jti, other.expect.claims.jti);
  assert.equal(replica.has("jti-revoked-3"), false);
  published = [snapshot, { from: 41, bytes: delta }];
  await replica.refresh();
  assert.equal(replica.info.serial, 42);
  assert.equal(replica.has("jti-revoked-3"), true);
});

test("exactCheck overrules a hit; a throwing exactCheck does not", () => {
  const filter = RevocationFilter.fromSnapshot(snapshot, rev.keys);
  const c = tokens.cases.find((x) => x.name === "valid_basic");
  const now = rev.snapshot.issuedAt + 10;
  const lenient = new Verifier({ ...tokens.verifiers.default, revocation: filter, exactCheck: () => false });
  assert.equal(lenient.verify(c.token, { ...c.request, now }).jti, "7Qj0nS1c2aQm3Jx9Zk4pVw");
  const broken = new Verifier({ ...tokens.verifiers.default, revocation: filter,
    exactCheck: () => { throw new Error("database down"); } });
  assert.throws(() => broken.verify(c.token, { ...c.request, now }), { code: "revoked" });
});

test("stale data fails closed, or with failOpenWhenStale passes with a warning", () => {
  const filter = RevocationFilter.fromSnapshot(snapshot, rev.keys);
  const c = tokens.cases.find((x) => x.name === "valid_minted_by_issuer"); // not revoked
  const late = rev.snapshot.nextUpdate + 61;
  const closed = new Verifier({ ...tokens.verifiers.default, revocation: filter, maxLifetime: 900 });
  const request = { ...c.request, now: c.now };
  assert.equal(closed.verify(c.token, request).jti, c.expect.claims.jti, "fresh at the case clock");
  // Move the clock past next_update + grace while the token is still valid: the largest
  // clock skew (300 s) keeps the token itself valid.
  const skewed = { ...tokens.verifiers.default, clockSkew: 300, revocation: filter };
  assert.throws(() => new Verifier(skewed).verify(c.token, { ...c.request, now: late }),
    { code: "stale_revocation" });
  const warnings = [];
  const open = new Verifier({ ...skewed, failOpenWhenStale: true, onStaleRevocation: (cl) => warnings.push(cl.jti) });
  assert.equal(open.verify(c.token, { ...c.request, now: late }).jti, c.expect.claims.jti);
  assert.deepEqual(warnings, [c.expect.claims.jti]);
});

test("completeTask: one call, to a URL, a function or an object", async (t) => {
  const seen = [];
  const authority = await serve((req, res) => {
    seen.push(req.headers.authorization);
    if (req.method !== "POST") return res.writeHead(405).end();
    res.writeHead(204).end();
  });
  t.after(() => authority.close());
  await completeTask("tok.en.x", `${authority.url}/_tasktoken/revoke`);
  assert.deepEqual(seen, ["Bearer tok.en.x"]);
  const calls = [];
  await completeTask("a.b.c", async (token) => calls.push(token));
  await completeTask("d.e.f", { revoke: async (token) => calls.push(token) });
  assert.deepEqual(calls, ["a.b.c", "d.e.f"]);
  await assert.rejects(completeTask("", authority.url), { code: "malformed" });
  const refusing = await serve((req, res) => {
    res.writeHead(401, { "content-type": "application/json" }).end('{"error":"expired"}');
  });
  t.after(() => refusing.close());
  await assert.rejects(completeTask("a.b.c", refusing.url), { code: "expired" });
});

test("a replica over HTTP: 410 for a delta (a new generation) reads the snapshot in the same " +
  "refresh, and reports nothing", async (t) => {
  const { generateKey, signRevocationSnapshot, planRevocationPublication } = await import("tasktoken");
  const ISS = "https://auth.example";
  const { privateJwk, publicJwk } = generateKey({ kid: "rev-410" });
  const t0 = Math.floor(Date.now() / 1000);
  const plan = (previousSerial) => {
    const { serial, issuedAt, nextUpdate } =
      planRevocationPublication({ previousSerial, now: t0, adding: 0, live: 1 });
    return { serial, issuedAt, nextUpdate };
  };
  const first = plan(0);
  const second = plan(first.serial);
  let current = signRevocationSnapshot(privateJwk, { issuer: ISS, jtis: ["jti-a"], ...first });
  let retired = null;
  const asked = [];
  const authority = await serve((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    asked.push(path);
    if (path === "/revocation/snapshot") return res.end(current);
    if (path === `/revocation/delta/${retired}`) return res.writeHead(410).end();
    res.writeHead(404).end();
  });
  t.after(() => authority.close());
  const errors = [];
  const replica = new RevocationReplica({ keys: { keys: [publicJwk] }, issuer: ISS,
    url: `${authority.url}/revocation`, onError: (e) => errors.push(e) });
  await replica.refresh();
  assert.equal(replica.info.serial, first.serial);
  assert.equal(replica.has("jti-b"), false);

  // The authority rotates: a new generation, and the old serial's delta is gone.
  current = signRevocationSnapshot(privateJwk, { issuer: ISS, jtis: ["jti-a", "jti-b"], ...second });
  retired = first.serial;
  asked.length = 0;
  await new Promise((r) => setTimeout(r, 50));
  const info = await replica.refresh();
  assert.equal(info.serial, second.serial, "the new generation, in the same refresh");
  assert.equal(replica.has("jti-b"), true);
  assert.deepEqual(asked, [`/revocation/delta/${first.serial}`, "/revocation/snapshot",
    `/revocation/delta/${second.serial}`]);
  assert.deepEqual(errors, [], "a 410 is not an error");
  assert.ok(replica.age < 0.04, "and the refresh counts as healthy (its age starts again)");

  // A snapshot that is itself of the retired generation (a stale cache): that is reported.
  current = signRevocationSnapshot(privateJwk, { issuer: ISS, jtis: ["jti-a", "jti-b"], ...second });
  retired = second.serial;
  await replica.refresh();
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, "stale_revocation");
});

test("completeTask POSTs through the given fetch", async () => {
  const seen = [];
  const fetch = async (url, init) => {
    seen.push([String(url), init.method, init.headers.authorization, init.redirect]);
    return new Response(null, { status: 200 });
  };
  await completeTask("a.b.c", "https://auth.example/revocation/revoke", { fetch });
  assert.deepEqual(seen, [["https://auth.example/revocation/revoke", "POST", "Bearer a.b.c", "manual"]]);
  await assert.rejects(completeTask("a.b.c", "https://auth.example/r", { fetch: 1 }), { code: "malformed" });
});

test("a replica's load that never answers gives up after `timeout`; a refresh that never " +
  "settles (a Worker's request over) never holds up the next", async (t) => {
  let hang = true;
  const signals = [];
  const errors = [];
  const replica = new RevocationReplica({
    keys: rev.keys, timeout: 0.2, onError: (e) => errors.push(e),
    loader: ({ serial, signal }) => {
      signals.push(signal);
      if (serial === null) return [snapshot, delta, ...chain];
      return hang ? new Promise(() => {}) : null;
    },
  });
  const within = (ms, promise) => Promise.race([promise, new Promise((r) => setTimeout(() => r("hung"), ms))]);
  const started = Date.now();
  const info = await within(3000, replica.refresh());
  assert.equal(info.serial, 44, "the snapshot taken; the deltas after it never came");
  assert.ok(Date.now() - started < 2000);
  assert.ok(errors.length >= 1 && errors.every((e) => e.name === "TimeoutError"), String(errors));
  assert.ok(signals.every((s) => s instanceof AbortSignal));
  assert.ok(signals.some((s) => s.aborted), "the loader's signal aborts at the deadline");

  // Timers that never fire, as in a Worker after its response: the refresh never settles.
  const real = globalThis.setTimeout;
  globalThis.setTimeout = () => 0;
  let stuck;
  try {
    stuck = replica.refresh();
  } finally {
    globalThis.setTimeout = real;
  }
  assert.equal(await within(300, stuck), "hung");
  hang = false;
  const next = await within(2000, replica.refresh());
  assert.equal(next.serial, 44, "a new refresh, not the stuck one");

  // Over HTTP: a server that never answers.
  const held = [];
  const silent = await serve((req, res) => held.push(res));
  t.after(() => {
    held.forEach((res) => res.destroy());
    return silent.close();
  });
  const remote = new RevocationReplica({ keys: rev.keys, url: `${silent.url}/rev`, timeout: 0.2, onError: () => {} });
  await assert.rejects(within(2000, remote.refresh()), { code: "stale_revocation" });
  assert.throws(() => new RevocationReplica({ keys: rev.keys, loader: () => null, timeout: 0 }), { code: "malformed" });
  assert.throws(() => new RevocationReplica({ keys: rev.keys, loader: () => null, timeout: 600 }), { code: "malformed" });
});

test("a replica following a RemoteKeySet gives the core it builds for new keys what it held, " +
  "whatever order it came in: the same serial, the same revocations", async (t) => {
  let published = rev.keys;
  const host = await serve((req, res) => res.end(JSON.stringify(published)));
  t.after(() => host.close());
  const keys = new RemoteKeySet({ url: `${host.url}/jwks.json` });
  await keys.refresh();
  const all = [delta, ...chain];
  const replicas = [];
  for (const order of [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]]) {
    const replica = new RevocationReplica({ keys, loader: () => null });
    replica.offer(all[order[0]]); // before the snapshot: buffered, then taken with it
    assert.equal(replica.offer(snapshot), "replaced");
    for (const i of order.slice(1)) replica.offer(all[i]);
    assert.equal(replica.info.serial, 44);
    replicas.push([order, replica]);
  }
  published = { keys: [...rev.keys.keys, generateKey({ kid: "a2" }).publicJwk] };
  await keys.refresh();
  assert.equal(keys.version, 2);
  for (const [order, replica] of replicas) {
    assert.equal(replica.info.serial, 44, `order ${order}`);
    for (const jti of rev.chain.revokedAfter) assert.equal(replica.has(jti), true, `order ${order}: ${jti}`);
    for (const jti of rev.snapshot.notRevoked.filter((j) => !rev.chain.revokedAfter.includes(j))) {
      assert.equal(replica.has(jti), false, jti);
    }
    assert.equal(replica.offer(snapshot), "ignored", "and it never goes back");
  }
});
