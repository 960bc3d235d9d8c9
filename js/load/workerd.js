// Cloudflare Workers (workerd): wrangler bundles the .wasm as a compiled WebAssembly.Module,
// which is instantiated synchronously at import (Workers have no instantiateStreaming).
import module from "../wasm/tasktoken_bg.wasm";
import { startSync } from "../src/init.js";

startSync(module);

export * from "../src/index.js";
