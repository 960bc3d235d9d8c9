// tasktoken/mcp where the MCP SDK runs on Cloudflare Workers: a Worker (mcp-worker/) with the
// SDK's McpServer and web-standard Streamable HTTP transport behind the gate, bundled by
// wrangler and run in real workerd (`wrangler dev`, local, offline), following the real token
// service; the SDK's client in Node calls it with a task token from `exchangeToken`. And a
// Worker without the SDK installed: the packed package's `tasktoken/mcp` bundles and runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport, StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { completeTask, exchangeToken } from "tasktoken";
import { startWrangler } from "../runtime/wrangler.js";
import { ISSUER, freePort, oidc, service } from "./mcp-harness.js";

const refused = (status, pattern) => (e) =>
  e instanceof StreamableHTTPError && e.code === status && pattern.test(e.message);

test("an MCP server on workerd: tools listed, the granted one called, 403 for the other, refused after completeTask", async (t) => {
  const provider = await oidc();
  t.after(() => provider.close());
  // The Worker's canonical URI is the tokens' audience, so its port is chosen first.
  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const svc = await service(provider.url, resource);
  t.after(() => svc.stop());
  const worker = await startWrangler(new URL("./mcp-worker/wrangler.toml", import.meta.url), {
    port, vars: { TOKEN_SERVICE_URL: svc.url, ISSUER, RESOURCE: resource },
    readyPath: "/.well-known/oauth-protected-resource/mcp",
  });
  t.after(() => worker.stop());

  // Discovery, from workerd.
  const metadata = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`);
  assert.equal(metadata.status, 200);
  assert.deepEqual((await metadata.json()).authorization_servers, [ISSUER]);
  const bare = await fetch(resource, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(bare.status, 401);
  assert.equal(bare.headers.get("www-authenticate"),
    `Bearer resource_metadata="http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp"`);

  const granted = await exchangeToken({
    service: svc.url, subjectToken: await provider.token(), audience: resource,
    scope: "tools:call", res: ["tools/search"], task: "triage-8812/edge", ttl: 120,
  });
  const client = new Client({ name: "edge-agent", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(resource),
    { requestInit: { headers: { authorization: `Bearer ${granted.token}` } } }));
  t.after(() => client.close().catch(() => {}));
  const { tools } = await client.listTools();
  assert.deepEqual(tools.map((tool) => tool.name).sort(), ["delete_repo", "search"]);
  const result = await client.callTool({ name: "search", arguments: { q: "flaky" } });
  assert.equal(result.content[0].text, "edge: 3 issues match flaky for triage-8812/edge");
  await assert.rejects(client.callTool({ name: "delete_repo", arguments: {} }), refused(403, /insufficient_scope/));

  await completeTask(granted.token, `${svc.url}/revocation/revoke`);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.callTool({ name: "search", arguments: { q: "again" } });
    } catch (e) {
      assert.ok(refused(401, /revoked/)(e), String(e));
      break;
    }
    assert.ok(Date.now() < deadline, "the completed task is refused within 10 s");
    await new Promise((ok) => setTimeout(ok, 300));
  }
});

test("without the SDK installed, a Worker importing tasktoken/mcp bundles and runs (the SDK is an optional peer)", async (t) => {
  // The package as npm installs it (no devDependencies), in a project that has no SDK.
  const dir = mkdtempSync(join(tmpdir(), "tasktoken-mcp-nosdk-"));
  const js = fileURLToPath(new URL("../../js/", import.meta.url));
  const tarball = execFileSync("npm", ["pack", "--silent", "--pack-destination", dir], { cwd: js, encoding: "utf8" }).trim().split("\n").pop();
  mkdirSync(join(dir, "node_modules", "tasktoken"), { recursive: true });
  execFileSync("tar", ["xzf", join(dir, tarball), "-C", join(dir, "node_modules", "tasktoken"), "--strip-components=1"]);
  writeFileSync(join(dir, "worker.js"), `
    import { McpGate } from "tasktoken/mcp";
    let gate;
    export default {
      async fetch(request, env) {
        gate ??= new McpGate({ resource: env.RESOURCE, service: env.TOKEN_SERVICE_URL, issuer: "https://auth.test" });
        const checked = await gate.check(request);
        if (!checked.ok) return checked.response;
        return new Response("never: no keys, no token");
      },
    };`);
  writeFileSync(join(dir, "wrangler.toml"), 'name = "nosdk"\nmain = "worker.js"\ncompatibility_date = "2026-04-01"\n');
  const wrangler = fileURLToPath(new URL("../node_modules/.bin/wrangler", import.meta.url));
  execFileSync(wrangler, ["deploy", "--dry-run", "--outdir", "out"], { cwd: dir, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" }, stdio: "pipe" });
  const bundle = readFileSync(join(dir, "out", "worker.js"), "utf8");
  assert.equal(bundle.includes("McpServer"), false, "no SDK code bundled");

  const port = await freePort();
  const resource = `http://127.0.0.1:${port}/mcp`;
  const worker = await startWrangler(pathToFileURL(join(dir, "wrangler.toml")), {
    port, vars: { RESOURCE: resource, TOKEN_SERVICE_URL: "http://127.0.0.1:9" },
    readyPath: "/.well-known/oauth-protected-resource/mcp",
  });
  t.after(() => worker.stop());
  const metadata = await fetch(`http://127.0.0.1:${port}/.well-known/oauth-protected-resource/mcp`);
  assert.equal((await metadata.json()).resource, resource);
  const bare = await fetch(resource, { method: "POST", body: "{}" });
  assert.equal(bare.status, 401);
  // A token that does not verify (and no keys: the service is unreachable): refused.
  const unknown = await fetch(resource, { method: "POST", headers: { authorization: "Bearer a.b.c" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) });
  assert.equal(unknown.status, 401);
});
