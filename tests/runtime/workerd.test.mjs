// The package in real workerd: `wrangler dev` (local mode, no account, no network) bundles
// a Worker that imports "tasktoken" and "tasktoken/verify" and runs the shared vector suite; we read its verdicts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startWrangler } from "./wrangler.js";

test("the shared vectors pass inside workerd, and minting and the guard work there", async (t) => {
  const dev = await startWrangler(new URL("./workerd/wrangler.toml", import.meta.url), {
    readyPath: "/ready",
  });
  t.after(() => dev.stop());
  const res = await fetch(new URL("/vectors", dev.url));
  assert.equal(res.status, 200, await res.clone().text());
  const result = await res.json();
  assert.equal(result.runtime, "Cloudflare-Workers");
  assert.ok(result.tokenCases > 150);
  assert.deepEqual(result.tokens, []);
  assert.deepEqual(result.verifyOnlyTokens, []);
  assert.equal(result.verifyOnlyMints, false);
  assert.deepEqual(result.keys.failures, []);
  assert.equal(result.mintedAndGated, true);
  assert.equal(result.deniedStatus, 403);
});
