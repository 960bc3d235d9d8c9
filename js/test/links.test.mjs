// Export links: minting (one action, one resource, token in the fragment), local checks and
// their states, fetchLink's request shape, and the origin a link is tied to.
import { test } from "node:test";
import { createServer } from "node:http";
import assert from "node:assert/strict";
import {
  Issuer, TaskTokenError, Verifier, checkLink, fetchLink, generateKey, linkToken, mintLink,
} from "tasktoken";

const { privateJwk, publicJwk } = generateKey({ kid: "l1" });
const issuer = new Issuer({ iss: "https://a", key: privateJwk });
const verifier = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "exports" });
const base = { sub: "user:alice", aud: "exports", task: "export-1", ttl: 120 };
// Node has no page: every check names the origin links must be on.
const request = { verifier, action: "datasets:export", resource: "datasets/1", origin: "https://x" };
const isMalformed = (e) => e instanceof TaskTokenError && e.code === "malformed";

test("a link carries its token in the fragment only", () => {
  const url = mintLink(issuer, { ...base, url: "https://app.example/exports/1/download?v=2",
    action: "datasets:export", resource: "datasets/1" });
  const parsed = new URL(url);
  assert.equal(parsed.pathname + parsed.search, "/exports/1/download?v=2");
  assert.match(parsed.hash, /^#tt=ey/);
  assert.equal(linkToken(url), parsed.hash.slice(4));
  assert.throws(() => mintLink(issuer, { ...base, url: "https://x/#a", action: "a", resource: "r" }),
    { code: "malformed" });
  assert.throws(() => mintLink(issuer, { ...base, url: "https://x/", action: "a b", resource: "r" }),
    { code: "invalid_claim" });
  assert.throws(() => mintLink(issuer, { ...base, url: "https://x/", action: "a", resource: "datasets/*" }),
    { code: "invalid_claim" });
});

test("checkLink: valid with time left, expired, not yet valid, wrong resource, invalid", () => {
  const url = (extra = {}, now) => mintLink({ mint: (r) => issuer.mint(r, { now }) },
    { ...base, url: "https://x/d", action: "datasets:export", resource: "datasets/1", ...extra });
  const t = Math.floor(Date.now() / 1000);
  const valid = checkLink(url(), { ...request, now: t + 20 });
  assert.equal(valid.state, "valid");
  assert.ok(valid.secondsLeft >= 99 && valid.secondsLeft <= 100, String(valid.secondsLeft));
  assert.equal(checkLink(url({}, t - 1000), request).state, "expired");
  assert.equal(checkLink(url({ nbf: t + 600 }), request).state, "not_yet_valid");
  assert.equal(checkLink(url(), { ...request, resource: "datasets/2" }).state, "wrong_resource");
  assert.deepEqual(checkLink("https://x/d", request).code, "malformed");
  assert.equal(checkLink("https://x/d#tt=a.b.c", request).state, "invalid");
});

test("fetchLink sends the token as a Bearer header, never in the URL", async (t) => {
  const seen = [];
  const server = createServer((req, res) => {
    seen.push({ path: req.url, auth: req.headers.authorization, referer: req.headers.referer });
    res.end("ok");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  const url = mintLink(issuer, { ...base, url: `http://127.0.0.1:${server.address().port}/d?x=1`,
    action: "a", resource: "r" });
  assert.equal((await fetchLink(url, { origin: `http://127.0.0.1:${server.address().port}` })).status, 200);
  assert.deepEqual(seen, [{ path: "/d?x=1", auth: `Bearer ${linkToken(url)}`, referer: undefined }]);
});

/** Replaces the global fetch with one that records its calls, for the length of `fn`. */
async function withRecordedFetch(fn) {
  const calls = [];
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (...args) => {
    calls.push(args);
    return new Response("ok");
  };
  try {
    await fn();
  } finally {
    globalThis.fetch = realFetch;
  }
  return calls;
}

test("a link on another host is refused: checkLink answers wrong_origin without verifying, " +
  "fetchLink throws and requests nothing", async () => {
  const link = (url) => mintLink(issuer, { ...base, url, action: "datasets:export", resource: "datasets/1" });
  const foreign = link("https://evil.example/d");
  const seen = [];
  const spying = { verify: (...args) => seen.push(args) };
  for (const url of [foreign, link("http://x/d"), link("https://x:8443/d"), link("https://sub.x/d")]) {
    assert.deepEqual(checkLink(url, { ...request, verifier: spying }), {
      state: "wrong_origin", code: "malformed", message: "the link is for another origin", secondsLeft: 0,
    }, url);
  }
  assert.deepEqual(seen, [], "a foreign link's token is not even verified");
  assert.equal(checkLink(link("https://x:443/d"), request).state, "valid", "the default port is the origin");
  assert.equal(checkLink(foreign, { ...request, origin: "https://evil.example" }).state, "valid",
    "valid where the caller says links live");
  assert.equal(checkLink(`/d#tt=${linkToken(foreign)}`, request).state, "valid",
    "a relative link is on the origin");

  const calls = await withRecordedFetch(async () => {
    assert.throws(() => fetchLink(foreign, { origin: "https://x" }), isMalformed);
    assert.throws(() => fetchLink(`//evil.example/d#tt=${linkToken(foreign)}`, { origin: "https://x" }),
      isMalformed);
    await fetchLink(link("https://x/d"), { origin: "https://x", method: "POST" });
  });
  assert.equal(calls.length, 1, "only the link on the origin was requested");
  const [target, init] = calls[0];
  assert.equal(String(target), "https://x/d");
  assert.equal(init.method, "POST");
  assert.equal("origin" in init, false, "origin is not a fetch option");
});

test("javascript:, data: and file: links are refused by mintLink, checkLink and fetchLink", async () => {
  const token = linkToken(mintLink(issuer, { ...base, url: "https://x/d", action: "a", resource: "r" }));
  const calls = await withRecordedFetch(() => {
    for (const url of ["javascript:alert(1)", "data:text/html,<b>x</b>", "file:///etc/passwd"]) {
      assert.throws(() => mintLink(issuer, { ...base, url, action: "a", resource: "r" }), isMalformed, url);
      assert.throws(() => checkLink(`${url}#tt=${token}`, request), isMalformed, url);
      assert.throws(() => fetchLink(`${url}#tt=${token}`, { origin: "https://x" }), isMalformed, url);
    }
  });
  assert.deepEqual(calls, []);
});

test("outside a page the origin is required, and must be an http(s) origin", async () => {
  const url = mintLink(issuer, { ...base, url: "https://x/d", action: "datasets:export", resource: "datasets/1" });
  const { origin, ...noOrigin } = request;
  assert.equal(origin, "https://x");
  const calls = await withRecordedFetch(() => {
    assert.throws(() => checkLink(url, noOrigin), (e) => isMalformed(e) && /needs \{ origin \}/.test(e.message));
    assert.throws(() => fetchLink(url), (e) => isMalformed(e) && /needs \{ origin \}/.test(e.message));
    for (const bad of ["x", "https://x/d", "https://x?q", "https://u:p@x", "data:,x", "file:///", 1, null]) {
      assert.throws(() => checkLink(url, { ...request, origin: bad }), isMalformed, String(bad));
      assert.throws(() => fetchLink(url, { origin: bad }), isMalformed, String(bad));
    }
  });
  assert.deepEqual(calls, []);
  for (const good of ["https://x", "https://x/", "HTTPS://X:443", new URL("https://x")]) {
    assert.equal(checkLink(url, { ...request, origin: good }).state, "valid", String(good));
  }
});

test("in a page the page's own origin is the default", async () => {
  const url = mintLink(issuer, { ...base, url: "https://x/d", action: "datasets:export", resource: "datasets/1" });
  const { origin, ...inPage } = request;
  assert.equal(origin, "https://x");
  globalThis.location = new URL("https://x/exports/");
  try {
    assert.equal(checkLink(url, inPage).state, "valid");
    assert.equal(checkLink(`/d#tt=${linkToken(url)}`, inPage).state, "valid");
    assert.equal(checkLink(url.replace("https://x", "https://y"), inPage).state, "wrong_origin");
    const calls = await withRecordedFetch(() => fetchLink(url));
    assert.equal(String(calls[0][0]), "https://x/d");
    // A page that is no http(s) origin (file:, a sandboxed frame) names one explicitly.
    globalThis.location = { origin: "null", href: "file:///page.html" };
    assert.throws(() => checkLink(url, inPage), isMalformed);
    assert.equal(checkLink(url, request).state, "valid");
  } finally {
    delete globalThis.location;
  }
});
