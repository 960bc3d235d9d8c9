// HTTP plumbing shared by the package's network clients (revocation replicas, completeTask,
// the token exchange, remote key sets); not exported. Web APIs only.
import { TaskTokenError } from "./errors.js";

/**
 * An http(s) URL with no credentials in it, or `malformed`: nothing else can store a
 * revocation, serve one or mint a token (a `data:` URL would answer 200 to anything).
 */
export function parseHttpUrl(value, what) {
  let url;
  try {
    url = new URL(String(value));
  } catch (cause) {
    throw new TaskTokenError("malformed", `${what} is not a URL`, { cause });
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TaskTokenError("malformed", `${what} must be an http(s) URL`);
  }
  if (url.username !== "" || url.password !== "") {
    throw new TaskTokenError("malformed", `${what} must not carry credentials`);
  }
  return url;
}

/**
 * True for an answer that is a redirect: a 3xx (Node, workerd), or the status-0
 * `opaqueredirect` of browsers. The package asks for `redirect: "manual"` (workerd refuses
 * `"error"`) and treats this as the failure `"error"` would have been: never followed, the
 * body cancelled, nothing sent on.
 */
export function isRedirect(response) {
  const redirected = response.type === "opaqueredirect" ||
    (response.status >= 300 && response.status < 400);
  if (redirected) response.body?.cancel().catch(() => {});
  return redirected;
}

/** The default deadline of one fetch of keys or revocation data, in seconds. */
export const DEFAULT_TIMEOUT = 5;
/** The longest deadline an option may set, in seconds. */
const MAX_TIMEOUT = 120;

/** A `timeout` option checked: seconds, above 0, at most 120; `malformed` otherwise. */
export function checkTimeout(timeout) {
  if (!(typeof timeout === "number" && timeout > 0 && timeout <= MAX_TIMEOUT)) {
    throw new TaskTokenError("malformed", `timeout must be 0 < seconds <= ${MAX_TIMEOUT}`);
  }
  return timeout;
}

/**
 * `fn(signal)` with a deadline of `seconds`: the signal aborts then (a `TimeoutError`), and
 * the result rejects with that reason even if `fn` ignores the signal, so no caller waits on
 * it longer.
 */
export async function withDeadline(seconds, fn) {
  const controller = new AbortController();
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const reason = new DOMException(`no answer within ${seconds} s`, "TimeoutError");
      controller.abort(reason);
      reject(reason);
    }, seconds * 1000);
  });
  try {
    return await Promise.race([fn(controller.signal), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** `base` with `path` in place of its trailing slashes: `https://a/x/` + `/token`. */
export function below(base, path) {
  const url = new URL(base);
  url.pathname = url.pathname.replace(/\/*$/, path);
  return url;
}

/**
 * The body of `response`, read up to `limit` bytes; `undefined` (and the rest of the body
 * cancelled) if it is longer: an answer is never buffered beyond what its reader can use.
 */
export async function readBody(response, limit) {
  const declared = Number(response.headers.get("content-length"));
  if (response.body === null) return new Uint8Array();
  const reader = response.body.getReader();
  if (declared > limit) {
    await reader.cancel().catch(() => {});
    return undefined;
  }
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return bytes;
}

/**
 * The JSON value of a body of at most `limit` bytes of UTF-8, `__proto__` members dropped at
 * every depth; `undefined` when it is longer, not UTF-8 or not JSON.
 */
export async function readJson(response, limit) {
  const bytes = await readBody(response, limit);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes), withoutProto);
  } catch {
    return undefined;
  }
}

function withoutProto(key, value) {
  return key === "__proto__" ? undefined : value;
}
