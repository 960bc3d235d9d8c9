// The gateway's routes, as data: method + path pattern → the action a task token must grant
// and the resource, derived from the path, it must cover. Nothing reaches the origin unless
// a route matches and the token allows exactly that.
//
// The token covers the path, not the query string: a route names the query parameters it
// passes on (`query`, each at most once); a request with any other is refused, and a route
// without `query` passes none. `singleUse` routes let each token through once, decided by
// the authority (see worker.js), not by the replicated filter.
//
// `proofReplay` says where a DPoP proof's single use is decided: `"isolate"` (the default)
// by the verifier of the isolate that serves the request, so a proof replayed against
// another isolate (or after a restart) passes within its window; `"global"` also by a
// Durable Object keyed by the proof's `jti` (replay.js), for every isolate, at the cost of
// one round trip to it (docs/gateway.md, "Proof replay across isolates").
//
// `requireBinding: true` lets only key-bound tokens through (`cnf.jkt`, sent as DPoP with a
// proof): an unbound token that grants the route is refused, 401 `binding_required`. For
// routes where a copied bearer token must be useless.

/** What a route may say, and the values each option may take (`undefined`: left out). */
const ROUTE_KEYS = new Set([
  "method", "path", "action", "resource", "query", "singleUse", "proofReplay", "requireBinding",
]);
const PROOF_REPLAY = new Set([undefined, "isolate", "global"]);

export const routes = checkRoutes([
  { method: "GET", path: "/customers/:id", action: "customers:read", resource: "customers/{id}" },
  { method: "GET", path: "/customers/:id/orders", action: "orders:read", resource: "customers/{id}/orders",
    query: ["limit", "cursor"] },
  { method: "POST", path: "/datasets/:id/export", action: "datasets:export", resource: "datasets/{id}",
    query: ["format"], singleUse: true },
  { method: "GET", path: "/artifacts/:repo/:file", action: "artifacts:read", resource: "artifacts/{repo}/{file}" },
  // A write that must happen once per proof, whichever isolate the replay reaches.
  { method: "POST", path: "/customers/:id/notes", action: "notes:write", resource: "customers/{id}/notes",
    proofReplay: "global" },
  // A destructive call only the holder of a bound key may make: a copied token is useless.
  { method: "DELETE", path: "/customers/:id/notes", action: "notes:delete", resource: "customers/{id}/notes",
    requireBinding: true },
]);

/**
 * Checks the route table once, at load: every route a plain object of known options, with a
 * string method, path, action and resource, `query` an array of strings, `singleUse` and
 * `requireBinding` booleans and `proofReplay` `"isolate"` or `"global"`. Throws on anything else (a typo such
 * as `proofReplay: "globl"` must not quietly leave a route with the weaker check), so the
 * Worker does not start.
 * @returns {object[]} the table
 */
export function checkRoutes(table) {
  for (const route of table) {
    const where = `route ${route?.method} ${route?.path}`;
    for (const key of Object.keys(route)) {
      if (!ROUTE_KEYS.has(key)) throw new Error(`${where}: unknown option ${key}`);
    }
    for (const key of ["method", "path", "action", "resource"]) {
      if (typeof route[key] !== "string") throw new Error(`${where}: ${key} must be a string`);
    }
    if (route.query !== undefined &&
        !(Array.isArray(route.query) && route.query.every((name) => typeof name === "string"))) {
      throw new Error(`${where}: query must be an array of names`);
    }
    for (const key of ["singleUse", "requireBinding"]) {
      if (route[key] !== undefined && typeof route[key] !== "boolean") {
        throw new Error(`${where}: ${key} must be a boolean`);
      }
    }
    if (!PROOF_REPLAY.has(route.proofReplay)) {
      throw new Error(`${where}: proofReplay must be "isolate" or "global"`);
    }
  }
  return table;
}

/**
 * Finds the route for a request path and checks its query string. Paths are matched segment
 * by segment on the path as received (never decoded), so an encoded separator stays inside
 * one parameter, where the core's resource rules refuse it.
 * @param {string} search the request's query string (`url.search`, with or without `?`)
 * @returns {{ route: object, action: string, resource: string, search: string }
 *         | { status: 400 | 404 | 405, message: string }}
 *   `search` is what the origin gets: `""`, or `?` and the route's parameters as we parsed
 *   them, re-encoded, so the origin cannot read a parameter we did not see.
 */
export function matchRoute(table, method, pathname, search = "") {
  if (!isCanonical(pathname)) {
    return { status: 400, message: "the request path is not canonical" };
  }
  const segments = pathname.slice(1).split("/");
  let pathMatched = false;
  for (const route of table) {
    const params = matchPath(route.path, segments);
    if (!params) continue;
    pathMatched = true;
    if (route.method !== method) continue;
    const query = forwardedQuery(route.query ?? [], search);
    if (query.status) return query;
    const resource = route.resource.replace(/\{(\w+)\}/g, (_, name) => params[name]);
    return { route, action: route.action, resource, search: query.search };
  }
  return pathMatched
    ? { status: 405, message: "the method is not allowed on this path" }
    : { status: 404, message: "no such route" };
}

function matchPath(pattern, segments) {
  const parts = pattern.slice(1).split("/");
  if (parts.length !== segments.length) return null;
  const params = {};
  for (let i = 0; i < parts.length; i++) {
    if (parts[i].startsWith(":")) {
      if (segments[i] === "") return null;
      params[parts[i].slice(1)] = segments[i];
    } else if (parts[i] !== segments[i]) {
      return null;
    }
  }
  return params;
}

/**
 * The query string to forward: only `allowed` names, each at most once (an origin that
 * takes the first of two and one that takes the last would disagree about what was asked).
 */
function forwardedQuery(allowed, search) {
  // No query (`url.search` reads a bare `?` as none too): nothing to parse.
  if (search === "") return { search: "" };
  const params = new URLSearchParams(search);
  const seen = new Set();
  for (const name of params.keys()) {
    if (!allowed.includes(name)) {
      return { status: 400, message: "the route takes no such query parameter" };
    }
    if (seen.has(name)) return { status: 400, message: "a query parameter is repeated" };
    seen.add(name);
  }
  const text = params.toString();
  return { search: text === "" ? "" : `?${text}` };
}

/**
 * A path the origin will read exactly as we do: starts with `/`, no empty, `.` or `..`
 * segment, no backslash, no encoded `/`, `.`, `\` or `%`.
 */
export function isCanonical(pathname) {
  if (!pathname.startsWith("/") || pathname.includes("\\")) return false;
  if (/%(2f|2e|5c|25)/i.test(pathname)) return false;
  return pathname.slice(1).split("/").every((s) => s !== "" && s !== "." && s !== "..");
}
