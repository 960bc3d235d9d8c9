// The token service and an identity provider for the MCP tests: a GitHub-shaped OIDC
// provider on 127.0.0.1 (jose, ES256) and `tasktoken serve` (the built binary) with one
// policy under which a CI agent may call tools of one MCP server (its canonical URI the
// tokens' audience, RFC 8707).
import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { startServe } from "../serve.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = process.env.TASKTOKEN_BIN ?? join(root, "target", "release", "tasktoken");
export const ISSUER = "https://auth.test";
const IDP = "https://token.actions.githubusercontent.com";

/** A GitHub-shaped OIDC provider on 127.0.0.1: its JWKS over HTTP, and identity tokens. */
export async function oidc() {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "gh-1", alg: "ES256", use: "sig" }] });
  const server = http.createServer((req, res) => res.writeHead(200, { "content-type": "application/json" }).end(jwks));
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  let n = 0;
  const token = (claims = {}) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ repository: "acme/app", ref: "refs/heads/main", run_id: "8812", ...claims })
      .setProtectedHeader({ alg: "ES256", kid: "gh-1" })
      .setIssuer(IDP).setAudience(ISSUER).setSubject("repo:acme/app:ref:refs/heads/main")
      .setJti(`gh-mcp-${process.pid}-${n++}`).setIssuedAt(now).setExpirationTime(now + 300)
      .sign(privateKey);
  };
  return { url: `http://127.0.0.1:${server.address().port}/jwks`, token, close: () => server.close() };
}

/** A free port on 127.0.0.1. */
export async function freePort() {
  const probe = http.createServer();
  await new Promise((ok) => probe.listen(0, "127.0.0.1", ok));
  const { port } = probe.address();
  await new Promise((ok) => probe.close(ok));
  return port;
}

/**
 * `tasktoken serve` with one policy: the CI agent may call tools of the MCP server at
 * `resource`. It listens on `port` (a free one if not given).
 */
export async function service(jwksUrl, resource, port = undefined) {
  const dir = mkdtempSync(join(tmpdir(), "tasktoken-mcp-"));
  execFileSync(bin, ["keygen", "--kid", "svc-mcp-1", "--out", join(dir, "issuer.jwk")]);
  port ??= await freePort();
  writeFileSync(join(dir, "service.toml"), `
issuer = "${ISSUER}"
url = "http://127.0.0.1:${port}"
key = "issuer.jwk"
store = "sqlite:authority.db"
publish_interval = 1
revocation_valid_for = "1m"

[[identity]]
name = "github"
issuer = "${IDP}"
jwks = "${jwksUrl}"
audience = "${ISSUER}"

[[policy]]
name = "triage-agent-tools"
identity = "github"
claims = { repository = "acme/app", ref = "refs/heads/main" }
sub = "agent:triage:{repository}#{run_id}"
aud = ["${resource}"]
task = "triage-{run_id}/*"
scope = ["tools:call", "prompts:get"]
res = ["tools/search", "tools/issues/*", "prompts/summary"]
max_ttl = "10m"
`);
  const { url, stop } = await startServe(bin, join(dir, "service.toml"), `127.0.0.1:${port}`);
  return { url, stop };
}
