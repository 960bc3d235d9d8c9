// Audit events through the package: one per decision with the right outcome, from the
// Verifier, the Issuer and the guard — and never a token or a private key in any of them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Issuer, TaskTokenError, Verifier, generateKey, guard } from "tasktoken";

const tokens = JSON.parse(readFileSync(new URL("../../tests/vectors/tokens.json", import.meta.url), "utf8"));
const secrets = Object.values(tokens.privateKeys).map((k) => k.d);

test("every vector decision is one event, with its outcome, without secrets", () => {
  const all = [];
  for (const c of tokens.cases) {
    if (c.revocation) continue;
    let verifier;
    try {
      verifier = new Verifier({ ...tokens.verifiers[c.verifier], name: "crm-api" });
    } catch {
      continue; // refused configurations decide nothing
    }
    const events = [];
    let outcome;
    try {
      verifier.verify(c.token, { ...c.request, now: c.now, onDecision: (e) => events.push(e) });
      outcome = "ok";
    } catch (e) {
      assert.ok(e instanceof TaskTokenError);
      outcome = e.code;
    }
    assert.equal(events.length, 1, c.name);
    const [event] = events;
    assert.equal(event.outcome, outcome, c.name);
    assert.equal(event.event, "verify");
    assert.equal(event.decided_by, "crm-api");
    assert.equal(event.action, c.request.action);
    if (outcome === "ok") assert.ok(event.sub && event.jti && event.kid && event.issuer, c.name);
    const text = JSON.stringify(event);
    for (const part of c.token.split(".").filter((p) => p.length > 8)) {
      assert.ok(!text.includes(part), `${c.name}: token text in the event`);
    }
    for (const d of secrets) assert.ok(!text.includes(d), `${c.name}: a private key in the event`);
    all.push(event);
  }
  assert.ok(all.length > 140);
});

test("Issuer onDecision: mints and refusals, stats on the Verifier", () => {
  const { privateJwk, publicJwk } = generateKey({ kid: "a1" });
  const events = [];
  const issuer = new Issuer({ iss: "https://a", key: privateJwk, onDecision: (e) => events.push(e) });
  const request = { sub: "agent:x", aud: "crm", task: "t", scope: "c:read", res: ["c/1"], ttl: 60 };
  const token = issuer.mint(request);
  assert.throws(() => issuer.mint({ ...request, res: ["*"] }), { code: "invalid_claim" });
  assert.deepEqual(events.map((e) => [e.event, e.outcome, e.resource]),
    [["mint", "ok", "c/1"], ["mint", "invalid_claim", "*"]]);
  assert.ok(events[0].jti && !events[1].jti);
  for (const e of events) assert.ok(!JSON.stringify(e).includes(privateJwk.d));

  const seen = [];
  const verifier = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "crm",
    onDecision: (e) => seen.push(e.outcome) });
  verifier.verify(token, { action: "c:read", resource: "c/1" });
  assert.throws(() => verifier.verify(token, { action: "c:write", resource: "c/1" }));
  assert.throws(() => verifier.verify(42, { action: "c:read", resource: "c/1" }));
  assert.deepEqual(seen, ["ok", "action_denied", "malformed"]);
  assert.deepEqual(verifier.stats(), { ok: 1, action_denied: 1, malformed: 1 });
});

test("guard onDecision: also for requests refused before verification", () => {
  const { publicJwk } = generateKey({ kid: "g" });
  const verifier = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "crm" });
  const events = [];
  const gate = guard(new Request("https://h/c/1"), verifier,
    { action: "c:read", resource: "c/1", onDecision: (e) => events.push(e) });
  assert.equal(gate.response.status, 401);
  assert.deepEqual(events.map((e) => [e.outcome, e.decided_by]), [["malformed", "guard"]]);
});

test("a throwing listener never changes a decision", () => {
  const { privateJwk, publicJwk } = generateKey({ kid: "t" });
  const token = new Issuer({ iss: "https://a", key: privateJwk })
    .mint({ sub: "s", aud: "crm", task: "t", scope: "r", res: ["r"], ttl: 60 });
  const verifier = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "crm",
    onDecision: () => { throw new Error("logger down"); } });
  const original = console.error;
  console.error = () => {};
  try {
    assert.equal(verifier.verify(token, { action: "r", resource: "r" }).sub, "s");
    assert.throws(() => verifier.verify(token, { action: "w", resource: "r" }), { code: "action_denied" });
  } finally {
    console.error = original;
  }
});

test("events come from the core in every path: nested calls, revocations, refusals before the core", () => {
  const { privateJwk, publicJwk } = generateKey({ kid: "n" });
  const issuer = new Issuer({ iss: "https://a", key: privateJwk });
  const mint = (extra = {}) =>
    issuer.mint({ sub: "s", aud: "crm", task: "t", scope: "r tokens:revoke", res: ["r", "tokens/*"], ttl: 60, ...extra });
  const keys = { "https://a": { keys: [publicJwk] } };
  const verifierEvents = [];
  const verifier = new Verifier({ issuers: keys, audience: "crm", name: "outer",
    onDecision: (e) => verifierEvents.push(e) });
  const token = mint();

  // A call's own listener sees its decision only, even when another call runs inside it.
  const inner = [];
  const outer = [];
  const nested = new Verifier({ issuers: keys, audience: "crm", name: "nested",
  });
  const plain = nested.verify(token, { action: "r", resource: "r", onDecision: (e) => {
    outer.push(e);
    // A listener may call the verifier again: the core has released everything by now.
    assert.throws(() => nested.verify(token, { action: "w", resource: "r", onDecision: (x) => inner.push(x) }),
      { code: "action_denied" });
  } });
  assert.equal(plain.sub, "s");
  assert.deepEqual(outer.map((e) => [e.outcome, e.action, e.decided_by]), [["ok", "r", "nested"]]);
  assert.deepEqual(inner.map((e) => [e.outcome, e.action]), [["action_denied", "w"]]);
  assert.ok(outer[0].jti && outer[0].kid && outer[0].sub === "s");

  // Revocation decisions reach the verifier's listener.
  verifier.authorizeRevocation(token, mint());
  assert.deepEqual(verifierEvents.map((e) => [e.event, e.outcome, e.action]), [["verify", "ok", "tokens:revoke"]]);

  // A refusal before any token reached the core has the core's shape (no claims, a code).
  verifierEvents.length = 0;
  assert.throws(() => verifier.verify(token, { action: 5, resource: "r" }), { code: "malformed" });
  assert.equal(verifierEvents.length, 1);
  assert.deepEqual(Object.keys(verifierEvents[0]).sort(), ["decided_by", "event", "outcome", "resource", "time"]);
  assert.equal(verifierEvents[0].decided_by, "outer");
  assert.ok(Number.isInteger(verifierEvents[0].time));
});

test("authorizeRevocation: one event per decision, with the decision's outcome", () => {
  const { privateJwk, publicJwk } = generateKey({ kid: "r" });
  const issuer = new Issuer({ iss: "https://a", key: privateJwk });
  const mint = (extra = {}, at = Date.now() / 1000) => issuer.mint({ sub: "ops", aud: "crm", task: "t",
    scope: "tokens:revoke", res: ["tokens/*"], ttl: 60, ...extra }, { now: at });
  const events = [];
  const verifier = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "crm",
    onDecision: (e) => events.push(e) });
  const caller = mint();
  const cases = [
    ["a forged target", () => { const t = mint(); return `${t.slice(0, -4)}AAAA`; }, "bad_signature"],
    // The caller passes; the target, minted an hour ago, does not: the outcome is the target's.
    ["an expired target", () => mint({}, Date.now() / 1000 - 3600), "expired"],
    ["a chain as the caller", () => mint(), "delegation_denied", `${caller}~x.y.z`],
    ["a dpop option that is no proof", () => mint(), "malformed", caller, { dpop: 5 }],
  ];
  for (const [name, target, code, bearer = caller, options = {}] of cases) {
    events.length = 0;
    const t = target();
    assert.throws(() => verifier.authorizeRevocation(bearer, t, options), { code }, name);
    assert.deepEqual(events.map((e) => [e.outcome, e.action]), [[code, "tokens:revoke"]], name);
  }
  // A token ending its own task: one `ok` event naming the action and the token.
  events.length = 0;
  const own = mint();
  const { jti } = verifier.authorizeRevocation(own);
  assert.deepEqual(events.map((e) => [e.outcome, e.action, e.resource]), [["ok", "tokens:revoke", `tokens/${jti}`]]);
});
