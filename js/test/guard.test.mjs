// The request guards: status codes, challenges and bodies, on the Fetch API and on Node's
// built-in http server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { generateKey, Issuer, Verifier, guard, guardNode } from "tasktoken";

const ISS = "https://auth.example";
const { privateJwk, publicJwk } = generateKey({ kid: "g1" });
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const verifier = new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: "crm-api" });
const token = issuer.mint({
  sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821",
  scope: "customers:read", res: ["customers/4821"], ttl: 60,
});
const route = { action: "customers:read", resource: (req) => new URL(req.url, "http://x").pathname.slice(1) };

function request(path, headers = {}) {
  return new Request(`https://api.example${path}`, { headers });
}

async function refusal(result) {
  assert.equal(result.ok, false);
  const body = await result.response.json();
  return { status: result.response.status, body, challenge: result.response.headers.get("www-authenticate") };
}

test("a valid token for the route gives the claims", () => {
  const result = guard(request("/customers/4821", { authorization: `Bearer ${token}` }), verifier, route);
  assert.equal(result.ok, true);
  assert.equal(result.claims.task, "lookup-4821");
});

test("no token: 401 with a bare Bearer challenge", async () => {
  const r = await refusal(guard(request("/customers/4821"), verifier, route));
  assert.equal(r.status, 401);
  assert.equal(r.challenge, 'Bearer realm="tasktoken", DPoP algs="EdDSA ES256"');
});

test("a tampered token: 401 invalid_token with the code in the body", async () => {
  const [h, p, s] = token.split(".");
  const tampered = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BA" : "AA"}`;
  const r = await refusal(guard(request("/customers/4821", { authorization: `Bearer ${tampered}` }), verifier, route));
  assert.equal(r.status, 401);
  assert.match(r.body.error, /^(bad_signature|malformed)$/);
  assert.match(r.challenge, /error="invalid_token"/);
  assert.ok(!JSON.stringify(r).includes(p), "no token text in the answer");
});

test("an expired token: 401 expired", async () => {
  const old = new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: "crm-api", clockSkew: 0 });
  const late = { verify: (t, req) => old.verify(t, { ...req, now: Date.now() / 1000 + 3600 }) };
  const r = await refusal(guard(request("/customers/4821", { authorization: `Bearer ${token}` }), late, route));
  assert.equal(r.status, 401);
  assert.equal(r.body.error, "expired");
});

test("another resource or action: 403 insufficient_scope", async () => {
  const other = await refusal(guard(request("/customers/4822", { authorization: `Bearer ${token}` }), verifier, route));
  assert.equal(other.status, 403);
  assert.equal(other.body.error, "resource_denied");
  assert.match(other.challenge, /error="insufficient_scope"/);
  const write = await refusal(guard(request("/customers/4821", { authorization: `Bearer ${token}` }), verifier,
    { ...route, action: "customers:write" }));
  assert.equal(write.status, 403);
  assert.equal(write.body.error, "action_denied");
});

test("header and query parameter only when the caller opts in; two places at once is 400", async () => {
  const viaQuery = request(`/customers/4821?tt=${token}`);
  assert.equal((await refusal(guard(viaQuery, verifier, route))).status, 401, "query not read by default");
  assert.equal(guard(viaQuery, verifier, { ...route, query: "tt" }).ok, true);
  const viaHeader = request("/customers/4821", { "x-task-token": token });
  assert.equal(guard(viaHeader, verifier, { ...route, header: "X-Task-Token" }).ok, true);
  const both = request(`/customers/4821?tt=${token}`, { authorization: `Bearer ${token}` });
  assert.equal((await refusal(guard(both, verifier, { ...route, query: "tt" }))).status, 400);
});

test("guardNode on Node's http server: 200 with claims, 401, 403", async () => {
  const server = createServer((req, res) => {
    const claims = guardNode(req, res, verifier, route);
    if (!claims) return;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ task: claims.task }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const ok = await fetch(`${base}/customers/4821`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { task: "lookup-4821" });
    const none = await fetch(`${base}/customers/4821`);
    assert.equal(none.status, 401);
    const other = await fetch(`${base}/customers/4822`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(other.status, 403);
    assert.equal((await other.json()).error, "resource_denied");
  } finally {
    server.close();
  }
});
