// The edge gateway: a Worker that lets an agent or a pipeline do exactly one task. Each
// request must carry a task token that grants the route's action on the resource derived
// from its path; only then is it proxied to the origin. Revocation is replicated: the
// authority (a Durable Object) publishes signed filters to KV, and every isolate keeps an
// in-memory replica refreshed from KV at most once per refresh interval.
import { RevocationReplica, TaskTokenError, Verifier, guard } from "tasktoken";
import { DELTA_PREFIX, RevocationAuthority, SNAPSHOT_KEY } from "./authority.js";
import { matchRoute, routes } from "./routes.js";

export { RevocationAuthority };

/** Per-isolate state: built once from configuration, reused by every request. */
let isolate;

export default {
  async fetch(request, env) {
    const state = (isolate ??= setup(env));
    const url = new URL(request.url);
    if (url.pathname === "/_tasktoken/revoke") {
      if (request.method !== "POST") return problem(405, "malformed", "use POST");
      await freshen(state, env);
      return revoke(request, env, state);
    }
    if (url.pathname === "/_tasktoken/stats" && request.method === "GET") {
      await freshen(state, env);
      return stats(request, state);
    }
    const match = matchRoute(routes, request.method, url.pathname);
    if (match.status) return problem(match.status, "malformed", match.message);
    await freshen(state, env);
    // One structured log line per gated request: the core's audit event (no token, no key).
    const onDecision = (event) => console.log({ ...event, method: request.method, route: match.route.path });
    const gate = guard(request, state.verifier,
      { action: match.action, resource: match.resource, onDecision });
    if (!gate.ok) return gate.response;
    return proxy(request, url, env, gate.claims);
  },
};

/**
 * `GET /_tasktoken/stats`, itself gated (`tokens:audit` on `stats`): this isolate's
 * decisions per outcome since it started, and its revocation replica's serial and age.
 */
function stats(request, state) {
  const gate = guard(request, state.verifier, { action: "tokens:audit", resource: "stats" });
  if (!gate.ok) return gate.response;
  const info = state.replica.info;
  return Response.json({
    since: state.started,
    outcomes: state.verifier.stats(),
    revocation: info && { serial: info.serial, issuedAt: info.issuedAt, nextUpdate: info.nextUpdate,
      ageSeconds: Math.round(state.replica.age) },
  }, { headers: { "cache-control": "no-store" } });
}

function setup(env) {
  const jwks = JSON.parse(env.JWKS);
  const refreshSeconds = Number(env.REVOCATION_REFRESH_SECONDS ?? 5);
  const replica = new RevocationReplica({
    keys: jwks,
    interval: refreshSeconds,
    loader: ({ serial }) =>
      env.REVOCATION.get(serial === null ? SNAPSHOT_KEY : DELTA_PREFIX + serial, "arrayBuffer"),
    onError: (error) => console.warn(`tasktoken gateway: revocation data refused: ${error.code}`),
  });
  const verifier = new Verifier({
    issuers: { [env.ISSUER]: jwks },
    audience: env.AUDIENCE,
    revocation: replica,
    revocationGrace: Number(env.REVOCATION_GRACE_SECONDS ?? 60),
    name: "edge-gateway",
  });
  return { verifier, replica, started: new Date().toISOString() };
}

/**
 * Refreshes the replica from KV when the interval has passed (never on every request).
 * With no snapshot in KV at all, asks the authority to publish its first one; a snapshot
 * that is present but does not verify is never replaced from here: that fails closed.
 */
async function freshen(state, env) {
  try {
    await state.replica.refreshIfDue();
  } catch {
    if (state.replica.info === null && (await env.REVOCATION.get(SNAPSHOT_KEY)) === null) {
      await authority(env).fetch("https://authority/ensure", { method: "POST" });
      await state.replica.refresh().catch(() => {});
    }
  }
}

function authority(env) {
  return env.AUTHORITY.get(env.AUTHORITY.idFromName("authority"));
}

/**
 * `POST /_tasktoken/revoke`: with no body, the bearer token revokes itself (a token may
 * always end its own task). With `{ "token": "..." }`, the bearer token must grant
 * `tokens:revoke` on `tokens/<jti of that token>`.
 */
async function revoke(request, env, state) {
  const text = await request.text();
  let target;
  try {
    const body = text.trim() === "" ? {} : JSON.parse(text);
    const bearer = /^Bearer +([^ ]+) *$/i.exec(request.headers.get("authorization") ?? "")?.[1];
    if (!bearer) return problem(401, "malformed", "no task token in the request");
    if (body.token === undefined) {
      target = state.verifier.verifyForRevocation(bearer);
    } else {
      target = state.verifier.verifyForRevocation(String(body.token));
      const gate = guard(request, state.verifier,
        { action: "tokens:revoke", resource: `tokens/${target.jti}` });
      if (!gate.ok) return gate.response;
    }
  } catch (error) {
    if (error instanceof SyntaxError) return problem(400, "malformed", "the body is not JSON");
    if (error instanceof TaskTokenError) return problem(401, error.code, error.message);
    throw error;
  }
  const answer = await authority(env).fetch("https://authority/revoke", {
    method: "POST",
    body: JSON.stringify({ jti: target.jti, exp: target.exp }),
  });
  // The revocation is durable at the authority; make this isolate see it now.
  await state.replica.refresh().catch(() => {});
  return new Response(answer.body, { status: answer.status, headers: { "content-type": "application/json" } });
}

/** Forwards exactly the authorized request to the origin, without the task token. */
function proxy(request, url, env, claims) {
  const headers = new Headers(request.headers);
  headers.delete("authorization");
  headers.set("x-tasktoken-sub", claims.sub);
  headers.set("x-tasktoken-task", claims.task);
  headers.set("x-tasktoken-jti", claims.jti);
  const target = new URL(url.pathname + url.search, env.ORIGIN_URL);
  const hasBody = request.method !== "GET" && request.method !== "HEAD";
  return fetch(target, {
    method: request.method,
    headers,
    body: hasBody ? request.body : undefined,
    redirect: "manual",
  });
}

function problem(status, code, message) {
  return Response.json({ error: code, message }, { status, headers: { "cache-control": "no-store" } });
}
