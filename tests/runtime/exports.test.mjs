// Signed export links in real headless Chromium: the demo page loads the wasm, checks every
// link locally (states and countdown), downloads through a valid link once, and the second
// download is refused. Saves a screenshot and the page's bundle figures as artifacts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.js";
import { startExportsServer } from "../demo/exports-server.mjs";

const root = fileURLToPath(new URL("../../", import.meta.url));
const artifacts = new URL("../../target/artifacts/", import.meta.url);

test("export links in Chromium: states, countdown, one download, then refused", async (t) => {
  const server = await startExportsServer();
  t.after(() => server.close());
  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, acceptDownloads: true });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const loaded = [];
  page.on("response", (r) => loaded.push(new URL(r.url()).pathname));

  await page.goto(`${server.url}/`);
  await page.waitForFunction(() => window.firstCheckMs !== undefined, null, { timeout: 30_000 });
  const firstCheckMs = await page.evaluate(() => window.firstCheckMs);
  const states = await page.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll(".link")].map((l) => [l.dataset.kind, l.dataset.state])));
  assert.deepEqual(states, {
    fresh: "valid", expiring: "valid", expired: "expired", tampered: "invalid",
    revoked: "revoked", "wrong-resource": "wrong_resource", scheduled: "not_yet_valid",
  });
  assert.deepEqual(errors, []);

  // The countdown runs on local checks only: no request while it ticks.
  const timeOf = () => page.$eval('[data-kind="expiring"] .time', (e) => e.textContent);
  const before = await timeOf();
  const requestsBefore = loaded.length;
  await page.waitForTimeout(2100);
  assert.notEqual(await timeOf(), before, "the countdown moves");
  assert.match(await timeOf(), /^0:\d\d left$/);
  assert.equal(loaded.length, requestsBefore, "no network call for the checks");

  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: fileURLToPath(new URL("exports-page.png", artifacts)), fullPage: true });

  // One download through the valid link…
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click('[data-kind="fresh"] button'),
  ]);
  assert.equal(download.suggestedFilename(), "dataset-1234.csv");
  const content = readFileSync(await download.path(), "utf8");
  assert.match(content, /^region,revenue\n/);
  await page.waitForFunction(() =>
    document.querySelector('[data-kind="fresh"]').dataset.state === "revoked");
  assert.match(await page.textContent("#status"), /Downloaded dataset-1234\.csv/);

  // …and the second is refused by the server.
  const refused = await page.evaluate(async () => {
    const { fetchLink } = await import("tasktoken/verify");
    const r = await fetchLink(window.lastDownloadedLink);
    return { status: r.status, body: await r.json() };
  });
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error, "revoked");

  // Bundle figures: what the page loads (JS + wasm), gzip, and navigation → first check.
  const files = [...new Set(loaded)].filter((p) => p.endsWith(".js") || p.endsWith(".wasm"));
  const bytes = (p) => readFileSync(root + p.slice(1));
  const js = files.filter((p) => p.endsWith(".js")).map(bytes);
  const wasm = files.filter((p) => p.endsWith(".wasm")).map(bytes);
  const sum = (xs) => xs.reduce((a, b) => a + b.length, 0);
  const gz = (xs) => xs.reduce((a, b) => a + gzipSync(b, { level: 9 }).length, 0);
  const figures = {
    files: files.length, jsRaw: sum(js), jsGzip: gz(js), wasmRaw: sum(wasm), wasmGzip: gz(wasm),
    navigationToFirstCheckedLinkMs: Math.round(firstCheckMs),
  };
  writeFileSync(new URL("exports-bundle.json", artifacts), JSON.stringify(figures, null, 2));
  t.diagnostic(`page loads ${figures.files} JS/wasm files: JS ${figures.jsGzip} B gzip, ` +
    `wasm ${figures.wasmGzip} B gzip; navigation → first checked link ${figures.navigationToFirstCheckedLinkMs} ms`);
});
