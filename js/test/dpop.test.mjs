// Proof of possession (DPoP, RFC 9449) through the package: proof keys and proofs, the
// verifier's checks, the guards' `Authorization: DPoP` handling and challenges, the fetch
// wrapper, and proofs made by jose.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import test from "node:test";

import * as jose from "jose";
import {
  Issuer, Verifier, createProof, dpopFetch, generateKey, generateProofKey, guard, guardNode,
} from "tasktoken";

const ISS = "https://auth.example";
const URL_ = "https://api.example/customers/4821";
const { privateJwk, publicJwk } = generateKey({ kid: "k1" });
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const verifierOptions = { issuers: { [ISS]: { keys: [publicJwk] } }, audience: "crm-api" };
const mintRequest = { sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821",
  scope: "customers:read", res: ["customers/4821"], ttl: 60 };
const route = { action: "customers:read", resource: "customers/4821" };
const code = (fn) => {
  try {
    fn();
    return "ok";
  } catch (error) {
    return error.code;
  }
};

for (const alg of ["EdDSA", "ES256"]) {
  test(`${alg}: a bound token verifies with a fresh proof, once`, () => {
    const proofKey = generateProofKey({ alg });
    assert.equal(proofKey.privateJwk.kty, alg === "ES256" ? "EC" : "OKP");
    assert.equal(proofKey.publicJwk.d, undefined);
    const token = issuer.mint({ ...mintRequest, cnfJkt: proofKey.jkt });
    const verifier = new Verifier(verifierOptions);
    const proof = createProof({ key: proofKey.privateJwk, method: "GET", url: `${URL_}?q=1`, token });
    const dpop = { proof, method: "GET", url: URL_ };
    assert.equal(verifier.verify(token, { ...route, dpop }).cnf.jkt, proofKey.jkt);
    assert.equal(code(() => verifier.verify(token, { ...route, dpop })), "proof_replayed");
    assert.equal(code(() => verifier.verify(token, route)), "binding_required");
    const fresh = () => createProof({ key: proofKey.privateJwk, method: "GET", url: URL_, token });
    assert.equal(code(() => verifier.verify(token, { ...route, dpop: { ...dpop, proof: fresh(), method: "POST" } })),
      "invalid_proof");
    const other = generateProofKey({ alg });
    const foreign = createProof({ key: other.privateJwk, method: "GET", url: URL_, token });
    assert.equal(code(() => verifier.verify(token, { ...route, dpop: { ...dpop, proof: foreign } })),
      "binding_mismatch");
    const stale = createProof({ key: proofKey.privateJwk, method: "GET", url: URL_, token,
      now: Date.now() / 1000 - 120 });
    assert.equal(code(() => verifier.verify(token, { ...route, dpop: { ...dpop, proof: stale } })),
      "invalid_proof");
    const copied = issuer.mint({ ...mintRequest, cnfJkt: proofKey.jkt });
    assert.equal(code(() => verifier.verify(copied, { ...route, dpop: { ...dpop, proof: fresh() } })),
      "invalid_proof", "a proof for another token (ath)");
    // Two answers to "which key?": refused by the core, neither one ignored.
    assert.equal(code(() => verifier.verify(token, { ...route, dpop: { ...dpop, proof: fresh() },
      keyThumbprint: proofKey.jkt })), "malformed");
  });
}

test("guard: DPoP scheme, challenges, and the rules of RFC 9449 §7.1", async () => {
  const proofKey = generateProofKey();
  const bound = issuer.mint({ ...mintRequest, cnfJkt: proofKey.jkt });
  const unbound = issuer.mint(mintRequest);
  const verifier = new Verifier(verifierOptions);
  const call = (scheme, token, proof, method = "GET") => {
    const headers = { authorization: `${scheme} ${token}` };
    if (proof !== undefined) headers.dpop = proof;
    return guard(new Request(URL_, { method, headers }), verifier, route);
  };
  const proof = (token, method = "GET") =>
    createProof({ key: proofKey.privateJwk, method, url: URL_, token });
  assert.equal(call("DPoP", bound, proof(bound)).ok, true);
  const cases = [
    ["a bound token as Bearer", call("Bearer", bound), "binding_required", 'DPoP algs="EdDSA ES256", error="invalid_token"'],
    ["an unbound token as DPoP", call("DPoP", unbound, proof(unbound)), "binding_mismatch", 'error="invalid_token"'],
    ["no DPoP header", call("DPoP", bound), "invalid_proof", 'error="invalid_dpop_proof"'],
    ["two DPoP headers", call("DPoP", bound, `${proof(bound)}, ${proof(bound)}`), "invalid_proof", 'error="invalid_dpop_proof"'],
    ["a proof for POST", call("DPoP", bound, proof(bound, "POST")), "invalid_proof", 'error="invalid_dpop_proof"'],
  ];
  for (const [what, result, expected, challenge] of cases) {
    assert.equal(result.ok, false, what);
    assert.equal(result.error.code, expected, what);
    assert.equal(result.response.status, 401, what);
    assert.ok(result.response.headers.get("www-authenticate").includes(challenge),
      `${what}: ${result.response.headers.get("www-authenticate")}`);
  }
  const replayed = proof(bound);
  assert.equal(call("DPoP", bound, replayed).ok, true);
  const again = call("DPoP", bound, replayed);
  assert.equal(again.error.code, "proof_replayed");
  assert.match(again.response.headers.get("www-authenticate"), /^DPoP .*error="invalid_dpop_proof"/);
  // Bearer tokens keep working as before.
  assert.equal(guard(new Request(URL_, { headers: { authorization: `Bearer ${unbound}` } }),
    verifier, route).ok, true);
});

test("dpopFetch: two lines for an agent, against guardNode, with a server nonce", async (t) => {
  const proofKey = generateProofKey({ alg: "ES256" });
  const token = issuer.mint({ ...mintRequest, cnfJkt: proofKey.jkt });
  const verifier = new Verifier(verifierOptions);
  let asked = 0;
  let nonce = "n-1";
  const server = createServer((req, res) => {
    asked++;
    // A server that uses nonces: a proof without the current one is answered use_dpop_nonce.
    const claims = guardNode(req, res, verifier,
      { ...route, origin: `http://${req.headers.host}`, dpopNonce: () => nonce });
    if (claims) res.writeHead(200).end(claims.sub);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${server.address().port}`;
  const call = dpopFetch({ key: proofKey.privateJwk, token });
  const res = await call(`${base}/customers/4821`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "agent:lookup-bot");
  assert.equal(asked, 2, "retried once with the nonce");
  assert.equal((await call(`${base}/customers/4821`)).status, 200, "every request a new proof");
  assert.equal(asked, 3, "the nonce was remembered");
  nonce = "n-2"; // the server rotates its nonce: one more round trip, then on
  assert.equal((await call(`${base}/customers/4821`)).status, 200);
  assert.equal(asked, 5);
  // A proof that does not carry the nonce: 401 use_dpop_nonce with the nonce to use.
  const stale = createProof({ key: proofKey.privateJwk, method: "GET", url: `${base}/customers/4821`, token });
  const raw = await fetch(`${base}/customers/4821`, { headers: { authorization: `DPoP ${token}`, dpop: stale } });
  assert.equal(raw.status, 401);
  assert.equal(raw.headers.get("dpop-nonce"), "n-2");
  assert.match(raw.headers.get("www-authenticate"), /error="use_dpop_nonce"/);
});

test("proofs made by jose verify here, and ours verify in jose", async () => {
  const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const jkt = await jose.calculateJwkThumbprint(jwk, "sha256");
  const token = issuer.mint({ ...mintRequest, cnfJkt: jkt });
  const ath = jose.base64url.encode(new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(token))));
  const proof = await new jose.SignJWT({ htm: "GET", htu: URL_, ath })
    .setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk })
    .setJti(crypto.randomUUID()).setIssuedAt().sign(privateKey);
  const verifier = new Verifier(verifierOptions);
  assert.equal(verifier.verify(token, { ...route, dpop: { proof, method: "GET", url: URL_ } }).cnf.jkt, jkt);

  for (const alg of ["EdDSA", "ES256"]) {
    const ours = generateProofKey({ alg });
    const made = createProof({ key: ours.privateJwk, method: "POST", url: URL_, token });
    const { payload, protectedHeader } = await jose.jwtVerify(made, jose.EmbeddedJWK, { typ: "dpop+jwt" });
    assert.equal(payload.htm, "POST");
    assert.equal(await jose.calculateJwkThumbprint(protectedHeader.jwk, "sha256"), ours.jkt);
  }
});

test("oauth4webapi's DPoP client is accepted by guardNode (RFC 9449 interop)", async (t) => {
  const oauth = await import("oauth4webapi");
  for (const alg of ["ES256", "EdDSA"]) {
    const keyPair = await oauth.generateKeyPair(alg, { extractable: true });
    const publicJwk = await crypto.subtle.exportKey("jwk", keyPair.publicKey);
    const jkt = await jose.calculateJwkThumbprint(publicJwk, "sha256");
    const token = issuer.mint({ ...mintRequest, cnfJkt: jkt });
    const verifier = new Verifier(verifierOptions);
    const server = createServer((req, res) => {
      const claims = guardNode(req, res, verifier, { ...route, origin: `http://${req.headers.host}` });
      if (claims) res.writeHead(200).end(claims.task);
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    t.after(() => server.close());
    const url = new URL(`http://127.0.0.1:${server.address().port}/customers/4821`);
    const DPoP = oauth.DPoP({ client_id: "agent" }, keyPair);
    const response = await oauth.protectedResourceRequest(token, "GET", url, new Headers(), null,
      { DPoP, [oauth.allowInsecureRequests]: true });
    assert.equal(response.status, 200, `${alg}: ${response.headers.get("www-authenticate")}`);
    assert.equal(await response.text(), "lookup-4821");
  }
});

test("guardNode checks proofs against its own origin, never the request's word", () => {
  const proofKey = generateProofKey();
  const token = issuer.mint({ ...mintRequest, cnfJkt: proofKey.jkt });
  const verifier = new Verifier(verifierOptions);
  const answer = (req, options) => {
    let status = 0;
    const res = { writeHead: (s) => { status = s; }, end: () => {} };
    const claims = guardNode(req, res, verifier, { ...route, ...options });
    return claims ? 200 : status;
  };
  const request = (url, proofUrl, host = "api.example") => ({
    method: "GET", url,
    headers: { host, authorization: `DPoP ${token}`,
      dpop: createProof({ key: proofKey.privateJwk, method: "GET", url: proofUrl, token }) },
  });
  const origin = "https://api.example";
  assert.equal(answer(request("/customers/4821", `${origin}/customers/4821`), { origin }), 200);
  // A proof made for another server, replayed here with that server's name.
  const elsewhere = "http://other.internal/customers/4821";
  assert.equal(answer(request("/customers/4821", elsewhere, "other.internal"), { origin }), 401);
  assert.equal(answer(request(elsewhere, elsewhere), { origin }), 400, "absolute-form target");
  assert.equal(answer(request("//other.internal/customers/4821", elsewhere), { origin }), 400);
  assert.equal(answer(request("/customers/4821", elsewhere, "other.internal"), {}), 400,
    "no origin configured: DPoP is refused, not checked against the Host header");
});

test("an exactCheck that verifies again cannot exhaust the wasm stack", async () => {
  const { RevocationReplica, signRevocationSnapshot } = await import("tasktoken");
  const token = issuer.mint(mintRequest);
  const { jti } = new Verifier(verifierOptions).verify(token, route);
  const t = Math.floor(Date.now() / 1000);
  const replica = new RevocationReplica({ keys: { keys: [publicJwk] }, loader: () => null });
  replica.offer(signRevocationSnapshot(privateJwk,
    { issuer: ISS, jtis: [jti], serial: 1, issuedAt: t, nextUpdate: t + 300 }));
  let calls = 0;
  let verifier;
  const exactCheck = () => {
    calls++;
    try {
      verifier.verify(token, route);
    } catch {}
    return false;
  };
  verifier = new Verifier({ ...verifierOptions, revocation: replica, exactCheck });
  assert.equal(code(() => verifier.verify(token, route)), "ok");
  assert.ok(calls <= 5, `${calls} nested calls`);
  // The replica is not left borrowed: it still takes data and serves verifications.
  assert.equal(replica.offer(signRevocationSnapshot(privateJwk,
    { issuer: ISS, jtis: [], serial: 2, issuedAt: t, nextUpdate: t + 300 })), "replaced");
  assert.equal(new Verifier({ ...verifierOptions, revocation: replica }).verify(token, route).jti, jti);
});
