// Inputs that once got through or broke things (from review): each gives a clear
// TaskTokenError, fails closed, leaks nothing, and leaves the module working.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import {
  Issuer, RevocationFilter, RevocationReplica, TaskTokenError, Verifier, completeTask,
  generateKey, guard,
} from "tasktoken";
import { base64url } from "./suite/vectors.js";

const vectors = (name) =>
  JSON.parse(readFileSync(new URL(`../../tests/vectors/${name}`, import.meta.url), "utf8"));
const rev = vectors("revocation.json");
const tokens = vectors("tokens.json");
const isCode = (code) => (e) => e instanceof TaskTokenError && e.code === code;

test("exactCheck overrules a hit only by returning exactly false", () => {
  const filter = RevocationFilter.fromSnapshot(base64url(rev.snapshot.bytes), rev.keys);
  const c = tokens.cases.find((x) => x.name === "valid_basic"); // its jti is in the snapshot
  const now = rev.snapshot.issuedAt + 10;
  for (const answer of [undefined, null, 0, "", "no", Promise.resolve(false)]) {
    const v = new Verifier({ ...tokens.verifiers.default, revocation: filter, exactCheck: () => answer });
    assert.throws(() => v.verify(c.token, { ...c.request, now }), isCode("revoked"), String(answer));
  }
});

test("a private key in the wrong place is refused without echoing it", () => {
  const { privateJwk } = generateKey({ kid: "leak" });
  const attempts = [
    () => new Issuer({ iss: "https://a", key: JSON.stringify(privateJwk) }),
    () => new Verifier({ issuers: { "https://a": { keys: [privateJwk.d] } }, audience: "x" }),
    () => new Issuer({ iss: "https://a", key: privateJwk, maxTtl: privateJwk.d }),
  ];
  for (const attempt of attempts) {
    assert.throws(attempt, (e) => {
      assert.ok(e instanceof TaskTokenError && e.code === "malformed");
      assert.ok(!e.message.includes(privateJwk.d), e.message);
      return true;
    });
  }
});

test("deeply nested options are refused before wasm, and the module keeps working", () => {
  let deep = {};
  for (let i = 0; i < 5000; i++) deep = { a: deep };
  const { privateJwk, publicJwk } = generateKey({ kid: "deep" });
  const issuer = new Issuer({ iss: "https://a", key: privateJwk });
  const request = { sub: "s", aud: "x", task: "t", scope: "r", res: ["r"], ttl: 60 };
  assert.throws(() => issuer.mint({ ...request, claims: { deep } }), isCode("malformed"));
  assert.throws(() => new Verifier({ issuers: { "https://a": { keys: [deep] } }, audience: "x" }),
    isCode("malformed"));
  let sixty = {};
  for (let i = 0; i < 70; i++) sixty = { a: sixty };
  assert.throws(() => issuer.mint({ ...request, claims: { sixty } }), isCode("invalid_claim"),
    "the issuer refuses what verifiers could not parse");
  const token = issuer.mint(request);
  const v = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "x" });
  assert.equal(v.verify(token, { action: "r", resource: "r" }).sub, "s");
});

test("guard: an unreadable Bearer header cannot be outvoted by a query parameter", async () => {
  const { privateJwk, publicJwk } = generateKey({ kid: "g" });
  const token = new Issuer({ iss: "https://a", key: privateJwk })
    .mint({ sub: "s", aud: "x", task: "t", scope: "r", res: ["r"], ttl: 60 });
  const v = new Verifier({ issuers: { "https://a": { keys: [publicJwk] } }, audience: "x" });
  for (const header of [`Bearer ${token} junk`, `Bearer\t${token}`, "Bearer"]) {
    const request = new Request(`https://h/r?tt=${token}`, { headers: { authorization: header } });
    const gate = guard(request, v, { action: "r", resource: "r", query: "tt" });
    assert.equal(gate.ok, false, header);
    assert.equal(gate.response.status, 400);
  }
  const basic = new Request(`https://h/r?tt=${token}`, { headers: { authorization: "Basic eDp5" } });
  assert.equal(guard(basic, v, { action: "r", resource: "r", query: "tt" }).ok, true,
    "another scheme is not a bearer token");
  const secret = guard(new Request("https://h/r", { headers: { authorization: `Bearer ${token}` } }), v,
    { action: "r", resource: () => { throw new Error("db password=hunter2 ☃"); } });
  assert.equal(secret.response.status, 400);
  assert.ok(!secret.response.headers.get("www-authenticate").includes("hunter2"));
});

test("completeTask refuses redirects and odd answers, and wraps network failures", async (t) => {
  const server = createServer((req, res) => {
    if (req.url === "/redirect") return res.writeHead(302, { location: "/ok" }).end();
    if (req.url === "/odd") {
      return res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"x":1}}');
    }
    res.writeHead(200).end("ok");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise((r) => server.close(r)));
  const base = `http://127.0.0.1:${server.address().port}`;
  await assert.rejects(completeTask("a.b.c", `${base}/redirect`), isCode("malformed"));
  await assert.rejects(completeTask("a.b.c", `${base}/odd`), isCode("malformed"));
  await assert.rejects(completeTask("a.b.c", "http://127.0.0.1:1/"), isCode("malformed"));
});

test("replica and verifier options are checked", () => {
  assert.throws(() => new RevocationReplica({ keys: rev.keys, loader: () => null, interval: Infinity }),
    isCode("malformed"));
  assert.throws(() => new Verifier({ ...tokens.verifiers.default, onStaleRevocation: true }),
    isCode("malformed"));
});

test("a replica URL with a query string keeps it", async () => {
  const seen = [];
  const replica = new RevocationReplica({
    keys: rev.keys, url: "https://cdn.example/rev/?sig=abc",
    fetch: async (url) => {
      seen.push(String(url));
      return new Response(base64url(rev.snapshot.bytes));
    },
  });
  await replica.refresh();
  assert.equal(seen[0], "https://cdn.example/rev/snapshot?sig=abc");
  assert.equal(seen[1], "https://cdn.example/rev/delta/41?sig=abc");
});
