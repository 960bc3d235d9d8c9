// No redirect is ever followed, in a way every runtime accepts: workerd refuses
// `fetch(..., { redirect: "error" })` ("Invalid redirect value, must be one of follow or
// manual"), so the package asks for "manual" and refuses a 3xx, or a browser's status-0
// `opaqueredirect`, as "error" would have. A fetch that behaves like workerd's stands in for
// it here; tests/runtime/workerd.test.mjs runs the same calls in real workerd.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import {
  Issuer, RemoteKeySet, completeTask, exchangeToken, generateKey, withTask,
} from "tasktoken";

const ISS = "https://auth.example";
const { privateJwk, publicJwk } = generateKey({ kid: "redir-1" });
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const request = {
  subjectToken: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln", audience: "crm-api",
  scope: "customers:read", res: ["customers/4821"], task: "lookup-4821",
};

/** workerd's fetch, as far as redirects go: "error" is refused, the rest is Node's. */
const workerdFetch = (seen) => (input, init) => {
  const redirect = init?.redirect ?? (input instanceof Request ? input.redirect : "follow");
  seen?.push(redirect);
  if (redirect === "error") {
    return Promise.reject(new TypeError("Invalid redirect value, must be one of \"follow\" or \"manual\""));
  }
  return fetch(input, init);
};

/**
 * A token service, API and JWKS in one: `/redirect/*` answers 302 to `/elsewhere`, which
 * records who reached it; the rest answers as the service would.
 */
async function server(t) {
  const reached = [];
  const http = createServer((req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    if (path.startsWith("/redirect")) return res.writeHead(302, { location: "/elsewhere" }).end();
    if (path === "/elsewhere") {
      reached.push(req.headers.authorization ?? "none");
      return res.writeHead(200, { "content-type": "application/json" }).end('{"keys":[]}');
    }
    const json = (value) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(value));
    if (path.endsWith("/revocation/revoke")) return json({ revoked: "jti" });
    if (path.endsWith("/token")) {
      const token = issuer.mint({ sub: "ci", aud: "crm-api", task: "t", scope: "customers:read",
        res: ["customers/4821"], ttl: 60 });
      return json({ access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
        token_type: "Bearer", expires_in: 60 });
    }
    if (path.endsWith("/jwks.json")) return json({ keys: [publicJwk] });
    if (path === "/api") return res.writeHead(200).end("ok");
    res.writeHead(404).end();
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => http.close(r)));
  return { url: `http://127.0.0.1:${http.address().port}`, reached };
}

test("with a fetch that refuses redirect: \"error\" (workerd), every client works and asks for \"manual\"", async (t) => {
  const { url } = await server(t);
  const seen = [];
  const fetch = workerdFetch(seen);
  await completeTask("a.b.c", `${url}/revocation/revoke`, { fetch });
  const granted = await exchangeToken({ ...request, service: url, fetch });
  assert.equal(granted.tokenType, "Bearer");
  const keys = new RemoteKeySet({ url: `${url}/.well-known/jwks.json`, fetch });
  assert.deepEqual(await keys.refresh(), { keys: [publicJwk] });
  const answer = await withTask({ ...request, service: url, fetch }, async (task) => (await task.fetch(`${url}/api`)).text());
  assert.equal(answer, "ok");
  assert.ok(seen.length >= 6 && seen.every((r) => r === "manual"), String(seen));
});

test("a 302 is refused as before, and nothing reaches where it points", async (t) => {
  const { url, reached } = await server(t);
  const fetch = workerdFetch();
  for (const f of [fetch, undefined]) {
    await assert.rejects(completeTask("a.b.c", `${url}/redirect/revoke`, { fetch: f }),
      (e) => e.code === "malformed" && /could not be reached/.test(e.message) && /302/.test(e.cause.message));
    await assert.rejects(exchangeToken({ ...request, service: `${url}/redirect`, fetch: f }),
      (e) => e.code === "server_error" && /could not be reached/.test(e.message));
    const errors = [];
    const keys = new RemoteKeySet({ url: `${url}/redirect/jwks.json`, fetch: f, onError: (e) => errors.push(e) });
    await assert.rejects(keys.refresh(), { code: "unknown_key" });
    assert.match(errors[0].cause.message, /redirect \(HTTP 302\)/);
    await withTask({ ...request, service: url, fetch: f }, async (task) => {
      await assert.rejects(task.fetch(`${url}/redirect/api`), TypeError, "a redirect is an error");
      const manual = await task.fetch(`${url}/redirect/api`, { redirect: "manual" });
      assert.equal(manual.status, 302, "asked for: the answer");
    });
  }
  assert.deepEqual(reached, []);
});

test("a browser's opaqueredirect (status 0) is refused as a redirect", async () => {
  const opaque = () => {
    const response = new Response(null, { status: 200 });
    return Object.defineProperties(response, {
      type: { value: "opaqueredirect" }, status: { value: 0 }, ok: { value: false },
    });
  };
  const fetch = async () => opaque();
  await assert.rejects(completeTask("a.b.c", "https://auth.example/revocation/revoke", { fetch }),
    (e) => e.code === "malformed" && /redirect/.test(e.cause.message));
  await assert.rejects(exchangeToken({ ...request, service: "https://auth.example", fetch }),
    (e) => e.code === "server_error" && /redirect/.test(e.cause.message));
  const errors = [];
  const keys = new RemoteKeySet({ url: "https://auth.example/jwks.json", fetch, onError: (e) => errors.push(e) });
  await assert.rejects(keys.refresh(), { code: "unknown_key" });
  assert.match(errors[0].cause.message, /redirect \(HTTP 0\)/);
});
