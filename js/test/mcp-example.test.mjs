// examples/mcp-server.mjs runs as documented: a stand-in token service (its JWKS and
// revocation data, as `tasktoken serve` publishes them), the example as a child process, and
// the MCP SDK's client with task tokens: the granted tool, a refused one, a revoked token.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Issuer, generateKey, signRevocationSnapshot } from "tasktoken";

const ISS = "https://auth.example";
const keys = generateKey({ kid: "example-1" });
const issuer = new Issuer({ iss: ISS, key: keys.privateJwk });

async function listen(server, port = 0) {
  await new Promise((ok) => server.listen(port, "127.0.0.1", ok));
  return server.address().port;
}

test("examples/mcp-server.mjs: ten lines gate an existing MCP server", async (t) => {
  const revoked = [];
  let serial = Math.floor(Date.now() / 1000) * 2 ** 10;
  const authority = createServer((req, res) => {
    if (req.url === "/.well-known/jwks.json") return res.end(JSON.stringify({ keys: [keys.publicJwk] }));
    if (req.url === "/revocation/snapshot") {
      const now = Math.floor(Date.now() / 1000);
      return res.end(signRevocationSnapshot(keys.privateJwk, { issuer: ISS, jtis: revoked, serial: ++serial, issuedAt: now, nextUpdate: now + 300 }));
    }
    res.writeHead(req.url.startsWith("/revocation/delta/") ? 410 : 404).end();
  });
  const servicePort = await listen(authority);
  t.after(() => authority.close());

  const probe = createServer();
  const port = await listen(probe);
  await new Promise((ok) => probe.close(ok));
  const child = spawn(process.execPath, [new URL("../examples/mcp-server.mjs", import.meta.url).pathname], {
    env: { ...process.env, PORT: String(port), TOKEN_SERVICE_URL: `http://127.0.0.1:${servicePort}`, ISSUER: ISS },
    stdio: ["ignore", "pipe", "inherit"],
  });
  t.after(() => child.kill());
  const resource = await new Promise((ok, fail) => {
    let text = "";
    child.stdout.on("data", (d) => {
      text += d;
      if (text.includes("\n")) ok(JSON.parse(text.split("\n")[0]).listening);
    });
    child.on("exit", (code) => fail(new Error(`the example exited ${code}`)));
  });
  assert.equal(resource, `http://127.0.0.1:${port}/mcp`);

  const token = issuer.mint({ sub: "agent:triage", aud: resource, task: "triage-42", scope: "tools:call",
    res: ["tools/search_issues"], ttl: 120 });
  const client = new Client({ name: "agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  t.after(() => client.close());
  const result = await client.callTool({ name: "search_issues", arguments: { q: "flaky" } });
  assert.equal(result.content[0].text, '3 issues match "flaky" (task triage-42)');
  await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }),
    (e) => e instanceof StreamableHTTPError && e.code === 403 && /insufficient_scope/.test(e.message));

  const bare = await fetch(resource, { method: "POST", body: "{}" });
  assert.equal(bare.status, 401);
  assert.equal(bare.headers.get("www-authenticate"), `Bearer resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp"`);

  // Revoked at the authority: the example's gate (start(): refreshed every 5 s) refuses it.
  revoked.push(JSON.parse(Buffer.from(token.split(".")[1], "base64url")).jti);
  const deadline = Date.now() + 12_000;
  for (;;) {
    const refused = await client.callTool({ name: "search_issues", arguments: { q: "again" } }).then(() => null, (e) => e);
    if (refused !== null) {
      assert.ok(refused instanceof StreamableHTTPError && refused.code === 401 && /revoked/.test(refused.message), String(refused));
      break;
    }
    assert.ok(Date.now() < deadline, "the revoked token is refused within 12 s");
    await new Promise((ok) => setTimeout(ok, 250));
  }
});
