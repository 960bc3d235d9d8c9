// Revocation in the package: a verified filter, a replica that keeps one fresh, and
// completeTask. Every decision (verification, which snapshot or delta to take, in which
// order) is the core's; this file fetches bytes and schedules.
import { CoreReplica, CoreRevocationFilter } from "../wasm/verify/tasktoken.js";
import { TaskTokenError } from "./errors.js";
import { DEFAULT_TIMEOUT, below, checkTimeout, isRedirect, parseHttpUrl, withDeadline } from "./http.js";
import { hasMethod, isInstance, ownValue, plainJson, snapshotObject } from "./input.js";
import { RemoteKeySet } from "./keys.js";
import { seconds } from "./util.js";

/** Module-private readers of the classes' core objects, set in their static blocks. */
let filterCore;
let replicaCore;

/** A verified revocation snapshot, with deltas applied on its serial. */
export class RevocationFilter {
  /** @type {CoreRevocationFilter} */
  #core;

  /**
   * Not for callers: use `RevocationFilter.fromSnapshot`.
   * @private
   */
  constructor(core) {
    if (!isInstance(core, CoreRevocationFilter)) {
      throw new TaskTokenError("malformed", "use RevocationFilter.fromSnapshot(bytes, { keys })");
    }
    this.#core = core;
  }

  /**
   * Verifies a snapshot signed by one of `keys` (a JWKS object), plausible now (no serial or
   * issue time from the future, valid for at most a day). With `issuer`, the data must name
   * that issuer (`untrusted_issuer` otherwise) and `keys` are trusted to sign its revocation
   * data (e.g. an authority key kept out of the token JWKS); without, the data's own issuer
   * is taken, and a Verifier accepts the filter only if `keys` are that issuer's token keys.
   * @param {Uint8Array | ArrayBuffer} bytes
   * @param {{ keys: Ed25519Jwk[] }} jwks
   * @param {{ issuer?: string, now?: number | Date }} [options]
   * @returns {RevocationFilter}
   */
  static fromSnapshot(bytes, jwks, options = {}) {
    const { issuer, now } = snapshotObject(options, "fromSnapshot options");
    if (issuer !== undefined && typeof issuer !== "string") {
      throw new TaskTokenError("malformed", "issuer must be a string");
    }
    const core = CoreRevocationFilter.fromSnapshot(toBytes(bytes), plainJson(jwks, "keys"), issuer, seconds(now));
    return new RevocationFilter(core);
  }

  /**
   * Verifies a delta with the same keys and applies it; unchanged on error.
   * @param {Uint8Array | ArrayBuffer} bytes
   * @returns {this}
   */
  applyDelta(bytes) {
    this.#core.applyDelta(toBytes(bytes), Date.now() / 1000);
    return this;
  }

  /**
   * True if `jti` hits the filter (revoked, or a false positive at the filter's rate).
   * @param {string} jti
   * @returns {boolean}
   */
  has(jti) {
    return typeof jti === "string" && this.#core.has(jti);
  }

  /**
   * `{ serial, issuedAt, nextUpdate, kid, iss, bits, hashes }`.
   * @returns {RevocationInfo}
   */
  get info() {
    return JSON.parse(this.#core.info());
  }

  static {
    filterCore = (filter) => filter.#core;
  }
}

/**
 * @internal The wasm object behind a RevocationFilter or RevocationReplica, for the Verifier
 * only: module-private (no property of the public objects reaches it), so nothing internal
 * is reachable from an application.
 * @param {RevocationFilter | RevocationReplica} source
 * @returns {any}
 */
export function coreOf(source) {
  return isInstance(source, RevocationReplica) ? replicaCore(source) : filterCore(source);
}

/**
 * @internal How a Verifier reports, through a replica's `onError`, a core it could not use.
 * @type {(replica: RevocationReplica | undefined, error: unknown) => void}
 */
export let reportReplicaError;

/**
 * The most bytes of deltas a replica following a RemoteKeySet holds to give a core built for
 * new keys (at about 150 bytes a delta, some 28,000); beyond, a key change empties the
 * replica until its next refresh reads the data again (fail closed).
 */
const MAX_HELD_DELTA_BYTES = 4 * 1024 * 1024;

/**
 * Keeps a verified revocation filter fresh: from a URL (`<url>/snapshot`,
 * `<url>/delta/<serial>`) or a caller-supplied loader, on an interval. Deltas apply in
 * order whatever order they arrive in, a gap falls back to a full snapshot, and the filter
 * never goes back to an older serial. Plug it into `new Verifier({ revocation })`.
 *
 * Its keys may be a RemoteKeySet (the token service's JWKS): when they change, the replica
 * builds its core again for the new keys and offers it the snapshot and deltas it holds, so
 * the filter is kept where the new keys still verify it, and data signed by a new key is
 * taken from then on; a Verifier using the replica takes the new core at its next call.
 */
export class RevocationReplica {
  /** The core, or `undefined` while its RemoteKeySet has no keys loaded. */
  #core;
  #issuer;
  /** The RemoteKeySet it follows, if any, and its version the core was built for. */
  #keySet;
  #keysVersion = 0;
  /**
   * With a RemoteKeySet, what the core took since it was built: `{ snapshot, deltas, size,
   * lost }`, each delta `{ bytes, buffered }` (see `#hold`).
   */
  #held = emptyHeld();
  #url;
  #loader;
  #fetch;
  #interval;
  #timer;
  #onError;
  #lastRefresh = 0;
  #lastAttempt = 0;
  #timeout;
  /** The refresh running: `{ since, promise }`, `since` the start of its latest load. */
  #inflight;
  /**
   * The core's info as JSON text, until the core takes data or is replaced (`#take`,
   * `#follow`): `refreshIfDue()` answers with it on every request in Workers.
   */
  #infoJson;

  static {
    reportReplicaError = (replica, error) => replica.#onError?.(error);
    // The core object, for the Verifier (`undefined` while a RemoteKeySet has no keys); a
    // new one after the keys changed.
    replicaCore = (replica) => {
      replica.#follow();
      return replica.#core;
    };
  }

  /**
   * @param {RevocationReplicaOptions} options
   *   `keys`: the JWKS whose keys may sign revocation data for `issuer`, the one issuer whose
   *   tokens it governs (data naming another is refused), or a RemoteKeySet of them, followed
   *   (until it has keys loaded the replica holds nothing, and its refresh waits for the key
   *   set's). Without `issuer`, the Verifier the replica is given to binds it to the trusted
   *   issuer whose token keys `keys` are.
   *   `url` or `loader`: where bytes
   *   come from; a loader gets the current serial (or `null` when a full snapshot is needed)
   *   and returns bytes, an array of byte arrays (snapshots and/or deltas), or nothing.
   *   `interval`: seconds between refreshes (default 30, at most 2147483). `timeout`: seconds
   *   one fetch or loader call may take (default 5, above 0, at most 120; the loader's
   *   `signal` aborts then); one that takes longer is a failed load, and a refresh whose
   *   load has not ended by then never holds up the next refresh.
   */
  constructor(options) {
    const { keys, issuer, url, loader, interval = 30, timeout = DEFAULT_TIMEOUT, fetch: fetchImpl, onError } =
      snapshotObject(options, "RevocationReplica options");
    if (issuer !== undefined && typeof issuer !== "string") {
      throw new TaskTokenError("malformed", "issuer must be a string");
    }
    if ((url === undefined) === (loader === undefined)) {
      throw new TaskTokenError("malformed", "RevocationReplica needs exactly one of url or loader");
    }
    if (loader !== undefined && typeof loader !== "function") {
      throw new TaskTokenError("malformed", "loader must be a function");
    }
    if (onError !== undefined && typeof onError !== "function") {
      throw new TaskTokenError("malformed", "onError must be a function");
    }
    // setInterval takes at most 2^31 - 1 ms; beyond, runtimes fire every millisecond.
    if (!(typeof interval === "number" && interval > 0 && interval <= 2147483)) {
      throw new TaskTokenError("malformed", "interval must be 0 < seconds <= 2147483");
    }
    if (fetchImpl !== undefined && typeof fetchImpl !== "function") {
      throw new TaskTokenError("malformed", "fetch must be a function");
    }
    this.#timeout = checkTimeout(timeout);
    this.#issuer = issuer;
    if (isInstance(keys, RemoteKeySet)) {
      this.#keySet = keys;
      this.#follow();
    } else {
      this.#core = new CoreReplica(plainJson(keys, "keys"), issuer);
    }
    this.#url = url === undefined ? undefined : parseHttpUrl(url, "RevocationReplica url");
    this.#loader = loader;
    this.#fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.#interval = interval;
    this.#onError = onError;
  }

  /**
   * Serial, times and geometry of the current filter, or `null` before the first load.
   * @returns {RevocationInfo | null}
   */
  get info() {
    return this.#info();
  }

  /**
   * Seconds since the last healthy refresh — one where every fetch answered and everything
   * offered verified (Infinity before the first).
   * @returns {number}
   */
  get age() {
    return this.#lastRefresh ? (Date.now() - this.#lastRefresh) / 1000 : Infinity;
  }

  /**
   * True if `jti` hits the current filter.
   * @param {string} jti
   * @returns {boolean}
   */
  has(jti) {
    this.#follow();
    return typeof jti === "string" && this.#core !== undefined && this.#core.has(jti);
  }

  /** The current filter's info, or null. */
  #info() {
    this.#follow();
    this.#infoJson ??= this.#core?.info() ?? null;
    return this.#infoJson === null ? null : JSON.parse(this.#infoJson);
  }


  /**
   * Offers snapshot or delta bytes obtained elsewhere (a push channel, a test):
   * `"replaced"`, `"applied"`, `"buffered"` or `"ignored"`; throws a TaskTokenError on data
   * that does not verify (`unknown_key` while a RemoteKeySet has no keys loaded).
   * @param {Uint8Array | ArrayBuffer} bytes
   * @returns {"replaced" | "applied" | "buffered" | "ignored"}
   */
  offer(bytes) {
    this.#follow();
    if (this.#core === undefined) {
      throw new TaskTokenError("unknown_key", "the replica's RemoteKeySet has no keys loaded yet");
    }
    return this.#take(toBytes(bytes));
  }

  /** Offers verified-or-refused bytes to the core, and holds what it took (see `#hold`). */
  #take(bytes) {
    const clean = this.#keySet !== undefined && !this.#core.hasGap();
    this.#infoJson = undefined;
    const outcome = this.#core.offer(bytes, Date.now() / 1000);
    if (this.#keySet !== undefined) this.#hold(bytes, outcome, clean);
    return outcome;
  }

  /**
   * Holds what a core took, for one built for new keys: the snapshot, and the deltas that may
   * still matter to it. A snapshot `replaced` the filter with a greater serial than every
   * delta applied before it, so those go; deltas that were `buffered` might have been taken
   * with it, or wait on, so they stay — unless the core had no gap before (`clean`): then
   * none were waiting. Beyond MAX_HELD_DELTA_BYTES the history is `lost` until a snapshot
   * arrives on a clean core.
   */
  #hold(bytes, outcome, clean) {
    const held = this.#held;
    if (outcome === "ignored") return;
    if (outcome === "replaced") {
      held.deltas = clean ? [] : held.deltas.filter((d) => d.buffered);
      held.snapshot = bytes.slice();
      if (clean) held.lost = false;
    } else {
      held.deltas.push({ bytes: bytes.slice(), buffered: outcome === "buffered" });
    }
    held.size = held.deltas.reduce((sum, d) => sum + d.bytes.byteLength, 0);
    if (held.lost || held.size > MAX_HELD_DELTA_BYTES) this.#held = { ...emptyHeld(), lost: true };
  }

  /**
   * Follows the RemoteKeySet: when its keys changed since the core was built, builds a core
   * for the new keys and offers it what the old one took. Data the new keys no longer verify
   * (a key removed) is dropped and reported; the next refresh reads what is missing.
   */
  #follow() {
    const set = this.#keySet;
    if (set === undefined || set.version === this.#keysVersion) return;
    this.#keysVersion = set.version;
    const jwks = set.jwks;
    if (jwks === null) return;
    let core;
    try {
      core = new CoreReplica(JSON.stringify(jwks), this.#issuer);
    } catch (error) {
      // The key set's own check is the core's, so this is not expected; the last core stays.
      this.#onError?.(error);
      return;
    }
    const held = this.#held;
    this.#core = core;
    this.#infoJson = undefined;
    this.#held = emptyHeld();
    let refused = 0;
    for (const bytes of held.snapshot === undefined ? [] : [held.snapshot, ...held.deltas.map((d) => d.bytes)]) {
      try {
        this.#take(bytes);
      } catch {
        refused++;
      }
    }
    if (refused > 0 || held.lost) {
      this.#onError?.(new TaskTokenError("stale_revocation", held.lost
        ? "the revocation data held was too large to offer again after a key change: it is read again"
        : `${refused} revocation publication(s) held do not verify with the new keys: dropped`));
    }
  }

  /**
   * One refresh: follow deltas from the current serial; read the full snapshot when there is
   * none yet, a gap, data that failed, the filter is close to stale, or the authority
   * answered `410 Gone` for a delta (it rotated to a new generation: not an error, and the
   * refresh stays healthy); then follow the deltas published after that snapshot.
   * Concurrent calls share one refresh (one whose load has run past `timeout` is dropped,
   * and the call starts anew). Resolves to the info after it; rejects only if no verified
   * filter exists at all (the last good one is always kept).
   * @returns {Promise<RevocationInfo>}
   */
  refresh() {
    let run = this.#running();
    if (run === undefined) {
      run = { since: Date.now() };
      run.promise = this.#refresh(run).finally(() => {
        if (this.#inflight === run) this.#inflight = undefined;
      });
      this.#inflight = run;
    }
    return run.promise;
  }

  /**
   * The refresh running, unless its latest load started over `timeout` seconds ago: that one
   * never ends (a Worker's fetch cut off with its request) and is forgotten. Offers from a
   * forgotten refresh that does go on are harmless: the core orders them.
   */
  #running() {
    const run = this.#inflight;
    if (run !== undefined && Date.now() - run.since > this.#timeout * 1000) this.#inflight = undefined;
    return this.#inflight;
  }

  /**
   * Refreshes if the interval has passed since the last attempt; otherwise resolves at
   * once, reading nothing. The way to keep a replica fresh where timers do not outlive a
   * request (Cloudflare Workers): `await replica.refreshIfDue()` in the handler.
   * @returns {Promise<RevocationInfo | null>}
   */
  refreshIfDue() {
    if (Date.now() - this.#lastAttempt < this.#interval * 1000) {
      return Promise.resolve(this.#info());
    }
    return this.refresh();
  }

  /**
   * Refreshes now and then every `interval` seconds until `stop()`: for Node and browsers.
   * In Workers timers do not outlive a request; use `refreshIfDue()` there.
   * @returns {this}
   */
  start() {
    if (this.#timer === undefined) {
      const tick = () => this.refresh().catch((e) => this.#onError?.(e));
      tick();
      this.#timer = setInterval(tick, this.#interval * 1000);
      // Do not keep a Node process alive just for revocation updates.
      this.#timer?.unref?.();
    }
    return this;
  }

  /**
   * Stops the interval.
   * @returns {void}
   */
  stop() {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #refresh(run) {
    this.#lastAttempt = Date.now();
    this.#follow();
    if (this.#core === undefined) {
      // The RemoteKeySet has no keys yet: its refresh (running, or due), then look again.
      const set = this.#keySet;
      await (set.pending ?? set.refreshIfDue().catch(() => {}));
      this.#follow();
      if (this.#core === undefined) {
        throw new TaskTokenError("stale_revocation", "no keys to verify revocation data with are loaded yet");
      }
    }
    let healthy = true;
    const report = (error) => {
      healthy = false;
      this.#onError?.(error);
    };
    const serialNow = () => this.#info()?.serial ?? null;
    /** Applies deltas from the current serial on; true if the generation is gone (410). */
    const followDeltas = async () => {
      for (let step = 0; step < MAX_DELTA_STEPS; step++) {
        const serial = serialNow();
        if (serial === null) return false;
        const items = await this.#load(serial, report, run);
        if (items === GONE) return true;
        if (items.length === 0) return false;
        this.#offerAll(items, report);
        if (serialNow() === serial) return false;
      }
      return false;
    };
    const rotated = await followDeltas();
    const info = this.#info();
    const nearStale = info !== null && Date.now() / 1000 >= info.nextUpdate - 2 * this.#interval;
    if (info === null || this.#core.hasGap() || !healthy || nearStale || rotated) {
      this.#offerAll(await this.#load(null, report, run), report);
      if (await followDeltas()) {
        // The snapshot just read is itself of a retired generation (a stale cache on the
        // way): the replica cannot catch up in this refresh.
        report(new TaskTokenError("stale_revocation",
          "revocation data fetch: HTTP 410 for the delta of the snapshot just read"));
      }
    }
    if (this.#info() === null) {
      throw new TaskTokenError("stale_revocation", "no verified revocation snapshot could be loaded");
    }
    if (healthy) this.#lastRefresh = Date.now();
    return this.#info();
  }

  /** Offers each item; data that does not verify is reported and skipped. */
  #offerAll(items, report) {
    for (const item of items) {
      try {
        this.#take(toBytes(item));
      } catch (error) {
        report(error);
      }
    }
  }

  /**
   * Bytes after `serial` (a delta from it), or for `null` a snapshot, within `timeout`.
   * "Nothing new" (no delta, HTTP 404) is an empty list; "that generation is retired" (HTTP
   * 410 for a delta) is `GONE`; any other failure is reported and also empty.
   */
  async #load(serial, report, run) {
    run.since = Date.now();
    try {
      return await withDeadline(this.#timeout, (signal) => this.#read(serial, signal));
    } catch (error) {
      report(error);
      return [];
    }
  }

  async #read(serial, signal) {
    if (this.#loader) {
      const out = await this.#loader({ serial, signal });
      if (out === undefined || out === null) return [];
      return Array.isArray(out) ? out : [out];
    }
    const url = below(this.#url, serial === null ? "/snapshot" : `/delta/${serial}`);
    // No prototype: fetch() reads init members with inheritance (WebIDL).
    const response = await this.#fetch(url, { __proto__: null, cache: "no-store", signal });
    if (response.status === 404 && serial !== null) return [];
    if (response.status === 410 && serial !== null) {
      response.body?.cancel().catch(() => {});
      return GONE;
    }
    if (!response.ok) {
      throw new TaskTokenError("stale_revocation", `revocation data fetch: HTTP ${response.status}`);
    }
    return [new Uint8Array(await response.arrayBuffer())];
  }
}

/**
 * Revokes a token when its task is done: one call.
 *
 * `authority` is the revocation endpoint's URL (the token is POSTed as
 * `Authorization: Bearer <token>`, redirects refused), or a function `(token) =>
 * Promise<unknown>`, or an object with `revoke(token)`. Anything else, and a URL that is not
 * http(s), is `malformed`. A key-bound token revokes itself only with a DPoP proof by its
 * key (a copy of it out of a log must not end the task): that needs the full `tasktoken`
 * entry's `completeTask` with `dpop: { key }`; here, in `tasktoken/verify`, a `dpop` option
 * is `malformed`, and a bound token sent as Bearer is refused by the authority
 * (`binding_required`).
 * @param {string} token
 * @param {RevocationAuthority} authority
 * @param {{ fetch?: typeof fetch }} [options] `fetch`: what POSTs to a URL authority
 * @returns {Promise<void>} resolves once the authority has stored the revocation; rejects
 *   with the authority's code (`binding_required`, `invalid_proof`, `revoked`, …) when it
 *   refuses, `malformed` when it cannot be reached or answers with no code of ours.
 */
export async function completeTask(token, authority, options = {}) {
  return revokeWith(token, authority, options, undefined);
}

/**
 * @internal `completeTask`, with the DPoP signer of the full entry (or none): with `signer`,
 * `options.dpop` (`{ key }`, a private proof JWK) sends the token as `Authorization: DPoP`
 * with a fresh proof for `POST <authority>` (`ath` of the token), retried once with the
 * authority's nonce if it asks for one (RFC 9449 §9). A `dpop` with a function or object
 * authority is `malformed` (they get the token, never the key).
 * @param {{ proof(key: object, url: string, nonce?: string, token?: string): string } | undefined} signer
 */
export async function revokeWith(token, authority, options, signer) {
  if (typeof token !== "string" || token.length === 0) {
    throw new TaskTokenError("malformed", "completeTask needs the token string");
  }
  const { fetch: fetchImpl, dpop } = snapshotObject(options, "completeTask options");
  if (fetchImpl !== undefined && typeof fetchImpl !== "function") {
    throw new TaskTokenError("malformed", "fetch must be a function");
  }
  let key;
  if (dpop !== undefined) {
    if (signer === undefined) {
      throw new TaskTokenError("malformed",
        "dpop needs the full entry: import completeTask from \"tasktoken\", not \"tasktoken/verify\"");
    }
    key = snapshotObject(dpop, "dpop").key;
    if (key === null || typeof key !== "object") {
      throw new TaskTokenError("malformed", "dpop needs { key: a private JWK from generateProofKey }");
    }
  }
  // A URL is never asked for a `revoke` method: it could only be found on a prototype.
  const isUrl = isUrlLike(authority);
  if (!isUrl && (typeof authority === "function" || hasMethod(authority, "revoke"))) {
    // They get the token, never the key: a proof is for a request this function makes.
    if (key !== undefined) throw new TaskTokenError("malformed", "dpop needs an authority URL");
    if (typeof authority === "function") return void (await authority(token));
    return void (await authority.revoke(token));
  }
  if (!isUrl) {
    throw new TaskTokenError("malformed", "completeTask needs an authority URL, function or object");
  }
  const target = parseHttpUrl(authority, "the authority");
  // The proof is made before anything is sent: a key the core cannot sign with is its error.
  const headers = (nonce) => key === undefined
    ? { authorization: `Bearer ${token}` }
    : { authorization: `DPoP ${token}`, dpop: signer.proof(key, target.href, nonce, token) };
  const send = async (init) => {
    let response;
    try {
      // No redirects: a 3xx would re-send the token elsewhere and prove nothing was stored
      // ("manual", and a redirect refused here: workerd has no "error"). No prototype: fetch()
      // reads init members with inheritance (WebIDL), so a polluted `body`, `credentials` or
      // `mode` would otherwise change the request.
      response = await (fetchImpl ?? globalThis.fetch.bind(globalThis))(target, {
        __proto__: null, method: "POST", headers: init, redirect: "manual",
      });
      if (isRedirect(response)) throw new TypeError(`a redirect (HTTP ${response.status}) is not followed`);
    } catch (cause) {
      throw new TaskTokenError("malformed", "the revocation authority could not be reached", { cause });
    }
    return response;
  };
  let response = await send(headers(undefined));
  const nonce = key === undefined ? null : response.headers.get("dpop-nonce");
  if (nonce !== null && (response.status === 401 || response.status === 400) &&
      /error="?use_dpop_nonce/.test(response.headers.get("www-authenticate") ?? "")) {
    response.body?.cancel().catch(() => {});
    response = await send(headers(nonce));
  }
  if (response.ok) return;
  /** @type {import("./errors.js").ErrorCode} */
  let code = "malformed";
  try {
    // Own members only: an inherited `error` (say "revoked") is not the authority's answer.
    const error = ownValue(Object(await response.json()), "error");
    if (CODES.has(error)) code = error;
  } catch {}
  throw new TaskTokenError(code, `the authority refused the revocation (HTTP ${response.status})`);
}

/** A string or URL: an authority to POST to. */
function isUrlLike(authority) {
  return typeof authority === "string" || isInstance(authority, URL);
}

const CODES = new Set([
  "malformed", "unsupported_alg", "wrong_type", "unknown_key", "bad_signature", "missing_claim",
  "invalid_claim", "untrusted_issuer", "wrong_audience", "not_yet_valid", "expired",
  "lifetime_too_long", "revoked", "stale_revocation", "action_denied", "resource_denied",
  "binding_required", "binding_mismatch", "invalid_proof", "proof_replayed",
  "delegation_denied",
]);

/**
 * Nothing held yet (see `RevocationReplica#hold`).
 * @returns {{ snapshot: Uint8Array | undefined, deltas: { bytes: Uint8Array, buffered: boolean }[],
 *             size: number, lost: boolean }}
 */
function emptyHeld() {
  return { snapshot: undefined, deltas: [], size: 0, lost: false };
}

/** How many deltas one refresh follows before reading the snapshot instead. */
const MAX_DELTA_STEPS = 32;

/** What `#load` returns for a delta of a retired generation (HTTP 410). */
const GONE = Symbol("gone");

/**
 * @internal The bytes of a Uint8Array, ArrayBuffer or view; `malformed` for anything else.
 * @param {unknown} bytes
 * @returns {Uint8Array}
 */
export function toBytes(bytes) {
  try {
    if (bytes instanceof Uint8Array) return bytes;
    if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
    if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (cause) {
    throw new TaskTokenError("malformed", "revocation data could not be read (a detached buffer?)", { cause });
  }
  throw new TaskTokenError("malformed", "revocation data must be a Uint8Array or ArrayBuffer");
}

/** @import { Ed25519Jwk } from "./keys.js" */

/**
 * Serial, times and geometry of a revocation filter.
 * @typedef {object} RevocationInfo
 * @property {number} serial
 * @property {number} issuedAt
 * @property {number} nextUpdate
 * @property {string} kid
 * @property {string} iss The issuer whose tokens the data governs.
 * @property {number} bits
 * @property {number} hashes
 */

/**
 * Where a RevocationReplica reads revocation data, and with which keys.
 * @typedef {object} RevocationReplicaOptions
 * @property {{ keys: Ed25519Jwk[] } | RemoteKeySet} keys The JWKS whose keys may sign
 *   revocation data for `issuer`, or a RemoteKeySet of them (the token service's JWKS),
 *   followed: when its keys change the replica builds its core again and offers it the data
 *   it holds, keeping the filter where the new keys verify it.
 * @property {string} [issuer] The issuer whose tokens the data governs (data naming another
 *   is refused). Default: the trusted issuer of the Verifier it is given to whose token keys
 *   `keys` are.
 * @property {string | URL} [url] Base URL serving `<url>/snapshot` and `<url>/delta/<serial>`.
 * @property {(request: { serial: number | null, signal: AbortSignal }) => RevocationData
 *   | Promise<RevocationData>} [loader] Or: returns bytes (snapshots and/or deltas) after
 *   `serial`, or a snapshot for `null`; `signal` aborts after `timeout`.
 * @property {number} [interval] Seconds between refreshes (default 30).
 * @property {number} [timeout] Seconds one fetch or loader call may take (default 5, at most
 *   120).
 * @property {typeof fetch} [fetch]
 * @property {(error: Error) => void} [onError] Told about data that failed to verify or load
 *   (the last good filter is kept).
 */

/**
 * What a RevocationReplica's loader returns: a snapshot or delta, several, or nothing new.
 * @typedef {Uint8Array | ArrayBuffer | Array<Uint8Array | ArrayBuffer> | null | undefined}
 *   RevocationData
 */

/**
 * Where `completeTask` sends a token: the revocation endpoint's URL, a function, or an
 * object with `revoke(token)`.
 * @typedef {string | URL | ((token: string) => unknown) | { revoke(token: string): unknown }}
 *   RevocationAuthority
 */

/**
 * What a Verifier consults about revocation: a replica kept fresh, or a filter.
 * @typedef {RevocationReplica | RevocationFilter} RevocationSource
 */
