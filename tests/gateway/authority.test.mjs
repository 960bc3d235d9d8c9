// The gateway's authority (js/gateway/authority.js) and its KV layout, in Node: the real
// Durable Object class over in-memory storage and KV, and the package's RevocationReplica
// reading KV through the gateway's loader — several isolates' replicas, one of which sleeps
// through a rotation.
import { mock, test } from "node:test";
import assert from "node:assert/strict";
import { RevocationReplica, generateKey } from "tasktoken";
import { GENERATION_KEY, RevocationAuthority, kvLoader } from "../../js/gateway/authority.js";

const ISSUER = "https://auth.example";
// The authority's audit lines (console.log) are the workerd tests' business.
mock.method(console, "log", () => {});

/** Workers KV in memory: `get(key, "arrayBuffer")` or text, `put(key, value)`. */
class MemoryKv {
  values = new Map();
  async get(key, type) {
    const value = this.values.get(key);
    if (value === undefined) return null;
    if (type === "arrayBuffer") return new Uint8Array(value).buffer;
    return typeof value === "string" ? value : new TextDecoder().decode(value);
  }
  async put(key, value) {
    this.values.set(key, typeof value === "string" ? value : new Uint8Array(value));
  }
}

/** Durable Object storage in memory (the calls the authority makes). */
class MemoryStorage {
  map = new Map();
  alarm = null;
  async get(key) {
    return structuredClone(this.map.get(key));
  }
  async put(key, value) {
    this.map.set(key, structuredClone(value));
  }
  async delete(keys) {
    for (const key of [keys].flat()) this.map.delete(key);
  }
  async list({ prefix }) {
    return new Map([...this.map].filter(([key]) => key.startsWith(prefix)));
  }
  async getAlarm() {
    return this.alarm;
  }
  async setAlarm(at) {
    this.alarm = at;
  }
}

function authorityWith(kv, env = {}) {
  const key = generateKey({ kid: "authority-1" });
  const authority = new RevocationAuthority({ storage: new MemoryStorage() },
    { ISSUER, AUTHORITY_KEY: JSON.stringify(key.privateJwk), REVOCATION: kv, ...env });
  const replica = () => new RevocationReplica({ keys: { keys: [key.publicJwk] }, issuer: ISSUER,
    interval: 1, loader: kvLoader(kv) });
  return { authority, replica };
}

const exp = () => Math.floor(Date.now() / 1000) + 300;

test("a replica that slept through a rotation catches up in one refresh", async () => {
  const kv = new MemoryKv();
  const { authority, replica } = authorityWith(kv);
  await authority.ensure();
  const first = Number(await kv.get(GENERATION_KEY));
  const awake = replica();
  const asleep = replica();
  await awake.refresh();
  await asleep.refresh();
  assert.equal(asleep.info.serial, first);

  await authority.revoke("jti-before-rotation", exp());
  await authority.alarm(); // rotation: a new generation, a new salt
  const second = Number(await kv.get(GENERATION_KEY));
  assert.ok(second > first, "the generation's first serial is recorded");
  await awake.refresh();
  await authority.revoke("jti-in-new-generation", exp());

  // `asleep` is still at the first generation's first serial: its deltas stop there. One
  // refresh follows the delta it can, then learns its generation is retired and reads the
  // snapshot — as a replica of the token service does on a 410.
  const info = await asleep.refresh();
  assert.ok(info.serial > second, `${info.serial} after ${second}`);
  assert.ok(asleep.has("jti-in-new-generation"));
  assert.ok(asleep.has("jti-before-rotation"));
  await awake.refresh();
  assert.equal(awake.info.serial, info.serial, "both replicas agree");
  assert.ok(awake.has("jti-in-new-generation"));
});

test("a serial of the current generation gets its delta, or nothing yet", async () => {
  const kv = new MemoryKv();
  const { authority } = authorityWith(kv);
  await authority.ensure();
  const load = kvLoader(kv);
  const start = Number(await kv.get(GENERATION_KEY));
  assert.equal(await load({ serial: start }), null, "nothing new");
  const { serial } = await authority.revoke("jti-1", exp());
  const delta = await load({ serial: start });
  assert.ok(delta.byteLength > 0);
  assert.notDeepEqual(new Uint8Array(delta), new Uint8Array(await load({ serial: null })),
    "a delta, not the snapshot");
  assert.equal(await load({ serial }), null);
  assert.deepEqual(new Uint8Array(await load({ serial: start - 1 })),
    new Uint8Array(await load({ serial: null })), "an older serial gets the snapshot");
});

test("with a token service the authority decides single use and publishes nothing", async () => {
  const kv = new MemoryKv();
  const { authority } = authorityWith(kv, { TOKEN_SERVICE_URL: "http://127.0.0.1:1", AUTHORITY_KEY: undefined });
  const answers = await Promise.all([1, 2, 3].map(() => authority.consume("jti-once", exp())));
  assert.deepEqual(answers.map((a) => a.consumed).sort(), [false, false, true]);
  assert.deepEqual(await authority.consume("jti-once", exp()), { consumed: false });
  assert.equal(kv.values.size, 0, "nothing in KV");
  // Expired entries leave at the alarm.
  await authority.consume("jti-expired", Math.floor(Date.now() / 1000) - 120);
  await authority.alarm();
  assert.deepEqual(await authority.consume("jti-expired", exp()), { consumed: true },
    "forgotten once expired (and then a new token could not carry it anyway)");
});
