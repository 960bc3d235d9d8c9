// The public surface of the `tasktoken` package. Web APIs only: runtime specifics live in
// ../load/. Every decision is the Rust core's (../wasm/); this file checks argument types
// so that bad input is a TaskTokenError, never a wasm trap, and parses the claims.
import { CoreIssuer, CoreVerifier, generateKey as coreGenerateKey } from "../wasm/tasktoken.js";
import { TaskTokenError } from "./errors.js";
import { isInstance, plainData, snapshotObject } from "./input.js";
import { RevocationFilter, RevocationReplica } from "./revocation.js";

export { TaskTokenError } from "./errors.js";
export { guard, guardNode } from "./guard.js";
export { checkLink, fetchLink, linkToken, mintLink } from "./links.js";
export {
  RevocationFilter, RevocationReplica, completeTask, signRevocationDelta, signRevocationSnapshot,
} from "./revocation.js";

/** The largest token accepted, in bytes (DESIGN.md); also checked by the core. */
export const MAX_TOKEN_LENGTH = 8192;

/** Resolves when the core is ready. Every entry point has started it before import returns. */
export function ready() {
  return Promise.resolve();
}

/**
 * Generates an Ed25519 key pair as JWKs (OKP, crv Ed25519, with `kid`).
 * @param {{ kid: string }} options
 * @returns {{ privateJwk: object, publicJwk: object }}
 */
export function generateKey(options) {
  const { kid } = snapshotObject(options, "generateKey options");
  if (typeof kid !== "string") throw bad("generateKey needs { kid: string }");
  return coreGenerateKey(kid);
}

/** Mints task tokens for one issuer with one private key. */
export class Issuer {
  #core;
  #onDecision;

  /**
   * @param {{ iss: string, key: object, maxTtl?: number, maxActions?: number,
   *           allowBroadScope?: boolean }} options
   */
  constructor(options) {
    const { onDecision, ...core } = snapshotObject(options, "Issuer options");
    this.#onDecision = listener(onDecision, "onDecision");
    this.#core = new CoreIssuer(plainData(core, "Issuer options"));
  }

  /**
   * Mints a token for one task, issued now with a fresh 128-bit `jti`.
   * @param {{ sub: string, aud: string | string[], task: string, scope: string,
   *           res: string[], ttl: number, nbf?: number, cnfJkt?: string,
   *           claims?: Record<string, unknown> }} request
   * @param {{ now?: number | Date }} [options]
   * @returns {string}
   */
  mint(request, options = {}) {
    const { now } = snapshotObject(options, "mint options");
    const body = plainData(snapshotObject(request, "mint request"), "mint request");
    const at = seconds(now);
    if (!this.#onDecision) return this.#core.mint(body, at);
    this.#core.captureNextDecision();
    try {
      return this.#core.mint(body, at);
    } finally {
      emit(this.#onDecision, this.#core.takeDecision());
    }
  }
}

/** Verifies task tokens for one audience against the key sets of trusted issuers. */
export class Verifier {
  #core;
  #revocation;
  #grace;
  #failOpen;
  #exactCheck;
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
   *   stale data (`nextUpdate + revocationGrace`, default 60 s) is `stale_revocation`
   *   unless `failOpenWhenStale`, which accepts with a warning (`onStaleRevocation`, else
   *   console.warn). `exactCheck(jti)`, synchronous, may overrule a filter hit (a false
   *   positive) by returning exactly `false`; anything else leaves the token revoked.
   */
  constructor(options) {
    const {
      revocation, revocationGrace = 60, failOpenWhenStale = false, exactCheck, onStaleRevocation,
      onDecision, ...core
    } = snapshotObject(options, "Verifier options");
    this.#onDecision = listener(onDecision, "onDecision");
    this.#name = typeof core.name === "string" ? core.name : "verifier";
    if (revocation !== undefined &&
        !(isInstance(revocation, RevocationReplica) || isInstance(revocation, RevocationFilter))) {
      throw bad("revocation must be a RevocationReplica or RevocationFilter");
    }
    if (!(Number.isInteger(revocationGrace) && revocationGrace >= 0 && revocationGrace < 2 ** 32)) {
      throw bad("revocationGrace must be a non-negative integer number of seconds");
    }
    if (typeof failOpenWhenStale !== "boolean") throw bad("failOpenWhenStale must be a boolean");
    if (exactCheck !== undefined && typeof exactCheck !== "function") {
      throw bad("exactCheck must be a function");
    }
    if (onStaleRevocation !== undefined && typeof onStaleRevocation !== "function") {
      throw bad("onStaleRevocation must be a function");
    }
    this.#core = new CoreVerifier(plainData(core, "Verifier options"));
    this.#revocation = revocation;
    this.#grace = revocationGrace;
    this.#failOpen = failOpenWhenStale;
    this.#exactCheck = exactCheck;
    this.#onStale = onStaleRevocation;
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
    return JSON.parse(this.#core.verifyForRevocation(token, seconds(now)));
  }

  /**
   * Verifies `token` for one action on one resource; returns the claims (unknown claims
   * included) or throws a TaskTokenError with the one failed check's code.
   * @param {string} token
   * @param {{ action: string, resource: string, keyThumbprint?: string,
   *           now?: number | Date }} request
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
        const event = this.#core.takeDecision() ?? {
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

  #verify(token, request) {
    checkToken(token);
    const { action, resource, keyThumbprint, now } = snapshotObject(request, "verify request");
    if (typeof action !== "string") throw bad("verify request needs action: string");
    if (typeof resource !== "string") throw bad("verify request needs resource: string");
    if (keyThumbprint !== undefined && typeof keyThumbprint !== "string") {
      throw bad("keyThumbprint must be a string");
    }
    const at = seconds(now);
    const r = this.#revocation;
    if (r === undefined) return JSON.parse(this.#core.verify(token, action, resource, keyThumbprint, at));
    const args = [token, action, resource, keyThumbprint, at, r.core, this.#grace, this.#failOpen,
      this.#exactCheck];
    const json = isInstance(r, RevocationReplica)
      ? this.#core.verifyWithReplica(...args)
      : this.#core.verifyWithFilter(...args);
    const claims = JSON.parse(json);
    if (this.#failOpen && this.#core.staleIgnored()) {
      if (this.#onStale) this.#onStale(claims);
      else console.warn("tasktoken: revocation data is stale; token accepted (failOpenWhenStale)");
    }
    return claims;
  }
}

function listener(fn, what) {
  if (fn !== undefined && typeof fn !== "function") throw bad(`${what} must be a function`);
  return fn;
}

/** Hands an audit event to a listener; a throwing listener never changes the decision. */
function emit(fn, event) {
  if (fn === undefined || event === null) return;
  try {
    fn(event);
  } catch (error) {
    console.error("tasktoken: an onDecision listener threw", error);
  }
}

function checkToken(token) {
  if (typeof token !== "string") throw bad("token must be a string");
  // UTF-16 length is at most the UTF-8 length, so this never refuses a legal token; it
  // keeps huge strings from being copied into wasm memory at all.
  if (token.length > MAX_TOKEN_LENGTH) throw bad("token is longer than 8 KiB");
}

function seconds(now) {
  if (now === undefined) return Date.now() / 1000;
  if (isInstance(now, Date)) return now.getTime() / 1000;
  if (typeof now === "number" && Number.isFinite(now)) return now;
  throw bad("now must be seconds since the epoch or a Date");
}

function bad(message) {
  return new TaskTokenError("malformed", message);
}
