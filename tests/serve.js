// `tasktoken serve` as the tests run it: started on a config file, its public URL read from
// the first stdout line (`{"listening": …}`), every later line kept as an audit event.
import { spawn } from "node:child_process";

/**
 * Starts `bin serve --config <config> --listen <listen>`; resolves once it listens.
 * `audit()`: the audit lines so far (JSON objects); `stop()`: SIGTERM, then its exit code.
 * A service that exits before listening rejects, with its stderr.
 */
export async function startServe(bin, config, listen = "127.0.0.1:0") {
  const child = spawn(bin, ["serve", "--config", config, "--listen", listen],
    { stdio: ["ignore", "pipe", "pipe"] });
  const lines = [];
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
    process.stderr.write(d);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = await new Promise((resolve, reject) => {
    let text = "";
    child.stdout.on("data", (data) => {
      text += data;
      const parts = text.split("\n");
      text = parts.pop();
      for (const line of parts) {
        const value = JSON.parse(line);
        if (value.listening) resolve(value.listening);
        else lines.push(value);
      }
    });
    child.once("exit", (code) => reject(new Error(`tasktoken serve exited ${code}: ${stderr}`)));
  });
  return {
    url,
    audit: () => lines,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
