// The client of the token service: exchangeToken (RFC 8693 form, answers, OAuth refusals as
// TaskTokenError codes, DPoP binding with a server nonce) and withTask (the token on the
// task's requests only, revoked whatever the callback does), against local node:http servers
// standing in for `tasktoken serve` and for an API gated by guardNode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import * as jose from "jose";
import {
  Issuer, TaskTokenError, Verifier, exchangeToken, generateKey, generateProofKey, guardNode,
  withTask,
} from "tasktoken";
import * as verifyOnly from "tasktoken/verify";

const ISS = "https://auth.example";
const { privateJwk, publicJwk } = generateKey({ kid: "svc-1" });
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const verifier = () => new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: "crm-api" });
/** Looks like a CI OIDC token; the stand-in service does not verify it. */
const SUBJECT = "eyJhbGciOiJSUzI1NiJ9.eyJyZXBvc2l0b3J5IjoiYWNtZS9hcHAifQ.c2lnbmF0dXJl";
const request = {
  subjectToken: SUBJECT, audience: "crm-api", scope: ["customers:read", "customers:list"],
  res: ["customers/4821", "customers/index"], task: "lookup-4821",
};

function serve(handler) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve({
      url: `http://127.0.0.1:${server.address().port}`,
      close: () => new Promise((r) => server.close(r)),
    }));
  });
}

function body(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
  });
}

const json = (res, status, value, headers = {}) =>
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...headers })
    .end(JSON.stringify(value));

/**
 * A stand-in for `tasktoken serve`: POST /token mints what the form asks for (bound to the
 * DPoP proof's key when one is sent, checked with jose), POST /revocation/revoke records the
 * Bearer token. `answer(form, req)` may return `[status, body, headers]` instead.
 */
async function tokenService(t, answer = () => undefined) {
  const seen = { forms: [], proofs: [], revoked: [], paths: [] };
  const service = await serve(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    seen.paths.push(`${req.method} ${path}`);
    if (path.endsWith("/revocation/revoke")) {
      seen.revoked.push(req.headers.authorization);
      return json(res, 200, { revoked: "jti", exp: 1, new: true });
    }
    if (!path.endsWith("/token")) return json(res, 404, { error: "not_found" });
    const text = await body(req);
    const form = new URLSearchParams(text);
    seen.forms.push({ text, form, contentType: req.headers["content-type"] });
    const custom = answer(form, req);
    if (custom) return json(res, ...custom);
    let cnfJkt;
    if (req.headers.dpop !== undefined) {
      const { payload, protectedHeader } =
        await jose.jwtVerify(req.headers.dpop, jose.EmbeddedJWK, { typ: "dpop+jwt" });
      seen.proofs.push(payload);
      cnfJkt = await jose.calculateJwkThumbprint(protectedHeader.jwk, "sha256");
    }
    const ttl = Number(form.get("ttl") ?? 60);
    const token = issuer.mint({
      sub: "ci:acme/app#1", aud: form.get("audience"), task: form.get("task"),
      scope: form.get("scope"), res: form.getAll("res"), ttl, ...(cnfJkt ? { cnfJkt } : {}),
    });
    json(res, 200, {
      access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
      token_type: cnfJkt ? "DPoP" : "Bearer", expires_in: ttl, scope: form.get("scope"),
    });
  });
  t.after(() => service.close());
  return { ...service, seen };
}

/** An API gated by guardNode: answers the verified `task`, or the guard's refusal. */
async function api(t, options = {}) {
  const v = verifier();
  const seen = [];
  const server = await serve((req, res) => {
    seen.push(req.headers.authorization?.split(" ")[0] ?? "none");
    if (options.redirectTo) return res.writeHead(302, { location: options.redirectTo }).end();
    const claims = guardNode(req, res, v, {
      action: "customers:read", resource: "customers/4821", origin: `http://${req.headers.host}`,
    });
    if (claims) res.writeHead(200).end(claims.task);
  });
  t.after(() => server.close());
  return { ...server, seen };
}

test("exchangeToken: the RFC 8693 form, and the answer as { token, tokenType, expiresIn, scope }", async (t) => {
  const service = await tokenService(t);
  const granted = await exchangeToken({ ...request, service: `${service.url}/base/`, ttl: 120, dlg: 1 });
  assert.deepEqual(Object.keys(granted), ["token", "tokenType", "expiresIn", "scope"]);
  assert.equal(granted.tokenType, "Bearer");
  assert.equal(granted.expiresIn, 120);
  assert.equal(granted.scope, "customers:read customers:list");
  const claims = verifier().verify(granted.token, { action: "customers:read", resource: "customers/4821" });
  assert.equal(claims.task, "lookup-4821");
  assert.deepEqual(service.seen.paths, ["POST /base/token"], "one trailing slash or many: <service>/token");
  const [{ form, contentType }] = service.seen.forms;
  assert.equal(contentType, "application/x-www-form-urlencoded");
  assert.deepEqual([...form], [
    ["grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"],
    ["subject_token", SUBJECT],
    ["subject_token_type", "urn:ietf:params:oauth:token-type:jwt"],
    ["audience", "crm-api"],
    ["scope", "customers:read customers:list"],
    ["res", "customers/4821"],
    ["res", "customers/index"],
    ["task", "lookup-4821"],
    ["ttl", "120"],
    ["dlg", "1"],
  ]);
  await exchangeToken({ ...request, scope: "customers:read", service: new URL(service.url) });
  assert.equal(service.seen.forms[1].form.get("scope"), "customers:read", "a scope string as given");
  assert.equal(service.seen.forms[1].form.has("ttl"), false, "no ttl: the service's default");
});

test("exchangeToken: refusals are TaskTokenErrors with the OAuth error as code", async (t) => {
  let reply;
  const service = await tokenService(t, () => reply);
  const refused = async (answer) => {
    reply = answer;
    try {
      await exchangeToken({ ...request, service: service.url });
    } catch (error) {
      assert.ok(error instanceof TaskTokenError, String(error));
      return error;
    }
    assert.fail("no refusal");
  };
  for (const code of ["unsupported_grant_type", "invalid_request", "invalid_grant", "invalid_scope",
    "invalid_target", "access_denied", "expired_token", "invalid_dpop_proof"]) {
    const e = await refused([400, { error: code, error_description: `because ${code}` }]);
    assert.equal(e.code, code);
    assert.equal(e.message, `because ${code}`);
    assert.equal(e.status, 400);
  }
  const busy = await refused([503, { error: "temporarily_unavailable", error_description: "the store is unavailable" }]);
  assert.deepEqual([busy.code, busy.status], ["temporarily_unavailable", 503]);
  const pending = await refused([400, { error: "authorization_pending", approval_id: "apv-7",
    expires_in: 1800, interval: 5, error_description: "waiting for an approver" }]);
  assert.equal(pending.code, "authorization_pending");
  assert.deepEqual([pending.approvalId, pending.interval, pending.expiresIn], ["apv-7", 5, 1800]);

  const odd = await refused([400, { error: "slow_down" }]);
  assert.equal(odd.code, "server_error", "an error outside the list");
  assert.equal((await refused([500, { error: { nested: true } }])).code, "server_error");
  const inherited = await refused([400, { error_description: "no error member" }]);
  assert.equal(inherited.code, "server_error");
  const proto = await refused([400, JSON.parse('{"__proto__": {"error": "invalid_grant"}}')]);
  assert.equal(proto.code, "server_error", "an error only on a __proto__ member is none");

  // The description: control and bidi characters out, token text out, 300 characters at most.
  const nasty = `bad\u0000subject\u202e token ${SUBJECT} and eyJx.eyJy.zzz\n${"x".repeat(1000)}`;
  const cleaned = await refused([400, { error: "invalid_grant", error_description: nasty }]);
  assert.ok(cleaned.message.length <= 300, cleaned.message.length);
  assert.ok(!cleaned.message.includes(SUBJECT) && !cleaned.message.includes("eyJ"), cleaned.message);
  // eslint-disable-next-line no-control-regex -- the control characters are what is checked
  assert.ok(!/[\u0000-\u001f\u202e]/.test(cleaned.message));
  assert.match(cleaned.message, /^bad subject token \[token\] and \[token\] x+…$/);
});

test("exchangeToken: an unreachable service, a non-JSON or a broken answer is server_error", async (t) => {
  await assert.rejects(exchangeToken({ ...request, service: "http://127.0.0.1:1" }),
    (e) => e.code === "server_error" && /could not be reached/.test(e.message));
  const html = await serve((req, res) => res.writeHead(502, { "content-type": "text/html" }).end("<h1>bad gateway</h1>"));
  t.after(() => html.close());
  await assert.rejects(exchangeToken({ ...request, service: html.url }),
    (e) => e.code === "server_error" && e.status === 502 && /without a JSON error/.test(e.message));
  const huge = await serve((req, res) => res.writeHead(400).end(`{"error":"invalid_grant","x":"${"a".repeat(70000)}"}`));
  t.after(() => huge.close());
  await assert.rejects(exchangeToken({ ...request, service: huge.url }), { code: "server_error" },
    "an answer over 64 KiB is not read");
  const redirecting = await serve((req, res) => res.writeHead(307, { location: "http://127.0.0.1:1/token" }).end());
  t.after(() => redirecting.close());
  await assert.rejects(exchangeToken({ ...request, service: redirecting.url }), { code: "server_error" },
    "a redirect is not followed (the subject token is for this service)");

  // A 200 that is not an RFC 8693 answer: server_error, and a token it carried is revoked.
  const token = issuer.mint({ sub: "s", aud: "crm-api", task: "t", scope: "a", res: ["r"], ttl: 60 });
  let reply;
  const service = await tokenService(t, () => reply);
  for (const [answer, what] of [
    [{ access_token: token, token_type: "Bearer", expires_in: 60 }, "issued_token_type"],
    [{ access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt", token_type: "mac", expires_in: 60 }, "token_type"],
    [{ access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt", token_type: "DPoP", expires_in: 60 }, "token_type"],
    [{ access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt", token_type: "bearer", expires_in: "60" }, "expires_in"],
    [{ access_token: 7, issued_token_type: "urn:ietf:params:oauth:token-type:jwt", token_type: "bearer", expires_in: 60 }, "access_token"],
  ]) {
    reply = [200, answer];
    service.seen.revoked.length = 0;
    await assert.rejects(exchangeToken({ ...request, service: service.url }),
      (e) => e.code === "server_error" && e.message.includes(what) && !e.message.includes(token), what);
    assert.deepEqual(service.seen.revoked, typeof answer.access_token === "string" ? [`Bearer ${token}`] : [], what);
  }
  reply = [200, { access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
    token_type: "bearer", expires_in: 60 }];
  const granted = await exchangeToken({ ...request, service: service.url });
  assert.equal(granted.tokenType, "Bearer", "token_type is case-insensitive");
  assert.equal(granted.scope, "customers:read customers:list", "no scope: the one requested");
});

test("exchangeToken: bad arguments are malformed, nothing is sent, no token text in messages", async () => {
  let sent = 0;
  const fetch = async () => {
    sent++;
    return new Response("{}");
  };
  const base = { ...request, service: "https://auth.example", fetch };
  const cases = {
    "no options": undefined,
    "service: ftp": { ...base, service: "ftp://auth.example" },
    "service: a number": { ...base, service: 443 },
    "service: a query": { ...base, service: "https://auth.example/?x=1" },
    "service: credentials": { ...base, service: "https://u:p@auth.example" },
    "subjectToken: missing": { ...base, subjectToken: undefined },
    "subjectToken: empty": { ...base, subjectToken: "" },
    "audience: array": { ...base, audience: ["a", "b"] },
    "scope: empty": { ...base, scope: [] },
    "scope: an action with a space": { ...base, scope: ["a b"] },
    "scope: a number": { ...base, scope: 1 },
    "res: a string": { ...base, res: "customers/1" },
    "res: empty": { ...base, res: [] },
    "res: an empty pattern": { ...base, res: [""] },
    "task: missing": { ...base, task: undefined },
    "ttl: 1.5": { ...base, ttl: 1.5 },
    "ttl: 0": { ...base, ttl: 0 },
    "ttl: a string": { ...base, ttl: "60" },
    "dlg: -1": { ...base, dlg: -1 },
    "fetch: not a function": { ...base, fetch: "fetch" },
    "a typo": { ...base, scopes: ["a"] },
    "dpop: no key": { ...base, dpop: {} },
    "res: a getter that throws": { ...base, res: Object.defineProperty([], "0", { get() { throw new Error("x"); }, enumerable: true }) },
  };
  for (const [what, options] of Object.entries(cases)) {
    await assert.rejects(exchangeToken(options), (e) => {
      assert.ok(e instanceof TaskTokenError, `${what}: ${e}`);
      assert.equal(e.code, "malformed", what);
      assert.ok(!e.message.includes(SUBJECT), what);
      return true;
    }, what);
  }
  assert.equal(sent, 0);
});

test("exchangeToken with dpop: a proof for POST <service>/token, a bound token, a server nonce", async (t) => {
  const proofKey = generateProofKey();
  let nonceAsked = false;
  const service = await tokenService(t, (form, req) => {
    if (!nonceAsked) {
      nonceAsked = true;
      return [400, { error: "use_dpop_nonce", error_description: "use a nonce" }, { "dpop-nonce": "n-1" }];
    }
    return undefined;
  });
  const granted = await exchangeToken({ ...request, service: `${service.url}/`, dpop: { key: proofKey.privateJwk } });
  assert.equal(granted.tokenType, "DPoP");
  assert.equal(service.seen.forms.length, 2, "retried once with the nonce");
  const [proof] = service.seen.proofs;
  assert.equal(proof.htm, "POST");
  assert.equal(proof.htu, `${service.url}/token`);
  assert.equal(proof.nonce, "n-1");
  assert.equal(proof.ath, undefined, "no token accompanies it");
  const claims = verifier().verifyForRevocation(granted.token);
  assert.equal(claims.cnf.jkt, proofKey.jkt);

  await assert.rejects(verifyOnly.exchangeToken({ ...request, service: service.url, dpop: { key: proofKey.privateJwk } }),
    (e) => e instanceof TaskTokenError && e.code === "malformed" && /full entry/.test(e.message),
    "tasktoken/verify has no signer: it says so, and sends nothing");
  assert.equal(service.seen.forms.length, 2);
  assert.equal((await verifyOnly.exchangeToken({ ...request, service: service.url })).tokenType, "Bearer");
});

test("withTask: exchange, call with the token, then revoke; the result is the callback's", async (t) => {
  const service = await tokenService(t);
  const resource = await api(t);
  const result = await withTask({ ...request, service: service.url, origins: [resource.url] },
    async ({ token, fetch, claims }) => {
      assert.equal(claims.task, "lookup-4821", "claims: the payload, for information");
      assert.equal(claims.iss, ISS);
      const res = await fetch(`${resource.url}/customers/4821`, { headers: { authorization: "Bearer other" } });
      assert.equal(res.status, 200);
      assert.equal(service.seen.revoked.length, 0, "not revoked while the task runs");
      return { answer: await res.text(), token };
    });
  assert.equal(result.answer, "lookup-4821");
  assert.deepEqual(resource.seen, ["Bearer"]);
  assert.deepEqual(service.seen.revoked, [`Bearer ${result.token}`], "revoked once the task is done");
  assert.deepEqual(service.seen.paths, ["POST /token", "POST /revocation/revoke"]);
});

test("withTask: the token goes only to the task's origins, never through a redirect, never after the task", async (t) => {
  const service = await tokenService(t);
  const elsewhere = await api(t);
  const resource = await api(t, { redirectTo: `${elsewhere.url}/customers/4821` });
  let later;
  await withTask({ ...request, service: service.url, origins: [new URL(resource.url)] }, async ({ fetch }) => {
    await assert.rejects(fetch(`${elsewhere.url}/customers/4821`),
      (e) => e instanceof TaskTokenError && e.code === "malformed" && /origins/.test(e.message));
    await assert.rejects(fetch("data:text/plain,x"), { code: "malformed" });
    await assert.rejects(fetch(`${resource.url}/customers/4821`), TypeError, "a redirect is an error");
    const manual = await fetch(`${resource.url}/customers/4821`, { redirect: "manual" });
    assert.equal(manual.status, 302);
    later = fetch;
  });
  assert.deepEqual(elsewhere.seen, [], "nothing reached the other origin");
  assert.deepEqual(resource.seen, ["Bearer", "Bearer"]);
  await assert.rejects(later(`${resource.url}/customers/4821`), (e) => e.code === "malformed" && /complete/.test(e.message));
  for (const origins of ["https://api.example", ["https://api.example/path"], ["ftp://api.example"], [42]]) {
    await assert.rejects(withTask({ ...request, service: service.url, origins }, () => {}), { code: "malformed" });
  }
  await assert.rejects(withTask({ ...request, service: service.url }), { code: "malformed" }, "no callback");
  assert.equal(service.seen.forms.length, 1, "refused before any exchange");
});

test("withTask: revoked when the callback throws; the callback's error wins", async (t) => {
  const service = await tokenService(t);
  const boom = new Error("the task failed");
  await assert.rejects(withTask({ ...request, service: service.url }, () => {
    throw boom;
  }), (e) => e === boom);
  assert.equal(service.seen.revoked.length, 1);

  // Revocation fails too: the callback's error is thrown, the revocation's reported.
  const refusing = await tokenService(t, () => undefined);
  const broken = await serve(async (req, res) => {
    if (req.url.endsWith("/revocation/revoke")) return json(res, 503, { error: "stale_revocation" });
    const upstream = await fetch(`${refusing.url}${req.url}`, { method: req.method,
      headers: { "content-type": req.headers["content-type"] }, body: await body(req) });
    res.writeHead(upstream.status, { "content-type": "application/json" }).end(await upstream.text());
  });
  t.after(() => broken.close());
  const reported = [];
  await assert.rejects(withTask({ ...request, service: broken.url, onRevokeError: (e) => reported.push(e) },
    () => Promise.reject(boom)), (e) => e === boom);
  assert.equal(reported.length, 1);
  assert.equal(reported[0].code, "stale_revocation");

  // The callback succeeded and revocation failed: that failure is thrown.
  await assert.rejects(withTask({ ...request, service: broken.url }, () => "done"), { code: "stale_revocation" });
});

test("withTask with dpop: a bound token, sent as DPoP with a fresh proof per request", async (t) => {
  const service = await tokenService(t);
  const resource = await api(t);
  const proofKey = generateProofKey({ alg: "ES256" });
  const statuses = await withTask({ ...request, service: service.url, dpop: { key: proofKey.privateJwk } },
    async ({ fetch, claims }) => {
      assert.equal(claims.cnf.jkt, proofKey.jkt);
      const first = await fetch(`${resource.url}/customers/4821`);
      const second = await fetch(`${resource.url}/customers/4821`);
      return [first.status, second.status];
    });
  assert.deepEqual(statuses, [200, 200], "each request its own proof (a replay would be refused)");
  assert.deepEqual(resource.seen, ["DPoP", "DPoP"]);
  assert.equal(service.seen.revoked.length, 1);
  await assert.rejects(verifyOnly.withTask({ ...request, service: service.url, dpop: { key: proofKey.privateJwk } },
    () => {}), { code: "malformed" });
});
