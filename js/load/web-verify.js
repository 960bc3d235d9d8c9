// Browsers, plain ESM or through a bundler, `tasktoken/verify`: the verify module is fetched
// next to this file and instantiated with a top-level await, so `import` resolves once the
// core is ready. `ready()` is exported too, for code that wants to await it explicitly.
import * as core from "../wasm/verify/tasktoken.js";
import { start } from "../src/init.js";

await start(core, new URL("../wasm/verify/tasktoken_bg.wasm", import.meta.url));

export * from "../src/verify.js";
