// The gateway's routes, as data: method + path pattern → the action a task token must grant
// and the resource, derived from the path, it must cover. Nothing reaches the origin unless
// a route matches and the token allows exactly that.
export const routes = [
  { method: "GET", path: "/customers/:id", action: "customers:read", resource: "customers/{id}" },
  { method: "GET", path: "/customers/:id/orders", action: "orders:read", resource: "customers/{id}/orders" },
  { method: "POST", path: "/datasets/:id/export", action: "datasets:export", resource: "datasets/{id}" },
  { method: "GET", path: "/artifacts/:repo/:file", action: "artifacts:read", resource: "artifacts/{repo}/{file}" },
];

/**
 * Finds the route for a request path. Paths are matched segment by segment on the path as
 * received (never decoded), so an encoded separator stays inside one parameter, where the
 * core's resource rules refuse it.
 * @returns {{ route: object, action: string, resource: string }
 *         | { status: 400 | 404 | 405, message: string }}
 */
export function matchRoute(table, method, pathname) {
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
    const resource = route.resource.replace(/\{(\w+)\}/g, (_, name) => params[name]);
    return { route, action: route.action, resource };
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
 * A path the origin will read exactly as we do: starts with `/`, no empty, `.` or `..`
 * segment, no backslash, no encoded `/`, `.`, `\` or `%`.
 */
export function isCanonical(pathname) {
  if (!pathname.startsWith("/") || pathname.includes("\\")) return false;
  if (/%(2f|2e|5c|25)/i.test(pathname)) return false;
  return pathname.slice(1).split("/").every((s) => s !== "" && s !== "." && s !== "..");
}
