// An AI agent's tool calls through an MCP server gated by task tokens, end to end: a local OIDC
// provider (jose) stands in for the agent's platform, the real token service (`tasktoken
// serve`, the built binary) exchanges its identity token for a task token under a policy
// (`exchangeToken` / `withTask`), and the real MCP SDK on both sides — its Client and
// StreamableHTTPClientTransport against an McpServer behind `tasktoken/mcp` — lists tools,
// calls the granted one, is refused the other (403 insufficient_scope), and is refused once
// the task is complete (the gate follows the service's keys and revocation data).
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { z } from "zod";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { completeTask, dpopFetch, exchangeToken, generateProofKey, withTask } from "tasktoken";
import { McpGate } from "tasktoken/mcp";
import { ISSUER, freePort, oidc, service } from "./mcp-harness.js";

/** The MCP server the agent uses: two tools and a prompt, each handler recording its task. */
function buildServer(ran) {
  const server = new McpServer({ name: "repo-tools", version: "1.0.0" });
  server.registerTool("search", { description: "Search issues", inputSchema: { q: z.string() } }, async ({ q }, extra) => {
    ran.push({ tool: "search", sub: extra.authInfo.clientId, task: extra.authInfo.extra.task });
    return { content: [{ type: "text", text: `3 issues match ${q}` }] };
  });
  server.registerTool("delete_repo", { description: "Delete the repository" }, async () => {
    ran.push({ tool: "delete_repo" });
    return { content: [{ type: "text", text: "deleted" }] };
  });
  server.registerPrompt("summary", { description: "Summarize the triage" }, async () => ({
    messages: [{ role: "user", content: { type: "text", text: "summarize" } }],
  }));
  return server;
}

const refused = (status, pattern) => (e) =>
  e instanceof StreamableHTTPError && e.code === status && pattern.test(e.message);

async function setup(t) {
  const provider = await oidc();
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const svc = await service(provider.url, resource);
  t.after(() => { svc.stop(); provider.close(); });

  // The gate follows the service: its JWKS and its revocation data, nothing configured by hand.
  const gate = new McpGate({ resource, service: svc.url, issuer: ISSUER, revocationInterval: 1 });
  await gate.ready();
  const ran = [];
  const server = http.createServer(async (req, res) => {
    if (await gate.node(req, res) === null) return;
    const mcp = buildServer(ran);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    res.on("close", () => { transport.close(); mcp.close(); });
    await mcp.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  t.after(() => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }));
  const task = { service: svc.url, audience: resource, scope: ["tools:call"], res: ["tools/search"], task: "triage-8812/search" };
  return { provider, svc, gate, resource, ran, task };
}

async function connect(t, resource, options) {
  const client = new Client({ name: "triage-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(resource), options));
  t.after(() => client.close().catch(() => {}));
  return client;
}

test("an agent's task token from tasktoken serve: the granted tool, a refused one, refused after completeTask", async (t) => {
  const { provider, svc, gate, resource, ran, task } = await setup(t);

  // Discovery: no token is 401 naming the metadata, which names the token service.
  const bare = await fetch(resource, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(bare.status, 401);
  assert.equal(bare.headers.get("www-authenticate"), `Bearer resource_metadata="${gate.metadataUrl}"`);
  const metadata = await (await fetch(gate.metadataUrl)).json();
  assert.equal(metadata.resource, resource);
  assert.deepEqual(metadata.authorization_servers, [ISSUER]);

  // The agent exchanges its platform identity for a task token for this server (aud = resource).
  const granted = await exchangeToken({ ...task, subjectToken: await provider.token(), ttl: 120 });
  assert.equal(granted.tokenType, "Bearer");
  const client = await connect(t, resource, { requestInit: { headers: { authorization: `Bearer ${granted.token}` } } });
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((tool) => tool.name).sort(), ["delete_repo", "search"]);
  const result = await client.callTool({ name: "search", arguments: { q: "flaky" } });
  assert.equal(result.content[0].text, "3 issues match flaky");
  assert.deepEqual(ran, [{ tool: "search", sub: "agent:triage:acme/app#8812", task: "triage-8812/search" }]);

  // The other tool is not in the token: 403 insufficient_scope, the handler never runs.
  await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }), refused(403, /insufficient_scope/));
  // Nor is the prompt (the policy would grant it, this task did not ask for it).
  await assert.rejects(client.getPrompt({ name: "summary" }), refused(403, /insufficient_scope/));
  assert.equal(ran.length, 1);

  // The task is complete: revoked at the service, refused at the next call once the gate's
  // replica has the revocation (published within a second here).
  await completeTask(granted.token, `${svc.url}/revocation/revoke`);
  const deadline = Date.now() + 8000;
  for (;;) {
    try {
      await client.callTool({ name: "search", arguments: { q: "again" } });
    } catch (e) {
      assert.ok(refused(401, /revoked/)(e), String(e));
      break;
    }
    assert.ok(Date.now() < deadline, "the completed task is refused within 8 s");
    await new Promise((ok) => setTimeout(ok, 250));
  }
  // A token of the same policy for another server is refused here (its audience).
  await assert.rejects(exchangeToken({ ...task, audience: "http://127.0.0.1:1/mcp", subjectToken: await provider.token() }),
    (e) => e.code === "invalid_target");
});

test("withTask: the SDK client sends the task's fetch; after the task its token is refused by the server", async (t) => {
  const { provider, resource, ran, task } = await setup(t);
  let token;
  const text = await withTask({ ...task, subjectToken: await provider.token(), origins: [new URL(resource).origin] },
    async ({ token: taskToken, fetch }) => {
      token = taskToken;
      const client = new Client({ name: "triage-agent", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(resource), { fetch }));
      try {
        await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }), refused(403, /insufficient_scope/));
        return (await client.callTool({ name: "search", arguments: { q: "x" } })).content[0].text;
      } finally {
        await client.close();
      }
    });
  assert.equal(text, "3 issues match x");
  assert.equal(ran.length, 1);
  // withTask revoked it; a copy of the token is refused once the replica has it.
  const client = await connect(t, resource, { requestInit: { headers: { authorization: `Bearer ${token}` } } }).catch((e) => e);
  const deadline = Date.now() + 8000;
  for (let outcome = client; ; ) {
    if (outcome instanceof Error) {
      assert.ok(refused(401, /revoked/)(outcome), String(outcome));
      break;
    }
    assert.ok(Date.now() < deadline, "the completed task is refused within 8 s");
    await new Promise((ok) => setTimeout(ok, 250));
    outcome = await outcome.listTools().then(() => outcome, (e) => e);
  }
});

test("a DPoP-bound task token from the service: proofs on every request, useless without the key", async (t) => {
  const { provider, resource, task } = await setup(t);
  const { privateJwk } = generateProofKey({ alg: "EdDSA" });
  const granted = await exchangeToken({ ...task, subjectToken: await provider.token(), dpop: { key: privateJwk } });
  assert.equal(granted.tokenType, "DPoP");
  const client = await connect(t, resource, { fetch: dpopFetch({ key: privateJwk, token: granted.token }) });
  assert.equal((await client.callTool({ name: "search", arguments: { q: "y" } })).content[0].text, "3 issues match y");
  await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }), refused(403, /insufficient_scope/));
  // Copied out of a log and sent as Bearer: refused.
  const copied = await connect(t, resource, { requestInit: { headers: { authorization: `Bearer ${granted.token}` } } })
    .catch((e) => e);
  assert.ok(refused(401, /binding_required/)(copied), String(copied));
});
