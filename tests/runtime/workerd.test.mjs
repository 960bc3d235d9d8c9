// The package in real workerd: `wrangler dev` (local mode, no account, no network) bundles
// a Worker that imports "tasktoken" and "tasktoken/verify" and runs the shared vector suite;
// we read its verdicts. Then the package's network clients, run inside workerd against a
// local Node server standing in for the token service (workerd/network.js).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Issuer, generateKey, signRevocationSnapshot } from "tasktoken";
import { startWrangler } from "./wrangler.js";

let dev;
before(async () => {
  dev = await startWrangler(new URL("./workerd/wrangler.toml", import.meta.url), { readyPath: "/ready" });
});
after(() => dev?.stop());

test("the shared vectors pass inside workerd, and minting and the guard work there", async () => {
  const res = await fetch(new URL("/vectors", dev.url));
  assert.equal(res.status, 200, await res.clone().text());
  const result = await res.json();
  assert.equal(result.runtime, "Cloudflare-Workers");
  assert.ok(result.tokenCases > 150);
  assert.deepEqual(result.tokens, []);
  assert.deepEqual(result.verifyOnlyTokens, []);
  assert.equal(result.verifyOnlyMints, false);
  assert.deepEqual(result.keys.failures, []);
  assert.equal(result.mintedAndGated, true);
  assert.equal(result.deniedStatus, 403);
});

const ISS = "https://auth.example";
const k1 = generateKey({ kid: "wd-1" });
const k2 = generateKey({ kid: "wd-2" });
const k3 = generateKey({ kid: "wd-3" });
const mint = (key) => new Issuer({ iss: ISS, key: key.privateJwk }).mint({
  sub: "agent:edge", aud: "crm-api", task: "t", scope: "customers:read", res: ["customers/4821"], ttl: 60,
});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The token service as far as the Worker asks it: `/token`, `/revocation/revoke`, the JWKS,
 * an API at `/api`, and `/redirect/*`, a 302 to `/elsewhere`, which records who reached it.
 */
async function service(t) {
  // `jwks`: "answer", "hang" (never), or a delay in ms; `jwksFetches` counts them.
  const state = { keys: [k1.publicJwk], revoked: [], reached: [], jwks: "answer", jwksFetches: 0 };
  const issuer = new Issuer({ iss: ISS, key: k1.privateJwk });
  const server = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const json = (value) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(value));
    if (path.startsWith("/redirect/")) return res.writeHead(302, { location: "/elsewhere" }).end();
    if (path === "/elsewhere") {
      state.reached.push(req.headers.authorization ?? "none");
      return json({ keys: state.keys });
    }
    if (path === "/revocation/revoke") {
      state.revoked.push(req.headers.authorization);
      return json({ revoked: "jti" });
    }
    if (path === "/token") {
      const token = issuer.mint({ sub: "ci", aud: "crm-api", task: "lookup-4821", scope: "customers:read",
        res: ["customers/4821"], ttl: 60 });
      return json({ access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
        token_type: "Bearer", expires_in: 60 });
    }
    if (path === "/revocation/snapshot") {
      const now = Math.floor(Date.now() / 1000);
      return res.end(signRevocationSnapshot(k1.privateJwk,
        { issuer: ISS, jtis: ["jti-x"], serial: 7, issuedAt: now, nextUpdate: now + 300 }));
    }
    if (path.startsWith("/revocation/delta/")) return res.writeHead(404).end();
    if (path === "/.well-known/jwks.json") {
      state.jwksFetches++;
      if (state.jwks === "hang") return;
      const keys = state.keys;
      return setTimeout(() => json({ keys }), state.jwks === "answer" ? 0 : state.jwks);
    }
    if (path === "/api") return res.writeHead(200).end(req.headers.authorization?.split(" ")[0]);
    res.writeHead(404).end();
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return Object.assign(state, { base: `http://127.0.0.1:${server.address().port}` });
}

/** Runs a check of workerd/network.js in the Worker; its JSON answer. */
async function inWorkerd(check, body) {
  const res = await fetch(new URL(`/net/${check}`, dev.url), {
    method: "POST", body: JSON.stringify(body), signal: AbortSignal.timeout(20_000),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

test("inside workerd: completeTask, exchangeToken, withTask, RemoteKeySet.refresh and a replica " +
  "following it reach the service, and a 302 is refused (workerd has no redirect: \"error\")", async (t) => {
  const svc = await service(t);
  const out = await inWorkerd("clients", { base: svc.base });
  assert.deepEqual(out.completed, { ok: true, value: null });
  assert.deepEqual(out.exchanged, { ok: true, value: "Bearer" });
  assert.deepEqual(out.task, { ok: true, value: { direct: "Bearer", redirected: "TypeError" } });
  assert.deepEqual(out.keys, { ok: true, value: ["wd-1"] });
  assert.deepEqual(out.replica, { ok: true, value: 7 });
  assert.equal(svc.revoked.length, 2, "completeTask, and withTask's own revocation");
  assert.equal(out.completeRedirect.code, "malformed");
  assert.match(out.completeRedirect.cause, /HTTP 302/);
  assert.equal(out.exchangeRedirect.code, "server_error");
  assert.match(out.exchangeRedirect.cause, /HTTP 302/);
  assert.equal(out.keysRedirect.code, "unknown_key");
  assert.deepEqual(svc.reached, [], "nothing followed a redirect");
});

test("inside workerd: a background key refresh cut off with its request never holds up later " +
  "refreshes, and keys.pending given to ctx.waitUntil() lets one finish", async (t) => {
  const svc = await service(t);
  assert.deepEqual(await inWorkerd("keysSetup", { base: svc.base, timeout: 1 }), { ok: true, value: ["wd-1"] });

  // An unknown kid starts a fetch the service never answers; the response goes out.
  svc.jwks = "hang";
  await sleep(150); // minRefresh
  const cut = await inWorkerd("keysVerify", { token: mint(k2) });
  assert.deepEqual(cut, { outcome: "unknown_key", pending: true, version: 1 });
  await sleep(1200);
  svc.jwks = "answer";
  svc.keys = [k1.publicJwk, k2.publicJwk];
  const later = await inWorkerd("keysRefresh", {});
  assert.deepEqual(later, { jwks: { ok: true, value: ["wd-1", "wd-2"] }, version: 2 },
    "a fresh fetch, not the one that was cut off");

  // With ctx.waitUntil(keys.pending), the refresh outlives the response that started it.
  svc.keys = [k1.publicJwk, k2.publicJwk, k3.publicJwk];
  svc.jwks = 300;
  await sleep(150);
  const fetches = svc.jwksFetches;
  const started = await inWorkerd("keysVerify", { token: mint(k3), waitUntil: true });
  assert.deepEqual(started, { outcome: "unknown_key", pending: true, version: 2 });
  let after;
  for (let i = 0; i < 40; i++) {
    after = await inWorkerd("keysVerify", { token: mint(k3) });
    if (after.outcome !== "unknown_key") break;
    await sleep(100);
  }
  assert.deepEqual(after, { outcome: "agent:edge", pending: false, version: 3 });
  assert.equal(svc.jwksFetches, fetches + 1, "the one background fetch, finished after its response");
});
