// DPoP-bound tokens through the gateway in real workerd (`wrangler dev`), and proof replay
// across isolates (`proofReplay: "global"` routes, a Durable Object keyed by the proof's
// `jti`; docs/gateway.md, "Proof replay across isolates").
//
// Another isolate is shown twice: the way it happens on Cloudflare when an isolate is
// replaced (the gateway stopped and started again on the same persisted state, so the new
// isolate's verifier has never seen the proof and only the Durable Object's storage has), and
// as two isolates serving at once (two `wrangler dev` processes, the second bound to the
// first's Durable Objects through wrangler's local dev registry, sharing its KV state).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Issuer, createProof, generateProofKey } from "tasktoken";
import { AUDIENCE, ISSUER, makeKeys, rawRequest, startGateway, startOrigin } from "./harness.js";

const keys = makeKeys();
const issuer = new Issuer({ iss: ISSUER, key: keys.k1.privateJwk });
const persistTo = mkdtempSync(join(tmpdir(), "tasktoken-dpop-"));
let origin;
let gw;

/** A token for the notes (global replay) and customer (isolate replay) routes. */
function mint(overrides = {}) {
  return issuer.mint({
    sub: "agent:notes-bot", aud: AUDIENCE, task: "notes-4821", scope: "notes:write customers:read",
    res: ["customers/4821/notes", "customers/4821"], ttl: 300, ...overrides,
  });
}

/** A bound token and a function making fresh proofs for it. */
function boundClient(alg = "ES256") {
  const proofKey = generateProofKey({ alg });
  const token = mint({ cnfJkt: proofKey.jkt });
  return {
    token,
    proof: (method, url) => createProof({ key: proofKey.privateJwk, method, url, token }),
  };
}

/**
 * Sends `token` with the DPoP scheme and `proof` to `base`; with `host`, under that name (the
 * `Host` header: what `request.url` names, as a hostname routed to the Worker does).
 */
function send(method, path, token, proof, base = gw.base, host = undefined) {
  const headers = { authorization: `DPoP ${token}`, dpop: proof, ...(host ? { host } : {}) };
  return rawRequest(base, path, { method, headers });
}

/** Waits (up to 5 s) until `check()` holds: wrangler passes the Worker's logs on late. */
async function eventually(check, message) {
  for (const end = Date.now() + 5000; !check(); await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > end) assert.fail(message);
  }
}

before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ keys, origin, persistTo });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

test("a bound token on a global-replay route: forwarded once per proof, without token or proof", async () => {
  const client = boundClient();
  const proof = client.proof("POST", `${gw.base}/customers/4821/notes`);
  const before = origin.seen.length;
  const ok = await send("POST", "/customers/4821/notes", client.token, proof);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.sub, "agent:notes-bot");
  const seen = origin.seen.at(-1);
  assert.equal(seen.headers.authorization, undefined, "no token at the origin");
  assert.equal(seen.headers.dpop, undefined, "no proof at the origin");
  const again = await send("POST", "/customers/4821/notes", client.token, proof);
  assert.equal(again.status, 401);
  assert.equal(again.body.error, "proof_replayed");
  assert.match(again.headers["www-authenticate"], /^DPoP algs="EdDSA ES256", error="invalid_dpop_proof"/);
  // A fresh proof (EdDSA this time) goes through.
  const ed = boundClient("EdDSA");
  const fresh = await send("POST", "/customers/4821/notes", ed.token, ed.proof("POST", `${gw.base}/customers/4821/notes`));
  assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  assert.equal(origin.seen.length, before + 2);
});

test("the scheme must match the token: a bound token as Bearer, an unbound one as DPoP, refused", async () => {
  const client = boundClient();
  const before = origin.seen.length;
  const bearer = await rawRequest(gw.base, "/customers/4821/notes", { method: "POST", token: client.token });
  assert.equal(bearer.status, 401);
  assert.equal(bearer.body.error, "binding_required");
  assert.match(bearer.headers["www-authenticate"], /^DPoP .*error="invalid_token"/);
  const unbound = mint();
  const key = generateProofKey({ alg: "ES256" });
  const proof = createProof({ key: key.privateJwk, method: "POST", url: `${gw.base}/customers/4821/notes`, token: unbound });
  const asDpop = await send("POST", "/customers/4821/notes", unbound, proof);
  assert.equal(asDpop.status, 401);
  assert.equal(asDpop.body.error, "binding_mismatch");
  assert.match(asDpop.headers["www-authenticate"], /^DPoP .*error="invalid_token"/);
  // A proof by another key than the token's, and one for another URL or method.
  const other = generateProofKey({ alg: "ES256" });
  const stranger = createProof({ key: other.privateJwk, method: "POST", url: `${gw.base}/customers/4821/notes`, token: client.token });
  assert.equal((await send("POST", "/customers/4821/notes", client.token, stranger)).body.error, "binding_mismatch");
  const wrongUrl = client.proof("POST", `${gw.base}/customers/4822/notes`);
  assert.equal((await send("POST", "/customers/4821/notes", client.token, wrongUrl)).body.error, "invalid_proof");
  const wrongHost = client.proof("POST", `https://gateway.example/customers/4821/notes`);
  assert.equal((await send("POST", "/customers/4821/notes", client.token, wrongHost)).body.error, "invalid_proof");
  const wrongMethod = client.proof("GET", `${gw.base}/customers/4821/notes`);
  assert.equal((await send("POST", "/customers/4821/notes", client.token, wrongMethod)).body.error, "invalid_proof");
  // An unbound token as Bearer carries no proof: the route takes it as any other.
  const plain = await rawRequest(gw.base, "/customers/4821/notes", { method: "POST", token: unbound });
  assert.equal(plain.status, 200, JSON.stringify(plain.body));
  assert.equal(origin.seen.length, before + 1, "only the Bearer request of the unbound token reached the origin");
});

test("a proof replayed after the isolate is gone: refused by the Durable Object on a global route only", async () => {
  // The gateway's public name stays while isolates come and go (a new `wrangler dev` gets a
  // new port): the client addresses it as http://gateway.test, which the proofs name.
  const host = "gateway.test";
  const client = boundClient();
  const globalProof = client.proof("POST", `http://${host}/customers/4821/notes`);
  const isolateProof = client.proof("GET", `http://${host}/customers/4821`);
  assert.equal((await send("POST", "/customers/4821/notes", client.token, globalProof, gw.base, host)).status, 200);
  assert.equal((await send("GET", "/customers/4821", client.token, isolateProof, gw.base, host)).status, 200);
  // What the isolate answers for a replay it caught itself.
  const local = await send("POST", "/customers/4821/notes", client.token, globalProof, gw.base, host);
  assert.equal(local.body.error, "proof_replayed");

  // A new isolate on the same durable state.
  await gw.stop();
  gw = await startGateway({ keys, origin, persistTo });
  const before = origin.seen.length;
  const replayed = await send("POST", "/customers/4821/notes", client.token, globalProof, gw.base, host);
  assert.equal(replayed.status, 401, JSON.stringify(replayed.body));
  assert.deepEqual(replayed.body, local.body, "the same answer as a replay caught by the isolate");
  assert.equal(replayed.headers["www-authenticate"], local.headers["www-authenticate"]);
  await eventually(() => /"decided_by":"edge-proof-replay"/.test(gw.output()), "decided by the Durable Object");
  assert.equal(origin.seen.length, before, "the replay never reached the origin");
  // The route without the option: the new isolate's verifier has not seen this proof, and
  // nothing else has — it passes within its window (the documented limit of "isolate").
  const isolateReplay = await send("GET", "/customers/4821", client.token, isolateProof, gw.base, host);
  assert.equal(isolateReplay.status, 200, JSON.stringify(isolateReplay.body));
  // Fresh proofs still go through.
  const fresh = client.proof("POST", `http://${host}/customers/4821/notes`);
  assert.equal((await send("POST", "/customers/4821/notes", client.token, fresh, gw.base, host)).status, 200);
  for (const text of [client.token, globalProof]) {
    for (const part of text.split(".")) assert.ok(!gw.output().includes(part), "token or proof text in the logs");
  }
});

test("two isolates at once, one Durable Object: a proof is used once across both", async () => {
  // A unique name: other test files run gateways named as wrangler.toml says, at the same time,
  // and the dev registry finds Workers by name.
  const name = `tasktoken-gateway-${randomBytes(4).toString("hex")}`;
  const shared = mkdtempSync(join(tmpdir(), "tasktoken-dpop-two-"));
  const first = await startGateway({ keys, origin, persistTo: shared, extraArgs: ["--name", name] });
  let second;
  try {
    // The second: the same Worker, its own isolate and process, both bindings to the first's
    // objects (`script_name`), the same KV state (revocation data the first's authority publishes).
    const dir = mkdtempSync(join(tmpdir(), "tasktoken-dpop-second-"));
    writeFileSync(join(dir, "wrangler.toml"), [
      `name = "${name}-second"`,
      `main = ${JSON.stringify(new URL("../../js/gateway/worker.js", import.meta.url).pathname)}`,
      `compatibility_date = "2026-04-01"`,
      `[vars]`, `ISSUER = "${ISSUER}"`, `AUDIENCE = "${AUDIENCE}"`,
      `[[kv_namespaces]]`, `binding = "REVOCATION"`, `id = "tasktoken-revocation"`,
      `[[durable_objects.bindings]]`, `name = "AUTHORITY"`, `class_name = "RevocationAuthority"`, `script_name = "${name}"`,
      `[[durable_objects.bindings]]`, `name = "PROOF_REPLAY"`, `class_name = "ProofReplayStore"`, `script_name = "${name}"`,
    ].join("\n"));
    second = await startGateway({ keys, origin, persistTo: shared, config: pathToFileURL(join(dir, "wrangler.toml")) });
    const host = "gateway.test";
    const client = boundClient("EdDSA");
    const at = (gw, method, path, proof) => send(method, path, client.token, proof, gw.base, host);
    const notes = () => client.proof("POST", `http://${host}/customers/4821/notes`);

    const proof = notes();
    assert.equal((await at(first, "POST", "/customers/4821/notes", proof)).status, 200);
    const replayed = await at(second, "POST", "/customers/4821/notes", proof);
    assert.equal(replayed.status, 401, JSON.stringify(replayed.body));
    assert.equal(replayed.body.error, "proof_replayed");
    // The same on a route without the option: the second isolate has no way to know.
    const read = client.proof("GET", `http://${host}/customers/4821`);
    assert.equal((await at(first, "GET", "/customers/4821", read)).status, 200);
    assert.equal((await at(second, "GET", "/customers/4821", read)).status, 200);
    // Sent to both at the same moment: exactly one is forwarded, every time.
    const before = origin.seen.length;
    for (let i = 0; i < 10; i++) {
      const once = notes();
      const answers = await Promise.all([first, second].map((gw) => at(gw, "POST", "/customers/4821/notes", once)));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401], JSON.stringify(answers.map((a) => a.body)));
    }
    assert.equal(origin.seen.length, before + 10);
  } finally {
    await second?.stop();
    await first.stop();
  }
});

test("the replay store out of reach: a global route fails closed (503), others are unaffected", async () => {
  const down = await startGateway({ keys, origin,
    config: new URL("./replay-down/wrangler.toml", import.meta.url) });
  try {
    const client = boundClient();
    const before = origin.seen.length;
    const refused = await send("POST", "/customers/4821/notes", client.token,
      client.proof("POST", `${down.base}/customers/4821/notes`), down.base);
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(refused.body.error, "stale_revocation");
    assert.match(refused.headers["www-authenticate"], /^DPoP .*error="temporarily_unavailable"/);
    assert.equal(origin.seen.length, before, "the origin was not reached");
    // wrangler's dev registry answers 503 for a Worker that is not running.
    await eventually(() => /the proof replay check failed: the replay store answered 503/.test(down.output()),
      "the failure is logged");
    const other = await send("GET", "/customers/4821", client.token,
      client.proof("GET", `${down.base}/customers/4821`), down.base);
    assert.equal(other.status, 200, JSON.stringify(other.body));
  } finally {
    await down.stop();
  }
});

test("/_tasktoken/revoke: a bound token revokes itself only with its key's proof for that URL", async () => {
  const url = `${gw.base}/_tasktoken/revoke`;
  const client = boundClient("EdDSA");
  const token = client.token;
  const read = () => send("GET", "/customers/4821", token, client.proof("GET", `${gw.base}/customers/4821`));
  // As Bearer — what a copy out of a log would send: refused with a DPoP challenge.
  const asBearer = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token });
  assert.equal(asBearer.status, 401);
  assert.equal(asBearer.body.error, "binding_required");
  assert.match(asBearer.headers["www-authenticate"], /^DPoP .*error="invalid_token"/);
  // Another key's proof, a proof for another URL or method, no proof: refused.
  const thief = generateProofKey();
  const stolen = createProof({ key: thief.privateJwk, method: "POST", url, token });
  assert.equal((await send("POST", "/_tasktoken/revoke", token, stolen)).body.error, "binding_mismatch");
  const elsewhere = client.proof("POST", `${gw.base}/customers/4821/notes`);
  const wrongUrl = await send("POST", "/_tasktoken/revoke", token, elsewhere);
  assert.deepEqual([wrongUrl.status, wrongUrl.body.error], [401, "invalid_proof"]);
  assert.match(wrongUrl.headers["www-authenticate"], /^DPoP .*error="invalid_dpop_proof"/);
  assert.equal((await send("POST", "/_tasktoken/revoke", token, client.proof("GET", url))).body.error, "invalid_proof");
  const none = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", headers: { authorization: `DPoP ${token}` } });
  assert.deepEqual([none.status, none.body.error], [401, "invalid_proof"]);
  assert.equal((await read()).status, 200, "none of these revoked it");
  // The holder's proof: revoked; the same proof again is a replay.
  const proof = client.proof("POST", url);
  const done = await send("POST", "/_tasktoken/revoke", token, proof);
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal((await send("POST", "/_tasktoken/revoke", token, proof)).body.error, "proof_replayed");
  const after = await read();
  assert.deepEqual([after.status, after.body.error], [401, "revoked"]);
});

test("/_tasktoken/revoke: a bound caller of another token's revocation proves its key; unbound tokens as before", async () => {
  const url = `${gw.base}/_tasktoken/revoke`;
  const proofKey = generateProofKey();
  const admin = mint({ sub: "ops:bound-admin", task: "cleanup", scope: "tokens:revoke", res: ["tokens/*"],
    cnfJkt: proofKey.jkt });
  const target = mint({ sub: "agent:target", task: "target", scope: "customers:read", res: ["customers/4821"] });
  const body = JSON.stringify({ token: target });
  const asBearer = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token: admin, body });
  assert.deepEqual([asBearer.status, asBearer.body.error], [401, "binding_required"]);
  const proof = createProof({ key: proofKey.privateJwk, method: "POST", url, token: admin });
  const done = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", body,
    headers: { authorization: `DPoP ${admin}`, dpop: proof } });
  assert.equal(done.status, 200, JSON.stringify(done.body));
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: target })).body.error, "revoked");
  // An unbound token: as DPoP it is refused (RFC 9449 §7.1), as Bearer it revokes itself.
  const unbound = mint({ sub: "agent:unbound", task: "unbound" });
  const needless = createProof({ key: proofKey.privateJwk, method: "POST", url, token: unbound });
  assert.equal((await send("POST", "/_tasktoken/revoke", unbound, needless)).body.error, "binding_mismatch");
  assert.equal((await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token: unbound })).status, 200);
});

test("a requireBinding route refuses an unbound token that grants it: 401 binding_required, origin not reached", async () => {
  const path = "/customers/4821/notes";
  const bearer = mint({ sub: "agent:unbound-deleter", task: "notes-unbound", scope: "notes:delete customers:read" });
  const before = origin.seen.length;
  const res = await rawRequest(gw.base, path, { method: "DELETE", token: bearer });
  assert.deepEqual([res.status, res.body.error], [401, "binding_required"]);
  assert.match(res.headers["www-authenticate"], /^DPoP .*error="invalid_token"/);
  assert.equal(origin.seen.length, before, "the origin never sees it");
  await eventually(() => /"decided_by":"edge-route"/.test(gw.output()), "audited as the route's decision");
  // The same token on a route without the option passes.
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: bearer })).status, 200);
  // A bound token with its proof passes.
  const key = generateProofKey();
  const bound = mint({ sub: "agent:bound-deleter", task: "notes-bound", scope: "notes:delete", cnfJkt: key.jkt });
  const proof = createProof({ key: key.privateJwk, method: "DELETE", url: `${gw.base}${path}`, token: bound });
  const ok = await send("DELETE", path, bound, proof);
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  // The option is checked at load.
  const { checkRoutes } = await import("../../js/gateway/routes.js");
  const route = { method: "GET", path: "/x", action: "a:b", resource: "x" };
  assert.throws(() => checkRoutes([{ ...route, requireBinding: "yes" }]), /requireBinding must be a boolean/);
  assert.doesNotThrow(() => checkRoutes([{ ...route, requireBinding: false }]));
});
