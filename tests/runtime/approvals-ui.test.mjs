// The approval page (`GET /approvals/ui`) of a real `tasktoken serve` (TASKTOKEN_BIN) in
// real headless Chromium: a CI job's request waits for a person; the approver opens the page,
// pastes their token (kept in the page's memory only), sees the request with what it grants,
// clicks Approve; the job's next poll gets its token, once. A screenshot of the page with the
// pending request is saved in target/test-output/approvals-ui.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { launchChromium } from "./chromium.js";
import { startServe } from "../serve.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = process.env.TASKTOKEN_BIN ?? join(root, "target", "release", "tasktoken");
const ISSUER = "https://auth.test";
const IDP = "https://token.actions.githubusercontent.com";
const OUTPUT = join(root, "target", "test-output");

/** The service with one policy that waits for human:alice; identity keys from a file. */
async function service() {
  const dir = mkdtempSync(join(tmpdir(), "tasktoken-approvals-ui-"));
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "gh-1", alg: "ES256", use: "sig" };
  writeFileSync(join(dir, "idp.json"), JSON.stringify({ keys: [jwk] }));
  execFileSync(bin, ["keygen", "--kid", "svc-1", "--out", join(dir, "issuer.jwk")]);
  writeFileSync(join(dir, "service.toml"), `
issuer = "${ISSUER}"
key = "issuer.jwk"
store = "sqlite:authority.db"
publish_interval = 1
revocation_valid_for = "1m"

[[identity]]
name = "github"
issuer = "${IDP}"
jwks = "idp.json"
audience = "${ISSUER}"
algorithms = ["ES256"]

[[policy]]
name = "prod-migrate"
identity = "github"
claims = { repository = "acme/app" }
sub = "ci:{repository}#{run_id}"
aud = ["prod-db"]
task = "migrate-{run_id}"
scope = ["db:migrate"]
res = ["dbs/prod"]
max_ttl = "5m"
approval = { approvers = ["human:alice"], expires = "10m", interval = 1 }
`);
  const serve = await startServe(bin, join(dir, "service.toml"));
  const { url } = serve;
  const identityToken = () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ repository: "acme/app", run_id: "8812" })
      .setProtectedHeader({ alg: "ES256", kid: "gh-1" })
      .setIssuer(IDP).setAudience(ISSUER).setSubject("repo:acme/app:ref:refs/heads/main")
      .setJti(`gh-${process.pid}-${now}`).setIssuedAt(now).setExpirationTime(now + 300)
      .sign(privateKey);
  };
  const approverToken = execFileSync(bin, [
    "mint", "--key", join(dir, "issuer.jwk"), "--iss", ISSUER, "--sub", "human:alice",
    "--aud", ISSUER, "--task", "approve-migrations", "--scope", "approvals:decide",
    "--res", "approvals/prod-migrate", "--ttl", "600",
  ]).toString().trim();
  return { url, audit: serve.audit, identityToken, approverToken, stop: serve.stop };
}

async function token(url, form) {
  const response = await fetch(`${url}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: await response.json() };
}

test("an approver approves a pending request on the page; the client's poll gets its token", async (t) => {
  const svc = await service();
  t.after(() => svc.stop());

  // The CI job asks; the policy makes it wait.
  const asked = await token(svc.url, [
    ["grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"],
    ["subject_token", await svc.identityToken()],
    ["subject_token_type", "urn:ietf:params:oauth:token-type:jwt"],
    ["audience", "prod-db"], ["scope", "db:migrate"], ["res", "dbs/prod"], ["task", "migrate-8812"],
    ["ttl", "120"],
  ]);
  assert.equal(asked.status, 400);
  assert.equal(asked.body.error, "authorization_pending");
  const approvalId = asked.body.approval_id;
  const publicId = approvalId.split(".")[0];
  const poll = () => token(svc.url, [
    ["grant_type", "urn:tasktoken:grant-type:approval"], ["approval_id", approvalId],
  ]);
  assert.equal((await poll()).body.error, "authorization_pending");

  // The page: self-contained, under a strict policy.
  const page0 = await fetch(`${svc.url}/approvals/ui`);
  const csp = page0.headers.get("content-security-policy");
  assert.match(csp, /^default-src 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'; style-src 'sha256-/);
  assert.match(csp, /connect-src 'self'/);
  assert.equal(page0.headers.get("x-frame-options"), "DENY");
  assert.doesNotMatch(await page0.text(), /https?:\/\//, "no external resource");

  const browser = await launchChromium();
  t.after(() => browser.close());
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(`${svc.url}/approvals/ui`);
  await page.fill("#token", svc.approverToken);
  await page.click("form#login button[type=submit]");
  const item = page.locator(`article.request[data-id="${publicId}"]`);
  await item.waitFor({ timeout: 10_000 });
  const text = await item.innerText();
  for (const fact of ["prod-migrate", "migrate-8812", "db:migrate", "dbs/prod", "prod-db", "120 s",
    "ci:acme/app#8812", "repo:acme/app:ref:refs/heads/main"]) {
    assert.ok(text.includes(fact), `the request shows ${fact}: ${text}`);
  }
  mkdirSync(OUTPUT, { recursive: true });
  const screenshot = join(OUTPUT, "approvals-ui.png");
  await page.screenshot({ path: screenshot, fullPage: true });
  t.diagnostic(`screenshot: ${screenshot}`);
  console.log(`approvals-ui screenshot: ${screenshot}`);

  // The token is in the page's memory only: not in the field, the URL, storage or cookies.
  const kept = await page.evaluate(() => ({
    field: document.getElementById("token").value, url: location.href,
    local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
  }));
  assert.deepEqual(kept, { field: "", url: `${svc.url}/approvals/ui`, local: 0, session: 0, cookie: "" });
  assert.ok(requests.every((u) => !u.includes(svc.approverToken) && u.startsWith(svc.url)));

  await item.locator("button.approve").click();
  await page.waitForFunction(() => /approved/.test(document.getElementById("status").textContent),
    null, { timeout: 10_000 });
  assert.equal(await page.locator("article.request").count(), 0, "nothing pending any more");
  assert.deepEqual(problems, [], "no script error, no CSP violation");

  // The client's next poll gets the token, once; it carries who approved.
  const collected = await poll();
  assert.equal(collected.status, 200, JSON.stringify(collected.body));
  assert.equal(collected.body.token_type, "Bearer");
  const claims = JSON.parse(Buffer.from(collected.body.access_token.split(".")[1], "base64url"));
  assert.equal(claims.apv.sub, "human:alice");
  assert.equal(claims.exp - claims.iat, 120);
  assert.equal((await poll()).body.error, "invalid_grant");
  await new Promise((ok) => setTimeout(ok, 200));
  assert.ok(svc.audit().some((l) => l.event === "approval_decide" && l.outcome === "approved"));
  assert.ok(!JSON.stringify(svc.audit()).includes(svc.approverToken));
});
