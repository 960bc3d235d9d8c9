// Hygiene at the package's edges: no token logic. What callers pass is read once, own
// properties only (an inherited `now` or `keyThumbprint` is prototype pollution, never an
// option), in shapes the core can read without exhausting its stack (a trap there would leave
// the module unusable); what goes back to callers is data no merge can turn into a prototype.
import { TaskTokenError } from "./errors.js";

/** Deepest nesting of arrays/objects accepted in an options object. */
const MAX_DEPTH = 80;

/**
 * Returns `value` if it nests at most 80 levels; otherwise throws `malformed`. Iterative, so
 * it cannot itself overflow. Primitives pass through.
 */
export function checkedDepth(value, what) {
  /** @type {any[]} `[value, depth]` pairs */
  const stack = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop();
    if (v === null || typeof v !== "object" || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) continue;
    if (depth > MAX_DEPTH) {
      throw new TaskTokenError("malformed", `${what} nest deeper than ${MAX_DEPTH} levels`);
    }
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return value;
}

/**
 * A shallow copy of an options object, reading each of its own enumerable properties exactly
 * once, here in JS: a getter or Proxy trap that throws becomes a `malformed` TaskTokenError,
 * and nothing the caller owns is read again later (or from inside wasm). The copy has no
 * prototype, so a member the caller did not set reads as `undefined` even when
 * `Object.prototype` has been polluted.
 */
export function snapshotObject(value, what) {
  let copy;
  try {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      copy = { __proto__: null, ...value };
    }
  } catch (cause) {
    throw new TaskTokenError("malformed", `${what} could not be read`, { cause });
  }
  if (copy === undefined) throw new TaskTokenError("malformed", `${what} must be an object`);
  return copy;
}

/** `object[key]` if `object` has it as its own property, else `undefined`. */
export function ownValue(object, key) {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

/**
 * `value instanceof Class`, false where asking throws (a revoked Proxy).
 * @template T
 * @param {unknown} value
 * @param {Function & { prototype: T }} Class
 * @returns {value is T}
 */
export function isInstance(value, Class) {
  try {
    return value instanceof Class;
  } catch {
    return false;
  }
}

/** True if `value[name]` is a function; false where asking throws (a hostile Proxy). */
export function hasMethod(value, name) {
  try {
    return typeof value?.[name] === "function";
  } catch {
    return false;
  }
}

/**
 * The JSON text of `value` that crosses into wasm: getters, Proxies, toJSON and anything
 * else run once, here, and only data (nesting at most 80 levels) goes in. What JSON cannot
 * carry (BigInt, cycles) is `malformed`.
 */
export function plainJson(value, what) {
  let text;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new TaskTokenError("malformed", `${what} is not plain JSON data`, { cause });
  }
  if (text === undefined) throw new TaskTokenError("malformed", `${what} is not plain JSON data`);
  checkedDepth(JSON.parse(text), what);
  return text;
}

/**
 * Verified claims from the core's JSON text, as data no merge can turn into a prototype:
 * JSON.parse makes a `"__proto__"` member an own property, which `Object.assign({}, claims)`
 * (or a hand-written deep merge) would then *set* as the target's prototype. Such members are
 * dropped, at every depth. The reviver walks the whole value again, so it runs only when the
 * text could spell that key: with `proto` in it, or a `\u` escape; verification is the hot
 * path, and almost no token has either.
 */
export function parseClaims(text) {
  if (!text.includes("proto") && !text.includes("\\u")) return JSON.parse(text);
  return JSON.parse(text, withoutProto);
}

function withoutProto(key, value) {
  return key === "__proto__" ? undefined : value;
}
