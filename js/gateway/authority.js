// The revocation authority at the edge: a Durable Object whose storage is the durable list
// of revoked `jti`. Every revocation is stored before it is acknowledged, then published to
// Workers KV as a signed delta plus a signed snapshot of the same generation (data of the
// issuer `ISSUER`, signed with `AUTHORITY_KEY`); an alarm rotates to a new generation
// (dropping expired entries) and keeps `nextUpdate` fresh. Serials, times, sizes and when a
// generation is full are the core's planner's (`planRevocationPublication`).
//
// KV takes at most one write per second to a key, and every publication writes the snapshot
// key: so publications are at least a second apart, and the revocations stored meanwhile
// share the next one (one delta). A known `jti` publishes nothing. Its storage is also where
// single use is decided (`/consume`): strongly consistent, unlike the replicas.
//
// KV layout: `revocation/snapshot` (the current generation at its latest serial),
// `revocation/delta/<serial>` (from that serial to the next, within one generation) and
// `revocation/generation` (the first serial of the current generation, decimal). A replica
// whose serial is older than that is on a retired generation whose deltas will never come:
// `kvLoader` hands it the snapshot at once, as the token service answers 410.
//
// With TOKEN_SERVICE_URL the service publishes revocation data; this object then only
// decides single use, and publishes nothing.
import { planRevocationPublication, signRevocationDelta, signRevocationSnapshot } from "tasktoken";

export const SNAPSHOT_KEY = "revocation/snapshot";
export const DELTA_PREFIX = "revocation/delta/";
export const GENERATION_KEY = "revocation/generation";
const REVOKED_PREFIX = "rev:";
const META_KEY = "meta";
/** The layout of META_KEY; a record of another (an older gateway's) starts a new generation. */
const META_VERSION = 2;
/** Workers KV: one write per second per key; every publication writes SNAPSHOT_KEY. */
const PUBLISH_INTERVAL_MS = 1000;

/**
 * A RevocationReplica loader over the KV layout above: for `serial: null` the snapshot; for
 * a serial of the current generation its delta (`null`: nothing new yet); for a serial of an
 * older generation the snapshot, in the same refresh.
 */
export function kvLoader(kv) {
  return async ({ serial }) => {
    if (serial === null) return kv.get(SNAPSHOT_KEY, "arrayBuffer");
    const [delta, generation] = await Promise.all([
      kv.get(DELTA_PREFIX + serial, "arrayBuffer"), kv.get(GENERATION_KEY)]);
    if (generation !== null && serial < Number(generation)) return kv.get(SNAPSHOT_KEY, "arrayBuffer");
    return delta;
  };
}

export class RevocationAuthority {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.queue = Promise.resolve();
    /** Stored jtis that no publication carries yet. */
    this.batch = new Set();
    /** Stored jtis not yet in KV → the publication that will carry them. */
    this.unpublished = new Map();
    /** The publication that will carry `batch`. */
    this.next = deferred();
    this.flushQueued = false;
    this.lastPublished = 0;
  }

  async fetch(request) {
    const path = new URL(request.url).pathname;
    try {
      if (request.method === "POST" && path === "/revoke") {
        const { jti, exp } = await readTarget(request);
        return Response.json(await this.revoke(jti, exp));
      }
      if (request.method === "POST" && path === "/consume") {
        const { jti, exp } = await readTarget(request);
        return Response.json(await this.consume(jti, exp));
      }
      if (request.method === "POST" && path === "/ensure") {
        return Response.json(await this.ensure());
      }
      return new Response("not found", { status: 404 });
    } catch (error) {
      if (error instanceof Refusal) {
        return Response.json({ error: error.code, message: error.message }, { status: 400 });
      }
      // Storage or KV failed. What was stored stays stored and goes out with the next
      // publication; a retry of the same revocation waits for that one.
      console.error("tasktoken authority: publication failed", String(error?.message ?? error));
      return Response.json(
        { error: "stale_revocation", message: "the revocation could not be published yet; retry" },
        { status: 503 });
    }
  }

  async alarm() {
    if (!this.publishes()) {
      // Single use only: drop the expired, and come back while any are left.
      if ((await this.liveJtis()).length > 0) await this.ctx.storage.setAlarm(Date.now() + this.validFor() * 500);
      return;
    }
    await this.serialized(() => this.publish({ rotate: true }));
  }

  /** False when the token service publishes revocation data (TOKEN_SERVICE_URL). */
  publishes() {
    return !this.env.TOKEN_SERVICE_URL;
  }

  /**
   * Revokes `jti`: durable first, then answered once a publication in KV carries it (so the
   * caller's isolate sees it on its next refresh). A `jti` already stored answers
   * `new: false` and publishes nothing (once it is in KV).
   */
  async revoke(jti, exp) {
    const { first, published } = await this.store(jti, exp);
    const serial = await published;
    if (!first) return { revoked: jti, new: false };
    // The revocation's audit event (the same shape as the core's; no token, no key).
    console.log({ time: now(), event: "revoke", outcome: "ok", jti, decided_by: "edge-authority", serial });
    return { revoked: jti, new: true, serial };
  }

  /**
   * Single use: the first caller for `jti` wins, atomically and durably, and `jti` is then
   * revoked like any other (published without making the winner wait for it).
   */
  async consume(jti, exp) {
    const { first } = await this.store(jti, exp);
    if (first) {
      console.log({ time: now(), event: "revoke", outcome: "ok", jti, decided_by: "edge-authority",
        reason: "single_use" });
    }
    return { consumed: first };
  }

  /**
   * Stores `jti` unless it is stored already. `first` says whether this call stored it;
   * `published` settles when a publication in KV carries it (at once for one that does).
   */
  async store(jti, exp) {
    checkTarget(jti, exp);
    const key = REVOKED_PREFIX + jti;
    let pending = this.unpublished.get(jti);
    if (pending === undefined) {
      if ((await this.ctx.storage.get(key)) !== undefined) {
        return { first: false, published: Promise.resolve(undefined) };
      }
      // Another call for the same jti may have claimed it while storage answered.
      pending = this.unpublished.get(jti);
    }
    if (pending !== undefined) {
      // Back in the batch after a failed publication: someone must publish it.
      if (this.batch.has(jti)) this.scheduleFlush();
      return { first: false, published: pending };
    }
    // Claimed synchronously after the read, so exactly one caller is `first`.
    const stored = this.ctx.storage.put(key, exp);
    if (!this.publishes()) return this.storeOnly(jti, stored);
    const published = stored.then(() => {
      // Durable before anything is published or acknowledged.
      const carrier = this.next.promise;
      this.batch.add(jti);
      this.unpublished.set(jti, carrier);
      this.scheduleFlush();
      return carrier;
    });
    published.catch(() => {});
    this.unpublished.set(jti, published);
    try {
      await stored;
    } catch (error) {
      this.unpublished.delete(jti);
      throw error;
    }
    return { first: true, published };
  }

  /** `store` when nothing is published: durable, then forgotten once expired (the alarm). */
  async storeOnly(jti, stored) {
    // A concurrent caller for the same jti is not `first`, whatever the write does.
    this.unpublished.set(jti, stored.then(() => undefined, () => undefined));
    try {
      await stored;
    } finally {
      this.unpublished.delete(jti);
    }
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + this.validFor() * 500);
    }
    return { first: true, published: Promise.resolve(undefined) };
  }

  /** Publishes a first snapshot, or a fresh one when the last is half-way to stale. */
  ensure() {
    return this.serialized(async () => {
      const meta = await this.ctx.storage.get(META_KEY);
      if (!meta || now() >= meta.issuedAt + this.validFor() / 2) {
        return { serial: await this.publish({ rotate: !meta }) };
      }
      return { serial: meta.serial };
    });
  }

  /** One publication queued for the batch, whoever asks. */
  scheduleFlush() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    this.serialized(() => this.publish({ rotate: false, onlyTheBatch: true })).catch(() => {});
  }

  /** One publication at a time: serials must not interleave. */
  serialized(work) {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Publishes everything stored, as the core's planner decides: a delta of the batch and a
   * snapshot of the same generation while the generation holds them at the target rate,
   * else (and when rotating, or for the first snapshot) a new generation sized for the live
   * revocations. Waits until a second after the previous publication; whatever is stored
   * meanwhile goes out with this one.
   */
  async publish({ rotate, onlyTheBatch = false }) {
    const wait = this.lastPublished + PUBLISH_INTERVAL_MS - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (onlyTheBatch) {
      this.flushQueued = false;
      // A rotation in between published the batch already.
      if (this.batch.size === 0) return undefined;
    }
    const jtis = [...this.batch];
    this.batch.clear();
    const carrier = this.next;
    this.next = deferred();
    try {
      const stored = await this.ctx.storage.get(META_KEY);
      const meta = stored?.version === META_VERSION ? stored : undefined;
      const live = await this.liveJtis();
      const plan = planRevocationPublication({
        previousSerial: stored?.serial ?? 0, now: now(), adding: jtis.length, live: live.length,
        entries: meta?.entries ?? 0, validFor: this.validFor(),
      }, meta?.generation);
      const times = { serial: plan.serial, issuedAt: plan.issuedAt, nextUpdate: plan.nextUpdate };
      if (!meta || rotate || plan.step === "snapshot") {
        await this.publishGeneration(live, times);
      } else {
        await this.publishDelta(meta, jtis, live, times);
      }
      for (const jti of jtis) this.unpublished.delete(jti);
      carrier.resolve(plan.serial);
      return plan.serial;
    } catch (error) {
      // Stored, not published: back into the batch, for the next publication.
      for (const jti of jtis) {
        this.batch.add(jti);
        this.unpublished.set(jti, this.next.promise);
      }
      carrier.reject(error);
      throw error;
    } finally {
      this.lastPublished = Date.now();
    }
  }

  /**
   * The delta for replicas at the previous serial, then the whole set at the new serial in
   * the same generation, so later deltas apply on top of either. With nothing to add (a
   * refresh), that snapshot also stands in for the delta.
   */
  async publishDelta(meta, jtis, live, times) {
    const snapshot = signRevocationSnapshot(this.key(),
      { issuer: this.env.ISSUER, jtis: live, ...times }, meta.generation);
    const delta = jtis.length === 0 ? snapshot
      : signRevocationDelta(this.key(), meta.generation, { jtis, baseSerial: meta.serial, ...times });
    await this.env.REVOCATION.put(DELTA_PREFIX + meta.serial, delta, { expirationTtl: 86400 });
    await this.commit(snapshot, {
      serial: times.serial, issuedAt: times.issuedAt, generation: meta.generation,
      entries: meta.entries + jtis.length,
    });
  }

  /**
   * A new generation (fresh salt, sized for the live revocations), and its first serial in
   * GENERATION_KEY once the snapshot is in KV: a replica on any older serial — the previous
   * generation's last, an earlier one, or one of a store that was started over — reads
   * this snapshot at its next refresh (`kvLoader`), so none is left behind.
   */
  async publishGeneration(live, times) {
    const snapshot = signRevocationSnapshot(this.key(), { issuer: this.env.ISSUER, jtis: live, ...times });
    await this.commit(snapshot, {
      serial: times.serial, issuedAt: times.issuedAt, generation: snapshot, entries: live.length,
    });
    await this.env.REVOCATION.put(GENERATION_KEY, String(times.serial));
  }

  /** Records the publication, writes its snapshot to KV and sets the next rotation. */
  async commit(snapshot, meta) {
    await this.ctx.storage.put(META_KEY, { version: META_VERSION, ...meta });
    await this.env.REVOCATION.put(SNAPSHOT_KEY, snapshot);
    await this.ctx.storage.setAlarm(Date.now() + (this.validFor() / 2) * 1000);
  }

  /** Revoked jtis whose tokens can still be accepted somewhere; expired ones are dropped. */
  async liveJtis() {
    const skew = Number(this.env.CLOCK_SKEW_SECONDS ?? 30);
    const all = await this.ctx.storage.list({ prefix: REVOKED_PREFIX });
    const live = [];
    const expired = [];
    for (const [key, exp] of all) {
      if (exp + skew > now()) live.push(key.slice(REVOKED_PREFIX.length));
      else expired.push(key);
    }
    // At most 128 keys per delete.
    for (let i = 0; i < expired.length; i += 128) await this.ctx.storage.delete(expired.slice(i, i + 128));
    return live;
  }

  validFor() {
    return Number(this.env.REVOCATION_VALID_FOR_SECONDS ?? 300);
  }

  key() {
    return JSON.parse(this.env.AUTHORITY_KEY);
  }
}

/** `{ jti, exp }` from the gateway (the only caller: a Durable Object is not public). */
async function readTarget(request) {
  let body;
  try {
    body = await request.json();
  } catch {
    throw new Refusal("malformed", "the body is not JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new Refusal("malformed", "the body must be a JSON object");
  }
  return { jti: body.jti, exp: body.exp };
}

function checkTarget(jti, exp) {
  if (typeof jti !== "string" || jti.length === 0 || jti.length > 256) {
    throw new Refusal("invalid_claim", "jti must be a non-empty string");
  }
  if (!Number.isSafeInteger(exp)) throw new Refusal("invalid_claim", "exp must be an integer");
}

/** A request the authority refuses (400), as opposed to a storage or KV failure (503). */
class Refusal extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** A promise with its settlers; a rejection nobody awaits is not an unhandled one. */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

function now() {
  return Math.floor(Date.now() / 1000);
}
