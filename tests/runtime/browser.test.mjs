// The package in real headless Chromium, as plain ESM with an import map (the `browser`
// entry, top-level await instantiation): the shared vector suite runs in the page.
import { test } from "node:test";
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.js";
import { serveStatic } from "./static-server.js";

const root = fileURLToPath(new URL("../../", import.meta.url));

test("the shared vectors pass in Chromium, and minting works there", async (t) => {
  const server = await serveStatic(root, ["js", "tests"]);
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${server.url}/tests/runtime/browser/index.html`);
  await page.waitForFunction(() => window.result !== undefined, null, { timeout: 30_000 });
  const result = await page.evaluate(() => window.result);
  assert.deepEqual(errors, []);
  assert.ok(result.tokenCases > 150);
  assert.deepEqual(result.tokens, []);
  assert.deepEqual(result.verifyOnlyTokens, []);
  assert.equal(result.verifyOnlyMints, false);
  assert.deepEqual(result.keys.failures, []);
  assert.equal(result.minted, true);
  t.diagnostic(`import "tasktoken" (fetch + instantiate) took ${result.loadMs.toFixed(1)} ms`);
});
