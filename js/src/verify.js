// The verification surface of the package, all that `tasktoken/verify` loads: verifiers,
// guards, revocation filters and replicas, export-link checks. Web APIs only: runtime
// specifics live in ../load/. Every decision is the Rust core's (../wasm/verify/); this file
// checks argument types so that bad input is a TaskTokenError, never a wasm trap, and parses
// the claims.
import { CoreVerifier } from "../wasm/verify/tasktoken.js";
import { TaskTokenError } from "./errors.js";
import { isInstance, parseClaims, plainJson, snapshotObject } from "./input.js";
import { RevocationFilter, RevocationReplica } from "./revocation.js";
import { bad, checkToken, emit, listener, seconds } from "./util.js";

export { TaskTokenError } from "./errors.js";
export { exchangeToken, withTask } from "./exchange.js";
export { guard, guardNode } from "./guard.js";
export { checkLink, fetchLink, linkToken } from "./links.js";
export { RevocationFilter, RevocationReplica, completeTask } from "./revocation.js";
export { MAX_TOKEN_LENGTH } from "./util.js";

/** Resolves when the core is ready. Every entry point has started it before import returns. */
export function ready() {
  return Promise.resolve();
}

/** Verifies task tokens for one audience against the key sets of trusted issuers. */
export class Verifier {
  #core;
  #failOpen;
  #onStale;
  #onDecision;
  #name;
  #counts = new Map();

  /**
   * @param {{ issuers: Record<string, { keys: object[] }>, audience: string,
   *           maxLifetime?: number, clockSkew?: number, requireBinding?: boolean,
   *           revocation?: RevocationReplica | RevocationFilter, revocationGrace?: number,
   *           failOpenWhenStale?: boolean, exactCheck?: (jti: string) => boolean,
   *           onStaleRevocation?: (claims: object) => void }} options
   *   With `revocation`, every verification consults it: a hit is `revoked`, missing or
   *   stale data (`nextUpdate + revocationGrace`, default 60 s, at most 86400) is
   *   `stale_revocation` unless `failOpenWhenStale`, which accepts with a warning
   *   (`onStaleRevocation`, else console.warn). `exactCheck(jti)`, synchronous, may overrule
   *   a filter hit (a false positive) by returning exactly `false`; anything else leaves the
   *   token revoked. Revocation data governs the tokens of one issuer: the replica's or
   *   filter's `issuer`, or, when it names none, the one trusted issuer whose keys are its
   *   keys (else `malformed`); tokens of other issuers are `stale_revocation`.
   *   `maxLifetime` is at most 86400 s and `clockSkew` at most 300 s (`malformed` beyond);
   *   `proofMaxAge` (default 60, at most 300): how old a DPoP proof may be.
   */
  constructor(options) {
    const own = snapshotObject(options, "Verifier options");
    const {
      revocation, revocationGrace = 60, failOpenWhenStale = false, exactCheck, onStaleRevocation,
      onDecision, ...core
    } = own;
    this.#onDecision = listener(onDecision, "onDecision");
    // From the prototype-less copy: `core`, made by `...`, inherits from Object.prototype.
    this.#name = typeof own.name === "string" ? own.name : "verifier";
    if (revocation !== undefined &&
        !(isInstance(revocation, RevocationReplica) || isInstance(revocation, RevocationFilter))) {
      throw bad("revocation must be a RevocationReplica or RevocationFilter");
    }
    if (!(Number.isInteger(revocationGrace) && revocationGrace >= 0 && revocationGrace <= 86400)) {
      throw bad("revocationGrace must be an integer number of seconds from 0 to 86400");
    }
    if (typeof failOpenWhenStale !== "boolean") throw bad("failOpenWhenStale must be a boolean");
    if (exactCheck !== undefined && typeof exactCheck !== "function") {
      throw bad("exactCheck must be a function");
    }
    if (onStaleRevocation !== undefined && typeof onStaleRevocation !== "function") {
      throw bad("onStaleRevocation must be a function");
    }
    this.#core = new CoreVerifier(plainJson(core, "Verifier options"));
    // The source and its policy are set once; the core consults them on every call.
    if (isInstance(revocation, RevocationReplica)) {
      this.#core.useReplica(revocation.core, revocationGrace, failOpenWhenStale, exactCheck);
    } else if (revocation !== undefined) {
      this.#core.useFilter(revocation.core, revocationGrace, failOpenWhenStale, exactCheck);
    }
    this.#failOpen = failOpenWhenStale;
    this.#onStale = onStaleRevocation;
  }

  /**
   * Authorizes a revocation request and returns the claims of the token to revoke (what an
   * authority stores: its `jti` and `exp`). Without `target`, `bearer` revokes itself: it
   * must be genuine and current. With `target`, the caller is authorized first — `bearer`
   * must pass every check, revocation included, for `tokens:revoke` on `tokens/<jti>` of
   * the target — and only then is `target` verified as genuine and current, so a caller
   * who may not revoke it learns nothing about it.
   * @param {string} bearer
   * @param {string} [target]
   * @param {{ now?: number | Date }} [options]
   * @returns {Record<string, unknown>}
   */
  authorizeRevocation(bearer, target, options = {}) {
    checkToken(bearer);
    if (target !== undefined) checkToken(target);
    const { now } = snapshotObject(options, "options");
    return parseClaims(this.#core.authorizeRevocation(bearer, target, seconds(now)));
  }

  /**
   * Verifies `token` as genuine and current (signature, issuer, audience, time, lifetime)
   * and nothing more — no action, resource, binding or revocation check — for one purpose:
   * a token may always revoke itself. Never use it to authorize anything else.
   * @param {string} token
   * @param {{ now?: number | Date }} [options]
   * @returns {Record<string, unknown>}
   */
  verifyForRevocation(token, options = {}) {
    checkToken(token);
    const { now } = snapshotObject(options, "options");
    return parseClaims(this.#core.verifyForRevocation(token, seconds(now)));
  }

  /**
   * Verifies `token` for one action on one resource; returns the claims (unknown claims
   * included, a `__proto__` member dropped: see `parseClaims`) or throws a TaskTokenError
   * with the one failed check's code.
   * @param {string} token
   * @param {{ action: string, resource: string, keyThumbprint?: string,
   *           dpop?: { proof: string, method: string, url: string, nonce?: string },
   *           now?: number | Date }} request
   *   `dpop`: the DPoP proof the HTTP request carried (its `DPoP` header), with the
   *   request's method and URL (and the nonce the server requires, if it uses them); the
   *   token must then be bound to the proof's key. Each proof
   *   is accepted once by this verifier (`proof_replayed` after), within `proofMaxAge`.
   * @returns {Record<string, unknown>}
   */
  verify(token, request) {
    const copy = request !== null && typeof request === "object" ? snapshotObject(request, "verify request") : request;
    const perCall = listener(copy?.onDecision, "onDecision");
    const listening = this.#onDecision !== undefined || perCall !== undefined;
    if (listening) this.#core.captureNextDecision();
    let outcome = "malformed";
    try {
      const claims = this.#verify(token, copy);
      outcome = "ok";
      return claims;
    } catch (error) {
      outcome = error instanceof TaskTokenError ? error.code : "malformed";
      throw error;
    } finally {
      this.#counts.set(outcome, (this.#counts.get(outcome) ?? 0) + 1);
      if (listening) {
        // A decision refused before it reached the core (bad arguments) has no core event.
        const taken = this.#core.takeDecision();
        const event = taken !== undefined ? JSON.parse(taken) : {
          time: Math.floor(Date.now() / 1000), event: "verify", outcome, decided_by: this.#name,
          ...(typeof copy?.action === "string" ? { action: copy.action } : {}),
          ...(typeof copy?.resource === "string" ? { resource: copy.resource } : {}),
        };
        emit(this.#onDecision, event);
        emit(perCall, event);
      }
    }
  }

  /**
   * Decisions so far by outcome (`ok` and error codes), for metrics: `{ ok: 12, expired: 1 }`.
   * @returns {Record<string, number>}
   */
  stats() {
    return Object.fromEntries(this.#counts);
  }

  /** `request` is `verify`'s snapshot of the caller's object (or the non-object given). */
  #verify(token, request) {
    checkToken(token);
    if (request === null || typeof request !== "object") throw bad("verify request must be an object");
    const { action, resource, keyThumbprint, dpop, now } = request;
    if (typeof action !== "string") throw bad("verify request needs action: string");
    if (typeof resource !== "string") throw bad("verify request needs resource: string");
    if (keyThumbprint !== undefined && typeof keyThumbprint !== "string") {
      throw bad("keyThumbprint must be a string");
    }
    let proof, method, url, nonce;
    if (dpop !== undefined) {
      ({ proof, method, url, nonce } = snapshotObject(dpop, "verify request dpop"));
      if (typeof proof !== "string" || typeof method !== "string" || typeof url !== "string") {
        throw bad("dpop needs { proof: string, method: string, url: string }");
      }
      if (nonce !== undefined && typeof nonce !== "string") throw bad("dpop nonce must be a string");
      if (keyThumbprint !== undefined) throw bad("give either dpop or keyThumbprint, not both");
    }
    const claims = parseClaims(
      this.#core.verify(token, action, resource, keyThumbprint, proof, method, url, nonce, seconds(now)));
    if (this.#failOpen && this.#core.staleIgnored()) {
      if (this.#onStale) this.#onStale(claims);
      else console.warn("tasktoken: revocation data is stale; token accepted (failOpenWhenStale)");
    }
    return claims;
  }
}
