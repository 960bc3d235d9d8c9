// The whole package, what `tasktoken` loads: everything of ./verify.js, plus minting (keys,
// issuers, export links) and signed revocation data for authorities, from the second wasm
// module (../wasm/mint/).
import {
  CoreIssuer, createProof as coreCreateProof, delegate as coreDelegate,
  generateKey as coreGenerateKey,
  generateProofKey as coreGenerateProofKey, planPublication, signDelta, signSnapshot,
} from "../wasm/mint/tasktoken.js";
import { exchange, runTask } from "./exchange.js";
import { isInstance, plainJson, snapshotObject } from "./input.js";
import { revokeWith, toBytes } from "./revocation.js";
import { bad, emit, listener, seconds } from "./util.js";

// `exchangeToken`, `withTask` and `completeTask` below replace the bearer-only ones of
// ./verify.js.
export * from "./verify.js";
export { mintLink } from "./links.js";

/**
 * Generates an Ed25519 key pair as JWKs (OKP, crv Ed25519, with `kid`).
 * @param {{ kid: string }} options
 * @returns {{ privateJwk: object, publicJwk: object }}
 */
export function generateKey(options) {
  const { kid } = snapshotObject(options, "generateKey options");
  if (typeof kid !== "string") throw bad("generateKey needs { kid: string }");
  return JSON.parse(coreGenerateKey(kid));
}

/** Mints task tokens for one issuer with one private key. */
export class Issuer {
  #core;
  #onDecision;

  /**
   * @param {{ iss: string, key: object, maxTtl?: number, maxActions?: number,
   *           maxDelegation?: number, allowBroadScope?: boolean }} options
   *   `maxDelegation` (default 1, at most 4): the largest `dlg` this issuer mints.
   */
  constructor(options) {
    const { onDecision, ...core } = snapshotObject(options, "Issuer options");
    this.#onDecision = listener(onDecision, "onDecision");
    this.#core = new CoreIssuer(plainJson(core, "Issuer options"));
    // The core builds each mint's audit event and hands it over once the mint is decided.
    if (this.#onDecision) this.#core.setDecisionSink((json) => emit(this.#onDecision, JSON.parse(json)));
  }

  /**
   * Mints a token for one task, issued now with a fresh 128-bit `jti`.
   * @param {{ sub: string, aud: string | string[], task: string, scope: string,
   *           res: string[], ttl: number, nbf?: number, cnfJkt?: string, dlg?: number,
   *           claims?: Record<string, unknown> }} request
   *   `dlg`: how many delegation links the holder may add (default 0; needs `cnfJkt`, and
   *   at most the issuer's `maxDelegation`), see `delegate`.
   * @param {{ now?: number | Date }} [options]
   * @returns {string}
   */
  mint(request, options = {}) {
    const { now } = snapshotObject(options, "mint options");
    const body = plainJson(snapshotObject(request, "mint request"), "mint request");
    const at = seconds(now);
    return this.#core.mint(body, at);
  }
}

/**
 * For authorities: what to publish next, decided by the core's planner (docs/revocation.md):
 * the serial (growing, never below the time shifted left by 20 bits, at most 2^53 - 1), the
 * times, and whether the current generation can take `adding` more entries at the target
 * rate (`"delta"`) or a new generation sized for the `live` revocations is due
 * (`"snapshot"`).
 * @param {{ previousSerial: number, now: number, adding: number, live: number,
 *           entries?: number, validFor?: number, fpr?: number, minCapacity?: number }} options
 *   `entries`: what the current generation already holds; `validFor` (default 300, at most
 *   86400), `fpr` (default 1e-6), `minCapacity` (default 1000).
 * @param {Uint8Array} [generation] the current generation's snapshot, if any
 * @returns {{ step: "delta" | "snapshot", serial: number, issuedAt: number, nextUpdate: number }}
 */
export function planRevocationPublication(options, generation) {
  const gen = generation === undefined ? undefined : toBytes(generation);
  return JSON.parse(planPublication(plainJson(snapshotObject(options, "options"), "options"), gen));
}

/**
 * For authorities: builds and signs a snapshot of `issuer`'s revoked `jtis` with a private
 * JWK: a new generation (fresh salt, sized by the core's planner for twice the entries, at
 * least `capacity`), or, given an earlier snapshot as `generation`, the same geometry and
 * salt, so that deltas of that generation still apply.
 * @param {object} key a private JWK whose public part verifiers trust for `issuer`
 * @param {{ issuer: string, jtis: string[], serial: number, issuedAt: number,
 *           nextUpdate: number, capacity?: number, fpr?: number }} options
 * @param {Uint8Array} [generation]
 * @returns {Uint8Array}
 */
export function signRevocationSnapshot(key, options, generation) {
  const gen = generation === undefined ? undefined : toBytes(generation);
  return signSnapshot(plainJson(key, "key"), plainJson(options, "options"), gen);
}

/**
 * For authorities: builds and signs a delta adding `jtis` to the generation of `snapshot`.
 * @param {object} key a private JWK
 * @param {Uint8Array} snapshot the generation's snapshot (its geometry, salt and issuer are
 *   used)
 * @param {{ jtis: string[], baseSerial: number, serial: number, issuedAt: number,
 *           nextUpdate: number }} options
 * @returns {Uint8Array}
 */
export function signRevocationDelta(key, snapshot, options) {
  return signDelta(plainJson(key, "key"), toBytes(snapshot), plainJson(options, "options"));
}

/**
 * Generates a DPoP proof key (RFC 9449): Ed25519 (`alg: "EdDSA"`, the default) or P-256
 * (`"ES256"`). `jkt` is its RFC 7638 thumbprint, the `cnf.jkt` of tokens bound to it (pass
 * it as `cnfJkt` when minting, or send a proof to the token service).
 * @param {{ alg?: "EdDSA" | "ES256" }} [options]
 * @returns {{ privateJwk: object, publicJwk: object, jkt: string }}
 */
export function generateProofKey(options = {}) {
  const { alg = "EdDSA" } = snapshotObject(options, "generateProofKey options");
  if (alg !== "EdDSA" && alg !== "ES256") throw bad("generateProofKey alg is EdDSA or ES256");
  return JSON.parse(coreGenerateProofKey(alg));
}

/**
 * Creates a fresh DPoP proof for one request: signed by `key` (a private JWK from
 * `generateProofKey`), for `method` on `url` (its query and fragment are left out), issued
 * now with a random `jti`, bound to `token` (`ath`) and carrying the server's `nonce` if
 * given. Send it as the `DPoP` header, with `Authorization: DPoP <token>`.
 * @param {{ key: object, method: string, url: string | URL, token?: string, nonce?: string,
 *           now?: number | Date }} options
 * @returns {string}
 */
export function createProof(options) {
  const { key, method, url, token, nonce, now } = snapshotObject(options, "createProof options");
  if (typeof method !== "string") throw bad("createProof needs method: string");
  const target = typeof url === "string" ? url : isInstance(url, URL) ? url.href : undefined;
  if (target === undefined) throw bad("createProof needs url: string or URL");
  for (const [name, value] of [["token", token], ["nonce", nonce]]) {
    if (value !== undefined && typeof value !== "string") throw bad(`${name} must be a string`);
  }
  return coreCreateProof(plainJson(key, "createProof key"), method, target, token, nonce, seconds(now));
}

/**
 * Delegates a narrower task to a sub-agent, offline (DESIGN.md, "Delegation"): appends a
 * link to `chain` (a task token or a chain `ROOT~LINK…`) signed by `key`, the private
 * Ed25519 proof JWK (from `generateProofKey`) the chain's last element is bound to. The
 * link may only narrow: `aud`, `scope` and `res` within the previous element's, `task`
 * equal or a sub-task (`task/…`), `exp` the earlier of now + `ttl` and the previous `exp`,
 * `dlg` lower than the previous one. `cnfJkt` binds the link to the sub-agent's key (so
 * that it proves possession and may delegate further). Verifiers accept the returned chain
 * wherever they accept tokens; its claims are the last link's, with the root's `iss` and an
 * `act` claim naming the delegators.
 *
 * Throws `TaskTokenError` `delegation_denied` for a link that would widen anything, a key
 * the last element is not bound to, or an element that allows no more delegation;
 * `invalid_claim` for an empty or ill-formed field; `malformed` for a chain that does not
 * parse, a P-256 key or a result over 8 KiB; `expired` if the last element has expired.
 * @param {string} chain
 * @param {{ key: object, sub: string, aud: string | string[], task: string, scope: string,
 *           res: string[], ttl: number, cnfJkt?: string, dlg?: number,
 *           now?: number | Date }} options
 * @returns {string} the chain with the new link
 */
export function delegate(chain, options) {
  if (typeof chain !== "string") throw bad("delegate needs the chain (a string)");
  const { key, now, ...link } = snapshotObject(options, "delegate options");
  return coreDelegate(chain, plainJson(key, "delegation key"), plainJson(link, "delegation"),
    seconds(now));
}

/**
 * A `fetch` that sends `token` with a fresh DPoP proof on every request (`Authorization:
 * DPoP`, `DPoP` header), so an agent holding a bound token needs two lines:
 *
 *   const call = dpopFetch({ key: privateJwk, token });
 *   const res = await call("https://api.example/customers/4821");
 *
 * When the server asks for a nonce (`401` or `400` with `error="use_dpop_nonce"` and a
 * `DPoP-Nonce` header), the request is sent once more with it, and later requests to that
 * origin carry the newest nonce. The body is read once, so the retry can send it again.
 * @param {{ key: object, token: string, fetch?: typeof fetch }} options
 * @returns {(input: string | URL | Request, init?: RequestInit) => Promise<Response>}
 */
export function dpopFetch(options) {
  const { key, token, fetch: fetchImpl } = snapshotObject(options, "dpopFetch options");
  if (typeof token !== "string") throw bad("dpopFetch needs token: string");
  if (fetchImpl !== undefined && typeof fetchImpl !== "function") throw bad("fetch must be a function");
  const send = fetchImpl ?? globalThis.fetch.bind(globalThis);
  const jwk = plainJson(key, "dpopFetch key");
  const nonces = new Map();
  return async (input, init = undefined) => {
    const request = new Request(input, init);
    const origin = new URL(request.url).origin;
    const attempt = (nonce, body) => {
      const proof = coreCreateProof(jwk, request.method, request.url, token, nonce, Date.now() / 1000);
      const headers = new Headers(request.headers);
      headers.set("authorization", `DPoP ${token}`);
      headers.set("dpop", proof);
      // No prototype: RequestInit members are read with inheritance (WebIDL).
      return send(new Request(request, { __proto__: null, headers, body }));
    };
    const replayable = request.body === null ? undefined : await request.clone().arrayBuffer();
    let response = await attempt(nonces.get(origin), replayable);
    const nonce = response.headers.get("dpop-nonce");
    if (nonce !== null) nonces.set(origin, nonce);
    const challenge = response.headers.get("www-authenticate") ?? "";
    if (nonce !== null && (response.status === 401 || response.status === 400) &&
        /error="?use_dpop_nonce/.test(challenge)) {
      response = await attempt(nonce, replayable);
    }
    return response;
  };
}

/** The DPoP signer the exchange needs, which only this (the mint) module has. */
const SIGNER = Object.freeze({
  proof: (key, url, nonce, token) => createProof({ key, method: "POST", url, nonce, token }),
  fetch: (key, token, fetch) => dpopFetch({ key, token, fetch }),
});

/**
 * Exchanges the workload's identity token for a task token at the token service: the
 * `exchangeToken` of `tasktoken/verify` (see there for every option, refusal and error), plus
 * proof of possession. With `dpop: { key }` (a private JWK from `generateProofKey`) the
 * request carries a DPoP proof for `POST <service>/token` (RFC 9449 §5; a `use_dpop_nonce`
 * answer is retried once with the service's nonce), so the service binds the token to that
 * key (`tokenType: "DPoP"`). A `dpop` that is not `{ key: object }` is `malformed`; a key the
 * core cannot sign with is refused with the core's code before anything is sent.
 * @param {Parameters<typeof import("./exchange.js").exchangeToken>[0] & { dpop?: { key: object } }} options
 * @returns {ReturnType<typeof import("./exchange.js").exchangeToken>}
 */
export function exchangeToken(options) {
  return exchange(options, SIGNER);
}

/**
 * Runs one task with its own token: the `withTask` of `tasktoken/verify` (see there), plus
 * proof of possession: with `dpop: { key }` the token is bound to the key, and the task's
 * `fetch` is a `dpopFetch` (`Authorization: DPoP`, a fresh proof per request, server nonces
 * followed), still limited to `origins` and never following redirects.
 * @template T
 * @param {Parameters<typeof import("./exchange.js").withTask>[0] & { dpop?: { key: object } }} options
 * @param {Parameters<typeof import("./exchange.js").withTask<T>>[1]} callback
 * @returns {Promise<T>}
 */
export function withTask(options, callback) {
  return runTask(options, callback, SIGNER);
}

/**
 * Revokes a token when its task is done: the `completeTask` of `tasktoken/verify` (see there
 * for the authority forms, redirects and errors), plus proof of possession. With `dpop: {
 * key }` (the private JWK from `generateProofKey` the token is bound to) the token is sent
 * as `Authorization: DPoP <token>` with a fresh proof for `POST <authority URL>` (RFC 9449;
 * a `use_dpop_nonce` answer is retried once with the authority's nonce): a key-bound token
 * revokes itself only so, and a copy of it alone cannot. A `dpop` that is not `{ key:
 * object }`, or given with a function or object authority, is `malformed`; a key the core
 * cannot sign with is refused with the core's code before anything is sent.
 * @param {string} token
 * @param {Parameters<typeof import("./revocation.js").completeTask>[1]} authority
 * @param {{ fetch?: typeof fetch, dpop?: { key: object } }} [options]
 * @returns {Promise<void>}
 */
export function completeTask(token, authority, options = {}) {
  return revokeWith(token, authority, options, SIGNER);
}
