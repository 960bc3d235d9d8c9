// Starts the gateway (the top-level wrangler.toml) in real workerd through `wrangler dev`,
// with a local origin, fresh keys and its own persisted state; shared by tests and demo.
import { execFileSync } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateKey } from "tasktoken";
import { startWrangler } from "../runtime/wrangler.js";

export const CONFIG = new URL("../../wrangler.toml", import.meta.url);
export const ISSUER = "https://auth.example";
export const AUDIENCE = "crm-api";
const WRANGLER = new URL("../node_modules/.bin/wrangler", import.meta.url).pathname;

/**
 * A tiny origin that answers with what it received and remembers every request. It decodes
 * the gateway's `x-tasktoken-*` headers (percent-encoded UTF-8, docs/gateway.md).
 */
export async function startOrigin() {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push({ method: req.method, path: req.url, headers: req.headers });
    const claim = (name) => {
      const value = req.headers[`x-tasktoken-${name}`];
      return value === undefined ? undefined : decodeURIComponent(value);
    };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({
      origin: "crm", method: req.method, path: req.url,
      sub: claim("sub"), task: claim("task"), jti: claim("jti"),
      authorization: req.headers.authorization ?? null,
    }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    seen,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * Two issuer keys (rotation: both valid), and the authority's key, which signs revocation
 * data only: it is not in the token JWKS (`jwks`) but in `revocationJwks`.
 */
export function makeKeys() {
  const k1 = generateKey({ kid: "gw-k1" });
  const k2 = generateKey({ kid: "gw-k2" });
  const authority = generateKey({ kid: "gw-authority-1" });
  return {
    k1, k2, authority,
    jwks: { keys: [k1.publicJwk, k2.publicJwk] },
    revocationJwks: { keys: [authority.publicJwk] },
  };
}

/** Writes a value into the gateway's local KV before it starts (as an operator would). */
export function seedKv(persistTo, key, bytes) {
  const file = join(mkdtempSync(join(tmpdir(), "tasktoken-kv-")), "value.bin");
  writeFileSync(file, bytes);
  execFileSync(WRANGLER, ["kv", "key", "put", key, "--path", file, "--binding", "REVOCATION",
    "--local", "--persist-to", persistTo, "--config", CONFIG.pathname], {
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: "ignore",
  });
}

/**
 * Starts the gateway; resolves to { url, stop, ... } once it answers. With `service` (a
 * token service's URL) it follows that service's keys and revocation data (no key vars);
 * else it trusts `keys` and runs its own authority. `config` (default: the top-level
 * wrangler.toml), `extraVars` (more `--var`s) and `extraArgs` (more arguments to `wrangler dev`,
 * such as `--name`) are for variants of the deployment. `logLevel`: what wrangler prints of the
 * Worker's console (`log`: the audit lines too, which the tests read).
 */
export async function startGateway({ keys, service, origin, refreshSeconds = 1, validFor = 300,
  keysMinRefresh = 1, persistTo, config = CONFIG, extraVars = {}, extraArgs = [], logLevel = "log" }) {
  persistTo ??= mkdtempSync(join(tmpdir(), "tasktoken-gateway-"));
  const vars = service
    ? { TOKEN_SERVICE_URL: service, KEYS_MIN_REFRESH_SECONDS: String(keysMinRefresh) }
    : {
      JWKS: JSON.stringify(keys.jwks),
      REVOCATION_JWKS: JSON.stringify(keys.revocationJwks),
      AUTHORITY_KEY: JSON.stringify(keys.authority.privateJwk),
    };
  const dev = await startWrangler(config, {
    persistTo,
    readyPath: "/_tasktoken/ready",
    logLevel,
    extraArgs,
    vars: {
      ...vars,
      ORIGIN_URL: origin.url,
      REVOCATION_REFRESH_SECONDS: String(refreshSeconds),
      REVOCATION_VALID_FOR_SECONDS: String(validFor),
      ...extraVars,
    },
  });
  return { ...dev, persistTo, base: dev.url.replace(/\/$/, "") };
}

/**
 * Sends a request with the path exactly as given (no client-side normalisation of `..` or
 * escapes, unlike fetch), and resolves to { status, body, headers }.
 */
export function rawRequest(base, path, { method = "GET", token, body, headers = {} } = {}) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method,
      headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (data += d));
      res.on("end", () => {
        let json;
        try {
          json = JSON.parse(data);
        } catch {}
        resolve({ status: res.statusCode, body: json ?? data, headers: res.headers });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}
