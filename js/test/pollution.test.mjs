// Prototype pollution anywhere in the process (`Object.prototype.now = …`, left by a merge of
// untrusted JSON in some other library) must not reach a decision: the package reads only the
// own properties of what callers pass, hands fetch() init objects with no prototype, and hands
// back claims in which no merge can turn a "__proto__" member into a prototype
// (docs/security.md, hardening round 2, point 1). Every test pollutes only around the calls
// under test and cleans up in `finally`, so assertions run on a clean prototype.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, sign } from "node:crypto";
import {
  Issuer, RemoteKeySet, RevocationFilter, RevocationReplica, TaskTokenError, Verifier, checkLink,
  completeTask, exchangeToken, fetchLink, generateKey, guard, guardNode, mintLink,
  signRevocationDelta, signRevocationSnapshot, withTask,
} from "tasktoken";

const ISS = "https://auth.example";
const ORIGIN = "https://app.example";
const { privateJwk, publicJwk } = generateKey({ kid: "pollution-1" });
const jwks = { keys: [publicJwk] };
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const verifierOptions = { issuers: { [ISS]: jwks }, audience: "crm-api" };
const verifier = new Verifier(verifierOptions);
const mintRequest = {
  sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821", scope: "customers:read",
  res: ["customers/4821"], ttl: 60,
};
const request = { action: "customers:read", resource: "customers/4821" };
const route = { action: "customers:read", resource: "customers/4821" };
const now = () => Math.floor(Date.now() / 1000);
/** RFC 7638 §3.1's thumbprint: any well-formed one will do. */
const JKT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/**
 * Calls `fn` with `members` set on Object.prototype, the way a polluting merge sets them (plain
 * assignment), removes them in `finally`, and returns what happened: `{ value }`, or the
 * `{ code }` of the TaskTokenError thrown.
 */
async function polluted(members, fn) {
  Object.assign(Object.prototype, members);
  try {
    return { value: await fn() };
  } catch (error) {
    if (error instanceof TaskTokenError) return { code: error.code };
    throw error;
  } finally {
    for (const key of Object.keys(members)) delete Object.prototype[key];
  }
}

/** A spy for listeners planted on Object.prototype: it must never be called. */
function spy() {
  const calls = [];
  const fn = (...args) => void calls.push(args);
  return Object.assign(fn, { calls });
}

test("a polluted `now` moves no clock: an expired token stays expired in verify, " +
  "verifyForRevocation, guard, guardNode and checkLink, and mint issues at the real time", async () => {
  const t = now();
  const expired = issuer.mint(mintRequest, { now: t - 1000 });
  const inWindow = { now: t - 990 };
  assert.equal((await polluted(inWindow, () => verifier.verify(expired, request))).code, "expired");
  assert.equal((await polluted(inWindow, () => verifier.verifyForRevocation(expired))).code, "expired");

  const fetchRequest = new Request("https://api.example/customers/4821", {
    headers: { authorization: `Bearer ${expired}` },
  });
  const gate = (await polluted(inWindow, () => guard(fetchRequest, verifier, route))).value;
  assert.equal(gate.ok, false);
  assert.equal(gate.error.code, "expired");
  const res = nodeResponse();
  const node = await polluted(inWindow, () => guardNode(
    { url: "/customers/4821", headers: { authorization: `Bearer ${expired}` } }, res, verifier, route));
  assert.equal(node.value, null);
  assert.equal(res.status, 401);

  const link = mintLink({ mint: (r) => issuer.mint(r, { now: t - 1000 }) }, {
    url: `${ORIGIN}/exports/1/download`, sub: "user:alice", aud: "crm-api", task: "export-1",
    action: "customers:read", resource: "customers/4821", ttl: 60,
  });
  const checked = await polluted(inWindow, () =>
    checkLink(link, { verifier, ...request, origin: ORIGIN }));
  assert.equal(checked.value.state, "expired");

  const minted = await polluted({ now: t - 1000 }, () => issuer.mint(mintRequest));
  assert.equal(verifier.verify(minted.value, request).sub, "agent:lookup-bot", "issued now, not in the past");
});

test("a polluted `keyThumbprint` satisfies no binding: a bound token without one is " +
  "binding_required, in verify and through guard", async () => {
  const bound = issuer.mint({ ...mintRequest, cnfJkt: JKT });
  const pollution = { keyThumbprint: JKT };
  assert.equal((await polluted(pollution, () => verifier.verify(bound, request))).code, "binding_required");
  const fetchRequest = new Request("https://api.example/customers/4821", {
    headers: { authorization: `Bearer ${bound}` },
  });
  const gate = (await polluted(pollution, () => guard(fetchRequest, verifier, route))).value;
  assert.equal(gate.error.code, "binding_required");
  assert.equal(verifier.verify(bound, { ...request, keyThumbprint: JKT }).cnf.jkt, JKT, "an own one binds");
});

test("polluted revocation options neither un-revoke (`exactCheck`), fail open " +
  "(`failOpenWhenStale`) nor stretch the grace (`revocationGrace`)", async () => {
  const t = now();
  const token = issuer.mint(mintRequest);
  const { jti } = verifier.verify(token, request);
  const revoking = signRevocationSnapshot(privateJwk,
    { issuer: ISS, jtis: [jti], serial: 1, issuedAt: t - 10, nextUpdate: t + 300 });
  const filter = RevocationFilter.fromSnapshot(revoking, jwks);
  const unrevoked = await polluted({ exactCheck: () => false },
    () => new Verifier({ ...verifierOptions, revocation: filter }).verify(token, request));
  assert.equal(unrevoked.code, "revoked");

  const stale = signRevocationSnapshot(privateJwk,
    { issuer: ISS, jtis: [], serial: 2, issuedAt: t - 1000, nextUpdate: t - 500 });
  const replica = new RevocationReplica({ keys: jwks, loader: () => null });
  assert.equal(replica.offer(stale), "replaced");
  for (const revocation of [replica, RevocationFilter.fromSnapshot(stale, jwks)]) {
    const warned = spy();
    for (const pollution of [
      { failOpenWhenStale: true, onStaleRevocation: warned },
      { revocationGrace: 10 ** 6 },
    ]) {
      const outcome = await polluted(pollution,
        () => new Verifier({ ...verifierOptions, revocation }).verify(token, request));
      assert.equal(outcome.code, "stale_revocation", `${Object.keys(pollution)} on ${revocation.constructor.name}`);
    }
    assert.deepEqual(warned.calls, []);
  }
});

test("a polluted `query`, `header`, `resource` or `authorization` gives guard and guardNode " +
  "no token and no resource; a polluted `onDecision` hears no decision", async () => {
  const token = issuer.mint(mintRequest);
  const inQuery = new Request(`https://api.example/customers/4821?tt=${token}`);
  const inHeader = new Request("https://api.example/customers/4821", { headers: { "x-task-token": token } });
  const listener = spy();
  for (const [pollution, req] of [
    [{ query: "tt", onDecision: listener }, inQuery],
    [{ header: "x-task-token", onDecision: listener }, inHeader],
  ]) {
    const gate = (await polluted(pollution, () => guard(req, verifier, route))).value;
    assert.equal(gate.ok, false, Object.keys(pollution).join());
    assert.equal(gate.response.status, 401);
    assert.equal(gate.error.message, "no task token in the request");
  }
  const withToken = new Request("https://api.example/customers/4821", {
    headers: { authorization: `Bearer ${token}` },
  });
  const noResource = (await polluted({ resource: "customers/4821" },
    () => guard(withToken, verifier, { action: route.action }))).value;
  assert.equal(noResource.ok, false, "the resource is the caller's own, never inherited");
  assert.equal(noResource.response.status, 400);

  // Node's IncomingMessage#headers is an ordinary object: its inherited members are not headers.
  for (const pollution of [
    { authorization: `Bearer ${token}`, onDecision: listener },
    { query: "tt", onDecision: listener },
  ]) {
    const res = nodeResponse();
    const claims = (await polluted(pollution,
      () => guardNode({ url: `/customers/4821?tt=${token}`, headers: {} }, res, verifier, route))).value;
    assert.equal(claims, null, Object.keys(pollution).join());
    assert.equal(res.status, 401);
  }
  const passed = (await polluted({ onDecision: listener }, () => verifier.verify(token, request))).value;
  assert.equal(passed.sub, "agent:lookup-bot");
  assert.deepEqual(listener.calls, []);
});

test("polluted options of the other constructors and functions change nothing", async () => {
  assert.equal((await polluted({ kid: "inherited" }, () => generateKey({}))).code, "malformed");
  const heard = spy();
  const minted = await polluted({ onDecision: heard },
    () => new Issuer({ iss: ISS, key: privateJwk }).mint(mintRequest));
  assert.equal(typeof minted.value, "string");
  assert.deepEqual(heard.calls, []);
  const events = [];
  const named = (await polluted({ name: "inherited" },
    () => new Verifier({ ...verifierOptions, onDecision: (e) => events.push(e) }))).value;
  assert.throws(() => named.verify(issuer.mint(mintRequest), { action: 1 }), TaskTokenError);
  assert.equal(events[0].decided_by, "verifier", "the audit name is the caller's own");

  // A loader-fed replica stays one: an inherited url, fetch or interval is not read.
  const replica = await polluted({ url: "https://evil.example/revocation", fetch: 1, interval: -1 },
    () => new RevocationReplica({ keys: jwks, loader: () => null }));
  assert.ok(replica.value instanceof RevocationReplica, `got ${replica.code}`);

  // Revocation data is built from the caller's own members only.
  const options = { issuer: ISS, jtis: ["j"], serial: 1, issuedAt: 1000, nextUpdate: 2000 };
  const plain = RevocationFilter.fromSnapshot(signRevocationSnapshot(privateJwk, options), jwks).info;
  const bytes = (await polluted({ capacity: 1, fpr: 0.5 }, () => signRevocationSnapshot(privateJwk, options))).value;
  const info = RevocationFilter.fromSnapshot(bytes, jwks).info;
  assert.deepEqual([info.bits, info.hashes], [plain.bits, plain.hashes]);
  const delta = await polluted({ baseSerial: 1 }, () => signRevocationDelta(privateJwk, bytes,
    { jtis: ["k"], serial: 2, issuedAt: 1000, nextUpdate: 2000 }));
  assert.equal(delta.code, "malformed", "baseSerial is required, and not inherited");

  // Links: no inherited url, origin or page; no inherited state for a verifier's code.
  const linkRequest = {
    sub: "user:alice", aud: "crm-api", task: "export-1", action: "customers:read",
    resource: "customers/4821", ttl: 60,
  };
  assert.equal((await polluted({ url: "https://evil.example/d" }, () => mintLink(issuer, linkRequest))).code,
    "malformed");
  const evil = mintLink(issuer, { ...linkRequest, url: "https://evil.example/d" });
  for (const pollution of [
    { origin: "https://evil.example" },
    { location: { origin: "https://evil.example", href: "https://evil.example/" } },
  ]) {
    const outcome = await polluted(pollution, () => checkLink(evil, { verifier, ...request }));
    assert.equal(outcome.code, "malformed", `${Object.keys(pollution)}: no origin of its own`);
  }
  const tampered = await polluted({ malformed: "valid", bad_signature: "valid" },
    () => checkLink(`${ORIGIN}/d#tt=a.b.c`, { verifier, ...request, origin: ORIGIN }));
  assert.equal(tampered.value.state, "invalid");
});

/** The RequestInit members of the Fetch standard. */
const INIT_MEMBERS = [
  "method", "headers", "body", "referrer", "referrerPolicy", "mode", "credentials", "cache",
  "redirect", "integrity", "keepalive", "signal", "duplex", "priority", "window",
];
/** Pollution that would change where, how and with what a request goes. */
const REQUEST_POLLUTION = {
  method: "PUT", body: "smuggled", redirect: "follow", credentials: "include", mode: "no-cors",
  referrerPolicy: "unsafe-url", integrity: "sha256-AAAA", keepalive: true, cache: "reload",
  headers: { "x-smuggled": "1" },
};

/**
 * A fetch stub that reads its init as a conforming fetch() does, each RequestInit member with
 * [[Get]] (WebIDL dictionary conversion, inherited members included, as in Chromium and
 * workerd), and records the members it found. (Node's own fetch cannot show this: undici
 * reads Object.prototype itself, even for a null-prototype init or none at all.)
 */
function recordingFetch(answer) {
  const calls = [];
  const fetch = async (input, init) => {
    const seen = {};
    for (const member of INIT_MEMBERS) if (init?.[member] !== undefined) seen[member] = init[member];
    calls.push({ url: String(input), seen });
    return answer();
  };
  return { fetch, calls };
}

test("fetch() gets init objects without a prototype: a polluted method, body, redirect, " +
  "credentials or headers changes no request of completeTask, the replica or fetchLink", async () => {
  const token = issuer.mint(mintRequest);
  const realFetch = globalThis.fetch;
  const stub = recordingFetch(() => ({ ok: true, status: 200 }));
  globalThis.fetch = stub.fetch;
  try {
    await polluted(REQUEST_POLLUTION, () => completeTask(token, "https://auth.example/revoke"));
    const link = mintLink(issuer, {
      url: `${ORIGIN}/exports/1/download`, sub: "user:alice", aud: "crm-api", task: "export-1",
      action: "customers:read", resource: "customers/4821", ttl: 60,
    });
    await polluted(REQUEST_POLLUTION, () => fetchLink(link, { origin: ORIGIN }));
  } finally {
    globalThis.fetch = realFetch;
  }
  const [revoke, download] = stub.calls;
  assert.deepEqual(Object.keys(revoke.seen).sort(), ["headers", "method", "redirect"]);
  assert.equal(revoke.seen.method, "POST");
  assert.equal(revoke.seen.redirect, "manual");
  assert.deepEqual({ ...revoke.seen.headers }, { authorization: `Bearer ${token}` });
  assert.deepEqual(Object.keys(download.seen).sort(), ["cache", "headers", "referrerPolicy"]);
  assert.equal(download.seen.cache, "no-store");
  assert.equal(download.seen.referrerPolicy, "no-referrer");
  assert.deepEqual([...download.seen.headers.keys()], ["authorization"]);

  // The authority's refusal is its own `error` member, not one inherited.
  globalThis.fetch = async () => ({ ok: false, status: 500, json: async () => ({}) });
  try {
    const refused = await polluted({ error: "revoked" }, () => completeTask(token, "https://auth.example/revoke"));
    assert.equal(refused.code, "malformed");
  } finally {
    globalThis.fetch = realFetch;
  }

  const t = now();
  const snapshot = signRevocationSnapshot(privateJwk, { issuer: ISS, jtis: [], serial: 1, issuedAt: t, nextUpdate: t + 300 });
  const served = recordingFetch(() => ({
    ok: true, status: 200, arrayBuffer: async () => snapshot.slice().buffer,
  }));
  const replica = new RevocationReplica({ keys: jwks, url: "https://auth.example/revocation", fetch: served.fetch });
  const refreshed = await polluted(REQUEST_POLLUTION, () => replica.refresh());
  assert.equal(refreshed.value?.serial, 1);
  for (const call of served.calls) {
    assert.deepEqual(Object.keys(call.seen).sort(), ["cache", "signal"], call.url);
    assert.equal(call.seen.cache, "no-store");
    assert.ok(call.seen.signal instanceof AbortSignal, "the package's own deadline");
  }
});

test("the token service's client: polluted exchange options, RequestInit members or answer " +
  "members change no request and no outcome of exchangeToken, withTask or RemoteKeySet", async () => {
  const token = issuer.mint(mintRequest);
  const grant = {
    access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
    token_type: "Bearer", expires_in: 60, scope: "customers:read",
  };
  const answers = { token: grant, revoke: { revoked: "j" }, jwks };
  const respond = (value) => ({
    ok: true, status: 200, headers: new Headers(),
    body: new Blob([JSON.stringify(value)]).stream(),
  });
  const stub = recordingFetch(() => respond(answers[stub.next]));
  const recorded = async (next, call) => {
    stub.next = next;
    return call();
  };
  const exchange = {
    service: "https://auth.example", subjectToken: "id.token.x", audience: "crm-api",
    scope: "customers:read", res: ["customers/4821"], task: "lookup-4821", fetch: stub.fetch,
  };
  const pollution = {
    ...REQUEST_POLLUTION, ttl: 900, dlg: 4, origins: ["https://evil.example"],
    error: "invalid_grant", token_type: "DPoP",
  };
  const granted = await polluted(pollution, () => recorded("token", () => exchangeToken(exchange)));
  assert.equal(granted.value?.token, token, JSON.stringify(granted));
  const [post] = stub.calls;
  assert.deepEqual(Object.keys(post.seen).sort(), ["body", "headers", "method", "redirect"]);
  assert.equal(post.seen.method, "POST");
  assert.equal(post.seen.redirect, "manual");
  const form = new URLSearchParams(post.seen.body);
  assert.equal(form.has("ttl") || form.has("dlg"), false, "no inherited ttl or dlg");
  assert.deepEqual([...post.seen.headers.keys()], ["accept", "content-type"], "no DPoP proof");

  // The task's fetch: only the task's own `origins` counts (none: any origin). Node's Request
  // constructor reads Object.prototype itself (see recordingFetch), so only the package's own
  // option names and the answer's members are polluted here.
  stub.calls.length = 0;
  const sent = [];
  const taskFetch = async (input, init) => {
    if (input instanceof Request) {
      sent.push([input.url, input.headers.get("authorization"), input.redirect]);
      return respond({});
    }
    return stub.fetch(input, init);
  };
  const ours = { ttl: 900, dlg: 4, origins: ["https://evil.example"], onRevokeError: spy(),
    error: "invalid_grant", token_type: "DPoP" };
  const task = await polluted(ours, () => recorded("token", () => withTask({ ...exchange, fetch: taskFetch },
    async ({ fetch }) => {
      stub.next = "revoke";
      await fetch("https://api.example/customers/4821");
      return "done";
    })));
  assert.equal(task.value, "done", JSON.stringify(task));
  assert.deepEqual(sent, [["https://api.example/customers/4821", `Bearer ${token}`, "manual"]]);
  const [, revoke] = stub.calls;
  assert.equal(revoke.url, "https://auth.example/revocation/revoke");
  assert.deepEqual(Object.keys(revoke.seen).sort(), ["headers", "method", "redirect"]);

  stub.calls.length = 0;
  const keys = new RemoteKeySet({ url: "https://auth.example/.well-known/jwks.json", fetch: stub.fetch });
  const loaded = await polluted({ ...REQUEST_POLLUTION, keys: [] }, () => recorded("jwks", () => keys.refresh()));
  assert.deepEqual(loaded.value, jwks);
  assert.deepEqual(Object.keys(stub.calls[0].seen).sort(), ["headers", "redirect", "signal"]);
  assert.equal(stub.calls[0].seen.redirect, "manual");
});

/** A compact JWS over `payload` (JSON text, used as it is) with the test key. */
function signed(payload) {
  const header = JSON.stringify({ alg: "EdDSA", typ: "tt+jwt", kid: privateJwk.kid });
  const input = `${Buffer.from(header).toString("base64url")}.${Buffer.from(payload).toString("base64url")}`;
  const key = createPrivateKey({ key: privateJwk, format: "jwk" });
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

test("verified claims carry no `__proto__` member, at any depth, also when the token writes " +
  "it with escapes: a caller's Object.assign cannot be given a prototype", async () => {
  const hostile = JSON.parse('{"__proto__": {"admin": true}, "profile": {"__proto__": {"admin": true}}}');
  const minted = issuer.mint({ ...mintRequest, claims: hostile });
  const t = now();
  const escaped = signed(`{"iss":"${ISS}","sub":"s","aud":"crm-api","iat":${t},"exp":${t + 60},` +
    `"jti":"j-escaped","task":"t","scope":"customers:read","res":["customers/4821"],` +
    `"__pr\\u006fto__":{"admin":true},"profile":{"n\\u00e4me":"x","__proto\\u005f_":{"admin":true}}}`);
  for (const [name, token] of [["minted", minted], ["escaped", escaped]]) {
    const results = {
      verify: verifier.verify(token, request),
      verifyForRevocation: verifier.verifyForRevocation(token),
      checkLink: checkLink(`${ORIGIN}/d#tt=${token}`, { verifier, ...request, origin: ORIGIN }).claims,
    };
    for (const [how, claims] of Object.entries(results)) {
      assert.equal(claims.scope, "customers:read", `${name} ${how}`);
      assert.equal(Object.hasOwn(claims, "__proto__"), false, `${name} ${how}`);
      assert.equal(Object.hasOwn(claims.profile, "__proto__"), false, `${name} ${how}: nested`);
      assert.equal(Object.assign({}, claims).admin, undefined, `${name} ${how}`);
      assert.equal(Object.assign({}, claims.profile).admin, undefined, `${name} ${how}: nested`);
    }
  }
  assert.equal(verifier.verify(escaped, request).profile["näme"], "x", "other escapes are read as ever");
});

/** A stand-in for Node's ServerResponse that records the status written. */
function nodeResponse() {
  return {
    status: undefined,
    writeHead(status) {
      this.status = status;
    },
    end() {},
  };
}
