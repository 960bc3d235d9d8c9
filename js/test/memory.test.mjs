// Verifiers built again and again with the same keys share the keys' verification tables
// (225 KiB each) inside the wasm module: JS frees wasm objects only when its garbage
// collector gets round to their finalizers, so per-request verifiers must not cost a table
// set each (that grew the module by 450 KB per verifier here, 284 MB RSS for 500).
import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKey } from "tasktoken";
import { Verifier } from "tasktoken/verify";

test("300 verifiers with the same two keys grow memory by far less than 300 table sets", () => {
  // The wasm instance is internal to the bundle: its growth shows in the process's RSS (a
  // table set per verifier would add about 135 MB here).
  const keys = [generateKey({ kid: "m1" }).publicJwk, generateKey({ kid: "m2" }).publicJwk];
  const config = { issuers: { "https://issuer.example": { keys } }, audience: "api" };
  new Verifier(config); // the first one builds the tables
  const before = process.memoryUsage().rss;
  const alive = [];
  for (let i = 0; i < 300; i++) alive.push(new Verifier(config));
  const grown = process.memoryUsage().rss - before;
  assert.ok(grown < 40 * 2 ** 20, `RSS grew by ${grown} bytes for 300 verifiers`);
});
