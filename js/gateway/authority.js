// The revocation authority at the edge: a Durable Object whose storage is the durable list
// of revoked `jti`. Every revocation is stored before it is acknowledged, then published to
// Workers KV as a signed delta plus a signed snapshot of the same generation; an alarm
// rotates to a new generation (dropping expired entries) and keeps `nextUpdate` fresh.
import { signRevocationDelta, signRevocationSnapshot } from "tasktoken";

export const SNAPSHOT_KEY = "revocation/snapshot";
export const DELTA_PREFIX = "revocation/delta/";
const REVOKED_PREFIX = "rev:";
const META_KEY = "meta";

export class RevocationAuthority {
  constructor(ctx, env) {
    this.ctx = ctx;
    this.env = env;
    this.queue = Promise.resolve();
  }

  async fetch(request) {
    const path = new URL(request.url).pathname;
    try {
      if (request.method === "POST" && path === "/revoke") {
        const { jti, exp } = await request.json();
        return Response.json(await this.serialized(() => this.revoke(jti, exp)));
      }
      if (request.method === "POST" && path === "/ensure") {
        return Response.json(await this.serialized(() => this.ensure()));
      }
      return new Response("not found", { status: 404 });
    } catch (error) {
      const code = error?.code ?? "malformed";
      return Response.json({ error: code, message: String(error?.message ?? error) }, { status: 400 });
    }
  }

  async alarm() {
    await this.serialized(() => this.publishSnapshot({ rotate: true }));
  }

  /** One publication at a time: serials must not interleave. */
  serialized(work) {
    const run = this.queue.then(work);
    this.queue = run.catch(() => {});
    return run;
  }

  async revoke(jti, exp) {
    if (typeof jti !== "string" || jti.length === 0 || jti.length > 256) {
      throw Object.assign(new Error("jti must be a non-empty string"), { code: "invalid_claim" });
    }
    if (!Number.isSafeInteger(exp)) {
      throw Object.assign(new Error("exp must be an integer"), { code: "invalid_claim" });
    }
    const key = REVOKED_PREFIX + jti;
    const previous = await this.ctx.storage.get(key);
    // Durable before anything is published or acknowledged.
    await this.ctx.storage.put(key, Math.max(previous ?? exp, exp));
    const serial = await this.publishDelta([jti]);
    // The revocation's audit event (the same shape as the core's; no token, no key).
    console.log({ time: now(), event: "revoke", outcome: "ok", jti, decided_by: "edge-authority", serial });
    return { revoked: jti, new: previous === undefined, serial };
  }

  /** Publishes a first snapshot, or a fresh one when the last is half-way to stale. */
  async ensure() {
    const meta = await this.ctx.storage.get(META_KEY);
    if (!meta || now() >= meta.issuedAt + this.validFor() / 2) {
      return { serial: await this.publishSnapshot({ rotate: !meta }) };
    }
    return { serial: meta.serial };
  }

  async publishDelta(jtis) {
    const meta = await this.ctx.storage.get(META_KEY);
    if (!meta) return this.publishSnapshot({ rotate: true });
    const serial = meta.serial + 1;
    const times = this.times();
    const delta = signRevocationDelta(this.key(), meta.generation, {
      jtis, baseSerial: meta.serial, serial, ...times,
    });
    // The delta for replicas at the previous serial, then the whole set at the new serial
    // in the same generation (so later deltas apply on top of either).
    await this.env.REVOCATION.put(DELTA_PREFIX + meta.serial, delta, { expirationTtl: 86400 });
    return this.publishSnapshot({ rotate: false, serial, meta });
  }

  async publishSnapshot({ rotate, serial, meta }) {
    meta ??= await this.ctx.storage.get(META_KEY);
    serial ??= (meta?.serial ?? 0) + 1;
    const jtis = await this.liveJtis();
    const times = this.times();
    const generation = rotate || !meta ? undefined : meta.generation;
    const snapshot = signRevocationSnapshot(this.key(), { jtis, serial, ...times }, generation);
    await this.ctx.storage.put(META_KEY, {
      serial, issuedAt: times.issuedAt, generation: generation ?? snapshot,
    });
    await this.env.REVOCATION.put(SNAPSHOT_KEY, snapshot);
    if (meta && generation === undefined) {
      // A new generation: replicas asking for the delta after the previous serial get the
      // new snapshot instead (a newer serial replaces their filter), so none is left behind.
      await this.env.REVOCATION.put(DELTA_PREFIX + meta.serial, snapshot, { expirationTtl: 86400 });
    }
    await this.ctx.storage.setAlarm(Date.now() + (this.validFor() / 2) * 1000);
    return serial;
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
    if (expired.length) await this.ctx.storage.delete(expired.slice(0, 128));
    return live;
  }

  times() {
    const issuedAt = now();
    return { issuedAt, nextUpdate: issuedAt + this.validFor() };
  }

  validFor() {
    return Number(this.env.REVOCATION_VALID_FOR_SECONDS ?? 300);
  }

  key() {
    return JSON.parse(this.env.AUTHORITY_KEY);
  }
}

function now() {
  return Math.floor(Date.now() / 1000);
}
