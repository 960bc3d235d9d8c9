// The token service's side of the gateway tests and the demo: a local OIDC provider (as
// GitHub Actions' is, its JWKS over HTTP on 127.0.0.1), `tasktoken serve` with a policy for
// one CI repository, and the identity tokens a CI job of that repository would hold.
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { startServe } from "../serve.js";

export const BIN = process.env.TASKTOKEN_BIN ??
  new URL("../../target/release/tasktoken", import.meta.url).pathname;
export const GITHUB_ISS = "https://token.actions.githubusercontent.com";

/** An OIDC provider with one ES256 key; `sign(claims)` gives an identity token of it. */
export async function startOidc() {
  const { privateKey, publicKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "gh-es256-1", alg: "ES256", use: "sig" };
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    jwksUrl: `http://127.0.0.1:${server.address().port}/.well-known/jwks`,
    /** An identity token shaped like a GitHub Actions one (`claims` override), 5 minutes. */
    sign(audience, claims = {}) {
      const now = Math.floor(Date.now() / 1000);
      const { repository = "acme/crm-sync", run_id = "8812", ...rest } = claims;
      return new SignJWT({
        repository, repository_owner: repository.split("/")[0], ref: "refs/heads/main",
        run_id, workflow: "nightly-sync", event_name: "schedule", ...rest,
      })
        .setProtectedHeader({ alg: "ES256", kid: jwk.kid, typ: "JWT" })
        .setIssuer(GITHUB_ISS).setAudience(audience)
        .setSubject(`repo:${repository}:ref:refs/heads/main`)
        .setJti(crypto.randomUUID()).setIssuedAt(now).setExpirationTime(now + 300)
        .sign(privateKey);
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** The policy of the tests and the demo (docs/token-service.md has the reference). */
export const POLICY = `[[policy]]
name = "crm-sync"
identity = "github"
claims = { repository = "acme/crm-sync", ref = "refs/heads/main" }
sub = "ci:{repository}#{run_id}"
aud = ["crm-api"]
task = "sync-{run_id}/*"
scope = ["customers:read"]
res = ["customers/*"]
max_ttl = "10m"
`;

/** A fresh Ed25519 issuer key in `dir` (`<kid>.jwk`, 0600), by `tasktoken keygen`. */
export function keygen(dir, kid) {
  execFileSync(BIN, ["keygen", "--kid", kid, "--out", join(dir, `${kid}.jwk`)], { stdio: "ignore" });
  return `${kid}.jwk`;
}

/**
 * Writes `dir/service.toml` (issuer `issuer`, signing keys `keys`, first signs; SQLite store
 * in `dir`, so a restart keeps its revocations; `extra`: more policies) and starts
 * `tasktoken serve` on `listen`.
 * Resolves once it prints its `listening` line: { url, audit(), stop() }.
 */
export async function startService({ dir, issuer, oidc, keys, listen = "127.0.0.1:0", extra = "" }) {
  writeFileSync(join(dir, "service.toml"), `issuer = "${issuer}"
keys = ${JSON.stringify(keys)}
store = "sqlite:authority.db"
publish_interval = 1
revocation_valid_for = "1m"

[[identity]]
name = "github"
issuer = "${GITHUB_ISS}"
jwks = "${oidc.jwksUrl}"
audience = "${issuer}"

${POLICY}
${extra}`);
  return startServe(BIN, join(dir, "service.toml"), listen);
}
