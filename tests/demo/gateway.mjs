// The demo behind `make demo`: a CI job gets a task token from the token service for one
// task, does it through the edge gateway (local workerd), ends it, and is refused afterwards.
// Everything runs on 127.0.0.1 and stops at the end (also on Ctrl-C).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exchangeToken, withTask } from "tasktoken";
import { ISSUER, rawRequest, startGateway, startOrigin } from "../gateway/harness.js";
import { POLICY, keygen, startOidc, startService } from "../gateway/service.js";

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s = "") => console.log(s);
const brief = (body) => (typeof body === "object" ? JSON.stringify(body) : String(body)).slice(0, 150);
/** Prints one answer and stops the demo if it is not the expected status. */
function show(label, status, body, expected) {
  say(`   ${label} → ${bold(status)} ${brief(body)}`);
  if (status !== expected) throw new Error(`${label}: expected ${expected}, got ${status}`);
}

const dir = mkdtempSync(join(tmpdir(), "tasktoken-demo-"));
const running = [];
async function cleanup() {
  for (const stop of running.reverse()) await stop().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => cleanup().finally(() => process.exit(130)));
}

say(bold("tasktoken: a CI job gets a token for one task, does it through the edge gateway, and ends it\n"));
try {
  say("1. A local OIDC provider (ES256, standing in for GitHub Actions'), the token service and");
  say("   the gateway that follows it, in front of a CRM API:");
  const oidc = await startOidc();
  running.push(() => oidc.close());
  keygen(dir, "svc-1");
  const service = await startService({ dir, issuer: ISSUER, oidc, keys: ["svc-1.jwk"] });
  running.push(() => service.stop());
  const origin = await startOrigin();
  running.push(() => origin.close());
  const gw = await startGateway({ service: service.url, origin, refreshSeconds: 1 });
  running.push(() => gw.stop());
  say(`   token service ${service.url}  (tasktoken serve; ${ISSUER} is its issuer)`);
  say(`   gateway       ${gw.base}  (wrangler dev, TOKEN_SERVICE_URL=${service.url})`);
  say(`   its policy:\n${POLICY.trim().split("\n").map((line) => `     ${line}`).join("\n")}\n`);

  say("2. CI job acme/crm-sync, run 8812, holds its platform's identity token");
  say("   (sub repo:acme/crm-sync:ref:refs/heads/main) and runs one task with withTask():");
  const request = {
    service: service.url, audience: "crm-api", scope: "customers:read",
    res: ["customers/4821"], task: "sync-8812/customer-4821", ttl: 300,
  };
  let token;
  await withTask({ ...request, subjectToken: await oidc.sign(ISSUER), origins: [gw.base] },
    async (task) => {
      token = task.token;
      const { sub, task: name, scope, res, exp, iat } = task.claims;
      say(`   exchanged (RFC 8693) for a task token: sub ${sub}, task ${name},`);
      say(`   ${scope} on ${res.join(" ")}, ${exp - iat} s, signed by ${JSON.parse(atob(token.split(".")[0])).kid}\n`);
      say("3. It does its task through the gateway, and tries to do more:");
      for (const [method, path, expected] of [
        ["GET", "/customers/4821", 200],
        ["GET", "/customers/4822", 403],
        ["POST", "/datasets/4821/export", 403],
      ]) {
        const res = await task.fetch(`${gw.base}${path}`, { method });
        show(`${method} ${path}`, res.status, await res.json(), expected);
      }
    });

  say("\n4. The callback returned: withTask revoked the token at the service");
  say("   (POST /revocation/revoke). The gateway's replica of the service's signed revocation");
  say("   data refuses it moments later:");
  const started = Date.now();
  let after;
  for (;;) {
    after = await rawRequest(gw.base, "/customers/4821", { token });
    if (after.status !== 200 || Date.now() - started > 10_000) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  show(`GET /customers/4821 (${Date.now() - started} ms later)`, after.status, after.body, 401);
  say("   (the service publishes every second, the gateway reads its data every second)");

  say("\n5. Exchanges outside the policy are refused, and the refusal names the rule:");
  for (const [label, overrides, claims] of [
    ["res billing/4821", { res: ["billing/4821"] }, {}],
    ["task sync-9999/…", { task: "sync-9999/customer-4821" }, {}],
    ["repository acme/other", {}, { repository: "acme/other" }],
  ]) {
    try {
      await exchangeToken({ ...request, ...overrides, subjectToken: await oidc.sign(ISSUER, claims) });
      throw new Error(`${label}: granted`);
    } catch (error) {
      if (!error.code) throw error;
      say(`   ${label.padEnd(22)} → ${bold(error.code)}: ${error.message}`);
    }
  }

  await service.stop(); // its last audit lines are written by then
  const audit = service.audit();
  const count = (event, outcome) => audit.filter((l) => l.event === event && l.outcome === outcome).length;
  say(`\n   Only allowed requests reached the origin (${origin.seen.length}: the task's, and probes sent`);
  say("   before the revocation arrived). The service audited " +
    `${count("exchange", "granted")} exchange granted, ${count("exchange", "refused")} refused, ` +
    `${count("revoke", "ok")} revocation (JSON lines, never token text).`);
} finally {
  await cleanup();
}
