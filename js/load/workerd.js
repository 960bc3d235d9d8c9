// Cloudflare Workers (workerd), `tasktoken`: the verify module (./workerd-verify.js) and the
// mint module, each bundled by wrangler as a compiled WebAssembly.Module.
import "./workerd-verify.js";
import module from "../wasm/mint/tasktoken_bg.wasm";
import * as core from "../wasm/mint/tasktoken.js";
import { startSync } from "../src/init.js";

startSync(core, module);

export * from "../src/index.js";
