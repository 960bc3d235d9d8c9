// Starts `wrangler dev` in local mode on a free port and stops it again. Offline: no
// account, no metrics, no `Request.cf` fetch (see ../../shared/TOOLCHAIN.md).
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const testsDir = dirname(dirname(fileURLToPath(import.meta.url)));
const wranglerBin = join(testsDir, "node_modules", ".bin", "wrangler");

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs `wrangler dev --config <config>` and resolves once it answers HTTP.
 * @returns {Promise<{ url: string, port: number, output: () => string, stop: () => Promise<void> }>}
 */
export async function startWrangler(
  configUrl,
  { vars = {}, timeoutMs = 60_000, extraArgs = [], persistTo, readyPath = "/", logLevel = "warn", port: wanted } = {},
) {
  const config = fileURLToPath(configUrl);
  // `port`: a port chosen by the caller (a Worker whose vars must name its own URL).
  const port = wanted ?? await freePort();
  const inspectorPort = await freePort();
  const args = [
    "dev", "--config", config, "--local", "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(inspectorPort), "--log-level", logLevel, ...extraArgs,
  ];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  if (persistTo) args.push("--persist-to", persistTo);
  const child = spawn(wranglerBin, args, {
    cwd: dirname(config),
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      CI: "true",
      NO_COLOR: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = `http://127.0.0.1:${port}/`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited early:\n${log}`);
    try {
      await fetch(new URL(readyPath, url), { signal: AbortSignal.timeout(2000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        process.kill(-child.pid, "SIGKILL");
        throw new Error(`wrangler dev did not answer within ${timeoutMs} ms:\n${log}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    url,
    port,
    output: () => log,
    async stop() {
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {}
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid, "SIGKILL");
          } catch {}
        }, 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}
