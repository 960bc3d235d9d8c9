// A key-bound token revokes itself only with a DPoP proof by its key (DESIGN.md, "Proof of
// possession"): Verifier#authorizeRevocation decides (the core's rule), completeTask of the
// full entry sends the proof (`dpop: { key }`), tasktoken/verify refuses the option, and
// withTask ends a bound task with a proof. The stand-in authority decides with
// authorizeRevocation, as `tasktoken serve` and the gateway do.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import {
  Issuer, Verifier, completeTask, createProof, generateKey, generateProofKey, withTask,
} from "tasktoken";
import * as verifyOnly from "tasktoken/verify";

const ISS = "https://auth.example";
const { privateJwk, publicJwk } = generateKey({ kid: "rv-1" });
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const verifier = () => new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: ISS });
const URL_ = `${ISS}/revocation/revoke`;

const mint = (cnfJkt, extra = {}) => issuer.mint({
  sub: "agent:lookup-bot", aud: ISS, task: "lookup-4821", scope: "customers:read",
  res: ["customers/4821"], ttl: 60, ...(cnfJkt ? { cnfJkt } : {}), ...extra,
});

const code = (fn) => {
  try {
    fn();
    return "ok";
  } catch (error) {
    return error.code;
  }
};

test("authorizeRevocation: a bound token needs its key's proof for the revocation request", () => {
  const holder = generateProofKey();
  const thief = generateProofKey({ alg: "ES256" });
  const token = mint(holder.jkt);
  const v = verifier();
  const proof = (key, over = {}) =>
    createProof({ key: key.privateJwk, method: "POST", url: URL_, token, ...over });
  const dpop = (p, method = "POST", url = URL_) => ({ dpop: { proof: p, method, url } });
  // What a copy out of a log could do before: revoke it as Bearer.
  assert.equal(code(() => v.authorizeRevocation(token)), "binding_required");
  assert.equal(code(() => v.authorizeRevocation(token, undefined, dpop(proof(thief)))), "binding_mismatch");
  assert.equal(code(() => v.authorizeRevocation(token, undefined,
    dpop(proof(holder, { url: "https://other.example/revocation/revoke" })))), "invalid_proof");
  assert.equal(code(() => v.authorizeRevocation(token, undefined, dpop(proof(holder), "DELETE"))), "invalid_proof");
  assert.equal(code(() => v.authorizeRevocation(token, undefined,
    dpop(proof(holder, { token: mint(holder.jkt) })))), "invalid_proof");
  const good = proof(holder);
  assert.equal(v.authorizeRevocation(token, undefined, dpop(good)).sub, "agent:lookup-bot");
  assert.equal(code(() => v.authorizeRevocation(token, undefined, dpop(good))), "proof_replayed");
  // Unbound: as before, and a proof with it proves nothing.
  const bearer = mint();
  assert.equal(v.authorizeRevocation(bearer).jti, v.verifyForRevocation(bearer).jti);
  const needless = createProof({ key: holder.privateJwk, method: "POST", url: URL_, token: bearer });
  assert.equal(code(() => v.authorizeRevocation(bearer, undefined, dpop(needless))), "binding_mismatch");
  // A bound caller of a revocation of another token proves its key too.
  const admin = issuer.mint({ sub: "human:ops", aud: ISS, task: "cleanup", scope: "tokens:revoke",
    res: ["tokens/*"], ttl: 60, cnfJkt: holder.jkt });
  assert.equal(code(() => v.authorizeRevocation(admin, bearer)), "binding_required");
  const forAdmin = createProof({ key: holder.privateJwk, method: "POST", url: URL_, token: admin });
  assert.equal(v.authorizeRevocation(admin, bearer, dpop(forAdmin)).jti, v.verifyForRevocation(bearer).jti);
  // Option shapes.
  for (const bad of [null, "x", { proof: 1, method: "POST", url: URL_ }, { proof: good, method: "POST" },
    { proof: good, method: "POST", url: URL_, nonce: 3 }]) {
    assert.equal(code(() => v.authorizeRevocation(token, undefined, { dpop: bad })), "malformed");
  }
});

/** A stand-in revocation authority deciding with authorizeRevocation for its own URL. */
function authority(t, { nonce } = {}) {
  const v = verifier();
  const seen = [];
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const auth = req.headers.authorization ?? "";
      const [scheme, token] = auth.split(" ");
      const proof = req.headers.dpop;
      seen.push({ scheme, proof: proof !== undefined });
      const answer = (status, body, headers = {}) =>
        res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
      const claims = (jws) => JSON.parse(atob(jws.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      if (nonce !== undefined && proof !== undefined && !claims(proof).nonce) {
        return answer(401, { error: "invalid_proof" },
          { "dpop-nonce": nonce, "www-authenticate": 'DPoP error="use_dpop_nonce"' });
      }
      try {
        const dpop = scheme === "DPoP"
          ? { dpop: { proof, method: req.method, url: URL_, ...(nonce ? { nonce } : {}) } } : {};
        const claims = v.authorizeRevocation(token, undefined, dpop);
        answer(200, { revoked: claims.jti, exp: claims.exp, new: true });
      } catch (error) {
        answer(401, { error: error.code, message: error.message });
      }
    });
    server.listen(0, "127.0.0.1", () => {
      t.after(() => new Promise((r) => server.close(r)));
      // The proof names the authority's public URL; the socket is local.
      const port = server.address().port;
      const local = (input, init) => fetch(String(input).replace(ISS, `http://127.0.0.1:${port}`), init);
      resolve({ seen, fetch: local });
    });
  });
}

test("completeTask with dpop: the bound token as DPoP with a proof for the authority's URL", async (t) => {
  const holder = generateProofKey();
  const token = mint(holder.jkt);
  const service = await authority(t);
  await assert.rejects(completeTask(token, URL_, { fetch: service.fetch }), { code: "binding_required" });
  await completeTask(token, URL_, { fetch: service.fetch, dpop: { key: holder.privateJwk } });
  // Another key's proof is the authority's binding_mismatch.
  const thief = generateProofKey();
  await assert.rejects(completeTask(token, URL_, { fetch: service.fetch, dpop: { key: thief.privateJwk } }),
    { code: "binding_mismatch" });
  assert.deepEqual(service.seen.map((s) => s.scheme), ["Bearer", "DPoP", "DPoP"]);
  // An unbound token still goes as Bearer without the option.
  await completeTask(mint(), new URL(URL_), { fetch: service.fetch });
});

test("completeTask with dpop follows the authority's nonce once", async (t) => {
  const holder = generateProofKey({ alg: "ES256" });
  const service = await authority(t, { nonce: "n-42" });
  await completeTask(mint(holder.jkt), URL_, { fetch: service.fetch, dpop: { key: holder.privateJwk } });
  assert.equal(service.seen.length, 2);
});

test("completeTask: dpop is malformed in tasktoken/verify, with a function or object authority, or without a key", async () => {
  const holder = generateProofKey();
  const token = mint(holder.jkt);
  let sent = 0;
  const fetch = async () => {
    sent++;
    return new Response("{}");
  };
  const dpop = { key: holder.privateJwk };
  for (const [name, call] of Object.entries({
    verifyOnly: () => verifyOnly.completeTask(token, URL_, { fetch, dpop }),
    function: () => completeTask(token, async () => {}, { dpop }),
    object: () => completeTask(token, { revoke: async () => {} }, { dpop }),
    "no key": () => completeTask(token, URL_, { fetch, dpop: {} }),
    "not an object": () => completeTask(token, URL_, { fetch, dpop: "key" }),
  })) {
    await assert.rejects(call(), (error) => error.code === "malformed" && !error.message.includes(token), name);
  }
  // A public key cannot sign: the core's refusal, before anything is sent.
  await assert.rejects(completeTask(token, URL_, { fetch, dpop: { key: holder.publicJwk } }),
    (error) => error.code !== undefined && !error.message.includes(token));
  assert.equal(sent, 0);
});

test("withTask with dpop revokes its bound token with a proof", async (t) => {
  const holder = generateProofKey();
  const service = await authority(t);
  let minted;
  // The token endpoint binds what it mints to the key (as `tasktoken serve` does for a proof).
  const send = async (input, init) => {
    if (String(input).endsWith("/token")) {
      minted = mint(holder.jkt);
      return Response.json({ access_token: minted, issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
        token_type: "DPoP", expires_in: 60, scope: "customers:read" });
    }
    return service.fetch(input, init);
  };
  const done = await withTask({ service: ISS, subjectToken: "a.b.c", audience: ISS, scope: "customers:read",
    res: ["customers/4821"], task: "lookup-4821", fetch: send, dpop: { key: holder.privateJwk } }, () => "done");
  assert.equal(done, "done");
  assert.deepEqual(service.seen, [{ scheme: "DPoP", proof: true }], "revoked once, with a proof");
  assert.equal(code(() => verifier().authorizeRevocation(minted)), "binding_required");
});
