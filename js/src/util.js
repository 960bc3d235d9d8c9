// Argument helpers shared by the verify and mint halves of the package (not exported).
import { TaskTokenError } from "./errors.js";
import { isInstance } from "./input.js";

/** The largest token accepted, in bytes (DESIGN.md); also checked by the core. */
export const MAX_TOKEN_LENGTH = 8192;

/**
 * @internal `fn` if it is a function or `undefined`, else `malformed`.
 * @template {Function | undefined} F
 * @param {F} fn
 * @param {string} what
 * @returns {F}
 */
export function listener(fn, what) {
  if (fn !== undefined && typeof fn !== "function") throw bad(`${what} must be a function`);
  return fn;
}

/**
 * @internal Hands an audit event to a listener; a throwing listener never changes the
 * decision.
 * @param {((event: AuditEvent) => void) | undefined} fn
 * @param {AuditEvent} event
 */
export function emit(fn, event) {
  if (fn === undefined) return;
  try {
    fn(event);
  } catch (error) {
    console.error("tasktoken: an onDecision listener threw", error);
  }
}

/**
 * @internal `malformed` unless `token` is a string of at most MAX_TOKEN_LENGTH.
 * @param {unknown} token
 * @returns {asserts token is string}
 */
export function checkToken(token) {
  if (typeof token !== "string") throw bad("token must be a string");
  // UTF-16 length is at most the UTF-8 length, so this never refuses a legal token; it
  // keeps huge strings from being copied into wasm memory at all.
  if (token.length > MAX_TOKEN_LENGTH) throw bad("token is longer than 8 KiB");
}

/**
 * @internal `now` (a Date, or seconds since the epoch) in seconds; the current time for
 * `undefined`.
 * @param {unknown} now
 * @returns {number}
 */
export function seconds(now) {
  if (now === undefined) return Date.now() / 1000;
  if (isInstance(now, Date)) return now.getTime() / 1000;
  if (typeof now === "number" && Number.isFinite(now)) return now;
  throw bad("now must be seconds since the epoch or a Date");
}

/**
 * @internal A `malformed` TaskTokenError.
 * @param {string} message
 */
export function bad(message) {
  return new TaskTokenError("malformed", message);
}

/**
 * One decision — a mint, a verification, a revocation — never with token text or keys.
 * @typedef {object} AuditEvent
 * @property {number} time Seconds since the epoch.
 * @property {"mint" | "verify" | "revoke"} event
 * @property {"ok" | import("./errors.js").ErrorCode} outcome `"ok"` or the stable error code.
 * @property {string} [issuer] Claims appear only once the signature held; `kid`/`issuer` once
 *   the key was trusted.
 * @property {string} [kid]
 * @property {string} [sub]
 * @property {string} [task]
 * @property {string} [jti]
 * @property {string} [action] The requested action (verify) or the granted scope (mint).
 * @property {string} [resource] The requested resource (verify) or the granted patterns,
 *   space-separated (mint).
 * @property {string} decided_by The verifier (its `name`), issuer (`iss`), guard or authority
 *   that decided.
 */
