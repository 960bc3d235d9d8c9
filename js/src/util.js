// Argument helpers shared by the verify and mint halves of the package (not exported).
import { TaskTokenError } from "./errors.js";
import { isInstance } from "./input.js";

/** The largest token accepted, in bytes (DESIGN.md); also checked by the core. */
export const MAX_TOKEN_LENGTH = 8192;

export function listener(fn, what) {
  if (fn !== undefined && typeof fn !== "function") throw bad(`${what} must be a function`);
  return fn;
}

/** Hands an audit event to a listener; a throwing listener never changes the decision. */
export function emit(fn, event) {
  if (fn === undefined) return;
  try {
    fn(event);
  } catch (error) {
    console.error("tasktoken: an onDecision listener threw", error);
  }
}

export function checkToken(token) {
  if (typeof token !== "string") throw bad("token must be a string");
  // UTF-16 length is at most the UTF-8 length, so this never refuses a legal token; it
  // keeps huge strings from being copied into wasm memory at all.
  if (token.length > MAX_TOKEN_LENGTH) throw bad("token is longer than 8 KiB");
}

export function seconds(now) {
  if (now === undefined) return Date.now() / 1000;
  if (isInstance(now, Date)) return now.getTime() / 1000;
  if (typeof now === "number" && Number.isFinite(now)) return now;
  throw bad("now must be seconds since the epoch or a Date");
}

export function bad(message) {
  return new TaskTokenError("malformed", message);
}
