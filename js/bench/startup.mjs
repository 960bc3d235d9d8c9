// Size and start-up of the wasm modules, for docs/wasm.md and docs/performance.md: raw, gzip
// and brotli bytes of each .wasm (and the JS each entry needs), the median time of a cold
// `import "tasktoken"` and `import "tasktoken/verify"` in fresh Node processes, and of
// compiling + instantiating each module alone (wasm-bindgen's initSync on the bytes).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { gzipSync, brotliCompressSync } from "node:zlib";

const pkg = new URL("..", import.meta.url);
const read = (p) => readFileSync(new URL(p, pkg));
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const gz = (b) => gzipSync(b, { level: 9 }).length;
const runs = (script, n = 15) => {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(Number(execFileSync(process.execPath, ["--input-type=module", "-e", script],
      { cwd: pkg, encoding: "utf8" }).trim()));
  }
  return Number(median(out).toFixed(2));
};

const modules = {};
for (const m of ["verify", "mint"]) {
  const wasm = read(`wasm/${m}/tasktoken_bg.wasm`);
  modules[m] = {
    wasmRaw: wasm.length,
    wasmGzip: gz(wasm),
    wasmBrotli: brotliCompressSync(wasm).length,
    instantiateMsMedian: runs(`import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
      import { initSync } from "./wasm/${m}/tasktoken.js";
      const bytes = readFileSync("./wasm/${m}/tasktoken_bg.wasm");
      const t = performance.now(); initSync({ module: bytes }); console.log(performance.now() - t);`),
  };
}
// What a browser loads for each entry: the bundles of dist-web/ (scripts/bundle.mjs).
const bundles = (names) => names.map((n) => `dist-web/${n}`);
const shared = readdirSync(new URL("dist-web/", pkg)).filter((f) => f.startsWith("shared-"));
const verifyJs = bundles(["web-verify.js", ...shared]);
const fullJs = [...verifyJs, ...bundles(["web.js"])];
const entry = (js, wasms, specifier) => ({
  wasmGzip: wasms.reduce((sum, m) => sum + modules[m].wasmGzip, 0),
  jsGzip: gz(Buffer.concat(js.map(read))),
  coldImportMsMedian: runs(`const t = performance.now(); await import("${specifier}");
    console.log(performance.now() - t);`),
});
const result = {
  modules,
  entries: {
    "tasktoken/verify": entry(verifyJs, ["verify"], "tasktoken/verify"),
    tasktoken: entry(fullJs, ["verify", "mint"], "tasktoken"),
  },
  node: process.version,
};
console.log(JSON.stringify(result, null, 2));

// Also into target/bench/results.json (written by bench/verify.mjs), as scenario
// "wasm instantiate" → module → median ms, so `make bench` leaves one file to track.
const out = new URL("../../target/bench/", import.meta.url);
const file = new URL("results.json", out);
mkdirSync(out, { recursive: true });
const all = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : { results: {} };
all.results["wasm instantiate (ms)"] = Object.fromEntries(
  Object.entries(modules).map(([m, { instantiateMsMedian }]) => [m, instantiateMsMedian]));
all.results["cold import (ms)"] = Object.fromEntries(
  Object.entries(result.entries).map(([e, { coldImportMsMedian }]) => [e, coldImportMsMedian]));
all.sizes = result;
writeFileSync(file, JSON.stringify(all, null, 2));
