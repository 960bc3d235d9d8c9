// Baseline for docs/gateway.md: the gateway's proxying with no token check at all — the same
// forward as the gateway's `proxy` (target URL, method, headers, body, no redirects
// followed) minus the gate: no route match, no token, no header rewriting.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    const hasBody = request.method !== "GET" && request.method !== "HEAD";
    return fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), {
      method: request.method,
      headers: request.headers,
      body: hasBody ? request.body : undefined,
      redirect: "manual",
    });
  },
};
