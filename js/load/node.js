// Node 20+, `tasktoken`: the verify module (started by ./node-verify.js) and the mint module,
// both instantiated before the first import returns.
import "./node-verify.js";
import { readFileSync } from "node:fs";
import * as core from "../wasm/mint/tasktoken.js";
import { startSync } from "../src/init.js";

startSync(core, readFileSync(new URL("../wasm/mint/tasktoken_bg.wasm", import.meta.url)));

export * from "../src/index.js";
