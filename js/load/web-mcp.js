// Browsers and other runtimes, `tasktoken/mcp`: the verify module (./web-verify.js, fetched
// and instantiated with a top-level await) and the gate of MCP servers.
import "./web-verify.js";

export * from "../src/mcp.js";
