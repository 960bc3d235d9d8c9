// Cloudflare Workers (workerd), `tasktoken/verify`: wrangler bundles the .wasm as a compiled
// WebAssembly.Module, instantiated synchronously at import (Workers have no
// instantiateStreaming).
import module from "../wasm/verify/tasktoken_bg.wasm";
import * as core from "../wasm/verify/tasktoken.js";
import { startSync } from "../src/init.js";

startSync(core, module);

export * from "../src/verify.js";
