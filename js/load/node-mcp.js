// Node 20+, `tasktoken/mcp`: the verify module (started by ./node-verify.js) and the gate of
// MCP servers. The MCP SDK is not loaded here (an optional peer).
import "./node-verify.js";

export * from "../src/mcp.js";
