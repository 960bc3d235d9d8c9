// An MCP server on Cloudflare Workers gated by task tokens: the gate follows the token
// service (TOKEN_SERVICE_URL: its keys and revocation data, refreshed as requests come, since
// a Worker has no timers), checks every request, and hands the transport the AuthInfo and the
// parsed body. The SDK's default JSON Schema validator (ajv) compiles code at run time, which
// workerd forbids: the Cloudflare one is passed instead.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { CfWorkerJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/cfworker";
import { McpGate } from "tasktoken/mcp";
import { z } from "zod";

let gate;

function buildServer() {
  const server = new McpServer({ name: "edge-tools", version: "1.0.0" },
    { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  server.registerTool("search", { description: "Search issues", inputSchema: { q: z.string() } },
    async ({ q }, extra) => ({
      content: [{ type: "text", text: `edge: 3 issues match ${q} for ${extra.authInfo.extra.task}` }],
    }));
  server.registerTool("delete_repo", { description: "Delete the repository" },
    async () => ({ content: [{ type: "text", text: "deleted" }] }));
  return server;
}

export default {
  async fetch(request, env, ctx) {
    gate ??= new McpGate({
      resource: env.RESOURCE, service: env.TOKEN_SERVICE_URL, issuer: env.ISSUER, revocationInterval: 1,
    });
    const checked = await gate.check(request);
    // A token signed by a key the gate does not know yet started a refresh: let it finish.
    if (gate.pending) ctx.waitUntil(gate.pending);
    if (!checked.ok) return checked.response;
    const server = buildServer();
    const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    await server.connect(transport);
    return transport.handleRequest(request, { authInfo: checked.authInfo, parsedBody: checked.parsedBody });
  },
};
