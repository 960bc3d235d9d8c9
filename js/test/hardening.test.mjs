// Issue 13 (hardening, round 2), as the package's users meet it: revocation data tied to
// one issuer (point 2), replicas that cannot be pinned (3), capacity that follows the live
// revocation count (4), the revocation request authorized before its target is looked at
// (5), and bounded timing options (8). Each test failed before its fix.
import assert from "node:assert/strict";
import test from "node:test";

import {
  Issuer, RevocationFilter, RevocationReplica, TaskTokenError, Verifier, generateKey,
  planRevocationPublication, signRevocationSnapshot,
} from "tasktoken";

const A = "https://auth.example";
const B = "https://ci.example";
const a = generateKey({ kid: "a1" });
const b = generateKey({ kid: "b1" });
const authority = generateKey({ kid: "authority-1" }); // signs A's revocation data only
const issuerA = new Issuer({ iss: A, key: a.privateJwk });
const jwksA = { keys: [a.publicJwk] };
const jwksB = { keys: [b.publicJwk] };
const both = { issuers: { [A]: jwksA, [B]: jwksB }, audience: "crm-api" };
const request = { action: "customers:read", resource: "customers/4821" };
const mintRequest = { sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821",
  scope: "customers:read", res: ["customers/4821"], ttl: 300 };
const now = () => Math.floor(Date.now() / 1000);
const snapshotOf = (key, issuer, jtis, extra = {}) => {
  const t = now();
  return signRevocationSnapshot(key,
    { issuer, jtis, serial: 1, issuedAt: t - 5, nextUpdate: t + 300, ...extra });
};
/** The serial and times of a plan, as signing takes them. */
const times = ({ serial, issuedAt, nextUpdate }) => ({ serial, issuedAt, nextUpdate });
const code = (fn) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof TaskTokenError, String(error));
    return error.code;
  }
  return "ok";
};

test("revocation data governs only the issuer it names (point 2)", () => {
  const token = issuerA.mint(mintRequest);
  const { jti } = new Verifier(both).verify(token, request);
  // Issuer B publishes an empty snapshot: it says nothing about A's tokens.
  const fromB = RevocationFilter.fromSnapshot(snapshotOf(b.privateJwk, B, []), jwksB);
  assert.equal(fromB.info.iss, B);
  assert.equal(code(() => new Verifier({ ...both, revocation: fromB }).verify(token, request)),
    "stale_revocation");
  // B's key signing data that names A: not A's key, refused however it is loaded.
  const forged = snapshotOf(b.privateJwk, A, []);
  assert.equal(code(() => RevocationFilter.fromSnapshot(forged, jwksA)), "unknown_key");
  assert.equal(code(() => RevocationFilter.fromSnapshot(forged, jwksB, { issuer: A })), "ok",
    "an explicit issuer trusts the keys given for it");
  const claimed = RevocationFilter.fromSnapshot(forged, jwksB);
  assert.equal(code(() => new Verifier({ ...both, revocation: claimed })), "malformed",
    "data naming A, verified with B's keys, is not A's");
  // A replica of B's keys without an issuer is bound to B, and A's tokens are not governed.
  const replica = new RevocationReplica({ keys: jwksB, loader: () => null });
  assert.equal(replica.offer(snapshotOf(b.privateJwk, B, [jti])), "replaced");
  assert.equal(code(() => new Verifier({ ...both, revocation: replica }).verify(token, request)),
    "stale_revocation");
  assert.equal(code(() => replica.offer(snapshotOf(b.privateJwk, A, []))), "untrusted_issuer",
    "bound to B, it refuses data naming A");
  // Keys of two issuers: which one? Refused until the replica names its issuer.
  const mixed = new RevocationReplica({ keys: { keys: [a.publicJwk, b.publicJwk] }, loader: () => null });
  assert.equal(code(() => new Verifier({ ...both, revocation: mixed })), "malformed");
  // A's own data revokes A's token.
  const fromA = RevocationFilter.fromSnapshot(snapshotOf(a.privateJwk, A, [jti]), jwksA);
  assert.equal(code(() => new Verifier({ ...both, revocation: fromA }).verify(token, request)), "revoked");
});

test("an authority key outside the token JWKS signs revocation data and cannot mint (point 2)", () => {
  const token = issuerA.mint(mintRequest);
  const { jti } = new Verifier(both).verify(token, request);
  const authorityJwks = { keys: [authority.publicJwk] };
  const replica = new RevocationReplica({ keys: authorityJwks, issuer: A, loader: () => null });
  assert.equal(replica.offer(snapshotOf(authority.privateJwk, A, [jti])), "replaced");
  const verifier = new Verifier({ ...both, revocation: replica });
  assert.equal(code(() => verifier.verify(token, request)), "revoked");
  const minted = new Issuer({ iss: A, key: authority.privateJwk }).mint(mintRequest);
  assert.equal(code(() => verifier.verify(minted, request)), "unknown_key");
  // Without the issuer named, the authority's keys are no trusted issuer's: refused.
  const unnamed = new RevocationReplica({ keys: authorityJwks, loader: () => null });
  assert.equal(code(() => new Verifier({ ...both, revocation: unnamed })), "malformed");
  const elsewhere = new RevocationReplica({ keys: authorityJwks, issuer: "https://x.example", loader: () => null });
  assert.equal(code(() => new Verifier({ ...both, revocation: elsewhere })), "malformed",
    "an issuer this verifier does not trust");
});

test("a replica cannot be pinned by a far-ahead serial or an endless validity (point 3)", () => {
  const t = now();
  const replica = new RevocationReplica({ keys: jwksA, issuer: A, loader: () => null });
  const pinned = snapshotOf(a.privateJwk, A, [], { serial: 2 ** 53 - 1 });
  assert.equal(code(() => replica.offer(pinned)), "malformed");
  assert.equal(code(() => snapshotOf(a.privateJwk, A, [], { serial: 2 ** 64 })), "malformed");
  assert.equal(code(() => snapshotOf(a.privateJwk, A, [], { nextUpdate: t + 86_401 })), "malformed");
  const ahead = snapshotOf(a.privateJwk, A, [], { issuedAt: t + 3600, nextUpdate: t + 3700 });
  assert.equal(code(() => replica.offer(ahead)), "malformed");
  // What the planner issues is taken, and a later publication replaces it.
  const first = planRevocationPublication({ previousSerial: 0, now: t, adding: 0, live: 0 });
  assert.equal(replica.offer(snapshotOf(a.privateJwk, A, [], times(first))), "replaced");
  const next = planRevocationPublication({ previousSerial: first.serial, now: t, adding: 0, live: 0 });
  assert.equal(next.serial, first.serial + 1);
  assert.equal(replica.offer(snapshotOf(a.privateJwk, A, [], times(next))), "replaced");
  assert.equal(replica.info.serial, next.serial);
});

test("the planner sizes generations from the live count and rotates before the target rate (point 4)", () => {
  const t = now();
  let plan = planRevocationPublication({ previousSerial: 0, now: t, adding: 100, live: 100 });
  assert.equal(plan.step, "snapshot");
  let generation = signRevocationSnapshot(a.privateJwk, { issuer: A, jtis: [], ...times(plan) });
  const sizes = [RevocationFilter.fromSnapshot(generation, jwksA).info.bits];
  let entries = 0;
  let live = 0;
  // 5,000 completions within one lifetime, 100 at a time (before the fix: one generation of
  // max(2n, 1000) entries, overfilled until 29–93 % of good tokens were refused).
  for (let i = 0; i < 50; i++) {
    live += 100;
    plan = planRevocationPublication(
      { previousSerial: plan.serial, now: t, adding: 100, live, entries }, generation);
    if (plan.step === "snapshot") {
      const jtis = Array.from({ length: live }, (_, j) => `jti-${j}`);
      generation = signRevocationSnapshot(a.privateJwk, { issuer: A, jtis, ...times(plan) });
      sizes.push(RevocationFilter.fromSnapshot(generation, jwksA).info.bits);
      entries = live;
    } else {
      entries += 100;
    }
  }
  assert.ok(sizes.length >= 4, `${sizes.length} generations: ${sizes}`);
  assert.ok(sizes.every((bits, i) => i === 0 || bits > sizes[i - 1]), "each generation larger");
  // Never past the target: bits per entry stay at least what 1e-6 needs (28.76).
  assert.ok(sizes.at(-1) / entries >= 28.7, `${sizes.at(-1)} bits for ${entries}`);
});

test("a revocation request is authorized before its target is looked at (point 5)", () => {
  const verifier = new Verifier(both);
  const caller = issuerA.mint(mintRequest); // no tokens:revoke
  const genuine = issuerA.mint({ ...mintRequest, task: "other" });
  const forged = `${genuine.slice(0, -4)}AAAA`;
  const expired = issuerA.mint(mintRequest, { now: now() - 3600 });
  const answers = [genuine, forged, expired, "garbage", "a.b.c"].map((target) => {
    try {
      verifier.authorizeRevocation(caller, target);
      return "accepted";
    } catch (error) {
      return `${error.code}: ${error.message}`;
    }
  });
  assert.equal(new Set(answers).size, 1, `one answer for every target: ${answers}`);
  assert.match(answers[0], /^action_denied/);
  // An admin may revoke a genuine token, and learns that a forged one is not.
  const admin = issuerA.mint({ ...mintRequest, task: "revoke-leaked", scope: "tokens:revoke",
    res: ["tokens/*"] });
  assert.equal(verifier.authorizeRevocation(admin, genuine).task, "other");
  assert.equal(code(() => verifier.authorizeRevocation(admin, forged)), "bad_signature");
  // Without a target, a token revokes itself.
  assert.equal(verifier.authorizeRevocation(caller).jti, verifier.verify(caller, request).jti);
});

test("timing options are bounded (point 8)", () => {
  for (const extra of [{ clockSkew: 301 }, { maxLifetime: 86_401 }, { cacheSize: 100_001 }]) {
    assert.equal(code(() => new Verifier({ ...both, ...extra })), "malformed", JSON.stringify(extra));
  }
  assert.equal(code(() => new Verifier({ ...both, clockSkew: 300, maxLifetime: 86_400 })), "ok");
  const replica = new RevocationReplica({ keys: jwksA, loader: () => null });
  assert.equal(code(() => new Verifier({ ...both, revocation: replica, revocationGrace: 86_401 })),
    "malformed");
  assert.equal(code(() => new Issuer({ iss: A, key: a.privateJwk, maxTtl: 86_401 })), "malformed");
  assert.equal(code(() => planRevocationPublication(
    { previousSerial: 0, now: now(), adding: 0, live: 0, validFor: 86_401 })), "malformed");
});
