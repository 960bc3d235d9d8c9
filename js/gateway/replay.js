// Proof replay across isolates (issue 15, DESIGN.md "Proof of possession"): every isolate's
// verifier remembers the DPoP proofs it accepted, but a proof replayed against another
// isolate, or after an isolate restarted, would pass. For routes with `proofReplay: "global"`
// the gateway also records each accepted proof here, in a Durable Object, which is the
// core's `ProofReplayStore::record` contract at the edge: atomic for everyone, `false` on a
// replay.
//
// Keying: SHA-256 of the proof's `jti` (64 hex digits): fixed size whatever the client sent,
// and the proof's own text is never stored. Sharding: the first four bytes of that hash,
// modulo PROOF_REPLAY_SHARDS, name the object (`proofs/<n>`), so that no single object (a
// soft limit of about 1,000 requests per second) carries every proof of the deployment; a
// replay of a proof, from anywhere, reaches the same object as its first use.
//
// Expiry: the gateway sends how long the proof can still be accepted (`ttl`: its `iat` plus
// the proof window and clock skew, minus the isolate's now); the object keeps the entry for
// that long by its own clock plus CLOCK_MARGIN_SECONDS (clocks of two machines differ a
// little). Expired entries are dropped on every write and, once writes stop, by an alarm.
// Every call is decided synchronously on SQLite (no `await` between the read and the write),
// so two concurrent first uses of one proof cannot both win; the answer leaves only once the
// write is durable (the output gate).

/** The longest a proof can be accepted: `proofMaxAge` and clock skew, each at most 300 s, and
 * an `iat` up to the skew ahead. A longer `ttl` is refused (the gateway never sends one). */
const MAX_TTL_SECONDS = 900;
/** Kept past the `ttl`, for clock differences between the isolates and this object. */
const CLOCK_MARGIN_SECONDS = 30;
/** The largest request body the object reads: `{"key": <64 hex>, "ttl": <integer>}`. */
const MAX_BODY = 256;

/**
 * The replay store of one shard. `POST /record` with `{"key": "<64 lowercase hex>", "ttl":
 * <0..900>}` answers `{"recorded": true}` when the key was new (now kept for `ttl` seconds
 * and the margin), `{"recorded": false}` when it is already kept (a replay). Refuses, 400,
 * any other body; 404 any other path or method. Storage failures throw (the caller fails
 * closed).
 */
export class ProofReplayStore {
  /**
   * Creates the table on first use (SQLite-backed object: wrangler.toml's migration).
   * @param {DurableObjectState} ctx
   */
  constructor(ctx) {
    this.ctx = ctx;
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS proofs (key TEXT PRIMARY KEY, until INTEGER NOT NULL) WITHOUT ROWID");
    this.sql.exec("CREATE INDEX IF NOT EXISTS proofs_until ON proofs (until)");
    /** The alarm's time in ms, `null` for none, `undefined` until read from storage. */
    this.alarmAt = undefined;
  }

  /**
   * `POST /record`: decides one proof (see the class). Rejects with 400 a body that is not
   * exactly `{key, ttl}` as above, with 404 anything else.
   * @param {Request} request
   */
  async fetch(request) {
    if (request.method !== "POST" || new URL(request.url).pathname !== "/record") {
      return new Response("not found", { status: 404 });
    }
    const entry = parseEntry(await request.text());
    if (entry === null) return Response.json({ error: "malformed" }, { status: 400 });
    const now = seconds();
    const until = now + entry.ttl + CLOCK_MARGIN_SECONDS;
    const recorded = this.record(entry.key, until, now);
    if (recorded) await this.cleanUpLater(until);
    return Response.json({ recorded });
  }

  /**
   * Records `key` until `until` (seconds) unless it is kept already and `until` of that entry
   * has not passed at `now`. Synchronous: nothing else runs in this object between the
   * read and the write. Drops the expired entries first (an index scan of what expired).
   * @returns {boolean} false for a replay
   */
  record(key, until, now) {
    this.sql.exec("DELETE FROM proofs WHERE until < ?", now);
    if (this.sql.exec("SELECT 1 FROM proofs WHERE key = ?", key).toArray().length > 0) return false;
    this.sql.exec("INSERT INTO proofs (key, until) VALUES (?, ?)", key, until);
    return true;
  }

  /**
   * Makes sure an alarm comes once the entry kept until `until` has expired, so that entries
   * do not outlive the traffic that wrote them; at most one alarm is pending.
   */
  async cleanUpLater(until) {
    if (this.alarmAt === undefined) this.alarmAt = await this.ctx.storage.getAlarm();
    if (this.alarmAt !== null) return;
    this.alarmAt = (until + 1) * 1000;
    await this.ctx.storage.setAlarm(this.alarmAt);
  }

  /** Drops the expired entries; comes back when the last one left expires, if any is left. */
  async alarm() {
    const now = seconds();
    this.sql.exec("DELETE FROM proofs WHERE until < ?", now);
    const [{ last }] = this.sql.exec("SELECT MAX(until) AS last FROM proofs").toArray();
    this.alarmAt = last === null ? null : (last + 1) * 1000;
    if (this.alarmAt !== null) await this.ctx.storage.setAlarm(this.alarmAt);
  }
}

/**
 * `{ key, ttl }` from a request body, or `null` for anything but a JSON object with exactly
 * a `key` of 64 lowercase hex digits and an integer `ttl` from 0 to MAX_TTL_SECONDS.
 */
function parseEntry(text) {
  if (text.length > MAX_BODY) return null;
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) return null;
  const names = Object.keys(body);
  if (names.length !== 2 || !Object.hasOwn(body, "key") || !Object.hasOwn(body, "ttl")) return null;
  const { key, ttl } = body;
  if (typeof key !== "string" || !/^[0-9a-f]{64}$/.test(key)) return null;
  if (!Number.isSafeInteger(ttl) || ttl < 0 || ttl > MAX_TTL_SECONDS) return null;
  return { key, ttl };
}

/**
 * Where a proof is recorded: the hex SHA-256 of its `jti` and the shard (0 ≤ shard <
 * `shards`) that the hash's first four bytes name.
 * @param {string} jti the proof's `jti` (verified: the guard accepted the proof)
 * @param {number} shards how many objects proofs are spread over (1 to 256)
 * @returns {Promise<{ key: string, shard: number }>}
 */
export async function proofSlot(jti, shards) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(jti)));
  const key = Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
  const head = new DataView(digest.buffer).getUint32(0);
  return { key, shard: head % shards };
}

/** The object's clock, in whole seconds. */
function seconds() {
  return Math.floor(Date.now() / 1000);
}
