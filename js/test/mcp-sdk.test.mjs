// tasktoken/mcp with the real MCP SDK on both sides (@modelcontextprotocol/sdk): its Client and
// StreamableHTTPClientTransport against an McpServer behind the gate, over Node's http server
// (StreamableHTTPServerTransport) and over the Fetch API (WebStandardStreamableHTTPServerTransport),
// with bearer and DPoP-bound tokens, and the SDK's own requireBearerAuth with the gate as its
// verifier. Tokens here are minted locally; tests/interop/mcp.test.mjs gets them from
// `tasktoken serve`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import express from "express";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { requireBearerAuth } from "@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  Issuer, RevocationReplica, Verifier, dpopFetch, generateKey, generateProofKey, signRevocationSnapshot,
} from "tasktoken";
import { McpGate } from "tasktoken/mcp";

const ISS = "https://auth.example";
const keys = generateKey({ kid: "mcp-sdk-1" });
const issuer = new Issuer({ iss: ISS, key: keys.privateJwk });

/** An MCP server with two tools and a prompt; each handler reports the task it ran for. */
function buildServer(seen) {
  const server = new McpServer({ name: "repo-tools", version: "1.0.0" });
  server.registerTool("search", { description: "Search the repository", inputSchema: { q: z.string() } },
    async ({ q }, extra) => {
      seen.push({ tool: "search", task: extra.authInfo?.extra?.task, clientId: extra.authInfo?.clientId });
      return { content: [{ type: "text", text: `results for ${q}` }] };
    });
  server.registerTool("delete_repo", { description: "Delete the repository" }, async () => {
    seen.push({ tool: "delete_repo" });
    return { content: [{ type: "text", text: "deleted" }] };
  });
  server.registerPrompt("summary", { description: "Summarize" }, async () => {
    seen.push({ prompt: "summary" });
    return { messages: [{ role: "user", content: { type: "text", text: "summarize" } }] };
  });
  return server;
}

/** An http server on 127.0.0.1 whose MCP endpoint is `/mcp`; `make(url)` builds its handler. */
async function listen(t, make) {
  const box = {};
  const http = createServer((req, res) => box.handler(req, res));
  await new Promise((ok) => http.listen(0, "127.0.0.1", ok));
  t.after(() => new Promise((ok) => { http.closeAllConnections(); http.close(ok); }));
  const url = `http://127.0.0.1:${http.address().port}/mcp`;
  box.handler = make(url);
  return url;
}

/** The Node way: `gate.node`, then a stateless transport per request. */
function nodeServer(gate, seen) {
  return async (req, res) => {
    const authInfo = await gate.node(req, res);
    if (authInfo === null) return;
    const server = buildServer(seen);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => { transport.close(); server.close(); });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };
}

/** The Fetch API way (what a Worker does): `gate.check`, then the web-standard transport. */
function fetchServer(gate, seen) {
  const handle = async (request) => {
    const checked = await gate.check(request);
    if (!checked.ok) return checked.response;
    const server = buildServer(seen);
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(request, { authInfo: checked.authInfo, parsedBody: checked.parsedBody });
  };
  // Node's http server in front of the Fetch API handler (what a Worker runtime does for us).
  return async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method: req.method, headers: Object.entries(req.headers).filter(([, v]) => typeof v === "string"),
      body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
    });
    const response = await handle(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(Buffer.from(await response.arrayBuffer()));
  };
}

function mint(url, { scope = "tools:call prompts:get", res = ["tools/search", "prompts/summary"], cnfJkt } = {}) {
  return issuer.mint({
    sub: "agent:repo-bot", aud: url, task: "triage-17/search", scope, res, ttl: 120,
    ...(cnfJkt ? { cnfJkt } : {}),
  });
}

async function connect(t, url, options) {
  const client = new Client({ name: "agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), options));
  t.after(() => client.close());
  return client;
}

const bearer = (token) => ({ requestInit: { headers: { authorization: `Bearer ${token}` } } });

/** The refusal a client sees: the SDK's StreamableHTTPError with the HTTP status as `code`. */
function refusedWith(status, pattern) {
  return (e) => e instanceof StreamableHTTPError && e.code === status && pattern.test(e.message);
}

for (const [name, serve] of [["Node http + StreamableHTTPServerTransport", nodeServer],
                             ["Fetch API + WebStandardStreamableHTTPServerTransport", fetchServer]]) {
  test(`${name}: the SDK client lists tools, calls the granted one, is refused the rest`, async (t) => {
    const seen = [];
    const verifierFor = (url) => new Verifier({ issuers: { [ISS]: { keys: [keys.publicJwk] } }, audience: url });
    let gate;
    const url = await listen(t, (u) => {
      gate = new McpGate({ resource: u, verifier: verifierFor(u), issuer: ISS });
      return serve(gate, seen);
    });
    const token = mint(url);
    const client = await connect(t, url, bearer(token));

    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((tool) => tool.name).sort(), ["delete_repo", "search"]);
    const result = await client.callTool({ name: "search", arguments: { q: "flaky test" } });
    assert.equal(result.content[0].text, "results for flaky test");
    assert.deepEqual(seen, [{ tool: "search", task: "triage-17/search", clientId: "agent:repo-bot" }]);

    // Not granted: 403 insufficient_scope before the handler runs.
    await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }),
      refusedWith(403, /insufficient_scope|does not grant tools\/call of \\?"delete_repo/));
    const prompt = await client.getPrompt({ name: "summary" });
    assert.equal(prompt.messages[0].content.text, "summarize");
    assert.equal(seen.some((s) => s.tool === "delete_repo"), false, "the refused tool never ran");

    // A token for another MCP server (RFC 8707: the audience is the resource) is refused.
    const other = await connect(t, url, bearer(mint("https://other.example/mcp")))
      .catch((e) => e);
    assert.ok(refusedWith(401, /wrong_audience|audience/)(other), String(other));
    // No token at all: 401, discovery by resource_metadata.
    const none = await connect(t, url, {}).catch((e) => e);
    assert.ok(refusedWith(401, /no task token/)(none), String(none));
  });
}

test("the raw HTTP answers the SDK client gets: 403 challenge names scope and resource_metadata", async (t) => {
  let gate;
  const url = await listen(t, (u) => {
    gate = new McpGate({ resource: u, verifier: new Verifier({ issuers: { [ISS]: { keys: [keys.publicJwk] } }, audience: u }), issuer: ISS });
    return nodeServer(gate, []);
  });
  const token = mint(url);
  const post = (message, headers = { authorization: `Bearer ${token}` }) => fetch(url, {
    method: "POST", body: JSON.stringify(message),
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
  });
  const denied = await post({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "delete_repo", arguments: {} } });
  assert.equal(denied.status, 403);
  const challenge = denied.headers.get("www-authenticate");
  assert.match(challenge, /^Bearer /);
  assert.match(challenge, /error="insufficient_scope"/);
  assert.match(challenge, /scope="tools:call"/);
  assert.ok(challenge.includes(`resource_metadata="${gate.metadataUrl}"`));
  const body = await denied.json();
  assert.equal(body.jsonrpc, "2.0");
  assert.equal(body.id, 7);
  assert.equal(body.error.data.error, "insufficient_scope");
  assert.equal(JSON.stringify(body).includes(token), false);

  const missing = await post({ jsonrpc: "2.0", id: 1, method: "tools/list" }, {});
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get("www-authenticate"), `Bearer resource_metadata="${gate.metadataUrl}"`);
  const metadata = await fetch(gate.metadataUrl);
  assert.equal(metadata.status, 200);
  assert.deepEqual((await metadata.json()).resource, url);
});

test("a DPoP-bound token: refused as Bearer, accepted with dpopFetch's proofs on every request", async (t) => {
  const seen = [];
  let gate;
  const url = await listen(t, (u) => {
    gate = new McpGate({ resource: u, verifier: new Verifier({ issuers: { [ISS]: { keys: [keys.publicJwk] } }, audience: u }), issuer: ISS });
    return nodeServer(gate, seen);
  });
  const proofKey = generateProofKey({ alg: "ES256" });
  const token = mint(url, { cnfJkt: proofKey.jkt });
  const copied = await connect(t, url, bearer(token)).catch((e) => e);
  assert.ok(refusedWith(401, /binding_required|bound/)(copied), String(copied));

  const client = await connect(t, url, { fetch: dpopFetch({ key: proofKey.privateJwk, token }) });
  const result = await client.callTool({ name: "search", arguments: { q: "x" } });
  assert.equal(result.content[0].text, "results for x");
  await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }), refusedWith(403, /insufficient_scope|does not grant/));
  // A proof of another key does not make it: the token stays bound to its own.
  const thief = generateProofKey({ alg: "EdDSA" });
  const stolen = await connect(t, url, { fetch: dpopFetch({ key: thief.privateJwk, token }) }).catch((e) => e);
  assert.ok(refusedWith(401, /binding_mismatch|key/)(stolen), String(stolen));
});

test("revocation: the gate's verifier follows a replica; the next call after a revocation is refused", async (t) => {
  let jtis = [];
  let serial = Math.floor(Date.now() / 1000) * 2 ** 10;
  // The authority's publication, as a loader: a fresh signed snapshot of what is revoked now.
  const replica = new RevocationReplica({
    keys: { keys: [keys.publicJwk] }, issuer: ISS,
    loader: async () => {
      const now = Math.floor(Date.now() / 1000);
      return signRevocationSnapshot(keys.privateJwk, { issuer: ISS, jtis, serial: ++serial, issuedAt: now, nextUpdate: now + 300 });
    },
  });
  await replica.refresh();
  const url = await listen(t, (u) => nodeServer(new McpGate({ resource: u, issuer: ISS,
    verifier: new Verifier({ issuers: { [ISS]: { keys: [keys.publicJwk] } }, audience: u, revocation: replica }) }), []));
  const token = mint(url);
  const client = await connect(t, url, bearer(token));
  assert.equal((await client.callTool({ name: "search", arguments: { q: "a" } })).content[0].text, "results for a");
  jtis = [JSON.parse(Buffer.from(token.split(".")[1], "base64url")).jti];
  await replica.refresh();
  await assert.rejects(client.callTool({ name: "search", arguments: { q: "b" } }), refusedWith(401, /revoked/));
});

test("the SDK's requireBearerAuth with the gate as its verifier: 401 invalid_token, then the gate's per-call check", async (t) => {
  const seen = [];
  let gate;
  const url = await listen(t, (u) => {
    gate = new McpGate({ resource: u, verifier: new Verifier({ issuers: { [ISS]: { keys: [keys.publicJwk] } }, audience: u }), issuer: ISS });
    const app = express();
    app.use(express.json());
    app.get(gate.metadataPath, gate.node);
    app.post("/mcp", requireBearerAuth({ verifier: gate, resourceMetadataUrl: gate.metadataUrl, expectedResource: new URL(u) }),
      gate.node, async (req, res) => {
        assert.equal(req.auth.extra.task, "triage-17/search");
        const server = buildServer(seen);
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        res.on("close", () => { transport.close(); server.close(); });
        await server.connect(transport);
        await transport.handleRequest(req, res, req.body);
      });
    return app;
  });
  const token = mint(url);
  const client = await connect(t, url, bearer(token));
  assert.equal((await client.callTool({ name: "search", arguments: { q: "y" } })).content[0].text, "results for y");
  await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }), refusedWith(403, /insufficient_scope|does not grant/));

  // A forged token: the SDK's middleware answers 401 invalid_token from our InvalidTokenError.
  const forged = `${token.slice(0, -4)}AAAA`;
  const res = await fetch(url, { method: "POST", headers: { authorization: `Bearer ${forged}`, "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) });
  assert.equal(res.status, 401);
  const challenge = res.headers.get("www-authenticate");
  assert.match(challenge, /^Bearer error="invalid_token", error_description="bad_signature: /);
  assert.ok(challenge.includes(`resource_metadata="${gate.metadataUrl}"`));
  assert.equal((await res.json()).error, "invalid_token");
  // A bound token as Bearer is no bearer token.
  const bound = mint(url, { cnfJkt: generateProofKey().jkt });
  await assert.rejects(gate.verifyAccessToken(bound), (e) => e.constructor.name === "InvalidTokenError" && e.code === "binding_required");
  const info = await gate.verifyAccessToken(token);
  assert.equal(info.clientId, "agent:repo-bot");
  assert.equal(info.resource.href, url);
  assert.deepEqual(info.scopes, ["tools:call", "prompts:get"]);
});

test("sessions: a stateful SDK server; a second agent with its own valid token cannot use the first's session id", async (t) => {
  const seen = [];
  const transports = new Map();
  let gate;
  const url = await listen(t, (u) => {
    gate = new McpGate({ resource: u, verifier: new Verifier({ issuers: { [ISS]: { keys: [keys.publicJwk] } }, audience: u }), issuer: ISS });
    return async (req, res) => {
      if (await gate.node(req, res) === null) return;
      const id = req.headers["mcp-session-id"];
      let transport = id === undefined ? undefined : transports.get(id);
      if (transport === undefined) {
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          onsessioninitialized: (sid) => transports.set(sid, transport),
        });
        await buildServer(seen).connect(transport);
      }
      await transport.handleRequest(req, res, req.body);
    };
  });
  const victim = new StreamableHTTPClientTransport(new URL(url), bearer(mint(url)));
  const client = new Client({ name: "victim", version: "1.0.0" });
  await client.connect(victim);
  t.after(() => client.close());
  const sessionId = victim.sessionId;
  assert.equal(typeof sessionId, "string");
  assert.equal((await client.callTool({ name: "search", arguments: { q: "a" } })).content[0].text, "results for a");

  // The thief: a valid token for this server (another sub), and the victim's session id.
  const thief = issuer.mint({ sub: "agent:thief", aud: url, task: "t", scope: "tools:call", res: ["tools/search"], ttl: 120 });
  const headers = { authorization: `Bearer ${thief}`, "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18",
    "content-type": "application/json", accept: "application/json, text/event-stream" };
  const post = await fetch(url, { method: "POST", headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "search", arguments: { q: "stolen" } } }) });
  assert.equal(post.status, 404);
  assert.equal((await post.json()).error.message, "Session not found");
  const get = await fetch(url, { method: "GET", headers: { ...headers, accept: "text/event-stream" } });
  assert.equal(get.status, 404);
  await get.body?.cancel();
  const del = await fetch(url, { method: "DELETE", headers });
  assert.equal(del.status, 404);
  assert.equal(seen.some((s) => s.tool === "search" && s.clientId !== "agent:repo-bot"), false);

  // The victim's session still works, also with a fresh token of the same sub, and ends.
  assert.equal((await client.callTool({ name: "search", arguments: { q: "b" } })).content[0].text, "results for b");
  const list = (id) => fetch(url, { method: "POST", headers: { ...headers, authorization: `Bearer ${mint(url)}` },
    body: JSON.stringify({ jsonrpc: "2.0", id, method: "tools/list" }) });
  const fresh = await list(10);
  assert.equal(fresh.status, 200);
  await fresh.text();
  await victim.terminateSession();
  assert.equal((await list(11)).status, 404);
  assert.deepEqual(seen.map((s) => s.clientId), ["agent:repo-bot", "agent:repo-bot"]);
});
