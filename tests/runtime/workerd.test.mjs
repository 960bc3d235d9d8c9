// The package in real workerd: `wrangler dev` (local mode, no account, no network) bundles
// a Worker that imports "tasktoken" and "tasktoken/verify" and runs the shared vector suite;
// we read its verdicts. Then the package's network clients, run inside workerd against a
// local Node server standing in for the token service (workerd/network.js).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Issuer, generateKey } from "tasktoken";
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

/**
 * The token service as far as the Worker asks it: `/token`, `/revocation/revoke`, the JWKS,
 * an API at `/api`, and `/redirect/*`, a 302 to `/elsewhere`, which records who reached it.
 */
async function service(t) {
  const state = { keys: [k1.publicJwk], revoked: [], reached: [] };
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
    if (path === "/.well-known/jwks.json") return json({ keys: state.keys });
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

test("inside workerd: completeTask, exchangeToken, withTask and RemoteKeySet.refresh reach the " +
  "service, and a 302 is refused (workerd has no redirect: \"error\")", async (t) => {
  const svc = await service(t);
  const out = await inWorkerd("clients", { base: svc.base });
  assert.deepEqual(out.completed, { ok: true, value: null });
  assert.deepEqual(out.exchanged, { ok: true, value: "Bearer" });
  assert.deepEqual(out.task, { ok: true, value: { direct: "Bearer", redirected: "TypeError" } });
  assert.deepEqual(out.keys, { ok: true, value: ["wd-1"] });
  assert.equal(svc.revoked.length, 2, "completeTask, and withTask's own revocation");
  assert.equal(out.completeRedirect.code, "malformed");
  assert.match(out.completeRedirect.cause, /HTTP 302/);
  assert.equal(out.exchangeRedirect.code, "server_error");
  assert.match(out.exchangeRedirect.cause, /HTTP 302/);
  assert.equal(out.keysRedirect.code, "unknown_key");
  assert.deepEqual(svc.reached, [], "nothing followed a redirect");
});
