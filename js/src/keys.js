// Keys that follow the service: an issuer's JWKS fetched from a URL (the token service's
// `/.well-known/jwks.json`), kept fresh on an interval and on demand, for Verifiers to trust
// in place of a fixed key set. Which keys are acceptable is the core's rule; this file
// fetches, bounds and schedules.
import { CoreReplica } from "../wasm/verify/tasktoken.js";
import { TaskTokenError } from "./errors.js";
import { DEFAULT_TIMEOUT, checkTimeout, isRedirect, parseHttpUrl, readJson, withDeadline } from "./http.js";
import { isInstance, ownValue, snapshotObject } from "./input.js";

/** The largest JWKS document read, in bytes. */
const MAX_JWKS_BYTES = 64 * 1024;
/**
 * The most keys one set may hold: each costs a verification table (225 KiB of wasm memory)
 * once trusted, and an issuer rotating publishes two or three.
 */
const MAX_KEYS = 16;

/**
 * @internal How a Verifier reports, through a key set's `onError`, keys it could not use.
 * @type {(set: RemoteKeySet, error: unknown) => void}
 */
export let reportKeyError;

/**
 * An issuer's public keys, fetched from a JWKS URL and kept fresh. Give it to a Verifier in
 * place of a key set (`issuers: { "https://auth.example": keys }`): the verifier follows
 * every change of keys without being rebuilt by the caller, and a token signed by a key it
 * does not know yet (`unknown_key`) asks for a refresh — at most one fetch per `minRefresh`
 * seconds however many unknown kids arrive, so a flood of made-up kids cannot hammer the
 * service.
 *
 * Until the first successful refresh it has no keys, and verifiers fail closed with
 * `unknown_key`: `await keys.refresh()` before the first use. A failed refresh (unreachable,
 * no answer within `timeout`, a redirect, not 200, over 64 KiB, not a JWKS, more than 16
 * keys, a key the core refuses) keeps the last good keys and is reported to `onError`.
 *
 * In a Worker, a fetch still running when the response goes out never ends: hand
 * `keys.pending` to `ctx.waitUntil()` after a verification that asked for keys, or the
 * background refresh is lost. A refresh that has not ended within `timeout` never holds up
 * the next one: it is dropped, and the next call fetches anew.
 */
export class RemoteKeySet {
  #url;
  #fetch;
  #interval;
  #minRefresh;
  #onError;
  #timeout;
  /** The current JWKS as JSON text, or `undefined` before the first load. */
  #text;
  #version = 0;
  #lastAttempt = -Infinity;
  #lastRefresh = 0;
  /** The refresh running: `{ since, promise, settled }`, or `undefined`. */
  #inflight;
  #timer;

  static {
    reportKeyError = (set, error) => set.#onError?.(error);
  }

  /**
   * @param {RemoteKeySetOptions} options a wrong type or range is `malformed`
   */
  constructor(options) {
    const { url, interval = 300, minRefresh = 30, timeout = DEFAULT_TIMEOUT, fetch: fetchImpl, onError } =
      snapshotObject(options, "RemoteKeySet options");
    if (typeof url !== "string" && !isInstance(url, URL)) {
      throw new TaskTokenError("malformed", "RemoteKeySet needs url: an http(s) URL");
    }
    this.#url = parseHttpUrl(url, "RemoteKeySet url");
    // setInterval takes at most 2^31 - 1 ms; beyond, runtimes fire every millisecond.
    if (!(typeof interval === "number" && interval > 0 && interval <= 2147483)) {
      throw new TaskTokenError("malformed", "interval must be 0 < seconds <= 2147483");
    }
    if (!(typeof minRefresh === "number" && minRefresh > 0 && minRefresh <= interval)) {
      throw new TaskTokenError("malformed", "minRefresh must be 0 < seconds <= interval");
    }
    if (fetchImpl !== undefined && typeof fetchImpl !== "function") {
      throw new TaskTokenError("malformed", "fetch must be a function");
    }
    if (onError !== undefined && typeof onError !== "function") {
      throw new TaskTokenError("malformed", "onError must be a function");
    }
    this.#fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.#interval = interval;
    this.#minRefresh = minRefresh;
    this.#onError = onError;
    this.#timeout = checkTimeout(timeout);
  }

  /**
   * The current JWKS (a fresh copy, `{ keys: [...] }`), or `null` before the first load.
   * @returns {{ keys: Ed25519Jwk[] } | null}
   */
  get jwks() {
    return this.#text === undefined ? null : JSON.parse(this.#text);
  }

  /**
   * 0 before the first load; grows by one each time a refresh brings keys that differ from
   * the current ones. A Verifier rebuilds its core when it changes.
   * @returns {number}
   */
  get version() {
    return this.#version;
  }

  /**
   * Seconds since the last successful refresh (Infinity before the first).
   * @returns {number}
   */
  get age() {
    return this.#lastRefresh ? (Date.now() - this.#lastRefresh) / 1000 : Infinity;
  }

  /**
   * The refresh running now, as a Promise that resolves (never rejects) once it has ended,
   * or `null` when none is. In a Worker, `if (keys.pending) ctx.waitUntil(keys.pending)`
   * after a verification that failed with `unknown_key` lets the refresh it started finish
   * after the response (a fetch left running otherwise never ends).
   * @returns {Promise<void> | null}
   */
  get pending() {
    return this.#running()?.settled ?? null;
  }

  /**
   * Fetches the JWKS now (concurrent calls share one fetch, unless it is older than
   * `timeout`: then it is dropped and this call fetches anew). Resolves to the current JWKS;
   * a failure is reported to `onError` and keeps the last good keys, and rejects
   * (`unknown_key`) only while no keys were ever loaded.
   * @returns {Promise<{ keys: Ed25519Jwk[] }>}
   */
  refresh() {
    let run = this.#running();
    if (run === undefined) {
      run = { since: Date.now() };
      run.promise = this.#refresh(run).finally(() => {
        if (this.#inflight === run) this.#inflight = undefined;
      });
      run.settled = run.promise.then(() => {}, () => {});
      this.#inflight = run;
    }
    return run.promise;
  }

  /**
   * Refreshes if `interval` seconds have passed since the last attempt — `minRefresh` while
   * no keys are loaded (verifiers fail closed meanwhile); otherwise resolves at once,
   * fetching nothing (to `null` if nothing is loaded). The way to keep keys fresh where
   * timers do not outlive a request (Cloudflare Workers).
   * @returns {Promise<{ keys: Ed25519Jwk[] } | null>}
   */
  refreshIfDue() {
    const every = this.#text === undefined ? this.#minRefresh : this.#interval;
    if (Date.now() - this.#lastAttempt < every * 1000) return Promise.resolve(this.jwks);
    return this.refresh();
  }

  /**
   * Asks for a refresh because a key was not found: starts one in the background unless one
   * is running or the last attempt was under `minRefresh` seconds ago. Never rejects (errors
   * go to `onError`). Verifiers call it on `unknown_key`; in a Worker, pass `pending` to
   * `ctx.waitUntil()`.
   * @returns {void}
   */
  requestRefresh() {
    if (this.#running() !== undefined) return;
    if (Date.now() - this.#lastAttempt < this.#minRefresh * 1000) return;
    this.refresh().catch(() => {});
  }

  /**
   * Refreshes now and then every `interval` seconds until `stop()`: for Node and browsers.
   * In Workers timers do not outlive a request; use `refreshIfDue()` there.
   * @returns {this}
   */
  start() {
    if (this.#timer === undefined) {
      const tick = () => this.refresh().catch(() => {});
      tick();
      this.#timer = setInterval(tick, this.#interval * 1000);
      // Do not keep a Node process alive just for key updates.
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

  /**
   * The refresh running, if it started under `timeout` seconds ago. An older one has not
   * ended within its deadline, so it never will (a Worker's fetch cut off with the request
   * that started it, whose timer never fires either): it is forgotten, never waited for.
   */
  #running() {
    const run = this.#inflight;
    if (run !== undefined && Date.now() - run.since > this.#timeout * 1000) this.#inflight = undefined;
    return this.#inflight;
  }

  /** One refresh; `run` is its entry in `#inflight`: a run dropped since changes nothing. */
  async #refresh(run) {
    this.#lastAttempt = Date.now();
    try {
      const text = await this.#load();
      if (this.#inflight !== run) return this.jwks;
      if (text !== this.#text) {
        this.#text = text;
        this.#version++;
      }
      this.#lastRefresh = Date.now();
    } catch (error) {
      if (this.#inflight !== run) return this.jwks;
      this.#onError?.(error);
      if (this.#text === undefined) {
        throw new TaskTokenError("unknown_key", "no keys could be loaded from the JWKS URL", { cause: error });
      }
    }
    return this.jwks;
  }

  /** The JWKS at the URL as canonical JSON text (`{"keys":[...]}`), checked by the core. */
  async #load() {
    let document;
    try {
      document = await withDeadline(this.#timeout, async (signal) => {
        // No prototype: fetch() reads init members with inheritance (WebIDL). No redirects
        // followed to places nobody configured ("manual", and a redirect refused here:
        // workerd has no "error").
        const response = await this.#fetch(this.#url.href, {
          __proto__: null, headers: [["accept", "application/jwk-set+json, application/json"]],
          redirect: "manual", signal,
        });
        if (isRedirect(response)) throw new TypeError(`a redirect (HTTP ${response.status}) is not followed`);
        if (!response.ok) {
          response.body?.cancel().catch(() => {});
          throw new TaskTokenError("unknown_key", `JWKS fetch: HTTP ${response.status}`);
        }
        return readJson(response, MAX_JWKS_BYTES);
      });
    } catch (cause) {
      if (cause instanceof TaskTokenError) throw cause;
      throw new TaskTokenError("unknown_key", "JWKS fetch failed", { cause });
    }
    const keys = document !== null && typeof document === "object" && !Array.isArray(document)
      ? ownValue(document, "keys") : undefined;
    if (!Array.isArray(keys)) {
      throw new TaskTokenError("malformed", "the JWKS URL did not answer a JWKS of at most 64 KiB");
    }
    if (keys.length === 0 || keys.length > MAX_KEYS) {
      throw new TaskTokenError("malformed", `a remote JWKS must hold 1 to ${MAX_KEYS} keys`);
    }
    const text = JSON.stringify({ keys });
    // The core's own rules for a trusted key set (the key types, no private members, unique
    // kids), through the one binding that takes a bare JWKS; the key tables it builds are
    // kept for the verifiers that trust these keys next.
    new CoreReplica(text, undefined).free();
    return text;
  }
}

/**
 * An Ed25519 key as a JWK (RFC 8037): `kty` OKP, `crv` Ed25519; `d` is present only in a
 * private JWK.
 * @typedef {{ kty: "OKP", crv: "Ed25519", kid: string, x: string, d?: string,
 *   alg?: "EdDSA" | "Ed25519", use?: "sig", [member: string]: unknown }} Ed25519Jwk
 */

/**
 * A private JWK: keep it secret.
 * @typedef {Ed25519Jwk & { d: string }} PrivateJwk
 */

/**
 * What a RemoteKeySet fetches, and how often.
 * @typedef {object} RemoteKeySetOptions
 * @property {string | URL} url The JWKS URL, http(s).
 * @property {number} [interval] Seconds between scheduled refreshes (default 300, at most
 *   2147483).
 * @property {number} [minRefresh] Fewest seconds between two fetches an unknown key asks for,
 *   and between two attempts while no keys are loaded (default 30, above 0, at most
 *   `interval`).
 * @property {number} [timeout] Seconds one fetch may take, its answer read included (default
 *   5, above 0, at most 120); a refresh not ended by then never holds up the next one.
 * @property {typeof fetch} [fetch]
 * @property {(error: Error) => void} [onError] Told about every failed refresh (the last good
 *   keys are kept).
 */
