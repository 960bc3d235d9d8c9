// The verification surface of the package, all that `tasktoken/verify` loads: verifiers,
// guards, revocation filters and replicas, export-link checks. Web APIs only: runtime
// specifics live in ../load/. Every decision is the Rust core's (../wasm/verify/); this file
// checks argument types so that bad input is a TaskTokenError, never a wasm trap, and parses
// the claims.
import { CoreVerifier, refusalEvent } from "../wasm/verify/tasktoken.js";
import { TaskTokenError } from "./errors.js";
import { isInstance, parseClaims, plainJson, snapshotObject } from "./input.js";
import { RemoteKeySet, reportKeyError } from "./keys.js";
import { RevocationFilter, RevocationReplica, coreOf, reportReplicaError } from "./revocation.js";
import { bad, checkToken, emit, listener, seconds } from "./util.js";

export { TaskTokenError } from "./errors.js";
export { exchangeToken, withTask } from "./exchange.js";
export { guard, guardNode } from "./guard.js";
export { RemoteKeySet } from "./keys.js";
export { checkLink, fetchLink, linkToken } from "./links.js";
export { RevocationFilter, RevocationReplica, completeTask } from "./revocation.js";
export { MAX_TOKEN_LENGTH } from "./util.js";

/**
 * Resolves when the core is ready. Every entry point has started it before import returns.
 * @returns {Promise<void>}
 */
export function ready() {
  return Promise.resolve();
}

/**
 * How long a core replaced after a key change is still asked about DPoP proofs: the longest a
 * proof can be accepted (`proofMaxAge` at most 300 s, plus a clock skew of at most 300 s on
 * either side), so that no proof accepted before the change is accepted again after it.
 */
const RETIRED_SECONDS = 900;
/** The action of a revocation request (DESIGN.md): what its audit events name. */
const REVOKE_ACTION = "tokens:revoke";

/** Verifies task tokens for one audience against the key sets of trusted issuers. */
export class Verifier {
  /** The core, or `undefined` while no trusted issuer has keys (remote ones not loaded). */
  #core;
  #failOpen;
  #onStale;
  #onDecision;
  #name;
  #counts = new Map();
  // What the core is built from again when a RemoteKeySet's keys change:
  /** The core's options without `issuers`, as plain data. */
  #options;
  /** `[issuer, JWKS data | RemoteKeySet]` pairs. */
  #trusted;
  /** The distinct RemoteKeySets among them, and their versions at the last build. */
  #remote;
  #seen;
  /** `{ source, grace, failOpen, exactCheck }`, or `undefined`. */
  #revocation;
  /** The revocation source when it is a replica, and the replica core of the last build. */
  #replica;
  #replicaCore;
  /** Why the core could not be built, while there is none. */
  #buildError;
  /** `{ core, until }`: cores replaced less than RETIRED_SECONDS ago (see there). */
  #retired = [];
  /** Calls in progress with a listener of their own: the core reports only while some are. */
  #perCallListening = 0;
  /** The call in progress: its own listener, and whether the core reported its decision. */
  #call;
  /** What the core hands each decision's audit event to (JSON text it built). */
  #sink = (json) => {
    const event = JSON.parse(json);
    const call = this.#call;
    if (call !== undefined) call.reported = true;
    emit(this.#onDecision, event);
    emit(call?.listener, event);
  };

  /**
   * @param {VerifierOptions} options
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
   *   Delegation chains (`ROOT~LINK…`, see `delegate`) are accepted wherever tokens are, at
   *   most `maxDelegationDepth` links deep (default and most 4; 0 refuses every chain:
   *   `delegation_denied`).
   *   An issuer's keys may be a RemoteKeySet: the verifier then builds its core again
   *   whenever those keys change (same options and revocation source), keeps the last good
   *   core if the core refuses the new combination (two issuers sharing a `kid`, a
   *   revocation source the new keys no longer own: reported to the key set's `onError`),
   *   asks the key set for a refresh on `unknown_key`, and fails closed with `unknown_key`
   *   while no trusted issuer has keys loaded. A replica whose keys are a RemoteKeySet builds
   *   its core again when they change; the verifier then builds its own again too (at its
   *   next call), and fails closed with `stale_revocation` while the replica has no keys.
   */
  constructor(options) {
    const own = snapshotObject(options, "Verifier options");
    const {
      revocation, revocationGrace = 60, failOpenWhenStale = false, exactCheck, onStaleRevocation,
      onDecision, issuers, ...core
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
    this.#trusted = trustedIssuers(issuers);
    this.#remote = [...new Set(this.#trusted.map(([, keys]) => keys).filter(isRemote))];
    this.#seen = this.#remote.map((set) => set.version);
    this.#options = JSON.parse(plainJson(core, "Verifier options"));
    if (revocation !== undefined) {
      this.#revocation = { source: revocation, grace: revocationGrace, failOpen: failOpenWhenStale, exactCheck };
      if (isInstance(revocation, RevocationReplica)) this.#replica = revocation;
    }
    this.#core = this.#build();
    this.#failOpen = failOpenWhenStale;
    this.#onStale = onStaleRevocation;
  }

  /**
   * Authorizes a revocation request and returns the claims of the token to revoke (what an
   * authority stores: its `jti` and `exp`). Without `target`, `bearer` revokes itself: it
   * must be genuine and current, and if it is key-bound (`cnf.jkt`) the request must carry a DPoP proof by that key (`dpop`, as `verify` takes
   * it: the revocation request's own method and URL): without one `binding_required`, by
   * another key `binding_mismatch`, a proof that does not verify `invalid_proof`, one used
   * before `proof_replayed`; an unbound token with a proof is `binding_mismatch`. With
   * `target`, the caller is authorized first — `bearer` must pass every check, revocation
   * and binding included, for `tokens:revoke` on `tokens/<jti>` of the target — and only
   * then is `target` verified as genuine and current, so a caller who may not revoke it
   * learns nothing about it. A delegation chain is neither caller nor target
   * (`delegation_denied`): its links' `jti` are their signers' choice; revoke its root.
   * @param {string} bearer
   * @param {string} [target]
   * @param {{ dpop?: DpopProof, now?: number | Date }} [options]
   * @returns {TaskClaims}
   */
  authorizeRevocation(bearer, target, options = {}) {
    this.#sync();
    const core = this.#core;
    return this.#decide(core, undefined, REVOKE_ACTION, undefined, () => {
      checkToken(bearer);
      if (target !== undefined) checkToken(target);
      const { dpop, now } = snapshotObject(options, "options");
      const proof = readProof(dpop);
      if (core === undefined) this.#current();
      const at = seconds(now);
      if (proof !== undefined && this.#retired.length > 0) {
        this.#checkRetired((old) => old.authorizeRevocation(bearer, target, proof, at));
      }
      return parseClaims(core.authorizeRevocation(bearer, target, proof, at));
    });
  }

  /**
   * Verifies `token` as genuine and current (signature, issuer, audience, time, lifetime)
   * and nothing more — no action, resource, binding or revocation check. It is **not** an
   * authorization to revoke: a key-bound token copied out of a log passes it. Revocation
   * endpoints decide with `authorizeRevocation`, which requires the bound key's proof.
   * @param {string} token
   * @param {{ now?: number | Date }} [options]
   * @returns {TaskClaims}
   */
  verifyForRevocation(token, options = {}) {
    this.#sync();
    checkToken(token);
    const { now } = snapshotObject(options, "options");
    const core = this.#current();
    return this.#askingForKeys(() => parseClaims(core.verifyForRevocation(token, seconds(now))));
  }

  /**
   * Verifies `token` for one action on one resource; returns the claims (unknown claims
   * included, a `__proto__` member dropped: see `parseClaims`) or throws a TaskTokenError
   * with the one failed check's code.
   * @param {string} token
   * @param {VerifyRequest} request
   * @returns {TaskClaims}
   */
  verify(token, request) {
    this.#sync();
    // This call's core, whatever a nested call (an exactCheck verifying again) rebuilds.
    const core = this.#core;
    const copy = request !== null && typeof request === "object" ? snapshotObject(request, "verify request") : request;
    const perCall = listener(copy?.onDecision, "onDecision");
    const action = typeof copy?.action === "string" ? copy.action : undefined;
    const resource = typeof copy?.resource === "string" ? copy.resource : undefined;
    return this.#decide(core, perCall, action, resource, () => this.#verify(token, copy, core));
  }

  /**
   * Runs `run()`, one decision of `core` (verify or authorizeRevocation), and counts its
   * outcome. When anyone listens (the verifier's `onDecision`, or `perCall` for this call
   * only), the core reports the decision through the sink; a decision refused before it
   * reached the core (bad arguments, no keys loaded, a proof a retired core saw) gets the
   * core's refusal event instead, with `action` and `resource` if known.
   */
  #decide(core, perCall, action, resource, run) {
    const listening = this.#onDecision !== undefined || perCall !== undefined;
    const outer = this.#call;
    const call = listening ? { listener: perCall, reported: false } : undefined;
    this.#call = call;
    const first = perCall !== undefined && this.#perCallListening++ === 0;
    let outcome = "malformed";
    try {
      if (first && this.#onDecision === undefined) core?.setDecisionSink(this.#sink);
      const result = run();
      outcome = "ok";
      return result;
    } catch (error) {
      outcome = error instanceof TaskTokenError ? error.code : "malformed";
      if (outcome === "unknown_key") this.#askForKeys();
      throw error;
    } finally {
      this.#counts.set(outcome, (this.#counts.get(outcome) ?? 0) + 1);
      if (perCall !== undefined && --this.#perCallListening === 0 && this.#onDecision === undefined) {
        core?.setDecisionSink(undefined);
      }
      this.#call = outer;
      // An accepted decision always reached the core, which reported it.
      if (call !== undefined && !call.reported && outcome !== "ok") {
        const event = JSON.parse(refusalEvent(outcome, this.#name, action, resource, Date.now() / 1000));
        emit(this.#onDecision, event);
        emit(perCall, event);
      }
    }
  }

  /**
   * Decisions so far by outcome (`ok` and error codes), for metrics: `{ ok: 12, expired: 1 }`.
   * @returns {Partial<Record<"ok" | ErrorCode, number>>}
   */
  stats() {
    return Object.fromEntries(this.#counts);
  }

  /**
   * `request` is `verify`'s snapshot of the caller's object (or the non-object given), `core`
   * the core current when the call began.
   */
  #verify(token, request, core) {
    checkToken(token);
    if (request === null || typeof request !== "object") throw bad("verify request must be an object");
    const { action, resource, keyThumbprint, dpop, now } = request;
    if (typeof action !== "string") throw bad("verify request needs action: string");
    if (typeof resource !== "string") throw bad("verify request needs resource: string");
    if (keyThumbprint !== undefined && typeof keyThumbprint !== "string") {
      throw bad("keyThumbprint must be a string");
    }
    // Both `dpop` and `keyThumbprint` is the core's to refuse (`malformed`).
    const proof = readProof(dpop, "verify request dpop");
    if (core === undefined) this.#current();
    const at = seconds(now);
    // Only with cores retired by a key change: no closure per proof otherwise.
    if (proof !== undefined && this.#retired.length > 0) {
      this.#checkRetired((old) => old.verify(token, action, resource, undefined, proof, at));
    }
    const claims = parseClaims(core.verify(token, action, resource, keyThumbprint, proof, at));
    if (this.#failOpen && core.staleIgnored()) {
      if (this.#onStale) this.#onStale(claims);
      else console.warn("tasktoken: revocation data is stale; token accepted (failOpenWhenStale)");
    }
    return claims;
  }

  /** The core, or the reason there is none: no keys loaded yet, or the core's refusal. */
  #current() {
    if (this.#core !== undefined) return this.#core;
    if (this.#buildError !== undefined) {
      const { code, message } = this.#buildError;
      throw new TaskTokenError(code, message, { cause: this.#buildError });
    }
    if (this.#replica !== undefined && this.#replicaCore === undefined && this.#hasKeys()) {
      throw new TaskTokenError("stale_revocation",
        "the revocation replica's RemoteKeySet has no keys loaded yet: refresh it first");
    }
    throw new TaskTokenError("unknown_key",
      "no keys of a trusted issuer are loaded yet: await the RemoteKeySet's refresh() first");
  }

  /** True if some trusted issuer has keys (a JWKS, or a RemoteKeySet that loaded some). */
  #hasKeys() {
    return this.#trusted.some(([, keys]) => !isRemote(keys) || keys.jwks !== null);
  }

  /**
   * The core for the trusted key sets and the replica's core as they are now; `undefined`
   * while no issuer has keys, or the replica has no core (its RemoteKeySet has no keys).
   */
  #build() {
    this.#replicaCore = this.#replica === undefined ? undefined : coreOf(this.#replica);
    const issuers = { __proto__: null };
    let loaded = false;
    for (const [iss, keys] of this.#trusted) {
      const jwks = isRemote(keys) ? keys.jwks : keys;
      if (jwks === null && isRemote(keys)) continue;
      issuers[iss] = jwks;
      loaded = true;
    }
    if (!loaded && this.#remote.length > 0) return undefined;
    if (this.#replica !== undefined && this.#replicaCore === undefined) return undefined;
    const core = new CoreVerifier(JSON.stringify({ ...this.#options, issuers }));
    if (this.#onDecision !== undefined || this.#perCallListening > 0) core.setDecisionSink(this.#sink);
    // The source and its policy, the same for every core; each consults them on every call.
    const r = this.#revocation;
    try {
      if (this.#replica !== undefined) {
        core.useReplica(this.#replicaCore, r.grace, r.failOpen, r.exactCheck);
      } else if (r !== undefined) {
        core.useFilter(coreOf(r.source), r.grace, r.failOpen, r.exactCheck);
      }
    } catch (error) {
      core.free();
      throw error;
    }
    return core;
  }

  /**
   * Builds the core again if a RemoteKeySet's keys changed since the last build, or the
   * replica's core did (its own RemoteKeySet changed). A refusal keeps the last good core
   * (reported to the key sets that changed, or to the replica); with no core yet, it is
   * what verification throws. The replaced core is retired, not dropped (see
   * RETIRED_SECONDS).
   */
  #sync() {
    let changed;
    for (let i = 0; i < this.#remote.length; i++) {
      const version = this.#remote[i].version;
      if (version !== this.#seen[i]) (changed ??= []).push(this.#remote[i]);
      this.#seen[i] = version;
    }
    const moved = this.#replica !== undefined && coreOf(this.#replica) !== this.#replicaCore;
    if (changed === undefined && !moved) return;
    let core;
    try {
      core = this.#build();
    } catch (error) {
      if (this.#core === undefined) this.#buildError = error;
      for (const set of changed ?? []) reportKeyError(set, error);
      if (changed === undefined) reportReplicaError(this.#replica, error);
      return;
    }
    // Only before any core: neither key sets nor a replica ever unload their keys.
    if (core === undefined) return;
    const now = Date.now();
    this.#retired = this.#retired.filter((r) => r.until > now);
    // Not freed: a nested call may still be running on it; the garbage collector frees it.
    if (this.#core !== undefined) {
      // A retired core only answers replay questions (`#checkRetired`): it reports nothing.
      this.#core.setDecisionSink(undefined);
      this.#retired.push({ core: this.#core, until: now + RETIRED_SECONDS * 1000 });
    }
    this.#core = core;
    this.#buildError = undefined;
  }

  /**
   * A DPoP proof accepted by a core replaced within RETIRED_SECONDS is `proof_replayed`: the
   * new core's replay cache starts empty. Any other answer of a retired core is ignored
   * (its keys are no longer the trusted ones). `decide(core)` asks one retired core the
   * question (a verification or a revocation with the proof).
   */
  #checkRetired(decide) {
    const now = Date.now();
    this.#retired = this.#retired.filter((r) => r.until > now);
    for (const { core } of this.#retired) {
      try {
        decide(core);
      } catch (error) {
        if (error instanceof TaskTokenError && error.code === "proof_replayed") throw error;
      }
    }
  }

  /** Runs `fn`; an `unknown_key` from it asks the remote key sets for a refresh. */
  #askingForKeys(fn) {
    try {
      return fn();
    } catch (error) {
      if (error instanceof TaskTokenError && error.code === "unknown_key") this.#askForKeys();
      throw error;
    }
  }

  /** Each RemoteKeySet refreshes in the background, at most once per its `minRefresh`. */
  #askForKeys() {
    for (const set of this.#remote) set.requestRefresh();
  }
}

/**
 * A call's `dpop` option, own members read once, as the JSON text the core takes:
 * `{ proof, method, url, nonce? }` (strings, `nonce` optional), or `undefined` without one;
 * `malformed` for anything else.
 */
function readProof(dpop, what = "dpop") {
  if (dpop === undefined) return undefined;
  const { proof, method, url, nonce } = snapshotObject(dpop, what);
  if (typeof proof !== "string" || typeof method !== "string" || typeof url !== "string") {
    throw bad("dpop needs { proof: string, method: string, url: string }");
  }
  if (nonce !== undefined && typeof nonce !== "string") throw bad("dpop nonce must be a string");
  return JSON.stringify({ proof, method, url, nonce });
}

function isRemote(keys) {
  return isInstance(keys, RemoteKeySet);
}

/**
 * The trusted issuers as `[issuer, keys]` pairs, read once: a RemoteKeySet as it is, a JWKS
 * as plain data (getters run once, here).
 */
function trustedIssuers(issuers) {
  const copy = snapshotObject(issuers, "Verifier issuers");
  return Object.entries(copy).map(([iss, keys]) =>
    [iss, isRemote(keys) ? keys : JSON.parse(plainJson(keys, "Verifier options"))]);
}

// The types of the verification surface. Those defined next to their code are re-exported
// here (and so from `tasktoken` too).
/** @typedef {import("./errors.js").ErrorCode} ErrorCode */
/** @typedef {import("./errors.js").ExchangeErrorCode} ExchangeErrorCode */
/** @typedef {import("./keys.js").Ed25519Jwk} Ed25519Jwk */
/** @typedef {import("./keys.js").RemoteKeySetOptions} RemoteKeySetOptions */
/** @typedef {import("./util.js").AuditEvent} AuditEvent */
/** @typedef {import("./revocation.js").RevocationInfo} RevocationInfo */
/** @typedef {import("./revocation.js").RevocationReplicaOptions} RevocationReplicaOptions */
/** @typedef {import("./revocation.js").RevocationData} RevocationData */
/** @typedef {import("./revocation.js").RevocationSource} RevocationSource */
/** @typedef {import("./links.js").LinkState} LinkState */
/** @typedef {import("./links.js").LinkCheck} LinkCheck */
/** @typedef {import("./links.js").LinkOrigin} LinkOrigin */
/** @typedef {import("./links.js").LinkCheckOptions} LinkCheckOptions */
/**
 * @template R
 * @typedef {import("./guard.js").GuardOptions<R>} GuardOptions
 */
/** @typedef {import("./guard.js").GuardResult} GuardResult */
/** @typedef {import("./guard.js").NodeRequestLike} NodeRequestLike */
/** @typedef {import("./guard.js").NodeResponseLike} NodeResponseLike */
/** @typedef {import("./exchange.js").BearerExchangeOptions} BearerExchangeOptions */
/** @typedef {import("./exchange.js").ApprovalWait} ApprovalWait */
/** @typedef {import("./exchange.js").ExchangeResult} ExchangeResult */
/** @typedef {import("./exchange.js").TaskOptions} TaskOptions */
/** @typedef {import("./exchange.js").TaskContext} TaskContext */
/** @typedef {import("./revocation.js").RevocationAuthority} RevocationAuthority */

/**
 * What a Verifier trusts and how strictly it checks.
 * @typedef {object} VerifierOptions
 * @property {Record<string, { keys: Ed25519Jwk[] } | import("./keys.js").RemoteKeySet>} issuers
 *   Trusted issuers and their key sets: a JWKS object per issuer, or a RemoteKeySet, whose
 *   changes the verifier follows (and which it asks for a refresh on `unknown_key`).
 * @property {string} audience This service's name; the token's `aud` must include it.
 * @property {import("./revocation.js").RevocationSource} [revocation] Revocation data consulted on
 *   every verification (a hit is `revoked`). It governs the tokens of one issuer: its
 *   `issuer`, or the trusted issuer whose keys are its keys; tokens of other issuers are
 *   `stale_revocation`.
 * @property {number} [revocationGrace] Seconds after the data's `nextUpdate` before it is
 *   stale (default 60, at most 86400).
 * @property {boolean} [failOpenWhenStale] Accept tokens on missing or stale revocation data,
 *   with a warning (default false).
 * @property {(jti: string) => boolean} [exactCheck] Called synchronously with the `jti` on a
 *   filter hit; returning exactly `false` overrules it (a false positive). Anything else, or
 *   a throw, leaves the token revoked.
 * @property {(claims: TaskClaims) => void} [onStaleRevocation] Called instead of
 *   console.warn when a token is accepted on stale data.
 * @property {(event: AuditEvent) => void} [onDecision] Receives an audit event for every
 *   verification decision.
 * @property {string} [name] This verifier's name in audit events (`decided_by`, default
 *   "verifier").
 * @property {number} [cacheSize] How many authenticated tokens to remember (default 1024; 0
 *   turns the cache off). A token seen again skips the signature, claim types, issuer and
 *   audience; time, lifetime, revocation, binding, action and resource are checked on every
 *   call.
 * @property {number} [maxLifetime] Largest accepted lifetime in seconds (default 900, at
 *   most 86400).
 * @property {number} [clockSkew] Tolerated clock difference in seconds (default 30, at most
 *   300).
 * @property {number} [proofMaxAge] How old a DPoP proof may be, in seconds (default 60, at
 *   most 300).
 * @property {boolean} [requireBinding] Accept only key-bound tokens (`cnf.jkt`).
 * @property {number} [maxDelegationDepth] Most links of a delegation chain (`ROOT~LINK…`)
 *   accepted (default and most 4; 0 refuses every chain with `delegation_denied`).
 */

/**
 * The DPoP proof (RFC 9449) a request carried (its `DPoP` header), with the request's method
 * and URL, and the nonce the server requires if it uses them.
 * @typedef {{ proof: string, method: string, url: string, nonce?: string }} DpopProof
 */

/**
 * What one verification is for.
 * @typedef {object} VerifyRequest
 * @property {string} action The action about to be performed; must be one of the token's
 *   scope entries.
 * @property {string} resource The resource about to be touched; must match one of the
 *   token's `res` patterns.
 * @property {string} [keyThumbprint] Thumbprint of a key the caller proved possession of by
 *   other means (for `cnf.jkt`).
 * @property {DpopProof} [dpop] The DPoP proof (RFC 9449) the request carried, with its method
 *   and URL: checked, and the token must be bound to its key. Each proof is accepted once per
 *   verifier (`proof_replayed` after), within `proofMaxAge`.
 * @property {number | Date} [now] Verify as of this time (seconds since the epoch, or a
 *   Date). Default: now.
 * @property {(event: AuditEvent) => void} [onDecision] Receives this call's audit event (in
 *   addition to the verifier's own listener).
 */

/**
 * The claims of a verified token; unknown claims are included, except a `__proto__` member
 * (at any depth), which is dropped so that no merge can make it a prototype.
 * @typedef {TaskClaimNames & { [claim: string]: unknown }} TaskClaims
 */

/**
 * The claims a task token is read for (TaskClaims holds the others too).
 * @typedef {object} TaskClaimNames
 * @property {string} iss
 * @property {string} sub
 * @property {string | string[]} aud
 * @property {number} iat
 * @property {number} [nbf]
 * @property {number} exp
 * @property {string} jti
 * @property {string} task
 * @property {string} scope
 * @property {string[]} res
 * @property {{ jkt: string }} [cnf]
 * @property {number} [dlg] Delegation links the holder may still add.
 * @property {DelegationActor} [act] For a delegation chain: the delegators, the most recent
 *   outermost, the root's `sub` innermost (RFC 8693 §4.1).
 * @property {string} [prev] For a delegation chain: the hash of the element before the last
 *   link.
 */

/**
 * One delegator of a chain, and the one before it.
 * @typedef {{ sub: string, act?: DelegationActor }} DelegationActor
 */
