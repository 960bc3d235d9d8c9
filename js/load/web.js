// Browsers, plain ESM or through a bundler: the .wasm is fetched next to this file and
// instantiated with a top-level await, so `import` resolves once the core is ready.
// `ready()` is exported too, for code that wants to await it explicitly.
import { start } from "../src/init.js";

await start(new URL("../wasm/tasktoken_bg.wasm", import.meta.url));

export * from "../src/index.js";
