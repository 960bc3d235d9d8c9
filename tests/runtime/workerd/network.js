// The package's network clients inside workerd, against a local Node server
// (../workerd.test.mjs) whose base URL each request names: `POST /net/<check>` with a JSON
// body `{ base, ... }`, answered with what happened, every rejection as `{ code, message }`.
import { RemoteKeySet, RevocationReplica, Verifier, completeTask, exchangeToken, withTask } from "tasktoken";

const job = {
  subjectToken: "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln", audience: "crm-api",
  scope: "customers:read", res: ["customers/4821"], task: "lookup-4821",
};

/** What a promise came to, as JSON. */
const settle = (promise) => promise.then(
  (value) => ({ ok: true, value: value ?? null }),
  (error) => ({ ok: false, code: error.code ?? error.name, message: error.message,
    cause: error.cause?.message }),
);

/** What one Worker isolate keeps between requests: the key set `keys*` checks follow. */
const isolate = {};

const checks = {
  /**
   * completeTask, exchangeToken, withTask, RemoteKeySet.refresh and a replica following that
   * key set, then each client of the token service through a 302.
   */
  async clients({ base }) {
    const keys = new RemoteKeySet({ url: `${base}/.well-known/jwks.json`, onError: () => {} });
    const moved = new RemoteKeySet({ url: `${base}/redirect/jwks.json`, onError: () => {} });
    return {
      completed: await settle(completeTask("a.b.c", `${base}/revocation/revoke`)),
      exchanged: await settle(exchangeToken({ ...job, service: base }).then((g) => g.tokenType)),
      task: await settle(withTask({ ...job, service: base }, async ({ fetch }) => {
        const direct = await fetch(`${base}/api`);
        const redirected = await fetch(`${base}/redirect/api`).then(() => "followed", (e) => e.name);
        return { direct: await direct.text(), redirected };
      })),
      keys: await settle(keys.refresh().then((jwks) => jwks.keys.map((k) => k.kid))),
      // The service's revocation data, verified with the key set just loaded.
      replica: await settle(new RevocationReplica({ keys, url: `${base}/revocation` }).refresh()
        .then((info) => info.serial)),
      completeRedirect: await settle(completeTask("a.b.c", `${base}/redirect/revoke`)),
      exchangeRedirect: await settle(exchangeToken({ ...job, service: `${base}/redirect` })),
      keysRedirect: await settle(moved.refresh()),
    };
  },

  /** A key set kept across requests, as a Worker keeps it in module scope, and its verifier. */
  async keysSetup({ base, timeout }) {
    isolate.keys = new RemoteKeySet({
      url: `${base}/.well-known/jwks.json`, timeout, minRefresh: 0.1, onError: () => {},
    });
    isolate.verifier = new Verifier({ issuers: { "https://auth.example": isolate.keys }, audience: "crm-api" });
    return settle(isolate.keys.refresh().then((jwks) => jwks.keys.map((k) => k.kid)));
  },

  /**
   * Verifies `token` and answers at once: an unknown kid starts a background refresh, which
   * the response cuts off — unless `waitUntil` hands `keys.pending` to `ctx.waitUntil()`.
   */
  async keysVerify({ token, waitUntil }, ctx) {
    let outcome;
    try {
      outcome = isolate.verifier.verify(token, { action: "customers:read", resource: "customers/4821" }).sub;
    } catch (error) {
      outcome = error.code;
    }
    const pending = isolate.keys.pending;
    if (waitUntil && pending) ctx.waitUntil(pending);
    return { outcome, pending: pending !== null, version: isolate.keys.version };
  },

  /** A refresh in a later request: never held up by one cut off before. */
  async keysRefresh() {
    const jwks = await settle(isolate.keys.refresh().then((j) => j.keys.map((k) => k.kid)));
    return { jwks, version: isolate.keys.version };
  },
};

export async function network(request, ctx) {
  const name = new URL(request.url).pathname.slice("/net/".length);
  const check = Object.hasOwn(checks, name) ? checks[name] : undefined;
  if (request.method !== "POST" || check === undefined) return new Response("no such check", { status: 404 });
  return Response.json(await check(await request.json(), ctx));
}
