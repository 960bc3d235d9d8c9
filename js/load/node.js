// Node 20+: the .wasm is read from the package next to this file and instantiated before
// the first import returns, so no init call is needed.
import { readFileSync } from "node:fs";
import { startSync } from "../src/init.js";

startSync(readFileSync(new URL("../wasm/tasktoken_bg.wasm", import.meta.url)));

export * from "../src/index.js";
