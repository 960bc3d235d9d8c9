// Browsers, plain ESM or through a bundler, `tasktoken`: the verify module
// (./web-verify.js), then the mint module, each fetched next to this file and instantiated
// with a top-level await.
import "./web-verify.js";
import * as core from "../wasm/mint/tasktoken.js";
import { start } from "../src/init.js";

await start(core, new URL("../wasm/mint/tasktoken_bg.wasm", import.meta.url));

export * from "../src/index.js";
