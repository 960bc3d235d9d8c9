// Export links: minting (one action, one resource, token in the fragment), local checks and
// their states, and fetchLink's request shape.
import { test } from "node:test";
import { createServer } from "node:http";
import assert from "node:assert/strict";
import { Issuer, Verifier, checkLink, fetchLink, generateKey, linkToken, mintLink } from "tasktoken";

const { privateJwk, publicJwk } = generateKey({ kid: "l1" });
const issuer = new Issuer({ iss: "https://a", key: privateJwk });
const verifier = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "exports" });
const base = { sub: "user:alice", aud: "exports", task: "export-1", ttl: 120 };
const request = { verifier, action: "datasets:export", resource: "datasets/1" };

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
  assert.equal((await fetchLink(url)).status, 200);
  assert.deepEqual(seen, [{ path: "/d?x=1", auth: `Bearer ${linkToken(url)}`, referer: undefined }]);
});
