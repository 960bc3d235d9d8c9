// Size and start-up of the wasm core, for docs/wasm.md: raw, gzip and brotli bytes of the
// .wasm (and the JS it needs), the median time of a cold `import "tasktoken"` in a fresh
// Node process, and of compiling + instantiating the module alone.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { gzipSync, brotliCompressSync } from "node:zlib";

const file = (p) => readFileSync(new URL(p, import.meta.url));
const wasm = file("../wasm/tasktoken_bg.wasm");
const js = ["../wasm/tasktoken.js", "../src/index.js", "../src/guard.js", "../src/errors.js",
  "../src/init.js", "../load/web.js"].map((p) => file(p));
const jsBytes = Buffer.concat(js);
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const cold = [];
for (let i = 0; i < 15; i++) {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e",
    `const t = performance.now(); await import("tasktoken"); console.log(performance.now() - t);`],
    { cwd: new URL("..", import.meta.url), encoding: "utf8" });
  cold.push(Number(out.trim()));
}
// Compile + instantiate alone (wasm-bindgen's initSync on the bytes), in fresh processes.
const instantiate = [];
for (let i = 0; i < 15; i++) {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e",
    `import { readFileSync } from "node:fs";
     import { initSync } from "./wasm/tasktoken.js";
     const bytes = readFileSync("./wasm/tasktoken_bg.wasm");
     const t = performance.now(); initSync({ module: bytes }); console.log(performance.now() - t);`],
    { cwd: new URL("..", import.meta.url), encoding: "utf8" });
  instantiate.push(Number(out.trim()));
}
const result = {
  wasmRaw: wasm.length,
  wasmGzip: gzipSync(wasm, { level: 9 }).length,
  wasmBrotli: brotliCompressSync(wasm).length,
  jsRaw: jsBytes.length,
  jsGzip: gzipSync(jsBytes, { level: 9 }).length,
  coldImportMsMedian: Number(median(cold).toFixed(2)),
  instantiateMsMedian: Number(median(instantiate).toFixed(2)),
  node: process.version,
};
console.log(JSON.stringify(result, null, 2));
