// The edge gateway: a Worker that lets an agent or a pipeline do exactly one task. Each
// request must carry a task token that grants the route's action on the resource derived
// from its path; only then is it proxied to the origin. Revocation is replicated: every
// isolate keeps an in-memory replica refreshed at most once per refresh interval, from KV
// (where the authority, a Durable Object, publishes signed filters) or, with
// TOKEN_SERVICE_URL, from the token service (`tasktoken serve`), whose JWKS the isolate then
// follows too. Single use, which the replicas cannot decide across isolates, is decided by
// the Durable Object itself. So is a DPoP proof's replay across isolates, on routes that ask
// for it (`proofReplay: "global"`): a Durable Object keyed by the proof's `jti` (replay.js).
import { RemoteKeySet, RevocationReplica, TaskTokenError, Verifier, guard } from "tasktoken";
import { AuditTrail } from "./audit.js";
import { RevocationAuthority, SNAPSHOT_KEY, kvLoader } from "./authority.js";
import { RateLimiter } from "./ratelimit.js";
import { ProofReplayStore, proofSlot } from "./replay.js";
import { matchRoute, routes } from "./routes.js";

const REALM = "tasktoken";
/** Revocation bodies: `{"token": "<at most 8 KiB>"}` and some room. */
const MAX_REVOKE_BODY = 16 * 1024;
const utf8 = new TextEncoder();
/** The longest a fetch to the token service (keys, revocation data) may take. */
const SERVICE_TIMEOUT_MS = 5000;
/** The longest the replay check of a proof may take before the request fails closed. */
const REPLAY_TIMEOUT_MS = 5000;
/** The proof algorithms the verifier accepts, announced in DPoP challenges (as the guard does). */
const PROOF_ALGS = "EdDSA ES256";

export { ProofReplayStore, RevocationAuthority };

/** Per-isolate state: built once from configuration, reused by every request. */
let isolate;

export default {
  async fetch(request, env, ctx) {
    const state = (isolate ??= setup(env));
    const url = new URL(request.url);
    if (url.pathname === "/_tasktoken/revoke") {
      // Following a token service, revocation is the service's alone (one authority, one
      // rate limit, one audit trail): `POST <service>/revocation/revoke`, as withTask does.
      if (state.service) {
        return problem(404, "malformed",
          `revoke at the token service: POST ${state.service}/revocation/revoke`);
      }
      if (request.method !== "POST") return problem(405, "malformed", "use POST");
      await freshen(state, env);
      return revoke(request, env, state);
    }
    if (url.pathname === "/_tasktoken/stats" && request.method === "GET") {
      await freshen(state, env);
      return stats(request, state, env);
    }
    const match = matchRoute(routes, request.method, url.pathname, url.search);
    if (match.status) return problem(match.status, "malformed", match.message);
    await freshen(state, env);
    // Every decision is audited: the core's event (no token, no key) with the method and
    // route, written in batches (audit.js).
    const log = (event) => state.audit.record({ ...event, method: request.method, route: match.route.path }, ctx);
    const gate = await check(request, state, env,
      { action: match.action, resource: match.resource, onDecision: log });
    if (!gate.ok) return gate.response;
    if (match.route.requireBinding && !isBound(gate.claims)) return unbound(gate.claims, log);
    if (match.route.proofReplay === "global") {
      // Before single use: a replayed proof must not use up the token.
      const refused = await recordProof(request, env, state, gate.claims, log);
      if (refused) return refused;
    }
    if (match.route.singleUse) {
      // A delegation chain's `jti` is its last link's, which the holder of the root makes
      // as many of as it likes, offline: single use cannot be decided on it.
      if (gate.claims.act !== undefined) {
        return refusal(new TaskTokenError("delegation_denied",
          "a single-use route takes the token itself, not a delegation chain"));
      }
      const refused = await consume(env, gate.claims, log);
      if (refused) return refused;
    }
    return proxy(request, url.pathname + match.search, env, gate.claims);
  },
};

/**
 * `GET /_tasktoken/stats`, itself gated (`tokens:audit` on `stats`): this isolate's
 * decisions per outcome since it started, and its revocation replica's serial and age.
 */
async function stats(request, state, env) {
  const gate = await check(request, state, env, { action: "tokens:audit", resource: "stats" });
  if (!gate.ok) return gate.response;
  const info = state.replica.info;
  return Response.json({
    since: state.started,
    outcomes: state.verifier.stats(),
    revocation: info && { serial: info.serial, issuedAt: info.issuedAt, nextUpdate: info.nextUpdate,
      ageSeconds: Math.round(state.replica.age) },
    keys: state.keys && { kids: state.keys.jwks.keys.map((key) => key.kid),
      ageSeconds: Math.round(state.keys.age) },
  }, { headers: { "cache-control": "no-store" } });
}

/**
 * The isolate's state. Without TOKEN_SERVICE_URL: the JWKS var, and a replica of what the
 * authority publishes to KV. With it: the service's JWKS (a RemoteKeySet), and a replica of
 * the service's revocation data, verified with REVOCATION_JWKS or JWKS when one is set, else
 * with the service's own JWKS — in which case the verifier and its replica are built once
 * those keys are loaded, and again whenever they change (`followKeys`).
 */
function setup(env) {
  const state = {
    refreshSeconds: Number(env.REVOCATION_REFRESH_SECONDS ?? 5),
    revokeLimit: new RateLimiter({
      burst: Number(env.REVOKE_BURST ?? 10),
      perSecond: Number(env.REVOKE_PER_SECOND ?? 1),
    }),
    pinned: env.REVOCATION_JWKS ?? env.JWKS,
    // The proof window, given to the verifier and used for how long the replay store keeps
    // a proof: `iat` plus both is the last second a proof is accepted (the core's rule).
    proofMaxAge: whole(env.PROOF_MAX_AGE_SECONDS ?? 60, 1, 300, "PROOF_MAX_AGE_SECONDS"),
    clockSkew: whole(env.CLOCK_SKEW_SECONDS ?? 30, 0, 300, "CLOCK_SKEW_SECONDS"),
    replayShards: whole(env.PROOF_REPLAY_SHARDS ?? 16, 1, 256, "PROOF_REPLAY_SHARDS"),
    audit: new AuditTrail({
      maxEvents: whole(env.AUDIT_BATCH_EVENTS ?? 100, 1, 1000, "AUDIT_BATCH_EVENTS"),
      delayMs: whole(env.AUDIT_BATCH_MS ?? 1000, 0, 10000, "AUDIT_BATCH_MS"),
    }),
  };
  if (!env.TOKEN_SERVICE_URL) {
    const jwks = JSON.parse(env.JWKS);
    state.source = { loader: kvLoader(env.REVOCATION) };
    return Object.assign(state, build(env, state, jwks, JSON.parse(state.pinned)));
  }
  state.service = new URL(env.TOKEN_SERVICE_URL).href.replace(/\/+$/, "");
  state.source = { url: `${state.service}/revocation`, fetch: timed };
  state.minRefresh = Number(env.KEYS_MIN_REFRESH_SECONDS ?? 30);
  state.keyFetches = 0;
  state.keysTried = -Infinity;
  state.built = -Infinity;
  state.keys = new RemoteKeySet({
    url: `${state.service}/.well-known/jwks.json`,
    interval: Number(env.KEYS_REFRESH_SECONDS ?? 300),
    minRefresh: state.minRefresh,
    // Counted, so that a request whose unknown `kid` started a fetch can wait for it (`check`).
    fetch: (input, init) => {
      state.keyFetches++;
      return timed(input, init);
    },
    onError: (error) => console.warn(`tasktoken gateway: the token service's keys: ${error.code}: ${error.message}${error.cause ? ` (${error.cause.message})` : ""}`),
  });
  if (state.pinned !== undefined) Object.assign(state, build(env, state, state.keys, JSON.parse(state.pinned)));
  return state;
}

/** A verifier for `tokenKeys` and its replica of revocation data signed by `revocationKeys`. */
function build(env, state, tokenKeys, revocationKeys) {
  // Revocation data governs this issuer's tokens only, and may be signed by keys of its
  // own (the authority's), kept out of the token JWKS.
  const replica = new RevocationReplica({
    keys: revocationKeys,
    issuer: env.ISSUER,
    interval: state.refreshSeconds,
    ...state.source,
    onError: (error) => console.warn(`tasktoken gateway: revocation data refused: ${error.code}`),
  });
  const verifier = new Verifier({
    issuers: { [env.ISSUER]: tokenKeys },
    audience: env.AUDIENCE,
    revocation: replica,
    revocationGrace: Number(env.REVOCATION_GRACE_SECONDS ?? 60),
    proofMaxAge: state.proofMaxAge,
    clockSkew: state.clockSkew,
    name: "edge-gateway",
  });
  return { verifier, replica, started: new Date().toISOString() };
}

/**
 * fetch for the token service, with a deadline (a service that does not answer must not hold
 * requests). The package asks for `redirect: "manual"` and refuses a 3xx itself.
 */
function timed(input, init) {
  const signal = AbortSignal.timeout(SERVICE_TIMEOUT_MS);
  return fetch(input, Object.assign({ __proto__: null }, init, { signal }));
}

/**
 * Refreshes what the isolate follows when its interval has passed (never on every request):
 * the service's keys, then the revocation replica. With no snapshot in KV at all, asks the
 * authority to publish its first one; a snapshot that is present but does not verify is
 * never replaced from here: that fails closed.
 */
async function freshen(state, env) {
  if (state.keys) {
    if (state.keys.version > 0) {
      await state.keys.refreshIfDue().catch(() => {});
    } else if (Date.now() - state.keysTried >= state.minRefresh * 1000) {
      // Not loaded yet (the service was down?): try again, at most once per minRefresh.
      state.keysTried = Date.now();
      await state.keys.refresh().catch(() => {});
    }
    await followKeys(state, env);
  }
  if (!state.replica) return;
  try {
    await state.replica.refreshIfDue();
  } catch {
    if (state.service) return;
    if (state.replica.info === null && (await env.REVOCATION.get(SNAPSHOT_KEY)) === null) {
      await authority(env).fetch("https://authority/ensure", { method: "POST" });
      await state.replica.refresh().catch(() => {});
    }
  }
}

/**
 * With the service's own JWKS as revocation keys: builds the verifier and its replica once
 * those keys are loaded, and again when they change — the service signs revocation data
 * with its first key, so after a rotation only a replica that trusts the new key can follow
 * it, and one that still trusts a removed key must not. The new pair replaces the old once
 * its replica holds a verified snapshot; until then the old one serves (and with none,
 * requests fail closed). At most one attempt per refresh interval.
 */
async function followKeys(state, env) {
  if (state.pinned !== undefined) return;
  const version = state.keys.version;
  if (version === 0 || version === state.keysVersion) return;
  if (state.rebuilding === undefined && Date.now() - state.built < state.refreshSeconds * 1000) return;
  state.rebuilding ??= (async () => {
    state.built = Date.now();
    const next = build(env, state, state.keys, state.keys.jwks);
    try {
      await next.replica.refresh();
    } catch {
      return;
    }
    Object.assign(state, next, { keysVersion: version });
  })().finally(() => (state.rebuilding = undefined));
  await state.rebuilding;
}

/**
 * The guard, and what following the service's keys adds to it: a token signed by a key the
 * isolate does not know yet makes the verifier fetch the service's JWKS in the background (at
 * most once per KEYS_MIN_REFRESH_SECONDS, however many unknown `kid`s arrive). In Workers a
 * fetch must end within the request that started it — one left running when the answer goes
 * out never settles, and every later refresh of the key set would wait for it forever — so
 * this request waits for that fetch, and is then decided again with the new keys. Without
 * keys or revocation data loaded yet, it fails closed (503).
 */
async function check(request, state, env, options) {
  if (!state.verifier) {
    return { ok: false, response: refusal(new TaskTokenError("stale_revocation",
      "the token service's keys and revocation data are not loaded yet")) };
  }
  const fetches = state.keyFetches;
  let gate = guard(request, state.verifier, options);
  if (state.keyFetches !== fetches) {
    // Started synchronously by this guard call, so still running: `refresh()` joins it.
    await state.keys.refresh().catch(() => {});
    await followKeys(state, env);
    const again = state.keyFetches;
    gate = guard(request, state.verifier, options);
    if (state.keyFetches !== again) await state.keys.refresh().catch(() => {});
  }
  return gate;
}

function authority(env) {
  return env.AUTHORITY.get(env.AUTHORITY.idFromName("authority"));
}

/**
 * `POST /_tasktoken/revoke`: with no body, the caller's token revokes itself (a token may
 * always end its own task). With `{ "token": "..." }`, the caller's token must grant
 * `tokens:revoke` on `tokens/<jti of that token>`; the caller is authorized before the
 * target is looked at, so a caller without that grant learns nothing about the target.
 * The caller's token is read by the guard: `Authorization: Bearer <token>`, or for a
 * key-bound token `Authorization: DPoP <token>` with one `DPoP` proof for this request
 * (`POST` and this URL), checked by the core's `authorizeRevocation` — so a bound token
 * copied out of a log cannot end its holder's task: as Bearer it is `binding_required`,
 * with another key's proof `binding_mismatch`, each answered as the guard answers (401 and
 * a `DPoP` challenge). Rate-limited per caller `sub` in this isolate.
 */
async function revoke(request, env, state) {
  if (!/^(Bearer|DPoP) +[^ ]+ *$/i.test(request.headers.get("authorization") ?? "")) {
    return problem(401, "malformed", "no task token in the request",
      { "www-authenticate": `Bearer realm="${REALM}", DPoP algs="${PROOF_ALGS}"` });
  }
  const body = await revocationBody(request);
  if (body.refused) return body.refused;
  let target;
  // The guard reads the token and the proof; the core decides the revocation. What the guard
  // gets back are the caller's claims (genuine and current once authorized: its `sub` keys
  // the rate limit), and its rule that the DPoP scheme is for bound tokens applies to them.
  const revocation = {
    verify(token, { dpop }) {
      target = state.verifier.authorizeRevocation(token, body.token, dpop ? { dpop } : {});
      return body.token === undefined ? target : state.verifier.verifyForRevocation(token);
    },
  };
  const gate = guard(request, revocation, { action: "tokens:revoke", resource: "tokens" });
  if (!gate.ok) return gate.response;
  const caller = gate.claims;
  const limit = state.revokeLimit.take(caller.sub);
  if (!limit.ok) {
    return problem(429, "rate_limited", "too many revocations from this caller; retry later",
      { "retry-after": String(limit.retryAfter) });
  }
  const answer = await authority(env).fetch("https://authority/revoke", {
    method: "POST",
    body: JSON.stringify({ jti: target.jti, exp: target.exp }),
  });
  // The authority answers once KV holds a publication with the revocation: this isolate
  // sees it now.
  if (answer.ok) await state.replica.refresh().catch(() => {});
  return new Response(answer.body, { status: answer.status,
    headers: { "content-type": "application/json", "cache-control": "no-store" } });
}

/**
 * The revocation request's body: empty (the bearer revokes itself) or a JSON object with
 * nothing but an optional string `token`. Anything else is answered 400, as is a body over
 * `MAX_REVOKE_BODY` bytes.
 * @returns {Promise<{ token?: string } | { refused: Response }>}
 */
async function revocationBody(request) {
  const text = await readText(request, MAX_REVOKE_BODY);
  const bad = (message) => ({ refused: problem(400, "malformed", message) });
  if (text === null) return bad("the body is too large or not UTF-8");
  if (text.trim() === "") return {};
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    return bad("the body is not JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return bad("the body must be a JSON object");
  }
  if (Object.keys(body).some((key) => key !== "token")) return bad("the body may only hold `token`");
  const token = Object.hasOwn(body, "token") ? body.token : undefined;
  if (token !== undefined && typeof token !== "string") return bad("`token` must be a string");
  return token === undefined ? {} : { token };
}

/**
 * The body as UTF-8 text, or `null` when it is longer than `limit` bytes or not UTF-8.
 * Keeps at most `limit` bytes; the rest is read and dropped rather than cancelled, because an
 * answer sent before the client has finished sending can leave its connection unusable.
 */
async function readText(request, limit) {
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.byteLength;
    if (length <= limit) chunks.push(value);
  }
  if (length > limit) return null;
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Single use (`singleUse` routes): the authority consumes the token's `jti`, atomically and
 * durably; only the first request to do so goes on, every other is `revoked`. The
 * replicated filter cannot decide this: two isolates could both serve before either sees
 * the other's revocation. Resolves to `null` for the winner, else the refusal.
 */
async function consume(env, claims, log) {
  let consumed = false;
  try {
    const answer = await authority(env).fetch("https://authority/consume", {
      method: "POST",
      body: JSON.stringify({ jti: claims.jti, exp: claims.exp }),
    });
    if (!answer.ok) throw new Error(`the authority answered ${answer.status}`);
    consumed = (await answer.json()).consumed === true;
  } catch {
    // Fail closed: an unknown answer lets nothing through.
    return refusal(new TaskTokenError("stale_revocation", "single use could not be checked"));
  }
  if (consumed) return null;
  log({ time: Math.floor(Date.now() / 1000), event: "verify", outcome: "revoked", sub: claims.sub,
    task: claims.task, jti: claims.jti, decided_by: "edge-authority" });
  return refusal(new TaskTokenError("revoked", "the token has been used (single use)"));
}

/**
 * Replay protection across isolates (`proofReplay: "global"` routes), after the guard has
 * accepted the request — so only proofs that passed every other check (signature, `htm`,
 * `htu`, `iat`, `ath`, the key bound by the token, this isolate's replay cache) are
 * recorded, and no one can fill the store with garbage. The proof's `jti` is recorded in the
 * Durable Object of its shard (replay.js) for as long as the proof can be accepted
 * anywhere. Resolves to `null` when this is the proof's first use; else to the refusal: a
 * replay answers as a replay the isolate caught itself (401 `proof_replayed`, `DPoP
 * error="invalid_dpop_proof"`), and a store that cannot answer — no binding, an error, no
 * answer within REPLAY_TIMEOUT_MS, an answer that is not `{recorded: boolean}` — 503 (fail
 * closed: the origin is not reached). A request with an unbound Bearer token carries no
 * proof, and has nothing to record.
 */
async function recordProof(request, env, state, claims, log) {
  if (!isBound(claims)) return null;
  let recorded;
  try {
    // The guard accepted the request with the DPoP scheme: exactly one proof header, verified.
    const { jti, iat } = proofClaims(request.headers.get("dpop"));
    const now = Math.floor(Date.now() / 1000);
    const ttl = Math.max(0, iat + state.proofMaxAge + state.clockSkew - now);
    const { key, shard } = await proofSlot(jti, state.replayShards);
    const namespace = env.PROOF_REPLAY;
    const store = namespace.get(namespace.idFromName(`proofs/${shard}`));
    const answer = await deadline(store.fetch("https://proof-replay/record", {
      method: "POST",
      body: JSON.stringify({ key, ttl }),
    }), REPLAY_TIMEOUT_MS);
    if (!answer.ok) throw new Error(`the replay store answered ${answer.status}`);
    const body = await answer.json();
    if (body === null || typeof body !== "object" || typeof body.recorded !== "boolean") {
      throw new Error("the replay store's answer is not {recorded}");
    }
    recorded = body.recorded;
  } catch (error) {
    // No proof or token text in the message: only what failed.
    console.error("tasktoken gateway: the proof replay check failed:", String(error?.message ?? error));
    return dpopRefusal(503, "stale_revocation", "temporarily_unavailable",
      "the proof's replay check could not be made; retry with a fresh proof");
  }
  if (recorded) return null;
  log({ time: Math.floor(Date.now() / 1000), event: "verify", outcome: "proof_replayed", sub: claims.sub,
    task: claims.task, jti: claims.jti, decided_by: "edge-proof-replay" });
  // The core's words for a replay, so the answer is the one the isolate gives for its own.
  return dpopRefusal(401, "proof_replayed", "invalid_dpop_proof", "the proof's `jti` was already used");
}

/**
 * The refusal of a verified but unbound token on a `requireBinding` route: 401
 * `binding_required` with a DPoP challenge (as the core answers a verifier that requires
 * binding), and an audit line saying so (the guard's said `ok`: the token itself is good).
 */
function unbound(claims, log) {
  log({ time: Math.floor(Date.now() / 1000), event: "verify", outcome: "binding_required", sub: claims.sub,
    task: claims.task, jti: claims.jti, decided_by: "edge-route" });
  return dpopRefusal(401, "binding_required", "invalid_token", "this route accepts only key-bound tokens");
}

/** True if the verified claims carry an own `cnf` with an own string `jkt` (a bound token). */
function isBound(claims) {
  const cnf = Object.hasOwn(claims, "cnf") ? claims.cnf : undefined;
  return cnf !== null && typeof cnf === "object" && Object.hasOwn(cnf, "jkt") && typeof cnf.jkt === "string";
}

/**
 * The `jti` and `iat` of a proof the guard has verified (so the signature over them holds).
 * Throws on anything else — not three parts, claims that are not a JSON object, no own
 * non-empty string `jti` or no own integer `iat` — which cannot happen after the guard, and
 * would fail closed.
 */
function proofClaims(proof) {
  const parts = typeof proof === "string" ? proof.split(".") : [];
  if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts[1])) throw new Error("not a compact proof");
  const base64 = parts[1].replaceAll("-", "+").replaceAll("_", "/");
  const bytes = Uint8Array.from(atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4)),
    (c) => c.charCodeAt(0));
  const claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  if (claims === null || typeof claims !== "object" || Array.isArray(claims)) throw new Error("proof claims");
  const jti = Object.hasOwn(claims, "jti") ? claims.jti : undefined;
  const iat = Object.hasOwn(claims, "iat") ? claims.iat : undefined;
  if (typeof jti !== "string" || jti === "" || !Number.isSafeInteger(iat)) throw new Error("proof jti/iat");
  return { jti, iat };
}

/** `promise`, or a rejection once `ms` have passed (the timer is cleared either way). */
function deadline(promise, ms) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * A refusal about a DPoP request, answered as the guard answers one: `status`, a JSON body
 * `{error: code, message}` and an RFC 9449 §7.1 challenge `DPoP algs="…", error="…"`.
 */
function dpopRefusal(status, code, challenge, message) {
  return problem(status, code, message, {
    "www-authenticate": `DPoP algs="${PROOF_ALGS}", error="${challenge}", error_description="${message}"`,
  });
}

/**
 * A whole number from a var, within `min`..`max`; throws (the isolate refuses to start, so
 * every request fails) on anything else, naming the var.
 */
function whole(value, min, max, name) {
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > max) {
    throw new Error(`${name} must be a whole number from ${min} to ${max}`);
  }
  return number;
}

/** The root's `sub` of a delegation chain's claims (the innermost `act`), else `undefined`. */
function rootSubject(claims) {
  let act = Object.hasOwn(claims, "act") ? claims.act : undefined;
  let sub;
  for (let depth = 0; act !== null && typeof act === "object" && depth < 8; depth++) {
    sub = typeof act.sub === "string" ? act.sub : sub;
    act = Object.hasOwn(act, "act") ? act.act : undefined;
  }
  return sub;
}

/**
 * Client headers that would make an origin act on another method, path or host than the one
 * authorized: method overrides (Express `method-override`, Rack, ASP.NET Core, Symfony), URL
 * rewrites (IIS, Symfony), and forwarding headers a proxy chain trusts. The gateway decided
 * on the request line it saw; a client must not restate it behind the decision. (A body's
 * `_method` field cannot be stripped here: origins behind the gateway must not honour it;
 * docs/gateway.md.)
 */
const REWRITING_HEADERS = new Set([
  "x-http-method-override", "x-http-method", "x-method-override", "x-original-method",
  "x-original-url", "x-rewrite-url", "x-original-uri", "x-forwarded-prefix", "x-forwarded-path",
  "x-forwarded-uri", "x-forwarded-host", "x-forwarded-proto", "x-forwarded-port",
  "x-forwarded-server", "x-forwarded-for", "x-forwarded-scheme", "x-forwarded-ssl",
  "x-forwarded-protocol", "x-url-scheme", "front-end-https", "x-original-host", "forwarded",
  "x-real-ip", "x-host",
]);

/**
 * Forwards exactly the authorized request to the origin: the authorized method, path and
 * route query parameters, no task token and no DPoP proof, none of REWRITING_HEADERS, and our
 * `x-tasktoken-*` headers only. The client's are dropped whatever their case, and so are
 * their `_` spellings (`x_tasktoken_sub`): CGI, WSGI and Rack origins read `-` and `_` alike
 * (`HTTP_X_TASKTOKEN_SUB`).
 */
function proxy(request, pathAndQuery, env, claims) {
  const headers = new Headers(request.headers);
  headers.delete("authorization");
  // The DPoP proof is the gateway's business too: a one-time credential for this URL.
  headers.delete("dpop");
  for (const name of [...headers.keys()]) {
    const canonical = name.replaceAll("_", "-");
    if (canonical.startsWith("x-tasktoken-") || REWRITING_HEADERS.has(canonical)) headers.delete(name);
  }
  headers.set("x-tasktoken-sub", headerValue(claims.sub));
  headers.set("x-tasktoken-task", headerValue(claims.task));
  headers.set("x-tasktoken-jti", headerValue(claims.jti));
  // A delegation chain: `sub` is the last link's, named by whoever delegated; the origin also
  // learns the root's `sub`, the identity the issuer granted (the innermost `act`).
  const root = rootSubject(claims);
  if (root !== undefined) headers.set("x-tasktoken-delegated-by", headerValue(root));
  const target = new URL(pathAndQuery, env.ORIGIN_URL);
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  return fetch(target, {
    method: request.method,
    headers,
    body: hasBody ? request.body : undefined,
    redirect: "manual",
  });
}

/**
 * A claim as a header value: its UTF-8 bytes, with `%`, `+`, space, controls and every byte
 * outside visible ASCII percent-encoded (`%XX`, upper case). Any string fits a header this
 * way, and `decodeURIComponent` gives it back exactly (so does a form decoder: no `+`).
 */
function headerValue(text) {
  let out = "";
  for (const byte of utf8.encode(text)) {
    out += byte > 0x20 && byte < 0x7f && byte !== 0x25 && byte !== 0x2b
      ? String.fromCharCode(byte)
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** A refused token, answered as the guard answers one (status, body, RFC 6750 challenge). */
function refusal(error) {
  const [status, challenge] =
    error.code === "action_denied" || error.code === "resource_denied" ? [403, "insufficient_scope"]
      : error.code === "stale_revocation" ? [503, "temporarily_unavailable"]
        : [401, "invalid_token"];
  return problem(status, error.code, error.message,
    { "www-authenticate": `Bearer realm="${REALM}", error="${challenge}"` });
}

function problem(status, code, message, headers = {}) {
  return Response.json({ error: code, message },
    { status, headers: { "cache-control": "no-store", ...headers } });
}

