// Revocation in the package: a verified filter, a replica that keeps one fresh, and
// completeTask. Every decision (verification, which snapshot or delta to take, in which
// order) is the core's; this file fetches bytes and schedules.
import { CoreReplica, CoreRevocationFilter, signDelta, signSnapshot } from "../wasm/tasktoken.js";
import { TaskTokenError } from "./errors.js";

/** A verified revocation snapshot, with deltas applied on its serial. */
export class RevocationFilter {
  #core;

  /** @param {CoreRevocationFilter} core */
  constructor(core) {
    if (!(core instanceof CoreRevocationFilter)) {
      throw new TaskTokenError("malformed", "use RevocationFilter.fromSnapshot(bytes, { keys })");
    }
    this.#core = core;
  }

  /**
   * Verifies a snapshot signed by one of `keys` (a JWKS object).
   * @param {Uint8Array | ArrayBuffer} bytes
   * @param {{ keys: object[] }} jwks
   */
  static fromSnapshot(bytes, jwks) {
    return new RevocationFilter(CoreRevocationFilter.fromSnapshot(toBytes(bytes), jwks));
  }

  /** Verifies a delta with the same keys and applies it; unchanged on error. */
  applyDelta(bytes) {
    this.#core.applyDelta(toBytes(bytes));
    return this;
  }

  /** True if `jti` hits the filter (revoked, or a false positive at the filter's rate). */
  has(jti) {
    return typeof jti === "string" && this.#core.has(jti);
  }

  /** `{ serial, issuedAt, nextUpdate, kid, bits, hashes }`. */
  get info() {
    return this.#core.info();
  }

  /** @internal the core object, for the Verifier. */
  get core() {
    return this.#core;
  }
}

/**
 * Keeps a verified revocation filter fresh: from a URL (`<url>/snapshot`,
 * `<url>/delta/<serial>`) or a caller-supplied loader, on an interval. Deltas apply in
 * order whatever order they arrive in, a gap falls back to a full snapshot, and the filter
 * never goes back to an older serial. Plug it into `new Verifier({ revocation })`.
 */
export class RevocationReplica {
  #core;
  #url;
  #loader;
  #fetch;
  #interval;
  #timer;
  #onError;
  #lastRefresh = 0;
  #inflight;

  /**
   * @param {{ keys: { keys: object[] }, url?: string | URL,
   *           loader?: (request: { serial: number | null }) => Promise<unknown>,
   *           interval?: number, fetch?: typeof fetch, onError?: (error: Error) => void }} options
   *   `keys`: the JWKS whose keys may sign revocation data. `url` or `loader`: where bytes
   *   come from; a loader gets the current serial (or `null` when a full snapshot is needed)
   *   and returns bytes, an array of byte arrays (snapshots and/or deltas), or nothing.
   *   `interval`: seconds between refreshes (default 30).
   */
  constructor(options) {
    const { keys, url, loader, interval = 30, fetch: fetchImpl, onError } = options ?? {};
    if ((url === undefined) === (loader === undefined)) {
      throw new TaskTokenError("malformed", "RevocationReplica needs exactly one of url or loader");
    }
    if (loader !== undefined && typeof loader !== "function") {
      throw new TaskTokenError("malformed", "loader must be a function");
    }
    if (!(typeof interval === "number" && interval > 0)) {
      throw new TaskTokenError("malformed", "interval must be a positive number of seconds");
    }
    this.#core = new CoreReplica(keys);
    this.#url = url === undefined ? undefined : String(url).replace(/\/+$/, "");
    this.#loader = loader;
    this.#fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.#interval = interval;
    this.#onError = onError;
  }

  /** Serial, times and geometry of the current filter, or `null` before the first load. */
  get info() {
    return this.#core.info();
  }

  /** Seconds since the last successful refresh (Infinity before the first). */
  get age() {
    return this.#lastRefresh ? (Date.now() - this.#lastRefresh) / 1000 : Infinity;
  }

  /** True if `jti` hits the current filter. */
  has(jti) {
    return typeof jti === "string" && this.#core.has(jti);
  }

  /** @internal the core object, for the Verifier. */
  get core() {
    return this.#core;
  }

  /**
   * Offers snapshot or delta bytes obtained elsewhere (a push channel, a test):
   * `"replaced"`, `"applied"`, `"buffered"` or `"ignored"`; throws a TaskTokenError on data
   * that does not verify.
   */
  offer(bytes) {
    return this.#core.offer(toBytes(bytes));
  }

  /**
   * One refresh: fetch what is new, apply it, and fall back to a snapshot on a gap.
   * Concurrent calls share one refresh. Resolves to the info after it; rejects (and keeps
   * the last good filter) if nothing verified could be loaded.
   */
  refresh() {
    this.#inflight ??= this.#refresh().finally(() => (this.#inflight = undefined));
    return this.#inflight;
  }

  /** Refreshes now and then every `interval` seconds until `stop()`. */
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

  /** Stops the interval. */
  stop() {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #refresh() {
    // Follow deltas from the current serial while they move it forward (bounded).
    let advanced = false;
    for (let step = 0; step < MAX_DELTA_STEPS; step++) {
      const serial = this.#core.info()?.serial ?? null;
      if (serial === null) break;
      await this.#offerAll(await this.#load(serial));
      if ((this.#core.info()?.serial ?? null) === serial) break;
      advanced = true;
    }
    // No filter, a gap, or nothing new by deltas (the authority may have rotated to a new
    // snapshot generation): read the snapshot. One older than what we have is ignored.
    if (!advanced || this.#core.hasGap()) {
      await this.#offerAll(await this.#load(null));
    }
    const info = this.#core.info();
    if (info === null) {
      throw new TaskTokenError("stale_revocation", "no verified revocation snapshot could be loaded");
    }
    this.#lastRefresh = Date.now();
    return info;
  }

  /** Offers each item; data that does not verify is reported and skipped. */
  async #offerAll(items) {
    for (const item of items) {
      try {
        this.#core.offer(toBytes(item));
      } catch (error) {
        this.#onError?.(error);
      }
    }
  }

  /** Bytes for the given serial (a delta from it) or for `null` (a snapshot). */
  async #load(serial) {
    if (this.#loader) {
      const out = await this.#loader({ serial });
      if (out === undefined || out === null) return [];
      return Array.isArray(out) ? out : [out];
    }
    const path = serial === null ? "/snapshot" : `/delta/${serial}`;
    const response = await this.#fetch(this.#url + path, { cache: "no-store" });
    if (!response.ok) {
      if (serial !== null) return []; // no delta from there: the gap check fetches a snapshot
      throw new TaskTokenError("stale_revocation", `revocation snapshot fetch failed: ${response.status}`);
    }
    return [new Uint8Array(await response.arrayBuffer())];
  }
}

/**
 * Revokes a token when its task is done: one call.
 *
 * `authority` is the revocation endpoint's URL (the token is POSTed as
 * `Authorization: Bearer <token>`; a token may always revoke itself), or a function
 * `(token) => Promise<unknown>`, or an object with `revoke(token)`.
 * @returns {Promise<void>} resolves once the authority has stored the revocation.
 */
export async function completeTask(token, authority) {
  if (typeof token !== "string" || token.length === 0) {
    throw new TaskTokenError("malformed", "completeTask needs the token string");
  }
  if (typeof authority === "function") return void (await authority(token));
  if (authority && typeof authority.revoke === "function") return void (await authority.revoke(token));
  if (typeof authority === "string" || authority instanceof URL) {
    const response = await fetch(authority, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    if (!response.ok) {
      let code = "malformed";
      try {
        code = (await response.json()).error ?? code;
      } catch {}
      throw new TaskTokenError(code, `the authority refused the revocation (HTTP ${response.status})`);
    }
    return;
  }
  throw new TaskTokenError("malformed", "completeTask needs an authority URL, function or object");
}

/**
 * For authorities: builds and signs a revocation snapshot of `jtis` with a private JWK: a
 * new generation (fresh salt), or, given an earlier snapshot as `generation`, the same
 * geometry and salt, so that deltas of that generation still apply.
 * @param {object} key a private JWK whose public part verifiers trust
 * @param {{ jtis: string[], serial: number, issuedAt: number, nextUpdate: number,
 *           capacity?: number, fpr?: number }} options
 * @param {Uint8Array} [generation]
 * @returns {Uint8Array}
 */
export function signRevocationSnapshot(key, options, generation) {
  return signSnapshot(key, options, generation === undefined ? undefined : toBytes(generation));
}

/**
 * For authorities: builds and signs a delta adding `jtis` to the generation of `snapshot`.
 * @param {object} key a private JWK
 * @param {Uint8Array} snapshot the generation's snapshot (its geometry and salt are used)
 * @param {{ jtis: string[], baseSerial: number, serial: number, issuedAt: number,
 *           nextUpdate: number }} options
 * @returns {Uint8Array}
 */
export function signRevocationDelta(key, snapshot, options) {
  return signDelta(key, toBytes(snapshot), options);
}

/** How many deltas one refresh follows before reading the snapshot instead. */
const MAX_DELTA_STEPS = 32;

function toBytes(bytes) {
  if (bytes instanceof Uint8Array) return bytes;
  if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
  if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  throw new TaskTokenError("malformed", "revocation data must be a Uint8Array or ArrayBuffer");
}
