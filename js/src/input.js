// Input hygiene before values cross into wasm: no token logic, only shapes the core can read
// without exhausting its stack (a trap there would leave the module unusable).
import { TaskTokenError } from "./errors.js";

/** Deepest nesting of arrays/objects accepted in an options object. */
const MAX_DEPTH = 80;

/**
 * Returns `value` if it nests at most 80 levels; otherwise throws `malformed`. Iterative, so
 * it cannot itself overflow. Primitives pass through.
 */
export function checkedDepth(value, what) {
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
