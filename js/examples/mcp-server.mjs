// An MCP server whose every tool call needs a task token. The lines marked `tasktoken` are
// all it takes to gate an existing server: tool NAME needs `tools:call` on `tools/NAME` in
// the token, prompt NAME `prompts:get` on `prompts/NAME` (docs/mcp.md).
//
//   RESOURCE=https://mcp.example/mcp TOKEN_SERVICE_URL=https://auth.example ISSUER=https://auth.example \
//   PORT=3000 node examples/mcp-server.mjs
import http from "node:http";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";
import { McpGate } from "tasktoken/mcp"; // tasktoken

/** Your MCP server, unchanged. */
function buildServer() {
  const server = new McpServer({ name: "repo-tools", version: "1.0.0" });
  server.registerTool("search_issues", { description: "Search issues", inputSchema: { q: z.string() } },
    async ({ q }, extra) => ({
      // extra.authInfo: the task token's identity (clientId = sub), scopes and task.
      content: [{ type: "text", text: `3 issues match "${q}" (task ${extra.authInfo?.extra.task})` }],
    }));
  server.registerTool("delete_repo", { description: "Delete the repository" },
    async () => ({ content: [{ type: "text", text: "deleted" }] }));
  return server;
}

const { PORT = "3000", TOKEN_SERVICE_URL, ISSUER } = process.env;
const RESOURCE = process.env.RESOURCE ?? `http://127.0.0.1:${PORT}/mcp`; // the tokens' `aud`

const gate = new McpGate({ resource: RESOURCE, service: TOKEN_SERVICE_URL, issuer: ISSUER }); // tasktoken
await gate.ready(); // tasktoken: the service's keys and revocation data
gate.start(); // tasktoken: kept fresh in the background

http.createServer(async (req, res) => {
  if (await gate.node(req, res) === null) return; // tasktoken: the metadata, 401, 403 answered
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on("close", () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body); // the body the gate checked
}).listen(Number(PORT), "127.0.0.1", () => console.log(JSON.stringify({ listening: RESOURCE })));
