// The whole package, what `tasktoken` loads: everything of ./verify.js, plus minting (keys,
// issuers, export links) and signed revocation data for authorities, from the second wasm
// module (../wasm/mint/).
import {
  CoreIssuer, generateKey as coreGenerateKey, planPublication, signDelta, signSnapshot,
} from "../wasm/mint/tasktoken.js";
import { plainJson, snapshotObject } from "./input.js";
import { toBytes } from "./revocation.js";
import { bad, emit, listener, seconds } from "./util.js";

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
   *           allowBroadScope?: boolean }} options
   */
  constructor(options) {
    const { onDecision, ...core } = snapshotObject(options, "Issuer options");
    this.#onDecision = listener(onDecision, "onDecision");
    this.#core = new CoreIssuer(plainJson(core, "Issuer options"));
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
    const body = plainJson(snapshotObject(request, "mint request"), "mint request");
    const at = seconds(now);
    if (!this.#onDecision) return this.#core.mint(body, at);
    this.#core.captureNextDecision();
    try {
      return this.#core.mint(body, at);
    } finally {
      const taken = this.#core.takeDecision();
      if (taken !== undefined) emit(this.#onDecision, JSON.parse(taken));
    }
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
