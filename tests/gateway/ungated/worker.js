// Baseline for docs/gateway.md: the gateway's proxying with no token check at all.
export default {
  fetch(request, env) {
    const url = new URL(request.url);
    return fetch(new URL(url.pathname + url.search, env.ORIGIN_URL), {
      method: request.method,
      headers: request.headers,
    });
  },
};
