// The gateway following the token service: a real `tasktoken serve` (TASKTOKEN_BIN), a local
// OIDC provider, and the Worker in real workerd with TOKEN_SERVICE_URL. A CI job exchanges
// its identity token, calls the API through the gateway, completes its task, and is refused
// afterwards; the service rotates its key and the running gateway follows.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { completeTask, exchangeToken, withTask } from "tasktoken";
import { freePort } from "../runtime/wrangler.js";
import { ISSUER, rawRequest, startGateway, startOrigin } from "./harness.js";
import { keygen, startOidc, startService } from "./service.js";

const REFRESH_SECONDS = 1;
/** A second policy, for the single-use export route. */
const EXPORT_POLICY = `[[policy]]
name = "crm-export"
identity = "github"
claims = { repository = "acme/crm-sync" }
sub = "ci:{repository}#{run_id}"
aud = ["crm-api"]
task = "export-{run_id}"
scope = ["datasets:export"]
res = ["datasets/*"]
`;
const dir = mkdtempSync(join(tmpdir(), "tasktoken-service-gw-"));
let oidc;
let service;
let origin;
let gw;

/** The exchange a CI job of acme/crm-sync, run 8812, makes for one customer. */
async function job(overrides = {}, claims = {}) {
  return {
    service: service.url, subjectToken: await oidc.sign(ISSUER, claims), audience: "crm-api",
    scope: "customers:read", res: ["customers/4821"], task: "sync-8812/customer-4821", ttl: 300,
    ...overrides,
  };
}

function header(token) {
  return JSON.parse(Buffer.from(token.split(".")[0], "base64url"));
}

/** Polls until `path` with `token` answers `status`; the last answer and the time it took. */
async function until(token, status, path = "/customers/4821", limitMs = 10_000) {
  const started = Date.now();
  let res;
  for (;;) {
    res = await rawRequest(gw.base, path, { token });
    if (res.status === status || Date.now() - started > limitMs) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return { res, ms: Date.now() - started };
}

before(async () => {
  oidc = await startOidc();
  keygen(dir, "svc-1");
  service = await startService({ dir, issuer: ISSUER, oidc, keys: ["svc-1.jwk"], extra: EXPORT_POLICY });
  origin = await startOrigin();
  gw = await startGateway({ service: service.url, origin, refreshSeconds: REFRESH_SECONDS });
});
after(async () => {
  await gw?.stop();
  await service?.stop();
  await origin?.close();
  await oidc?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a CI job's task: exchanged, allowed, refused beyond its grant, refused once complete", async (t) => {
  let token;
  const before = origin.seen.length;
  const answers = await withTask({ ...(await job()), origins: [gw.base] }, async (task) => {
    token = task.token;
    assert.equal(task.claims.sub, "ci:acme/crm-sync#8812");
    assert.deepEqual(task.claims.res, ["customers/4821"]);
    const read = async (path, init) => {
      const res = await task.fetch(`${gw.base}${path}`, init);
      return { status: res.status, body: await res.json() };
    };
    return {
      allowed: await read("/customers/4821"),
      otherCustomer: await read("/customers/4822"),
      otherAction: await read("/customers/4821/orders"),
      export: await read("/datasets/4821/export", { method: "POST" }),
    };
  });
  assert.equal(answers.allowed.status, 200, JSON.stringify(answers.allowed.body));
  assert.equal(answers.allowed.body.sub, "ci:acme/crm-sync#8812", "the origin got the gateway's claims");
  assert.equal(answers.allowed.body.task, "sync-8812/customer-4821");
  assert.equal(answers.allowed.body.authorization, null, "the task token is not forwarded");
  assert.equal(answers.otherCustomer.status, 403);
  assert.equal(answers.otherCustomer.body.error, "resource_denied");
  assert.equal(answers.otherAction.status, 403);
  assert.equal(answers.otherAction.body.error, "action_denied");
  assert.equal(answers.export.status, 403);
  assert.equal(origin.seen.length, before + 1, "only the allowed request reached the origin");

  // withTask revoked the token at the service when the callback ended: the gateway's replica
  // of the service's revocation data refuses it within the service's publication interval
  // (1 s) plus one refresh interval.
  const { res, ms } = await until(token, 401);
  t.diagnostic(`completed at the service → refused at the gateway: ${ms} ms`);
  assert.equal(res.body.error, "revoked");
  assert.ok(ms <= (1 + REFRESH_SECONDS) * 1000 + 1500, `${ms} ms`);
  const revoked = service.audit().filter((line) => line.event === "revoke");
  assert.equal(revoked.length, 1);
  assert.equal(revoked[0].by, "self");
});

test("an exchange outside the policy is refused, naming the rule", async () => {
  await assert.rejects(exchangeToken(await job({ res: ["billing/4821"] })), (error) => {
    assert.equal(error.code, "invalid_target");
    assert.equal(error.status, 400);
    assert.match(error.message, /policy `crm-sync` does not grant every requested resource/);
    return true;
  });
  await assert.rejects(exchangeToken(await job({ task: "sync-9999/customer-4821" })), (error) => {
    assert.equal(error.code, "invalid_target");
    assert.match(error.message, /policy `crm-sync` does not grant this task/);
    return true;
  });
  await assert.rejects(exchangeToken(await job({}, { repository: "acme/other" })), (error) => {
    assert.equal(error.code, "invalid_grant");
    assert.match(error.message, /no policy matches the identity/);
    return true;
  });
});

test("an identity token is exchanged once", async () => {
  const options = await job();
  const granted = await exchangeToken(options);
  await assert.rejects(exchangeToken(options), { code: "invalid_grant" });
  await completeTask(granted.token, `${service.url}/revocation/revoke`);
});

test("revocation is the service's: /_tasktoken/revoke answers 404 and revokes nothing", async () => {
  const { token } = await exchangeToken(await job());
  const res = await rawRequest(gw.base, "/_tasktoken/revoke", { method: "POST", token });
  assert.equal(res.status, 404);
  assert.match(res.body.message, /\/revocation\/revoke/);
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token })).status, 200, "still valid");
  await completeTask(token, `${service.url}/revocation/revoke`);
  assert.equal((await until(token, 401)).res.body.error, "revoked");
});

test("a forged token, or one with a kid the service never published, is refused", async () => {
  const { token } = await exchangeToken(await job());
  const [h, p, s] = token.split(".");
  const claims = JSON.parse(Buffer.from(p, "base64url"));
  claims.res = ["customers/*"];
  const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
  const res = await rawRequest(gw.base, "/customers/4822", { token: forged });
  assert.equal(res.status, 401);
  assert.equal(res.body.error, "bad_signature");
  // A kid the service never published: one JWKS fetch at most, then refused.
  const unknown = `${Buffer.from(JSON.stringify({ ...header(token), kid: "nobody" })).toString("base64url")}.${p}.${s}`;
  const refused = await rawRequest(gw.base, "/customers/4821", { token: unknown });
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error, "unknown_key");
  await completeTask(token, `${service.url}/revocation/revoke`);
});

test("key rotation: the service restarts with a new first key, the running gateway follows", async (t) => {
  const old = await exchangeToken(await job({ task: "sync-8812/before-rotation" }));
  assert.equal(header(old.token).kid, "svc-1");
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: old.token })).status, 200);

  // docs/token-service.md, "Key rotation": the new key first, the old one kept; same address.
  const listen = new URL(service.url).host;
  assert.equal(await service.stop(), 0);
  keygen(dir, "svc-2");
  service = await startService({ dir, issuer: ISSUER, oidc, keys: ["svc-2.jwk", "svc-1.jwk"], listen,
    extra: EXPORT_POLICY });
  // Past the gateway's minimum between two key fetches (KEYS_MIN_REFRESH_SECONDS = 1).
  await new Promise((r) => setTimeout(r, 1100));

  const rotated = await exchangeToken(await job({ task: "sync-8812/after-rotation" }));
  assert.equal(header(rotated.token).kid, "svc-2");
  // The first request with the new kid makes the isolate fetch the JWKS and is then accepted.
  const first = await rawRequest(gw.base, "/customers/4821", { token: rotated.token });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: old.token })).status, 200,
    "tokens of the old key stay valid while it is published");

  // Revocation data is now signed by svc-2: the gateway's replica follows that too.
  await completeTask(rotated.token, `${service.url}/revocation/revoke`);
  const { res, ms } = await until(rotated.token, 401);
  t.diagnostic(`after rotation, completed → refused: ${ms} ms`);
  assert.equal(res.body.error, "revoked");
  await completeTask(old.token, `${service.url}/revocation/revoke`);
  assert.equal((await until(old.token, 401)).res.body.error, "revoked");

  const output = gw.output();
  for (const token of [old.token, rotated.token]) {
    for (const part of token.split(".")) assert.ok(!output.includes(part), "token text in the logs");
  }
});

test("single use with the service: still decided by the Durable Object, once", async () => {
  const { token } = await exchangeToken(await job({ scope: "datasets:export", res: ["datasets/1234"],
    task: "export-8812" }));
  const path = "/datasets/1234/export";
  const before = origin.seen.filter((r) => r.path.startsWith(path)).length;
  const answers = await Promise.all([1, 2].map(() => rawRequest(gw.base, path, { method: "POST", token })));
  assert.deepEqual(answers.map((a) => a.status).sort(), [200, 401], JSON.stringify(answers.map((a) => a.body)));
  assert.equal(answers.find((a) => a.status === 401).body.error, "revoked");
  assert.equal((await rawRequest(gw.base, path, { method: "POST", token })).status, 401);
  assert.equal(origin.seen.filter((r) => r.path.startsWith(path)).length, before + 1);
  await completeTask(token, `${service.url}/revocation/revoke`);
});

test("a service not up yet: fail closed (503), then followed once it answers", async () => {
  const port = await freePort();
  const late = await startGateway({ service: `http://127.0.0.1:${port}`, origin, refreshSeconds: REFRESH_SECONDS });
  const lateDir = mkdtempSync(join(tmpdir(), "tasktoken-service-late-"));
  let second;
  try {
    const before = origin.seen.length;
    const { token } = await exchangeToken(await job());
    const down = await rawRequest(late.base, "/customers/4821", { token });
    assert.equal(down.status, 503, JSON.stringify(down.body));
    assert.equal(down.body.error, "stale_revocation");
    assert.equal(origin.seen.length, before, "never open");

    keygen(lateDir, "svc-late");
    second = await startService({ dir: lateDir, issuer: ISSUER, oidc, keys: ["svc-late.jwk"],
      listen: `127.0.0.1:${port}` });
    const subjectToken = await oidc.sign(ISSUER);
    const granted = await exchangeToken({ ...(await job()), service: second.url, subjectToken });
    const started = Date.now();
    let res;
    do {
      await new Promise((r) => setTimeout(r, 200));
      res = await rawRequest(late.base, "/customers/4821", { token: granted.token });
    } while (res.status === 503 && Date.now() - started < 5000);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal((await rawRequest(late.base, "/customers/4821", { token })).status, 401,
      "the other service's token: unknown_key here");
  } finally {
    await late.stop();
    await second?.stop();
    rmSync(lateDir, { recursive: true, force: true });
  }
});
