// `make bench`: tasktoken against its peers, in one Node process, on the same tokens,
// interleaved, with a warm-up and several rounds; prints medians and ratios and writes
// target/bench/results.json (scenario → implementation → median µs/op).
//
// Run with `node --experimental-wasm-modules bench/verify.mjs` (Biscuit's package needs the
// flag; without it Biscuit is skipped).
import { createPublicKey, createPrivateKey, sign as nodeSign, verify as nodeVerify, webcrypto } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import * as jose from "jose";
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import { createVerifier as fastJwtVerifier } from "fast-jwt";
import { createHash } from "node:crypto";
import {
  Issuer, RevocationFilter, Verifier, createProof, generateKey, generateProofKey,
  signRevocationSnapshot,
} from "tasktoken";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const TARGET_MS = Number(process.env.BENCH_MS ?? 60);
const N = 256;
const ISS = "https://auth.example";
const AUD = "crm-api";
ed.hashes.sha512 = sha512;

// ----- the same tokens for everyone -------------------------------------------------------
const { privateJwk, publicJwk } = generateKey({ kid: "bench-k1" });
const issuer = new Issuer({ iss: ISS, key: privateJwk });
const request = { sub: "agent:lookup-bot", aud: AUD, task: "lookup-4821", scope: "customers:read",
  res: ["customers/4821"], ttl: 900 };
const tokens = Array.from({ length: N }, (_, i) => issuer.mint({ ...request, task: `lookup-${i}` }));
const now = Math.floor(Date.now() / 1000);
const revokedJtis = Array.from({ length: 1000 }, (_, i) => `revoked-${i}`);
const snapshot = signRevocationSnapshot(privateJwk,
  { issuer: ISS, jtis: revokedJtis, serial: 1, issuedAt: now, nextUpdate: now + 3600 });
const filter = RevocationFilter.fromSnapshot(snapshot, { keys: [publicJwk] });
const config = { issuers: { [ISS]: { keys: [publicJwk] } }, audience: AUD, revocation: filter };
// Cold means cold: no verified-token cache (it would serve the 256 tokens after one pass).
const verifier = new Verifier({ ...config, cacheSize: 0 });
const cachedVerifier = new Verifier(config);
const check = { action: "customers:read", resource: "customers/4821" };

const joseKey = await jose.importJWK(publicJwk, "EdDSA");
const joseOptions = { issuer: ISS, audience: AUD, typ: "tt+jwt", algorithms: ["EdDSA"] };
const nodeKey = createPublicKey({ key: publicJwk, format: "jwk" });
const webKey = await webcrypto.subtle.importKey("jwk", publicJwk, { name: "Ed25519" }, false, ["verify"]);
const rawPublic = Buffer.from(publicJwk.x, "base64url");
const fastJwt = fastJwtVerifier({ key: nodeKey.export({ type: "spki", format: "pem" }),
  algorithms: ["EdDSA"], allowedIss: ISS, allowedAud: AUD });

/** The minimal JWS split that the native-floor peers need. */
function split(token) {
  const a = token.indexOf(".");
  const b = token.indexOf(".", a + 1);
  return { input: Buffer.from(token.slice(0, b)), sig: Buffer.from(token.slice(b + 1), "base64url"),
    payload: token.slice(a + 1, b) };
}

function nodeCryptoVerify(token) {
  const { input, sig, payload } = split(token);
  if (!nodeVerify(null, input, nodeKey, sig)) throw new Error("bad signature");
  return JSON.parse(Buffer.from(payload, "base64url"));
}

// ----- Biscuit, when its wasm module can load ------------------------------------------------
let biscuit = null;
try {
  const b = await import("@biscuit-auth/biscuit-wasm");
  const root = new b.KeyPair(b.SignatureAlgorithm.Ed25519);
  const pub = root.getPublicKey();
  const built = Array.from({ length: N }, (_, i) => {
    const builder = new b.BiscuitBuilder();
    builder.addCode(`right("customers/4821", "read"); task("lookup-${i}");
      check if time($t), $t < ${now + 900};`);
    return builder.build(root.getPrivateKey()).toBase64();
  });
  biscuit = {
    tokens: built,
    verify(token) {
      const authorizer = new b.AuthorizerBuilder();
      authorizer.addCode(`time(${now}); resource("customers/4821"); operation("read");
        allow if right($r, $o), resource($r), operation($o);`);
      const a = authorizer.buildAuthenticated(b.Biscuit.fromBase64(token, pub));
      a.authorizeWithLimits({ max_time_micro: 1_000_000, max_facts: 1000, max_iterations: 100 });
    },
  };
} catch (error) {
  console.error(`(Biscuit skipped: ${error.message.split("\n")[0]})`);
}

// ----- implementations per scenario ---------------------------------------------------------
const verifyImpls = {
  "tasktoken Verifier.verify (full path + filter)": (t) => verifier.verify(t, check),
  "jose jwtVerify": (t) => jose.jwtVerify(t, joseKey, joseOptions),
  "node crypto.verify (native floor)": nodeCryptoVerify,
  "WebCrypto subtle.verify": (t) => {
    const { input, sig, payload } = split(t);
    return webcrypto.subtle.verify("Ed25519", webKey, sig, input).then((ok) => {
      if (!ok) throw new Error("bad signature");
      return JSON.parse(Buffer.from(payload, "base64url"));
    });
  },
  "@noble/ed25519": (t) => {
    const { input, sig, payload } = split(t);
    if (!ed.verify(sig, input, rawPublic)) throw new Error("bad signature");
    return JSON.parse(Buffer.from(payload, "base64url"));
  },
  "fast-jwt": (t) => fastJwt(t),
};
if (biscuit) verifyImpls["biscuit-wasm parse + authorize"] = "biscuit";

const nodePrivate = createPrivateKey({ key: privateJwk, format: "jwk" });
const joseSigningKey = await jose.importJWK(privateJwk, "EdDSA");
const mintImpls = {
  "tasktoken Issuer.mint": () => issuer.mint(request),
  "jose SignJWT": () => new jose.SignJWT({ task: request.task, scope: request.scope, res: request.res })
    .setProtectedHeader({ alg: "EdDSA", typ: "tt+jwt", kid: "bench-k1" })
    .setIssuer(ISS).setSubject(request.sub).setAudience(AUD).setIssuedAt().setExpirationTime("15m")
    .setJti(crypto.randomUUID()).sign(joseSigningKey),
  "node crypto.sign (native floor)": () => {
    const h = Buffer.from('{"alg":"EdDSA","typ":"tt+jwt","kid":"bench-k1"}').toString("base64url");
    const p = Buffer.from(JSON.stringify({ iss: ISS, sub: request.sub, aud: AUD, iat: now, exp: now + 900,
      jti: crypto.randomUUID(), task: request.task, scope: request.scope, res: request.res })).toString("base64url");
    return `${h}.${p}.${nodeSign(null, Buffer.from(`${h}.${p}`), nodePrivate).toString("base64url")}`;
  },
};

// ----- proof of possession: the same bound token, a fresh proof per request ---------------
// Each proof is accepted once (the replay check is part of the cost), so every call takes the
// next of a pool of distinct proofs; jose gets the same proofs and a Set for replays.
const proofKey = generateProofKey({ alg: "EdDSA" });
const boundToken = issuer.mint({ ...request, cnfJkt: proofKey.jkt });
const URL_ = "https://api.example/customers/4821";
// Made just before the scenario runs: a proof is good for 60 s.
const proofs = [];
const makeProofs = () => {
  for (let i = 0; i < 16_000; i++) {
    proofs.push(createProof({ key: proofKey.privateJwk, method: "GET", url: URL_, token: boundToken }));
  }
};
let nextProof = 0;
const takeProof = () => {
  if (nextProof >= proofs.length) throw new Error("the bench ran out of distinct proofs");
  return proofs[nextProof++];
};
const dpopVerifier = new Verifier({ ...config, cacheSize: 0 });
const seenProofs = new Set();
const proofImpls = {
  "tasktoken Verifier.verify with a DPoP proof": () =>
    dpopVerifier.verify(boundToken, { ...check, dpop: { proof: takeProof(), method: "GET", url: URL_ } }),
  "tasktoken Verifier.verify, an unbound token of the same size": () => verifier.verify(tokens[0], check),
  "jose jwtVerify": async () => {
    const proof = proofs[nextProof++ % proofs.length];
    const { payload } = await jose.jwtVerify(boundToken, joseKey, joseOptions);
    const checked = await jose.jwtVerify(proof, jose.EmbeddedJWK, { typ: "dpop+jwt", maxTokenAge: 60 });
    const p = checked.payload;
    if (p.htm !== "GET" || p.htu !== URL_ || p.ath !== createHash("sha256").update(boundToken).digest("base64url")) {
      throw new Error("proof for another request");
    }
    if (await jose.calculateJwkThumbprint(checked.protectedHeader.jwk) !== payload.cnf?.jkt) throw new Error("key");
    // A server refuses a `jti` it has seen; the bench cycles its pool, so it only pays for
    // the look-up and the insert.
    seenProofs.has(p.jti);
    seenProofs.add(p.jti);
    return payload;
  },
};

const revokedSet = new Set(revokedJtis);
const lookupImpls = {
  "tasktoken RevocationFilter.has": (jti) => filter.has(jti),
  "JS Set.has (exact list, reference)": (jti) => revokedSet.has(jti),
};

// ----- measurement --------------------------------------------------------------------------
async function timeOps(fn, inputs, ops) {
  const start = performance.now();
  for (let i = 0; i < ops; i++) {
    const r = fn(inputs[i % inputs.length]);
    if (r && typeof r.then === "function") await r;
  }
  return ((performance.now() - start) * 1000) / ops;
}

async function calibrate(fn, inputs) {
  let ops = 16;
  for (;;) {
    const start = performance.now();
    await timeOps(fn, inputs, ops);
    if (performance.now() - start > TARGET_MS / 4 || ops > 1 << 20) break;
    ops *= 2;
  }
  return ops * 4;
}

function shuffle(xs) {
  return xs.map((x) => [Math.random(), x]).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function scenario(name, impls, inputsFor) {
  const entries = Object.entries(impls).map(([impl, fn]) => {
    if (fn === "biscuit") return [impl, (t) => biscuit.verify(t), inputsFor(impl)];
    return [impl, fn, inputsFor(impl)];
  });
  const ops = new Map();
  for (const [impl, fn, inputs] of entries) ops.set(impl, await calibrate(fn, inputs));
  const samples = new Map(entries.map(([impl]) => [impl, []]));
  for (let round = 0; round <= ROUNDS; round++) {
    for (const [impl, fn, inputs] of shuffle(entries)) {
      const us = await timeOps(fn, inputs, ops.get(impl));
      if (round > 0) samples.get(impl).push(us); // round 0 is the warm-up
    }
  }
  perRound[name] = samples;
  return Object.fromEntries([...samples].map(([impl, xs]) => [impl, Number(median(xs).toFixed(2))]));
}

/**
 * The median over rounds of `impl`'s time divided by `ref`'s in the same round: both ran
 * within the same fraction of a second, so a slow spell of this shared machine (which can
 * double every figure for seconds) cancels out of the ratio.
 */
function roundRatio(name, impl, ref) {
  const a = perRound[name]?.get(impl);
  const b = perRound[name]?.get(ref);
  if (!a || !b || impl === ref) return impl === ref && a ? 1 : undefined;
  return Number(median(a.map((x, i) => x / b[i])).toFixed(2));
}

const biscuitTokens = (impl) => (impl.startsWith("biscuit") ? biscuit.tokens : null);
const results = {};
const perRound = {};
const scenarioOf = {};
scenarioOf["cold verify, distinct tokens"] = "cold";
results["cold verify, distinct tokens"] = await scenario("cold", verifyImpls,
  (impl) => biscuitTokens(impl) ?? tokens);
scenarioOf["repeated verify, same token"] = "repeated";
results["repeated verify, same token"] = await scenario("repeated", {
  "tasktoken Verifier.verify (verified-token cache on)": (t) => cachedVerifier.verify(t, check),
  ...verifyImpls,
},
  (impl) => [(biscuitTokens(impl) ?? tokens)[0]]);
const batches = (list) => [list.slice(0, 100)];
const batchImpls = Object.fromEntries(Object.entries(verifyImpls).map(([impl, fn]) => [impl,
  async (batch) => {
    for (const t of batch) {
      const r = fn === "biscuit" ? biscuit.verify(t) : fn(t);
      if (r && typeof r.then === "function") await r;
    }
  }]));
const batch = await scenario("batch", batchImpls, (impl) => batches(biscuitTokens(impl) ?? tokens));
results["batch verify, 100 tokens (µs per token)"] =
  Object.fromEntries(Object.entries(batch).map(([impl, us]) => [impl, Number((us / 100).toFixed(2))]));
scenarioOf.mint = "mint";
results.mint = await scenario("mint", mintImpls, () => [null]);
makeProofs();
scenarioOf["verify with a DPoP proof (token + proof)"] = "dpop";
results["verify with a DPoP proof (token + proof)"] = await scenario("dpop", proofImpls, () => [boundToken]);
const probes = Array.from({ length: 1024 }, (_, i) => (i % 2 ? `revoked-${i % 1000}` : `live-${i}`));
results["revocation filter lookup"] = await scenario("lookup", lookupImpls, () => probes);

// ----- report ---------------------------------------------------------------------------------
// Ratios are per-round medians (see roundRatio); the batch figures are per token, from the
// "batch" scenario's rounds.
scenarioOf["batch verify, 100 tokens (µs per token)"] = "batch";
const ratios = {};
for (const [name, row] of Object.entries(results)) {
  console.log(`\n${name}`);
  const jose = "jose jwtVerify" in row ? "jose jwtVerify" : "jose SignJWT";
  const native = "node crypto.verify (native floor)" in row
    ? "node crypto.verify (native floor)" : "node crypto.sign (native floor)";
  console.log("| implementation | median µs/op | vs jose | vs node crypto |");
  console.log("|---|---|---|---|");
  for (const [impl, us] of Object.entries(row)) {
    const vsJose = roundRatio(scenarioOf[name], impl, jose);
    const vsNative = roundRatio(scenarioOf[name], impl, native);
    (ratios[name] ??= {})[impl] = { vsJose, vsNodeCrypto: vsNative };
    console.log(`| ${impl} | ${us} | ${vsJose ?? "-"} | ${vsNative ?? "-"} |`);
  }
}
const out = new URL("../../target/bench/", import.meta.url);
mkdirSync(out, { recursive: true });
writeFileSync(new URL("results.json", out), JSON.stringify({
  date: new Date().toISOString(), node: process.version, rounds: ROUNDS, tokenBytes: tokens[0].length,
  results, ratios,
}, null, 2));
console.log(`\nwrote target/bench/results.json (tokens of ${tokens[0].length} bytes, ${ROUNDS} rounds)`);
