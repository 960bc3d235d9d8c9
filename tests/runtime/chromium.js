// Launches Debian's headless Chromium through playwright-core (no browser download), with
// the flags that keep it from dialling out on a closed network.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** A fresh persistent context (its own profile dir); close it when done. */
export function launchChromium() {
  return chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "tasktoken-chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}
