// Negative-input sweep of the package's public surface: every export, in every argument
// position and option, called with wrong types, undefined, null, numbers, a 10 MB string,
// symbols, objects whose getters throw, Proxies, and non-JSON objects (Map, Date, typed
// arrays, BigInt...). Each call must return normally (the value happened to be acceptable
// there) or throw — reject, for the async ones — a TaskTokenError: never a TypeError from
// the glue or from a property read, never a wasm RuntimeError. After the sweep the module
// must still mint and verify.
//
// Everything this sweep first found (docs/security.md, "Fuzzing and negative inputs") was
// fixed in js/src; the regression tests for the worst of it are at the end. Should an issue be
// found that cannot be fixed at once, park it in KNOWN (a matcher on the call's label and
// error): it is then reported as a `todo` subtest naming every input, instead of a failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as tt from "tasktoken";
import {
  Issuer, RemoteKeySet, RevocationFilter, RevocationReplica, TaskTokenError, Verifier, checkLink,
  completeTask, createProof, delegate, dpopFetch, exchangeToken, fetchLink, generateKey,
  generateProofKey,
  guard, guardNode, linkToken, mintLink, planRevocationPublication, withTask,
  signRevocationDelta,
  signRevocationSnapshot,
} from "tasktoken";
import { base64url } from "./suite/vectors.js";

const ISS = "https://auth.example";
const { privateJwk, publicJwk } = generateKey({ kid: "neg-1" });
const jwks = { keys: [publicJwk] };
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const verifierOptions = { issuers: { [ISS]: jwks }, audience: "crm-api" };
const verifier = new Verifier(verifierOptions);
const mintRequest = {
  sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821", scope: "customers:read",
  res: ["customers/4821"], ttl: 60,
};
const token = issuer.mint(mintRequest);
const verifyRequest = { action: "customers:read", resource: "customers/4821" };
const revocation = JSON.parse(
  readFileSync(new URL("../../tests/vectors/revocation.json", import.meta.url), "utf8"));
const snapshot = base64url(revocation.snapshot.bytes);
const delta = base64url(revocation.delta.bytes);
const snapshotOptions = { issuer: ISS, jtis: ["j"], serial: 1, issuedAt: 1000, nextUpdate: 2000 };
const deltaOptions = { jtis: ["k"], baseSerial: 1, serial: 2, issuedAt: 1000, nextUpdate: 2000 };
const ownSnapshot = signRevocationSnapshot(privateJwk, snapshotOptions);
const link = mintLink(issuer, {
  url: "https://exports.example/download", action: "exports:read", resource: "exports/1234",
  sub: "user:42", aud: "crm-api", task: "export-1234", ttl: 60,
});
const linkOptions = {
  verifier, action: "exports:read", resource: "exports/1234", origin: "https://exports.example",
};
// A closed local port: the network paths fail fast and never leave the machine.
const DEAD_AUTHORITY = "http://127.0.0.1:1/revoke";

const HUGE = "x".repeat(10 * 1024 * 1024);
/** A call slower than this is a hang in the making (10 MB inputs take ~0.2 s). */
const SLOW_MS = 2000;
const boom = () => {
  throw new Error("caller's getter");
};

/** An object whose every property read, key listing and conversion throws. */
function trapProxy() {
  const trap = () => {
    throw new Error("caller's proxy trap");
  };
  return new Proxy({}, { get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap });
}

function revokedProxy() {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

function detached() {
  const buffer = new ArrayBuffer(16);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

/** Bad values, by name; each is built fresh, so a call cannot change it for the next. */
const BAD = {
  "undefined": () => undefined,
  "null": () => null,
  "0": () => 0,
  "-1": () => -1,
  "NaN": () => NaN,
  "Infinity": () => Infinity,
  "1.5": () => 1.5,
  "2^64": () => 2 ** 64,
  "true": () => true,
  "''": () => "",
  "'a.b.c'": () => "a.b.c",
  "10 MB string": () => HUGE,
  "lone surrogate": () => "\ud800.\udfff.x",
  "Symbol": () => Symbol("bad"),
  "10n": () => 10n,
  "2n ** 200n": () => 2n ** 200n,
  "function": () => () => "x",
  "[]": () => [],
  "[[[null]]]": () => [[[null]]],
  "{}": () => ({}),
  "Object.create(null)": () => Object.create(null),
  "Map": () => new Map([["kid", "k"], ["keys", []]]),
  "Set": () => new Set(["a"]),
  "Date": () => new Date(0),
  "Invalid Date": () => new Date(NaN),
  "RegExp": () => /x/,
  "Error": () => new Error("x"),
  "Promise": () => Promise.resolve("x"),
  "WeakMap": () => new WeakMap(),
  "Uint8Array": () => new Uint8Array([1, 2, 3]),
  "Float64Array": () => new Float64Array([NaN]),
  "ArrayBuffer": () => new ArrayBuffer(8),
  "detached ArrayBuffer": detached,
  "DataView": () => new DataView(new ArrayBuffer(8)),
  "getter that throws": () => Object.defineProperties({}, Object.fromEntries(
    ["kid", "iss", "key", "sub", "keys", "action", "resource", "now", "url", "jtis", "headers",
      "verifier", "revoke", "then", "toString", "valueOf"].map((k) => [k, { get: boom, enumerable: true }]))),
  "toString/valueOf that throw": () => ({ toString: boom, valueOf: boom, [Symbol.toPrimitive]: boom }),
  "toJSON that throws": () => ({ toJSON: boom }),
  "Proxy whose traps throw": trapProxy,
  "revoked Proxy": revokedProxy,
  "transparent Proxy": () => new Proxy({}, {}),
  // eslint-disable-next-line no-sparse-arrays -- the hole is the point
  "array with a hole and a getter": () => Object.defineProperty([, 1], "0", { get: boom, enumerable: true }),
};

/**
 * Known non-TaskTokenError outcomes, each `{ id, why, match(label, error) }`; empty: every
 * export answers every input in this sweep with a TaskTokenError or a value.
 */
const KNOWN = [];

/**
 * Runs every call, sorts the outcomes, and reports: unexpected errors fail the test, KNOWN
 * ones become todo subtests (one per known issue, listing its inputs).
 */
async function sweep(t, calls) {
  t.diagnostic(`${calls.length} calls`);
  const unexpected = [];
  const known = new Map();
  for (const [label, call, check] of calls) {
    let error;
    let result;
    const start = performance.now();
    try {
      result = await call();
    } catch (e) {
      error = e;
    }
    const ms = performance.now() - start;
    if (ms > SLOW_MS) error = Object.assign(new Error(`took ${Math.round(ms)} ms`), { slow: true });
    if (error === undefined && check) {
      try {
        check(result);
      } catch (e) {
        unexpected.push(`${label}: returned ${e.message}`);
      }
    }
    if (error === undefined || error instanceof TaskTokenError) {
      if (error instanceof TaskTokenError) assertGoodError(error, label, unexpected);
      continue;
    }
    const issue = KNOWN.find((k) => k.match(label, error));
    const what = `${label}: ${error?.constructor?.name} ${String(error?.message).slice(0, 100)}`;
    if (issue) known.set(issue, [...(known.get(issue) ?? []), what]);
    else unexpected.push(what);
  }
  for (const [issue, cases] of known) {
    const todo = `${cases.length} call(s), e.g. ${cases.slice(0, 3).join(" | ")}`;
    await t.test(`KNOWN ${issue.id}: ${issue.why}`, { todo }, (sub) => {
      for (const c of cases) sub.diagnostic(c);
      assert.fail(`${cases.length} call(s) do not throw a TaskTokenError`);
    });
  }
  assert.deepEqual(unexpected, [], `${unexpected.length} of ${calls.length} calls`);
}

/** A TaskTokenError must carry a stable code and a message that does not echo huge input. */
function assertGoodError(error, label, unexpected) {
  if (!CODES.has(error.code)) unexpected.push(`${label}: TaskTokenError with code ${error.code}`);
  if (typeof error.message !== "string" || error.message.length > 2048) {
    unexpected.push(`${label}: a message of ${error.message?.length} characters`);
  }
  if (error.message.includes(privateJwk.d)) unexpected.push(`${label}: the message leaks the key`);
}

const CODES = new Set([
  "malformed", "unsupported_alg", "wrong_type", "unknown_key", "bad_signature", "missing_claim",
  "invalid_claim", "untrusted_issuer", "wrong_audience", "not_yet_valid", "expired",
  "lifetime_too_long", "revoked", "stale_revocation", "action_denied", "resource_denied",
  "binding_required", "binding_mismatch", "invalid_proof", "proof_replayed",
  "delegation_denied",
  // The token service's refusals, as exchangeToken and withTask throw them (docs/decisions.md).
  "unsupported_grant_type", "invalid_request", "invalid_grant", "invalid_scope", "invalid_target",
  "authorization_pending", "access_denied", "expired_token", "invalid_dpop_proof",
  "temporarily_unavailable", "server_error",
]);

/** For each bad value: the whole argument replaced, then each named member replaced. */
function calls(name, base, members, call, check) {
  const out = [];
  for (const [bad, make] of Object.entries(BAD)) {
    out.push([`${name} = ${bad}`, () => call(make()), check]);
    for (const member of members) {
      out.push([`${name}.${member} = ${bad}`, () => call({ ...base, [member]: make() }), check]);
    }
  }
  return out;
}

/** Checks for calls whose argument is always wrong: they must throw, not return. */
const mustThrow = () => {
  throw new Error("a value instead of a TaskTokenError");
};

test("generateKey", async (t) => {
  await sweep(t, [
    ...calls("generateKey", { kid: "k" }, ["kid"], (x) => generateKey(x), (r) => {
      assert.ok(r.privateJwk && r.publicJwk);
    }),
  ]);
});

test("Issuer", async (t) => {
  const base = { iss: ISS, key: privateJwk };
  await sweep(t, [
    ...calls("Issuer options", base,
      ["iss", "key", "maxTtl", "maxActions", "maxDelegation", "allowBroadScope", "onDecision"],
      (x) => new Issuer(x)),
    ...calls("Issuer key", privateJwk, ["kty", "crv", "x", "d", "kid", "alg", "use"],
      (x) => new Issuer({ iss: ISS, key: x })),
  ]);
});

test("Issuer#mint", async (t) => {
  const fields = ["sub", "aud", "task", "scope", "res", "ttl", "nbf", "cnfJkt", "dlg", "claims"];
  await sweep(t, [
    ...calls("mint request", mintRequest, fields, (x) => issuer.mint(x)),
    ...calls("mint options", {}, ["now"], (x) => issuer.mint(mintRequest, x)),
    ...calls("mint res[0]", {}, [], (x) => issuer.mint({ ...mintRequest, res: [x] })),
    ...calls("mint claims.extra", {}, [], (x) => issuer.mint({ ...mintRequest, claims: { extra: x } })),
  ]);
});

test("Verifier", async (t) => {
  const members = ["issuers", "audience", "maxLifetime", "clockSkew", "requireBinding",
    "revocation", "revocationGrace", "failOpenWhenStale", "exactCheck", "onStaleRevocation",
    "onDecision", "name", "cacheSize"];
  await sweep(t, [
    ...calls("Verifier options", verifierOptions, members, (x) => new Verifier(x)),
    ...calls("Verifier issuers[ISS]", {}, [], (x) => new Verifier({ ...verifierOptions, issuers: { [ISS]: x } })),
    ...calls("Verifier keys", {}, [], (x) => new Verifier({ ...verifierOptions, issuers: { [ISS]: { keys: x } } })),
    ...calls("Verifier keys[0]", {}, [], (x) => new Verifier({ ...verifierOptions, issuers: { [ISS]: { keys: [x] } } })),
  ]);
});

test("Verifier#verify, #verifyForRevocation and #authorizeRevocation", async (t) => {
  await sweep(t, [
    ...calls("verify token", {}, [], (x) => verifier.verify(x, verifyRequest), mustThrow),
    ...calls("verify request", verifyRequest,
      ["action", "resource", "keyThumbprint", "now", "onDecision"],
      (x) => verifier.verify(token, x)),
    ...calls("verifyForRevocation token", {}, [], (x) => verifier.verifyForRevocation(x), mustThrow),
    ...calls("verifyForRevocation options", {}, ["now"], (x) => verifier.verifyForRevocation(token, x)),
    ...calls("authorizeRevocation bearer", {}, [], (x) => verifier.authorizeRevocation(x), mustThrow),
    ...calls("authorizeRevocation target", {}, [], (x) => verifier.authorizeRevocation(token, x)),
    ...calls("authorizeRevocation options", {}, ["now"], (x) => verifier.authorizeRevocation(token, undefined, x)),
  ]);
});

test("RevocationFilter.fromSnapshot and #applyDelta", async (t) => {
  await sweep(t, [
    ...calls("fromSnapshot bytes", {}, [], (x) => RevocationFilter.fromSnapshot(x, revocation.keys), mustThrow),
    ...calls("fromSnapshot jwks", revocation.keys, ["keys"], (x) => RevocationFilter.fromSnapshot(snapshot, x)),
    ...calls("fromSnapshot options", { issuer: revocation.issuer }, ["issuer", "now"],
      (x) => RevocationFilter.fromSnapshot(snapshot, revocation.keys, x)),
    ...calls("applyDelta bytes", {}, [], (x) => RevocationFilter.fromSnapshot(snapshot, revocation.keys).applyDelta(x), mustThrow),
    ...calls("new RevocationFilter core", {}, [], (x) => new RevocationFilter(x), mustThrow),
  ]);
});

test("RevocationReplica constructor and #offer", async (t) => {
  const base = { keys: revocation.keys, loader: async () => null };
  const replica = new RevocationReplica(base);
  await sweep(t, [
    ...calls("RevocationReplica options", base, ["keys", "issuer", "loader", "interval", "fetch", "onError"],
      (x) => new RevocationReplica(x)),
    ...calls("RevocationReplica options", { keys: revocation.keys }, ["url"], (x) => new RevocationReplica(x)),
    ...calls("offer bytes", {}, [], (x) => replica.offer(x), mustThrow),
  ]);
  assert.equal(replica.offer(snapshot), "replaced", "the replica still takes good data");
  assert.equal(replica.offer(delta), "applied");
});

test("signRevocationSnapshot and signRevocationDelta", async (t) => {
  const snapshotFields = ["issuer", "jtis", "serial", "issuedAt", "nextUpdate", "capacity", "fpr"];
  const planOptions = { previousSerial: 0, now: 1000, adding: 1, live: 1 };
  const planFields = ["previousSerial", "now", "adding", "live", "entries", "validFor", "fpr",
    "minCapacity"];
  const deltaFields = ["jtis", "baseSerial", "serial", "issuedAt", "nextUpdate"];
  await sweep(t, [
    ...calls("signRevocationSnapshot key", {}, [], (x) => signRevocationSnapshot(x, snapshotOptions), mustThrow),
    ...calls("signRevocationSnapshot options", snapshotOptions, snapshotFields,
      (x) => signRevocationSnapshot(privateJwk, x)),
    ...calls("signRevocationSnapshot jtis[0]", {}, [],
      (x) => signRevocationSnapshot(privateJwk, { ...snapshotOptions, jtis: [x] })),
    ...calls("signRevocationSnapshot generation", {}, [],
      (x) => signRevocationSnapshot(privateJwk, snapshotOptions, x)),
    ...calls("signRevocationDelta key", {}, [], (x) => signRevocationDelta(x, ownSnapshot, deltaOptions), mustThrow),
    ...calls("signRevocationDelta snapshot", {}, [], (x) => signRevocationDelta(privateJwk, x, deltaOptions), mustThrow),
    ...calls("signRevocationDelta options", deltaOptions, deltaFields,
      (x) => signRevocationDelta(privateJwk, ownSnapshot, x)),
    ...calls("planRevocationPublication options", planOptions, planFields,
      (x) => planRevocationPublication(x)),
    ...calls("planRevocationPublication generation", {}, [],
      (x) => planRevocationPublication(planOptions, x)),
  ]);
});

test("guard and guardNode answer every bad input with a refusal, never a throw", async (t) => {
  const request = new Request("https://api.example/customers/4821", {
    headers: { authorization: `Bearer ${token}` },
  });
  const route = { action: "customers:read", resource: "customers/4821" };
  // A refusal carries a TaskTokenError and a Response; a pass carries claims.
  const refusedWell = (r) => {
    if (r.ok === true) return assert.ok(r.claims);
    assert.ok(r.error instanceof TaskTokenError, "error is a TaskTokenError");
    assert.ok(r.response instanceof Response, "a Response");
  };
  const nodeRequest = () => ({ url: "/customers/4821", headers: { authorization: `Bearer ${token}` } });
  const nodeResponse = () => ({ writeHead() {}, end() {} });
  await sweep(t, [
    ...calls("guard request", {}, ["headers", "url"], (x) => guard(x, verifier, route), refusedWell),
    ...calls("guard verifier", {}, ["verify"], (x) => guard(request, x, route), refusedWell),
    ...calls("guard options", route,
      ["action", "resource", "header", "query", "keyThumbprint", "onDecision", "dpopNonce"],
      (x) => guard(request, verifier, x), refusedWell),
    ...calls("guardNode req", {}, ["headers", "url"], (x) => guardNode(x, nodeResponse(), verifier, route)),
    ...calls("guardNode res", {}, ["writeHead", "end"], (x) => guardNode(nodeRequest(), x, {}, route)),
    ...calls("guardNode verifier", {}, ["verify"], (x) => guardNode(nodeRequest(), nodeResponse(), x, route)),
    ...calls("guardNode options", route, ["action", "resource", "header", "query", "onDecision", "origin", "dpopNonce"],
      (x) => guardNode(nodeRequest(), nodeResponse(), verifier, x)),
  ]);
});

test("mintLink, checkLink, linkToken, fetchLink", async (t) => {
  const linkRequest = {
    url: "https://exports.example/download", action: "exports:read", resource: "exports/1234",
    sub: "user:42", aud: "crm-api", task: "export-1234", ttl: 60,
  };
  const stateOrError = (r) => assert.equal(typeof r.state, "string");
  await sweep(t, [
    ...calls("mintLink issuer", {}, ["mint"], (x) => mintLink(x, linkRequest)),
    ...calls("mintLink options", linkRequest, ["url", "action", "resource", "sub", "aud", "task", "ttl", "claims"],
      (x) => mintLink(issuer, x)),
    ...calls("checkLink url", {}, [], (x) => checkLink(x, linkOptions), stateOrError),
    ...calls("checkLink options", linkOptions, ["verifier", "action", "resource", "now", "origin"],
      (x) => checkLink(link, x), stateOrError),
    ...calls("linkToken url", {}, [], (x) => linkToken(x)),
    ...calls("fetchLink url", {}, [], (x) => fetchLink(x)),
    ...calls("fetchLink init", { origin: "http://127.0.0.1:1" }, ["origin", "headers"],
      (x) => fetchLink(link.replace("https://exports.example", "http://127.0.0.1:1"), x).catch(() => {})),
  ]);
});

test("completeTask rejects with a TaskTokenError", async (t) => {
  await sweep(t, [
    ...calls("completeTask token", {}, [], (x) => completeTask(x, DEAD_AUTHORITY), mustThrow),
    ...calls("completeTask authority", {}, ["revoke"], (x) => completeTask(token, x)),
  ]);
});

test("completeTask refuses an authority that is not http(s): a data: URL would answer 200 " +
  "and the caller would believe the token revoked", async () => {
  for (const authority of ["data:,ok", new URL("data:,ok"), "about:blank", "file:///etc/hostname",
    "blob:https://a.example/x", "javascript:1"]) {
    await assert.rejects(completeTask(token, authority), TaskTokenError, String(authority));
  }
});

/**
 * Runs `body` in a fresh Node process (the module may not survive it) and reports whether
 * the module still mints afterwards.
 */
function survives(body) {
  const code = `
    import { generateKey, Issuer } from "tasktoken";
    const { privateJwk } = generateKey({ kid: "k" });
    const issuer = new Issuer({ iss: "https://a", key: privateJwk });
    const request = { sub: "s", aud: "x", task: "t", scope: "a", res: ["r"], ttl: 60 };
    const detached = () => { const b = new ArrayBuffer(8); structuredClone(b, { transfer: [b] }); return b; };
    ${body}
    try { issuer.mint(request); console.log("alive"); } catch (e) { console.log(e.constructor.name, e.message); }`;
  const child = spawnSync(process.execPath, ["--input-type=module", "-e", code], {
    cwd: new URL("..", import.meta.url), encoding: "utf8", timeout: 60_000,
  });
  return child.stdout.trim();
}

test("options are read once, in JS: a getter that changes or throws on a later read, or a " +
  "detached ArrayBuffer, can no longer throw inside wasm (which leaked its shadow stack until " +
  "every call trapped with RuntimeError) nor smuggle a deep value past the depth check", () => {
  const outcomes = {
    deepOnSecondRead: survives(`
      let deep = 1; for (let i = 0; i < 100000; i++) deep = [deep];
      let n = 0;
      try { issuer.mint({ ...request, claims: { get c() { return n++ ? deep : 1; } } }); } catch {}`),
    throwsOnSecondRead: survives(`
      for (let i = 0; i < 2000; i++) {
        let n = 0;
        try { issuer.mint({ ...request, get sub() { if (n++) throw new Error("x"); return "s"; } }); } catch {}
      }`),
    detachedBuffer: survives(`
      for (let i = 0; i < 600; i++) {
        try { new Issuer({ iss: detached(), key: privateJwk }); } catch {}
      }`),
  };
  assert.deepEqual(outcomes, {
    deepOnSecondRead: "alive", throwsOnSecondRead: "alive", detachedBuffer: "alive",
  });
});

test("a decision listener that throws never changes the decision", () => {
  const listener = () => {
    throw new Error("listener");
  };
  const audited = new Verifier({ ...verifierOptions, onDecision: listener });
  assert.equal(audited.verify(token, { ...verifyRequest, onDecision: listener }).sub,
    "agent:lookup-bot");
  assert.throws(() => audited.verify(token, { ...verifyRequest, action: "x:y", onDecision: listener }),
    (e) => e instanceof TaskTokenError && e.code === "action_denied");
  const minting = new Issuer({ iss: ISS, key: privateJwk, onDecision: listener });
  assert.equal(typeof minting.mint(mintRequest), "string");
});

test("generateProofKey, createProof and dpopFetch", async (t) => {
  const proofKey = generateProofKey().privateJwk;
  const proofOptions = { key: proofKey, method: "GET", url: "https://api.example/x" };
  await sweep(t, [
    ...calls("generateProofKey options", {}, ["alg"], (x) => generateProofKey(x)),
    ...calls("createProof options", proofOptions, ["key", "method", "url", "token", "nonce", "now"],
      (x) => createProof(x)),
    ...calls("createProof key", {}, [], (x) => createProof({ ...proofOptions, key: x }), mustThrow),
    ...calls("dpopFetch options", { key: proofKey, token }, ["key", "token", "fetch"],
      (x) => dpopFetch(x)),
  ]);
});

test("delegate", async (t) => {
  const orchestrator = generateProofKey();
  const root = new Issuer({ iss: ISS, key: privateJwk }).mint({
    sub: "agent:orchestrator", aud: "crm-api", task: "lookup-48xx", scope: "customers:read",
    res: ["customers/*"], ttl: 60, cnfJkt: orchestrator.jkt, dlg: 1,
  });
  const link = { key: orchestrator.privateJwk, sub: "agent:sub", aud: "crm-api",
    task: "lookup-48xx/4821", scope: "customers:read", res: ["customers/4821"], ttl: 30 };
  await sweep(t, [
    ...calls("delegate options", link,
      ["key", "sub", "aud", "task", "scope", "res", "ttl", "cnfJkt", "dlg", "now"],
      (x) => delegate(root, x)),
    ...calls("delegate key", {}, [], (x) => delegate(root, { ...link, key: x }), mustThrow),
    ...calls("delegate chain", {}, [], (x) => delegate(x, link), mustThrow),
  ]);
});

test("exchangeToken, withTask and RemoteKeySet reject with a TaskTokenError", async (t) => {
  const exchange = {
    service: "http://127.0.0.1:1", subjectToken: "a.b.c", audience: "crm-api",
    scope: "customers:read", res: ["customers/4821"], task: "lookup-4821",
  };
  const members = ["service", "subjectToken", "audience", "scope", "res", "task", "ttl", "dlg",
    "dpop", "fetch", "approval"];
  const keys = new RemoteKeySet({ url: "http://127.0.0.1:1/jwks", onError: () => {} });
  await sweep(t, [
    ...calls("exchangeToken options", exchange, members, (x) => exchangeToken(x), mustThrow),
    ...calls("exchangeToken dpop", {}, ["key"], (x) => exchangeToken({ ...exchange, dpop: x }), mustThrow),
    ...calls("withTask options", exchange, [...members, "origins", "onRevokeError"],
      (x) => withTask(x, () => {}), mustThrow),
    ...calls("withTask callback", {}, [], (x) => withTask(exchange, x), mustThrow),
    ...calls("RemoteKeySet options", { url: "http://127.0.0.1:1/jwks" },
      ["url", "interval", "minRefresh", "fetch", "onError"], (x) => new RemoteKeySet(x)),
    ["RemoteKeySet#refresh of a dead URL", () => keys.refresh(), mustThrow],
    ...calls("Verifier issuers[ISS] next to a RemoteKeySet", {}, [],
      (x) => new Verifier({ ...verifierOptions, issuers: { [ISS]: x, "https://b.example": keys } })),
  ]);
});

test("every export is swept", () => {
  const swept = new Set(["generateKey", "Issuer", "Verifier", "RevocationFilter",
    "RevocationReplica", "signRevocationSnapshot", "signRevocationDelta",
    "planRevocationPublication", "generateProofKey", "createProof", "delegate", "dpopFetch", "guard",
    "guardNode", "exchangeToken", "withTask", "RemoteKeySet",
    "mintLink", "checkLink", "linkToken", "fetchLink", "completeTask"]);
  const notFunctions = new Set(["TaskTokenError", "MAX_TOKEN_LENGTH", "ready"]);
  const missing = Object.keys(tt).filter((name) => !swept.has(name) && !notFunctions.has(name));
  assert.deepEqual(missing, [], "new exports need a place in this sweep");
});

test("after the sweep the module still mints and verifies", () => {
  const { privateJwk: key, publicJwk: pub } = generateKey({ kid: "after" });
  const fresh = new Issuer({ iss: ISS, key }).mint(mintRequest);
  const claims = new Verifier({ issuers: { [ISS]: { keys: [pub] } }, audience: "crm-api" })
    .verify(fresh, verifyRequest);
  assert.equal(claims.sub, "agent:lookup-bot");
  assert.equal(verifier.verify(token, verifyRequest).task, "lookup-4821");
  const filter = RevocationFilter.fromSnapshot(snapshot, revocation.keys).applyDelta(delta);
  assert.equal(filter.info.serial, 42);
});
