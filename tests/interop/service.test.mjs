// The npm package against the real token service (`tasktoken serve`, the built binary): a
// local OIDC provider (jose, ES256, JWKS over HTTP on 127.0.0.1) issues a GitHub-shaped
// identity token; `exchangeToken` and `withTask` get task tokens under policy; refusals keep
// the OAuth error; a Verifier follows the service's keys (`RemoteKeySet`) and revocation
// (`RevocationReplica` on `<base>/revocation`), so a completed task is refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, oidc } from "./mcp-harness.js";
import {
  RemoteKeySet, RevocationReplica, TaskTokenError, Verifier, completeTask, createProof, exchangeToken,
  generateProofKey, withTask,
} from "tasktoken";
import * as verifyOnly from "tasktoken/verify";
import { startServe } from "../serve.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = process.env.TASKTOKEN_BIN ?? join(root, "target", "release", "tasktoken");
const ISSUER = "https://auth.test";
const IDP = "https://token.actions.githubusercontent.com";

/** The service; with `port`, its public `url` is where it listens (DPoP proofs name it). */
async function service(jwksUrl, port, extra = "") {
  const dir = mkdtempSync(join(tmpdir(), "tasktoken-serve-js-"));
  execFileSync(bin, ["keygen", "--kid", "svc-1", "--out", join(dir, "issuer.jwk")]);
  writeFileSync(join(dir, "service.toml"), `
issuer = "${ISSUER}"
key = "issuer.jwk"
store = "sqlite:authority.db"
${port ? `url = "http://127.0.0.1:${port}"` : ""}
publish_interval = 1
revocation_valid_for = "1m"

[[identity]]
name = "github"
issuer = "${IDP}"
jwks = "${jwksUrl}"
audience = "${ISSUER}"

[[policy]]
name = "deploy-read-artifacts"
identity = "github"
claims = { repository = "acme/*", ref = "refs/heads/main" }
sub = "ci:{repository}#{run_id}"
aud = ["artifact-repo"]
task = "deploy-{run_id}/*"
scope = ["artifacts:read"]
res = ["repos/{repository}/*"]
max_ttl = "10m"
${extra}`);
  const { url, stop } = await startServe(bin, join(dir, "service.toml"), `127.0.0.1:${port ?? 0}`);
  return { url, dir, stop };
}

const request = {
  audience: "artifact-repo", scope: "artifacts:read", res: ["repos/acme/app/*"],
  task: "deploy-8812/stage:deploy",
};

test("exchangeToken, withTask, RemoteKeySet and the replica against tasktoken serve", async (t) => {
  const provider = await oidc();
  const svc = await service(provider.url);
  t.after(() => { svc.stop(); provider.close(); });

  // A Verifier that follows the service's keys and revocation data: nothing configured by hand.
  const keys = new RemoteKeySet({ url: `${svc.url}/.well-known/jwks.json` });
  await keys.refresh();
  const replica = new RevocationReplica({ issuer: ISSUER, keys: await (await fetch(`${svc.url}/.well-known/jwks.json`)).json(),
                                          url: `${svc.url}/revocation`, interval: 1 });
  await replica.refresh();
  const verifier = new Verifier({ issuers: { [ISSUER]: keys }, audience: "artifact-repo", revocation: replica });

  const granted = await exchangeToken({ service: svc.url, subjectToken: await provider.token(), ...request, ttl: 120 });
  assert.equal(granted.tokenType, "Bearer");
  assert.equal(granted.expiresIn, 120);
  const claims = verifier.verify(granted.token, { action: "artifacts:read", resource: "repos/acme/app/manifest" });
  assert.equal(claims.sub, "ci:acme/app#8812");

  // Refusals keep the OAuth error and the rule.
  await assert.rejects(
    exchangeToken({ service: svc.url, subjectToken: await provider.token(), ...request, res: ["repos/acme/other/*"] }),
    (e) => e instanceof TaskTokenError && e.code === "invalid_target" && /does not grant/.test(e.message) && e.status === 400);
  await assert.rejects(
    exchangeToken({ service: svc.url, subjectToken: await provider.token({ repository: "evil/app" }), ...request }),
    (e) => e.code === "invalid_grant" && /no policy matches/.test(e.message));
  const once = await provider.token();
  await exchangeToken({ service: svc.url, subjectToken: once, ...request });
  await assert.rejects(exchangeToken({ service: svc.url, subjectToken: once, ...request }), (e) => e.code === "invalid_grant");

  // withTask: the callback's fetch carries the token; the token is revoked when it ends.
  const api = http.createServer((req, res) => res.end(JSON.stringify({ auth: req.headers.authorization ?? null })));
  await new Promise((ok) => api.listen(0, "127.0.0.1", ok));
  t.after(() => api.close());
  const apiUrl = `http://127.0.0.1:${api.address().port}`;
  let taskToken;
  const seen = await withTask({ service: svc.url, subjectToken: await provider.token(), ...request, origins: [apiUrl] },
    async ({ token, fetch }) => {
      taskToken = token;
      verifier.verify(token, { action: "artifacts:read", resource: "repos/acme/app/x" });
      return (await fetch(`${apiUrl}/artifacts`)).json();
    });
  assert.equal(seen.auth, `Bearer ${taskToken}`);
  // Revoked at the service: the replica learns it within the publish interval.
  const deadline = Date.now() + 8000;
  for (;;) {
    await replica.refresh();
    try {
      verifier.verify(taskToken, { action: "artifacts:read", resource: "repos/acme/app/x" });
    } catch (e) {
      assert.equal(e.code, "revoked");
      break;
    }
    assert.ok(Date.now() < deadline, "the completed task is refused within 8 s");
    await new Promise((ok) => setTimeout(ok, 300));
  }
  // A throwing callback still ends its task.
  let thrownToken;
  await assert.rejects(withTask({ service: svc.url, subjectToken: await provider.token(), ...request },
    async ({ token }) => { thrownToken = token; throw new Error("the tool failed"); }), /the tool failed/);
  const revokedAgain = await fetch(`${svc.url}/revocation/revoke`, { method: "POST", headers: { authorization: `Bearer ${thrownToken}` } });
  assert.equal((await revokedAgain.json()).new, false, "already revoked by withTask");
});

test("a DPoP proof binds the exchanged token", async (t) => {
  const provider = await oidc();
  const svc = await service(provider.url, await freePort());
  t.after(() => { svc.stop(); provider.close(); });
  const { privateJwk, jkt } = generateProofKey({ alg: "ES256" });
  const granted = await exchangeToken({ service: svc.url, subjectToken: await provider.token(), ...request,
                                        dpop: { key: privateJwk } });
  assert.equal(granted.tokenType, "DPoP");
  const payload = JSON.parse(Buffer.from(granted.token.split(".")[1], "base64url"));
  assert.equal(payload.cnf.jkt, jkt);
});

test("a bound token revokes itself only with its key's proof: completeTask and withTask with dpop", async (t) => {
  const provider = await oidc();
  // The service's public URL is where it listens, so the proof's htu names this socket.
  const svc = await service(provider.url, await freePort());
  t.after(() => { svc.stop(); provider.close(); });
  const revokeUrl = `${svc.url}/revocation/revoke`;
  const { privateJwk } = generateProofKey();
  const granted = await exchangeToken({ service: svc.url, subjectToken: await provider.token(), ...request,
                                        dpop: { key: privateJwk } });
  assert.equal(granted.tokenType, "DPoP");
  // A copy of the token out of a log, sent as Bearer (tasktoken/verify has no dpop): refused.
  await assert.rejects(verifyOnly.completeTask(granted.token, revokeUrl), { code: "binding_required" });
  const raw = await fetch(revokeUrl, { method: "POST", headers: { authorization: `Bearer ${granted.token}` } });
  assert.equal(raw.status, 401);
  assert.match(raw.headers.get("www-authenticate"), /^DPoP .*error="invalid_token"/);
  // Another key's proof: refused.
  await assert.rejects(completeTask(granted.token, revokeUrl, { dpop: { key: generateProofKey().privateJwk } }),
    { code: "binding_mismatch" });
  // The holder's key: revoked (a second call is a fresh proof, and says so: new false).
  await completeTask(granted.token, revokeUrl, { dpop: { key: privateJwk } });
  const again = await fetch(revokeUrl, { method: "POST", headers: {
    authorization: `DPoP ${granted.token}`,
    dpop: createProof({ key: privateJwk, method: "POST", url: revokeUrl, token: granted.token }),
  } });
  assert.equal((await again.json()).new, false, "already revoked by completeTask");
  // withTask with dpop ends its bound task with a proof: the service has it revoked.
  let taskToken;
  await withTask({ service: svc.url, subjectToken: await provider.token(), ...request, dpop: { key: privateJwk } },
    ({ token }) => { taskToken = token; });
  const after = await fetch(revokeUrl, { method: "POST", headers: {
    authorization: `DPoP ${taskToken}`,
    dpop: createProof({ key: privateJwk, method: "POST", url: revokeUrl, token: taskToken }),
  } });
  assert.deepEqual([after.status, (await after.json()).new], [200, false], "already revoked by withTask");
});

test("exchangeToken waits for a person's approval and collects the token once", async (t) => {
  const provider = await oidc();
  const svc = await service(provider.url, undefined, `
[[policy]]
name = "prod-migrate"
identity = "github"
claims = { repository = "acme/app", workflow = "migrate" }
sub = "ci:{repository}#{run_id}"
aud = ["prod-db"]
task = "migrate-{run_id}"
scope = ["db:migrate"]
res = ["dbs/prod"]
approval = { approvers = ["human:alice"], expires = "5m", interval = 1 }
`);
  t.after(() => { svc.stop(); provider.close(); });
  const approver = execFileSync(bin, ["mint", "--key", join(svc.dir, "issuer.jwk"), "--iss", ISSUER,
    "--sub", "human:alice", "--aud", ISSUER, "--task", "approve-prod", "--scope", "approvals:decide",
    "--res", "approvals/prod-migrate", "--ttl", "5m"]).toString().trim();
  const migrate = { audience: "prod-db", scope: "db:migrate", res: ["dbs/prod"], task: "migrate-8812" };
  // Without waiting: the pending request is the error, with its id.
  const pending = await exchangeToken({ service: svc.url,
    subjectToken: await provider.token({ workflow: "migrate" }), ...migrate })
    .then(() => assert.fail("pending"), (e) => e);
  assert.equal(pending.code, "authorization_pending");
  assert.match(pending.approvalId, /^[^.]+\.[^.]+$/);
  // Waiting: alice approves while the client polls; the token carries her approval.
  let seen;
  const waiting = exchangeToken({ service: svc.url, subjectToken: await provider.token({ workflow: "migrate" }),
    ...migrate, approval: { timeout: 30, onPending: (p) => { seen = p; } } });
  while (seen === undefined) await new Promise((ok) => setTimeout(ok, 50));
  assert.ok(!seen.id.includes("."), "approvers see the public id only");
  const decided = await fetch(`${svc.url}/approvals/${seen.id}/approve`,
    { method: "POST", headers: { authorization: `Bearer ${approver}` } });
  assert.equal(decided.status, 200, await decided.clone().text());
  const granted = await waiting;
  const payload = JSON.parse(Buffer.from(granted.token.split(".")[1], "base64url"));
  assert.equal(payload.apv.sub, "human:alice");
  assert.equal(payload.sub, "ci:acme/app#8812");
  // Denied while waiting: access_denied. A signal that aborts: still pending.
  const controller = new AbortController();
  let denyId;
  const denied = exchangeToken({ service: svc.url, subjectToken: await provider.token({ workflow: "migrate" }),
    ...migrate, approval: { timeout: 30, onPending: (p) => { denyId = p.id; } } }).catch((e) => e);
  while (denyId === undefined) await new Promise((ok) => setTimeout(ok, 50));
  await fetch(`${svc.url}/approvals/${denyId}/deny`, { method: "POST", headers: { authorization: `Bearer ${approver}` } });
  assert.equal((await denied).code, "access_denied");
  const aborted = exchangeToken({ service: svc.url, subjectToken: await provider.token({ workflow: "migrate" }),
    ...migrate, approval: { signal: controller.signal, onPending: () => controller.abort() } }).catch((e) => e);
  assert.equal((await aborted).code, "authorization_pending");
  await assert.rejects(exchangeToken({ service: svc.url, subjectToken: "a.b.c", ...migrate, approval: { timeout: 0 } }),
    (e) => e instanceof TaskTokenError && e.code === "malformed");
});
