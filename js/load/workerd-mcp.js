// Cloudflare Workers (workerd), `tasktoken/mcp`: the verify module (./workerd-verify.js,
// bundled by wrangler as a compiled WebAssembly.Module) and the gate of MCP servers.
import "./workerd-verify.js";

export * from "../src/mcp.js";
