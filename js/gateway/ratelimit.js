// Per-isolate rate limits: a token bucket per key (the caller's `sub`), in bounded memory.
// Not a global limit (each isolate has its own buckets); it keeps one caller from making an
// isolate hammer the authority, which itself publishes at most once per second.

/** Token buckets: `burst` calls at once, then `perSecond`; at most `maxKeys` buckets. */
export class RateLimiter {
  #buckets = new Map();
  #burst;
  #perSecond;
  #maxKeys;

  constructor({ burst, perSecond, maxKeys = 1024 }) {
    if (!(Number.isFinite(burst) && burst >= 1 && Number.isFinite(perSecond) && perSecond > 0)) {
      throw new Error("a rate limit needs burst >= 1 and perSecond > 0");
    }
    this.#burst = burst;
    this.#perSecond = perSecond;
    this.#maxKeys = maxKeys;
  }

  /**
   * Takes one call for `key`: `{ ok: true }`, or `{ ok: false, retryAfter }` in whole
   * seconds until the next call would pass.
   */
  take(key, nowMs = Date.now()) {
    const bucket = this.#buckets.get(key);
    let tokens = this.#burst;
    if (bucket !== undefined) {
      tokens = Math.min(this.#burst, bucket.tokens + ((nowMs - bucket.at) / 1000) * this.#perSecond);
      // Re-inserted below: the Map's order is least recently used first.
      this.#buckets.delete(key);
    } else if (this.#buckets.size >= this.#maxKeys) {
      // Bounded memory: forget the least recently used caller (its bucket refills).
      this.#buckets.delete(this.#buckets.keys().next().value);
    }
    const ok = tokens >= 1;
    if (ok) tokens -= 1;
    this.#buckets.set(key, { tokens, at: nowMs });
    return ok ? { ok } : { ok, retryAfter: Math.max(1, Math.ceil((1 - tokens) / this.#perSecond)) };
  }
}
