// tasktoken/mcp on its own: the answers of the gate (401 discovery, 401 invalid_token, 403
// insufficient_scope with its scope, 400/413 for bodies), prompt gating, DPoP, the metadata
// document, the options it refuses, and that it never needs the MCP SDK.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { spawnSync } from "node:child_process";
import { createHash, createPrivateKey, sign } from "node:crypto";
import {
  Issuer, Verifier, createProof, delegate, generateKey, generateProofKey, signRevocationSnapshot,
} from "tasktoken";
import { McpGate, MCP_SCOPES } from "tasktoken/mcp";

const ISS = "https://auth.example";
const RESOURCE = "https://mcp.example/mcp";
const METADATA = "https://mcp.example/.well-known/oauth-protected-resource/mcp";
const keys = generateKey({ kid: "mcp-1" });
const issuer = new Issuer({ iss: ISS, key: keys.privateJwk });
const verifier = new Verifier({ issuers: { [ISS]: { keys: [keys.publicJwk] } }, audience: RESOURCE });
const gate = new McpGate({ resource: RESOURCE, verifier, issuer: ISS });

function mint(claims = {}) {
  return issuer.mint({
    sub: "agent:repo-bot", aud: RESOURCE, task: "triage-17", scope: "tools:call prompts:get",
    res: ["tools/search", "tools/issues/*", "prompts/summary"], ttl: 60, ...claims,
  });
}
const token = mint();

const call = (name, id = 1, method = "tools/call") => ({ jsonrpc: "2.0", id, method, params: { name, arguments: {} } });

function post(body, headers = { authorization: `Bearer ${token}` }, url = RESOURCE) {
  return new Request(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The refusal's status, challenge and JSON body. */
async function refusal(result) {
  assert.equal(result.ok, false);
  const { response } = result;
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body: await response.json(), response };
}

test("the metadata document (RFC 9728): path, shape, served without a token", async () => {
  assert.equal(gate.metadataUrl, METADATA);
  assert.equal(gate.metadataPath, "/.well-known/oauth-protected-resource/mcp");
  assert.deepEqual(gate.metadata(), {
    resource: RESOURCE,
    authorization_servers: [ISS],
    bearer_methods_supported: ["header"],
    scopes_supported: ["tools:call", "prompts:get"],
    dpop_signing_alg_values_supported: ["EdDSA", "ES256"],
  });
  assert.deepEqual([...MCP_SCOPES], ["tools:call", "prompts:get"]);
  const result = await gate.check(new Request(METADATA));
  assert.equal(result.ok, false);
  assert.equal(result.error, undefined);
  assert.equal(result.response.status, 200);
  assert.equal(result.response.headers.get("content-type"), "application/json");
  assert.deepEqual(await result.response.json(), gate.metadata());
  // A fresh object each time: a caller's change does not stick.
  gate.metadata().authorization_servers.push("https://evil.example");
  assert.deepEqual(gate.metadata().authorization_servers, [ISS]);

  // At the root for a resource without a path; the optional members when configured.
  assert.throws(() => new McpGate({ resource: "https://MCP.example", verifier, issuer: ISS }), /canonically/);
  const rootGate = new McpGate({
    resource: "https://mcp.example", verifier, authorizationServers: [ISS, "https://auth2.example"],
    resourceName: "Repo tools", resourceDocumentation: "https://docs.example/mcp", requireBinding: true,
  });
  assert.equal(rootGate.metadataUrl, "https://mcp.example/.well-known/oauth-protected-resource");
  assert.deepEqual(rootGate.metadata(), {
    resource: "https://mcp.example",
    authorization_servers: [ISS, "https://auth2.example"],
    bearer_methods_supported: ["header"],
    scopes_supported: ["tools:call", "prompts:get"],
    dpop_signing_alg_values_supported: ["EdDSA", "ES256"],
    dpop_bound_access_tokens_required: true,
    resource_name: "Repo tools",
    resource_documentation: "https://docs.example/mcp",
  });
  const head = await rootGate.check(new Request("https://mcp.example/.well-known/oauth-protected-resource", { method: "HEAD" }));
  assert.equal(head.response.status, 200);
  assert.equal(await head.response.text(), "");
});

test("no token: 401 with exactly `Bearer resource_metadata=\"…\"` (also for another scheme)", async () => {
  for (const headers of [{}, { authorization: "Basic YWdlbnQ6cHc=" }, { authorization: "" }]) {
    const { status, challenge, body } = await refusal(await gate.check(post(call("search"), headers)));
    assert.equal(status, 401);
    assert.equal(challenge, `Bearer resource_metadata="${METADATA}"`);
    assert.equal(body.jsonrpc, "2.0");
    assert.equal(body.error.data.code, "malformed");
    assert.equal(body.error.data.resource_metadata, METADATA);
  }
  // A GET (the SSE stream) and a DELETE (end of session) need a token as well.
  for (const method of ["GET", "DELETE"]) {
    const { status, challenge } = await refusal(await gate.check(new Request(RESOURCE, { method })));
    assert.equal(status, 401);
    assert.equal(challenge, `Bearer resource_metadata="${METADATA}"`);
  }
});

test("a bad token: 401 invalid_token naming resource_metadata, no token text anywhere", async () => {
  const other = generateKey({ kid: "mcp-1" });
  const forged = new Issuer({ iss: ISS, key: other.privateJwk }).mint({
    sub: "agent:repo-bot", aud: RESOURCE, task: "t", scope: "tools:call", res: ["tools/search"], ttl: 60,
  });
  const cases = [
    ["garbage", "not-a-token", "malformed"],
    ["forged", forged, "bad_signature"],
    ["another server's", mint({ aud: "https://other.example/mcp" }), "wrong_audience"],
    ["expired", issuer.mint({ sub: "a", aud: RESOURCE, task: "t", scope: "tools:call", res: ["tools/search"], ttl: 60 },
      { now: Date.now() / 1000 - 3600 }), "expired"],
  ];
  for (const [what, bad, code] of cases) {
    for (const body of [call("search"), { jsonrpc: "2.0", id: 2, method: "tools/list" }]) {
      const result = await gate.check(post(body, { authorization: `Bearer ${bad}` }));
      const { status, challenge, body: answer } = await refusal(result);
      assert.equal(status, 401, what);
      assert.equal(result.error.code, code, what);
      assert.match(challenge, /^Bearer realm="tasktoken", error="invalid_token", error_description="[^"]*", resource_metadata="([^"]+)"$/, what);
      assert.ok(challenge.endsWith(`resource_metadata="${METADATA}"`));
      assert.equal(answer.id, body.id);
      assert.equal(answer.error.data.error, "invalid_token");
      assert.equal(answer.error.data.code, code);
      const all = `${challenge} ${JSON.stringify(answer)}`;
      assert.equal(all.includes(bad.split(".")[1] ?? bad), false, `${what}: no token text`);
    }
  }
  // A malformed Authorization header: 400 invalid_request, also naming the metadata.
  const { status, challenge } = await refusal(await gate.check(post(call("search"), { authorization: "Bearer a b" })));
  assert.equal(status, 400);
  assert.match(challenge, /error="invalid_request".*resource_metadata="/);
});

test("tools: a granted call passes with the SDK's AuthInfo; another is 403 insufficient_scope with scope", async () => {
  const ok = await gate.check(post(call("search", "a-1")));
  assert.equal(ok.ok, true);
  assert.deepEqual(ok.parsedBody, call("search", "a-1"));
  const { authInfo } = ok;
  assert.equal(authInfo.token, token);
  assert.equal(authInfo.clientId, "agent:repo-bot");
  assert.deepEqual(authInfo.scopes, ["tools:call", "prompts:get"]);
  assert.equal(typeof authInfo.expiresAt, "number");
  assert.ok(authInfo.expiresAt > Date.now() / 1000);
  assert.ok(authInfo.resource instanceof URL);
  assert.equal(authInfo.resource.href, RESOURCE);
  assert.equal(authInfo.extra.task, "triage-17");
  assert.equal(authInfo.extra.scheme, "Bearer");
  assert.equal(authInfo.extra.claims.aud, RESOURCE);
  // A pattern: tools/issues/* grants every tool below it.
  assert.equal((await gate.check(post(call("issues/close")))).ok, true);

  for (const name of ["delete_repo", "search2", "issues", "Search", "../search", "issues/../../admin", "issues/%2e%2e"]) {
    const result = await gate.check(post(call(name, 9)));
    const { status, challenge, body } = await refusal(result);
    assert.equal(status, 403, name);
    assert.equal(challenge,
      `Bearer realm="tasktoken", error="insufficient_scope", error_description="${result.error.message.replace(/["\\]/g, "")}", scope="tools:call", resource_metadata="${METADATA}"`);
    assert.equal(body.id, 9);
    assert.equal(body.error.code, -32000);
    assert.match(body.error.message, /does not grant tools\/call of/);
    assert.deepEqual(body.error.data, { code: result.error.code, error: "insufficient_scope", scope: "tools:call", resource_metadata: METADATA });
  }
  // A token without tools:call at all.
  const promptsOnly = mint({ scope: "prompts:get", res: ["prompts/summary"] });
  const result = await gate.check(post(call("search"), { authorization: `Bearer ${promptsOnly}` }));
  assert.equal((await refusal(result)).status, 403);
  assert.equal(result.error.code, "action_denied");
});

test("prompts: prompts/get NAME is prompts:get on prompts/NAME", async () => {
  assert.equal((await gate.check(post(call("summary", 3, "prompts/get")))).ok, true);
  const result = await gate.check(post(call("secrets", 4, "prompts/get")));
  const { status, challenge, body } = await refusal(result);
  assert.equal(status, 403);
  assert.match(challenge, /error="insufficient_scope".*scope="prompts:get", resource_metadata=/);
  assert.equal(body.id, 4);
  // A tools-only token cannot read prompts, nor a prompts-only one call tools.
  const toolsOnly = mint({ scope: "tools:call", res: ["tools/*"] });
  const refused = await gate.check(post(call("summary", 5, "prompts/get"), { authorization: `Bearer ${toolsOnly}` }));
  assert.equal(refused.error.code, "action_denied");
  // A tool named like a prompt is still a tool: `tools/summary`, not granted.
  assert.equal((await gate.check(post(call("summary")))).ok, false);
});

test("requests that call nothing need a valid token for this server, nothing more", async () => {
  for (const message of [
    { jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "a", version: "1" } } },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: 1, method: "tools/list" },
    { jsonrpc: "2.0", id: 2, method: "prompts/list" },
    { jsonrpc: "2.0", id: 3, result: {} },
  ]) {
    const result = await gate.check(post(message));
    assert.equal(result.ok, true, JSON.stringify(message));
    assert.equal(result.authInfo.clientId, "agent:repo-bot");
    assert.deepEqual(result.authInfo.scopes, ["tools:call", "prompts:get"]);
    assert.equal(result.authInfo.extra.task, "triage-17");
  }
  // Even a token that grants no MCP call at all may list: its audience is this server.
  const listOnly = mint({ scope: "artifacts:read", res: ["repos/acme/*"] });
  assert.equal((await gate.check(post({ jsonrpc: "2.0", id: 1, method: "tools/list" }, { authorization: `Bearer ${listOnly}` }))).ok, true);
  const get = await gate.check(new Request(RESOURCE, { headers: { authorization: `Bearer ${token}` } }));
  assert.equal(get.ok, true);
  assert.equal(get.parsedBody, undefined);
});

test("a batch: every call in it must be granted; the refused call's id answers", async () => {
  const ok = await gate.check(post([{ jsonrpc: "2.0", id: 1, method: "tools/list" }, call("search", 2), call("summary", 3, "prompts/get")]));
  assert.equal(ok.ok, true);
  const result = await gate.check(post([call("search", 1), call("issues/x", 2), call("delete_repo", 3), call("search", 4)]));
  const { status, body } = await refusal(result);
  assert.equal(status, 403);
  assert.equal(body.id, 3);
  const big = Array.from({ length: 101 }, (_, i) => ({ jsonrpc: "2.0", id: i, method: "tools/list" }));
  assert.equal((await refusal(await gate.check(post(big)))).status, 400);
  assert.equal((await refusal(await gate.check(post([])))).status, 400);
});

test("bodies the gate cannot read exactly are refused before any call is made", async () => {
  const cases = [
    ["not JSON", "{", 400, -32700],
    ["not UTF-8", new Uint8Array([0x7b, 0xff, 0x7d]), 400, -32700],
    ["no name", { jsonrpc: "2.0", id: 1, method: "tools/call", params: {} }, 400, -32600],
    ["empty name", call(""), 400, -32600],
    ["a number for a name", { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: 7 } }, 400, -32600],
    ["an inherited name", '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"__proto__":{"name":"search"}}}', 400, -32600],
    ["params an array", { jsonrpc: "2.0", id: 1, method: "tools/call", params: ["search"] }, 400, -32600],
    ["a method that is no string", { jsonrpc: "2.0", id: 1, method: ["tools/call"] }, 400, -32600],
    ["a message that is no object", [call("search"), "x"], 400, -32600],
    ["no body", undefined, 400, -32700],
  ];
  for (const [what, body, status, code] of cases) {
    const request = body === undefined
      ? new Request(RESOURCE, { method: "POST", headers: { authorization: `Bearer ${token}` } })
      : new Request(RESOURCE, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body) });
    const answer = await refusal(await gate.check(request));
    assert.equal(answer.status, status, what);
    assert.equal(answer.body.error.code, code, what);
  }
  const small = new McpGate({ resource: RESOURCE, verifier, issuer: ISS, maxBodyBytes: 64 });
  const large = await refusal(await small.check(post(call("search".padEnd(100, "x")))));
  assert.equal(large.status, 413);
  // Duplicate members: the transport is handed the very value checked (the last name wins in both).
  const dup = await gate.check(post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","name":"delete_repo"}}'));
  assert.equal((await refusal(dup)).status, 403);
  const dupOk = await gate.check(post('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_repo","name":"search"}}'));
  assert.equal(dupOk.ok, true);
  assert.equal(dupOk.parsedBody.params.name, "search");
});

test("DPoP: a bound token needs its proof; as Bearer it is refused with a DPoP challenge", async () => {
  const proofKey = generateProofKey({ alg: "EdDSA" });
  const bound = mint({ cnfJkt: proofKey.jkt });
  const asBearer = await gate.check(post(call("search"), { authorization: `Bearer ${bound}` }));
  const refused = await refusal(asBearer);
  assert.equal(refused.status, 401);
  assert.equal(asBearer.error.code, "binding_required");
  assert.match(refused.challenge, /^DPoP algs="EdDSA ES256", error="invalid_token", error_description="[^"]*", resource_metadata="/);

  const proof = createProof({ key: proofKey.privateJwk, method: "POST", url: RESOURCE, token: bound });
  const ok = await gate.check(post(call("search"), { authorization: `DPoP ${bound}`, dpop: proof }));
  assert.equal(ok.ok, true);
  assert.equal(ok.authInfo.extra.scheme, "DPoP");
  // The same proof again: replayed.
  const replay = await gate.check(post(call("search"), { authorization: `DPoP ${bound}`, dpop: proof }));
  assert.equal(replay.error.code, "proof_replayed");
  assert.match((await refusal(replay)).challenge, /error="invalid_dpop_proof".*resource_metadata=/);
  // A batch of two calls under one proof: the second is checked against the proven key.
  const batchProof = createProof({ key: proofKey.privateJwk, method: "POST", url: RESOURCE, token: bound });
  assert.equal((await gate.check(post([call("search", 1), call("issues/a", 2)], { authorization: `DPoP ${bound}`, dpop: batchProof }))).ok, true);
  const deniedProof = createProof({ key: proofKey.privateJwk, method: "POST", url: RESOURCE, token: bound });
  const denied = await gate.check(post([call("search", 1), call("delete_repo", 2)], { authorization: `DPoP ${bound}`, dpop: deniedProof }));
  const deniedAnswer = await refusal(denied);
  assert.equal(deniedAnswer.status, 403);
  assert.match(deniedAnswer.challenge, /^DPoP algs="EdDSA ES256", error="insufficient_scope".*scope="tools:call"/);
  // A proof for another URL, and an unbound token sent as DPoP.
  const elsewhere = createProof({ key: proofKey.privateJwk, method: "POST", url: "https://mcp.example/other", token: bound });
  assert.equal((await gate.check(post(call("search"), { authorization: `DPoP ${bound}`, dpop: elsewhere }))).error.code, "invalid_proof");
  const unboundProof = createProof({ key: proofKey.privateJwk, method: "POST", url: RESOURCE, token });
  assert.equal((await gate.check(post(call("search"), { authorization: `DPoP ${token}`, dpop: unboundProof }))).error.code, "binding_mismatch");

  // requireBinding: an unbound token is refused even for a call it grants.
  const strict = new McpGate({ resource: RESOURCE, verifier, issuer: ISS, requireBinding: true });
  const unbound = await strict.check(post(call("search")));
  assert.equal(unbound.error.code, "binding_required");
  assert.match((await refusal(unbound)).challenge, /^DPoP algs=.*error="invalid_token".*resource_metadata=/);
  const strictProof = createProof({ key: proofKey.privateJwk, method: "POST", url: RESOURCE, token: bound });
  assert.equal((await strict.check(post(call("search"), { authorization: `DPoP ${bound}`, dpop: strictProof }))).ok, true);
});

test("gate.node on Node's http server: the same answers, req.auth and req.body for the transport", async (t) => {
  const passed = [];
  const server = createServer(async (req, res) => {
    const authInfo = await gate.node(req, res);
    if (authInfo === null) return;
    passed.push({ auth: req.auth, body: req.body, same: authInfo === req.auth });
    res.writeHead(200).end("handled");
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${server.address().port}`;
  const send = (path, body, headers = { authorization: `Bearer ${token}` }) =>
    fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });

  const missing = await send("/mcp", call("search"), {});
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get("www-authenticate"), `Bearer resource_metadata="${METADATA}"`);
  const denied = await send("/mcp", call("delete_repo", 5));
  assert.equal(denied.status, 403);
  assert.match(denied.headers.get("www-authenticate"), /scope="tools:call", resource_metadata=/);
  assert.equal((await denied.json()).id, 5);
  const ok = await send("/mcp", call("search", 6));
  assert.equal(ok.status, 200);
  assert.equal(passed.length, 1);
  assert.deepEqual(passed[0].body, call("search", 6));
  assert.equal(passed[0].auth.clientId, "agent:repo-bot");
  assert.equal(passed[0].same, true);
  const metadata = await fetch(`${base}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(metadata.status, 200);
  assert.deepEqual(await metadata.json(), gate.metadata());

  // DPoP through Node: the proof names the resource's origin and the request's path.
  const proofKey = generateProofKey({ alg: "ES256" });
  const bound = mint({ cnfJkt: proofKey.jkt });
  const proof = createProof({ key: proofKey.privateJwk, method: "POST", url: RESOURCE, token: bound });
  assert.equal((await send("/mcp", call("search", 7), { authorization: `DPoP ${bound}`, dpop: proof })).status, 200);
  const wrongPath = createProof({ key: proofKey.privateJwk, method: "POST", url: "https://mcp.example/mcp", token: bound });
  assert.equal((await send("/other", call("search", 8), { authorization: `DPoP ${bound}`, dpop: wrongPath })).status, 401);

  // Express-style: a body already parsed is used, and `next` is called.
  const req = { url: "/mcp", method: "POST", headers: { authorization: `Bearer ${token}` }, body: call("search", 9),
    [Symbol.asyncIterator]() { throw new Error("the body was already read"); } };
  let nexted = 0;
  const res = { writeHead() { throw new Error("no answer expected"); }, end() {} };
  const info = await gate.node(req, res, () => nexted++);
  assert.equal(nexted, 1);
  assert.equal(req.auth, info);
  const written = [];
  const deniedReq = { url: "/mcp", method: "POST", headers: { authorization: `Bearer ${token}` }, body: call("delete_repo", 10) };
  assert.equal(await gate.node(deniedReq, { writeHead: (s, h) => written.push(s, h), end: (b) => written.push(b) }, () => nexted++), null);
  assert.equal(nexted, 1);
  assert.equal(written[0], 403);
  assert.match(written[1]["www-authenticate"], /insufficient_scope/);
});

test("audit: onDecision sees each decision, never the token", async () => {
  const events = [];
  const audited = new McpGate({ resource: RESOURCE, verifier, issuer: ISS, onDecision: (e) => events.push(e) });
  await audited.check(post(call("search")));
  await audited.check(post(call("delete_repo")));
  await audited.check(post(call("search"), {}));
  await audited.check(post({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
  assert.deepEqual(events.map((e) => [e.outcome, e.action ?? null, e.resource ?? null]), [
    ["ok", "tools:call", "tools/search"],
    ["resource_denied", "tools:call", "tools/delete_repo"],
    ["malformed", null, null],
    ["action_denied", "mcp:connect", "mcp"],
  ]);
  assert.equal(JSON.stringify(events).includes(token), false);
});

test("options: what the gate refuses to be built from", () => {
  const bad = [
    {},
    { resource: RESOURCE },
    { resource: RESOURCE, verifier, issuer: ISS, service: "https://auth.example" },
    { resource: RESOURCE, verifier: { verify() { return {}; } }, issuer: ISS },
    { resource: RESOURCE, verifier },
    { resource: RESOURCE, service: "https://auth.example" },
    { resource: "mcp.example/mcp", verifier, issuer: ISS },
    { resource: "ftp://mcp.example/mcp", verifier, issuer: ISS },
    { resource: "https://mcp.example/mcp#x", verifier, issuer: ISS },
    { resource: "https://mcp.example/mcp?x=1", verifier, issuer: ISS },
    { resource: "https://u:p@mcp.example/mcp", verifier, issuer: ISS },
    { resource: "https://mcp.example:443/mcp", verifier, issuer: ISS },
    { resource: "https://mcp.example/a/../mcp", verifier, issuer: ISS },
    { resource: RESOURCE, verifier, authorizationServers: [] },
    { resource: RESOURCE, verifier, authorizationServers: ["auth.example"] },
    { resource: RESOURCE, verifier, issuer: ISS, maxBodyBytes: 0 },
    { resource: RESOURCE, verifier, issuer: ISS, requireBinding: "yes" },
    { resource: RESOURCE, verifier, issuer: ISS, audience: RESOURCE },
    { resource: RESOURCE, verifier, issuer: ISS, keysInterval: 10 },
  ];
  for (const options of bad) {
    assert.throws(() => new McpGate(options), (e) => e.name === "TaskTokenError" && e.code === "malformed", JSON.stringify(options));
  }
  // Inherited members are no options (prototype pollution).
  Object.prototype.verifier = verifier;
  try {
    assert.throws(() => new McpGate({ resource: RESOURCE, issuer: ISS }), /exactly one/);
  } finally {
    delete Object.prototype.verifier;
  }
  assert.doesNotThrow(() => new McpGate({ resource: "http://127.0.0.1:8080/mcp", verifier, issuer: ISS }));
});

test("service: the gate follows the token service's keys and revocation data, and fails closed without them", async (t) => {
  const state = { jtis: [], serial: Math.floor(Date.now() / 1000) * 2 ** 10, up: true };
  const server = createServer((req, res) => {
    if (!state.up) return res.writeHead(503).end();
    if (req.url === "/.well-known/jwks.json") return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [keys.publicJwk] }));
    if (req.url === "/revocation/snapshot") {
      const now = Math.floor(Date.now() / 1000);
      return res.end(signRevocationSnapshot(keys.privateJwk, { issuer: ISS, jtis: state.jtis, serial: ++state.serial, issuedAt: now, nextUpdate: now + 300 }));
    }
    if (req.url.startsWith("/revocation/delta/")) return res.writeHead(410).end();
    res.writeHead(404).end();
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  t.after(() => server.close());
  const service = `http://127.0.0.1:${server.address().port}`;

  state.up = false;
  const down = new McpGate({ resource: RESOURCE, service, issuer: ISS, revocationInterval: 1 });
  await assert.rejects(down.ready());
  const closed = await down.check(post(call("search")));
  assert.equal(closed.ok, false, "no keys, no revocation data: refused");
  assert.equal(closed.error.code, "unknown_key");

  state.up = true;
  const followed = new McpGate({ resource: RESOURCE, service: `${service}/`, issuer: ISS, revocationInterval: 1 });
  await followed.ready();
  assert.equal(followed.pending, null);
  assert.equal(gate.pending, null);
  assert.deepEqual(followed.metadata().authorization_servers, [ISS]);
  assert.equal((await followed.check(post(call("search")))).ok, true);
  state.jtis = [JSON.parse(Buffer.from(token.split(".")[1], "base64url")).jti];
  await new Promise((ok) => setTimeout(ok, 1100));
  // No timers (as in a Worker): the check itself refreshes what is due.
  const revoked = await followed.check(post(call("search")));
  assert.equal(revoked.error?.code, "revoked");
  assert.equal((await refusal(revoked)).status, 401);
});

test("tasktoken/mcp never loads the MCP SDK (an optional peer), and refuses without it", () => {
  // A child process where resolving anything of @modelcontextprotocol throws.
  const hooks = `data:text/javascript,${encodeURIComponent(`
    export async function resolve(specifier, context, next) {
      if (specifier.startsWith("@modelcontextprotocol/")) throw new Error("the SDK was loaded: " + specifier);
      return next(specifier, context);
    }`)}`;
  const script = `
    import { register } from "node:module";
    register(${JSON.stringify(hooks)});
    const { generateKey, Issuer, Verifier } = await import("tasktoken");
    const { McpGate } = await import("tasktoken/mcp");
    const k = generateKey({ kid: "x" });
    const R = "https://mcp.example/mcp";
    const gate = new McpGate({ resource: R, issuer: "https://a.example",
      verifier: new Verifier({ issuers: { "https://a.example": { keys: [k.publicJwk] } }, audience: R }) });
    const t = new Issuer({ iss: "https://a.example", key: k.privateJwk }).mint({ sub: "s", aud: R, task: "t", scope: "tools:call", res: ["tools/a"], ttl: 60 });
    const post = (name) => new Request(R, { method: "POST", headers: { authorization: "Bearer " + t }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name } }) });
    const ok = await gate.check(post("a"));
    const no = await gate.check(post("b"));
    const info = await gate.verifyAccessToken(t);
    const refused = await gate.verifyAccessToken("x.y.z").catch((e) => e);
    console.log(JSON.stringify([ok.ok, no.response.status, info.clientId, refused.name, refused.code]));
  `;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: new URL("..", import.meta.url), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(JSON.parse(run.stdout), [true, 403, "s", "TaskTokenError", "malformed"]);
});

test("sessions: bound to the identity of the token that opened them (POST, GET, DELETE), bounded", async () => {
  const sessionGate = new McpGate({ resource: RESOURCE, verifier, issuer: ISS, maxSessions: 2 });
  const owner = mint();
  const thief = mint({ sub: "agent:other-bot" });
  const with_ = (t, id) => ({ authorization: `Bearer ${t}`, ...(id ? { "mcp-session-id": id } : {}) });
  /** Opens a session as the transport would: `initialize` answered with an Mcp-Session-Id. */
  async function open(t, id) {
    const checked = await sessionGate.check(post({ jsonrpc: "2.0", id: 0, method: "initialize", params: {} }, with_(t)));
    assert.equal(checked.ok, true);
    const response = new Response("{}", { headers: { "mcp-session-id": id } });
    assert.equal(checked.record(response), response);
  }
  const request = (method, t, id) => method === "POST"
    ? post(call("search"), with_(t, id))
    : new Request(RESOURCE, { method, headers: with_(t, id) });
  await open(owner, "session-a");

  // Another sub with a valid token: 404 as for an unknown session, before the transport.
  for (const method of ["POST", "GET", "DELETE"]) {
    const { status, body } = await refusal(await sessionGate.check(request(method, thief, "session-a")));
    assert.equal(status, 404, method);
    assert.deepEqual(body, { jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } });
  }
  // The same for a session the gate never saw.
  assert.equal((await sessionGate.check(request("POST", owner, "made-up"))).response.status, 404);
  // The same sub with a fresh token (another jti and task) passes.
  const fresh = mint({ task: "triage-18" });
  assert.notEqual(fresh, owner);
  for (const method of ["POST", "GET"]) assert.equal((await sessionGate.check(request(method, fresh, "session-a"))).ok, true, method);
  // A refusal by the transport (not 2xx) leaves the session; a DELETE it accepts forgets it.
  const failed = await sessionGate.check(request("DELETE", owner, "session-a"));
  failed.record(new Response(null, { status: 500 }));
  const deleted = await sessionGate.check(request("DELETE", owner, "session-a"));
  assert.equal(deleted.ok, true);
  deleted.record(new Response(null, { status: 200 }));
  assert.equal((await sessionGate.check(request("POST", owner, "session-a"))).response.status, 404);
  // A thief's `initialize` answered with an id already bound does not rebind it.
  await open(owner, "session-b");
  await open(thief, "session-b");
  assert.equal((await sessionGate.check(request("POST", thief, "session-b"))).response.status, 404);
  assert.equal((await sessionGate.check(request("POST", owner, "session-b"))).ok, true);
  // Capacity: a third session forgets the least recently used one (404, never rebound).
  await open(thief, "session-c");
  await open(thief, "session-d");
  assert.equal((await sessionGate.check(request("POST", owner, "session-b"))).response.status, 404);
  assert.equal((await sessionGate.check(request("POST", thief, "session-c"))).ok, true);
  assert.equal((await sessionGate.check(request("POST", thief, "session-d"))).ok, true);
  // `handle` records what the handler's Response opens.
  const handled = await sessionGate.handle(post({ jsonrpc: "2.0", id: 0, method: "initialize", params: {} }, with_(owner)),
    ({ authInfo }) => {
      assert.equal(authInfo.clientId, "agent:repo-bot");
      return new Response("{}", { headers: { "mcp-session-id": "session-e" } });
    });
  assert.equal(handled.headers.get("mcp-session-id"), "session-e");
  assert.equal((await sessionGate.check(request("GET", fresh, "session-e"))).ok, true);
  assert.equal((await sessionGate.check(request("GET", thief, "session-e"))).response.status, 404);
  assert.throws(() => new McpGate({ resource: RESOURCE, verifier, issuer: ISS, maxSessions: 0 }), /maxSessions/);
});

test("sessions through gate.node: the Mcp-Session-Id the transport writes is bound, DELETE forgets it", async (t) => {
  const sessionGate = new McpGate({ resource: RESOURCE, verifier, issuer: ISS });
  const http = createServer(async (req, res) => {
    if (await sessionGate.node(req, res) === null) return;
    // The transport: a new session on initialize (headers in writeHead), 200 otherwise.
    if (req.body?.method === "initialize") {
      res.writeHead(200, { "content-type": "application/json", "mcp-session-id": "node-session" });
    } else {
      res.setHeader("content-type", "application/json");
      res.statusCode = 200;
    }
    res.end("{}");
  });
  await new Promise((ok) => http.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise((ok) => { http.closeAllConnections(); http.close(ok); }));
  const url = `http://127.0.0.1:${http.address().port}/mcp`;
  const send = (method, t2, id, body) => fetch(url, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${t2}`, "content-type": "application/json", ...(id ? { "mcp-session-id": id } : {}) },
  });
  const thief = mint({ sub: "agent:other-bot" });
  assert.equal((await send("POST", token, null, { jsonrpc: "2.0", id: 0, method: "initialize", params: {} })).status, 200);
  for (const method of ["POST", "GET", "DELETE"]) {
    const body = method === "POST" ? call("search") : undefined;
    assert.equal((await send(method, thief, "node-session", body)).status, 404, method);
  }
  assert.equal((await send("POST", mint(), "node-session", call("search"))).status, 200);
  assert.equal((await send("DELETE", token, "node-session")).status, 200);
  assert.equal((await send("GET", token, "node-session")).status, 404);
});

test("delegation: the gate hands out the core's claims (no link's own), and sessions follow the whole path and key", async () => {
  const orch = generateProofKey({ alg: "EdDSA" });
  const sub = generateProofKey({ alg: "EdDSA" });
  const delegating = new Issuer({ iss: ISS, key: keys.privateJwk, maxDelegation: 2 });
  const root = delegating.mint({ sub: "agent:orch", aud: RESOURCE, task: "t", scope: "tools:call", res: ["tools/*"],
    ttl: 300, cnfJkt: orch.jkt, dlg: 2, claims: { tenant: "acme" } });
  const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
  const post = (chain, body, extra = {}) => new Request(RESOURCE, { method: "POST",
    headers: { ...headers, authorization: `Bearer ${chain}`, ...extra }, body: JSON.stringify(body) });

  // An unbound link whose signer wrote its own `tenant` and `apv`: dropped, as in the core.
  // (`delegate` writes no other claims: the link is signed here by hand, as an attacker would.)
  const at = Math.floor(Date.now() / 1000);
  const { d, ...publicPart } = orch.privateJwk;
  const link = [{ alg: "EdDSA", typ: "tt-link+jwt", jwk: { kty: "OKP", crv: "Ed25519", x: publicPart.x } },
    { prev: createHash("sha256").update(root).digest("base64url"), sub: "agent:sub", aud: RESOURCE, task: "t/part",
      scope: "tools:call", res: ["tools/lookup"], iat: at, exp: at + 60, jti: `l-${at}`, tenant: "globex",
      apv: { sub: "human:alice", at } }].map((part) => Buffer.from(JSON.stringify(part)).toString("base64url")).join(".");
  const signature = sign(null, Buffer.from(link), createPrivateKey({ key: { ...publicPart, d }, format: "jwk" }));
  const bearer = `${root}~${link}.${signature.toString("base64url")}`;
  const fromCore = verifier.verify(bearer, { action: "tools:call", resource: "tools/lookup" });
  assert.equal(fromCore.tenant, "acme");
  const info = await gate.verifyAccessToken(bearer);
  const listed = await gate.check(post(bearer, { jsonrpc: "2.0", id: 1, method: "tools/list" }));
  for (const claims of [info.extra.claims, listed.authInfo.extra.claims]) {
    assert.equal(claims.tenant, "acme");
    assert.equal(claims.apv, undefined);
    assert.deepEqual(claims.act, { sub: "agent:orch" });
  }

  // The orchestrator opens a session with its root; the sub-agent holds a bound link.
  const rootProof = createProof({ key: orch.privateJwk, method: "POST", url: RESOURCE, token: root });
  const opened = await gate.check(new Request(RESOURCE, { method: "POST",
    headers: { ...headers, authorization: `DPoP ${root}`, dpop: rootProof },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }) }));
  assert.equal(opened.ok, true);
  opened.record(new Response("{}", { status: 200, headers: { "mcp-session-id": "S-ORCH" } }));
  const held = delegate(root, { key: orch.privateJwk, sub: "agent:sub", aud: RESOURCE, task: "t/part",
    scope: "tools:call", res: ["tools/lookup"], ttl: 120, cnfJkt: sub.jkt, dlg: 1 });
  // The sub-agent names its orchestrator as the `sub` of a link of its own: still not the
  // orchestrator (its path is orchestrator → sub-agent → "orchestrator").
  const posing = delegate(held, { key: sub.privateJwk, sub: "agent:orch", aud: RESOURCE, task: "t/part",
    scope: "tools:call", res: ["tools/lookup"], ttl: 60 });
  for (const method of ["GET", "DELETE"]) {
    const tried = await gate.check(new Request(RESOURCE, { method,
      headers: { ...headers, authorization: `Bearer ${posing}`, "mcp-session-id": "S-ORCH" } }));
    assert.equal(tried.ok, false, method);
    assert.equal(tried.response.status, 404, method);
  }

  // The sub-agent opens its own session with its bound chain; the orchestrator's own link
  // naming the sub-agent, unbound, is not the sub-agent's key.
  const subProof = createProof({ key: sub.privateJwk, method: "POST", url: RESOURCE, token: held });
  const subOpened = await gate.check(new Request(RESOURCE, { method: "POST",
    headers: { ...headers, authorization: `DPoP ${held}`, dpop: subProof },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }) }));
  assert.equal(subOpened.ok, true);
  subOpened.record(new Response("{}", { status: 200, headers: { "mcp-session-id": "S-SUB" } }));
  const lookalike = delegate(root, { key: orch.privateJwk, sub: "agent:sub", aud: RESOURCE, task: "t/part",
    scope: "tools:call", res: ["tools/lookup"], ttl: 60 });
  const taken = await gate.check(new Request(RESOURCE, { method: "GET",
    headers: { ...headers, authorization: `Bearer ${lookalike}`, "mcp-session-id": "S-SUB" } }));
  assert.equal(taken.response?.status, 404);
  // The sub-agent itself, with a fresh proof, keeps using it.
  const again = await gate.check(new Request(RESOURCE, { method: "GET", headers: { ...headers,
    authorization: `DPoP ${held}`, dpop: createProof({ key: sub.privateJwk, method: "GET", url: RESOURCE, token: held }),
    "mcp-session-id": "S-SUB" } }));
  assert.equal(again.ok, true);
});
