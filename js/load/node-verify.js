// Node 20+, `tasktoken/verify`: the verify module is read from the package next to this file
// and instantiated before the first import returns, so no init call is needed.
import { readFileSync } from "node:fs";
import * as core from "../wasm/verify/tasktoken.js";
import { startSync } from "../src/init.js";

startSync(core, readFileSync(new URL("../wasm/verify/tasktoken_bg.wasm", import.meta.url)));

export * from "../src/verify.js";
