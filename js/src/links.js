// Signed export links: a URL that carries a task token for one export — one action, one
// resource, a short life — checked in the browser before anyone clicks it.
//
// Where the token sits: in the URL **fragment** (`#tt=<token>`). Browsers never send the
// fragment to servers, so the token stays out of server and proxy logs and out of `Referer`
// headers; the page reads it and sends it to the download endpoint in an `Authorization:
// Bearer` header (`fetchLink`), and links are followed by script, not by navigation, so the
// token does not enter the history either. The server verifies it with the guard and revokes
// it after the first successful download: single use.
import { TaskTokenError } from "./errors.js";
import { hasMethod, isInstance, snapshotObject } from "./input.js";

const FRAGMENT_KEY = "tt";

/**
 * Mints a link for one export.
 * @param {{ mint(request: object): string }} issuer a tasktoken Issuer
 * @param {{ url: string | URL, sub: string, aud: string | string[], task: string,
 *           action: string, resource: string, ttl: number,
 *           claims?: Record<string, unknown> }} options
 *   `url` is the download endpoint (no fragment); `action` and `resource` are the one
 *   action and the one resource the link grants (no wildcards).
 * @returns {string} the URL with `#tt=<token>`
 */
export function mintLink(issuer, options) {
  if (!hasMethod(issuer, "mint")) {
    throw new TaskTokenError("malformed", "mintLink needs an Issuer");
  }
  const { url, action, resource, ...rest } = snapshotObject(options, "mintLink options");
  if (typeof action !== "string" || action.includes(" ")) {
    throw new TaskTokenError("invalid_claim", "a link grants exactly one action");
  }
  if (typeof resource !== "string" || resource.split("/").includes("*")) {
    throw new TaskTokenError("invalid_claim", "a link grants exactly one resource, no wildcard");
  }
  const target = parseUrl(url);
  if (target.hash !== "") throw new TaskTokenError("malformed", "the link URL must have no fragment");
  const token = issuer.mint({ ...rest, scope: action, res: [resource] });
  target.hash = `${FRAGMENT_KEY}=${token}`;
  return target.href;
}

/** The token a link carries in its fragment, or `undefined`. */
export function linkToken(url) {
  const hash = parseUrl(url).hash.slice(1);
  const value = new URLSearchParams(hash).get(FRAGMENT_KEY);
  return value === null || value === "" ? undefined : value;
}

/**
 * Checks a link locally (no network): the same verifier, for the link's action and the
 * resource the page expects.
 * @param {string | URL} url
 * @param {{ verifier: { verify(token: string, request: object): object }, action: string,
 *           resource: string, now?: number | Date }} options
 * @returns {{ state: "valid" | "expired" | "not_yet_valid" | "wrong_resource" | "revoked"
 *                   | "invalid", code?: string, message?: string, secondsLeft: number,
 *             expiresAt?: number, claims?: object }}
 *   `secondsLeft` counts down to `exp` for a valid link (0 otherwise); `code` is the
 *   verifier's error code when not valid.
 */
export function checkLink(url, options) {
  const { verifier, action, resource, now } = snapshotObject(options, "checkLink options");
  if (!hasMethod(verifier, "verify")) {
    throw new TaskTokenError("malformed", "checkLink needs { verifier }");
  }
  const at = now === undefined ? Date.now() / 1000 : isInstance(now, Date) ? now.getTime() / 1000 : now;
  const token = linkToken(url);
  if (token === undefined) {
    return { state: "invalid", code: "malformed", message: "the link carries no token", secondsLeft: 0 };
  }
  try {
    const claims = verifier.verify(token, { action, resource, now: at });
    return {
      state: "valid",
      secondsLeft: Math.max(0, Math.floor(claims.exp - at)),
      expiresAt: claims.exp,
      claims,
    };
  } catch (error) {
    if (!(error instanceof TaskTokenError)) throw error;
    const state = LINK_STATES[error.code] ?? "invalid";
    return { state, code: error.code, message: error.message, secondsLeft: 0 };
  }
}

/**
 * Follows a link the safe way: requests its URL without the fragment, with the token in an
 * `Authorization: Bearer` header.
 * @returns {Promise<Response>}
 */
export function fetchLink(url, init = {}) {
  const options = snapshotObject(init ?? {}, "fetchLink init");
  const token = linkToken(url);
  if (token === undefined) throw new TaskTokenError("malformed", "the link carries no token");
  const target = parseUrl(url);
  target.hash = "";
  let headers;
  try {
    headers = new Headers(options.headers);
  } catch (cause) {
    throw new TaskTokenError("malformed", "fetchLink init.headers are not headers", { cause });
  }
  headers.set("authorization", `Bearer ${token}`);
  return fetch(target, { ...options, headers, referrerPolicy: "no-referrer", cache: "no-store" });
}

const LINK_STATES = {
  expired: "expired",
  not_yet_valid: "not_yet_valid",
  resource_denied: "wrong_resource",
  revoked: "revoked",
};

function parseUrl(url) {
  try {
    return new URL(String(url), globalThis.location?.href);
  } catch {
    throw new TaskTokenError("malformed", "not a URL");
  }
}
