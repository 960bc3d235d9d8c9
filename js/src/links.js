// Signed export links: a URL that carries a task token for one export — one action, one
// resource, a short life — checked in the browser before anyone clicks it.
//
// Where the token sits: in the URL **fragment** (`#tt=<token>`). Browsers never send the
// fragment to servers, so the token stays out of server and proxy logs and out of `Referer`
// headers; the page reads it and sends it to the download endpoint in an `Authorization:
// Bearer` header (`fetchLink`), and links are followed by script, not by navigation, so the
// token does not enter the history either. The server verifies it with the guard and revokes
// it after the first successful download: single use.
//
// Where a link may point: an http(s) URL on one origin, the page's own unless the caller names
// another (`origin`). A link is data (a list from a server, a message, a pasted URL); one on
// another host must neither look valid in the page nor receive the token from `fetchLink`.
import { TaskTokenError } from "./errors.js";
import { hasMethod, isInstance, snapshotObject } from "./input.js";

const FRAGMENT_KEY = "tt";

/**
 * Mints a link for one export (one action, one resource): `url#tt=<token>`, `url` http(s).
 * @param {{ mint(request: MintRequest): string }} issuer a tasktoken Issuer
 * @param {Omit<MintRequest, "scope" | "res"> & { url: string | URL, action: string,
 *           resource: string }} options
 *   `url` is the download endpoint (http or https, no fragment); `action` and `resource`
 *   are the one action and the one resource the link grants (no wildcards).
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
  const target = parseLinkUrl(url, pageLocation()?.href);
  if (target.hash !== "") throw new TaskTokenError("malformed", "the link URL must have no fragment");
  const token = issuer.mint({ __proto__: null, ...rest, scope: action, res: [resource] });
  target.hash = `${FRAGMENT_KEY}=${token}`;
  return target.href;
}

/**
 * The token a link carries in its fragment, or `undefined`.
 * @param {string | URL} url
 * @returns {string | undefined}
 */
export function linkToken(url) {
  return fragmentToken(parseUrl(url, pageLocation()?.href));
}

/**
 * Checks a link locally (no network): the same verifier, for the link's action and the
 * resource the page expects, and only on the expected origin. A link on another origin is
 * `wrong_origin` (its token is not verified); one that is not http(s) throws `malformed`.
 * @param {string | URL} url an http(s) URL; a relative one is resolved against the page,
 *   else against `origin`
 * @param {LinkCheckOptions} options
 * @returns {LinkCheck}
 */
export function checkLink(url, options) {
  const { verifier, action, resource, now, origin } = snapshotObject(options, "checkLink options");
  if (!hasMethod(verifier, "verify")) {
    throw new TaskTokenError("malformed", "checkLink needs { verifier }");
  }
  const at = now === undefined ? Date.now() / 1000 : isInstance(now, Date) ? now.getTime() / 1000 : now;
  const { expected, base } = linkOrigin(origin, "checkLink");
  const target = parseLinkUrl(url, base);
  if (target.origin !== expected) {
    const message = "the link is for another origin";
    return { state: "wrong_origin", code: "malformed", message, secondsLeft: 0 };
  }
  const token = fragmentToken(target);
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
 * `Authorization: Bearer` header — only on the expected origin; a link elsewhere, or not
 * http(s), throws `malformed` and nothing is requested. `origin` is not passed on to fetch().
 * @param {string | URL} url an http(s) URL; a relative one is resolved against the page,
 *   else against `origin`
 * @param {RequestInit & { origin?: string | URL }} [init] passed on to fetch(), except
 *   `origin`: the one origin links may point to, by default the page's own; required where
 *   there is no page
 * @returns {Promise<Response>}
 */
export function fetchLink(url, init = {}) {
  // `...options` inherits from Object.prototype: read nothing from it but by spreading.
  const { origin, headers: given, ...options } = snapshotObject(init ?? {}, "fetchLink init");
  const { expected, base } = linkOrigin(origin, "fetchLink");
  const target = parseLinkUrl(url, base);
  if (target.origin !== expected) {
    throw new TaskTokenError("malformed", "the link is for another origin; its token is not sent there");
  }
  const token = fragmentToken(target);
  if (token === undefined) throw new TaskTokenError("malformed", "the link carries no token");
  target.hash = "";
  let headers;
  try {
    headers = new Headers(given);
  } catch (cause) {
    throw new TaskTokenError("malformed", "fetchLink init.headers are not headers", { cause });
  }
  headers.set("authorization", `Bearer ${token}`);
  // No prototype: fetch() reads init members with inheritance (WebIDL), so a polluted
  // `method`, `body` or `credentials` would otherwise change the request.
  return fetch(target, {
    __proto__: null, ...options, headers, referrerPolicy: "no-referrer", cache: "no-store",
  });
}

/** The verifier's codes with a state of their own; no prototype, so no inherited entries. */
const LINK_STATES = {
  __proto__: null,
  expired: "expired",
  not_yet_valid: "not_yet_valid",
  resource_denied: "wrong_resource",
  revoked: "revoked",
};

/**
 * The token in the fragment of a parsed URL, or `undefined`.
 * @param {URL} url
 */
function fragmentToken(url) {
  const value = new URLSearchParams(url.hash.slice(1)).get(FRAGMENT_KEY);
  return value === null || value === "" ? undefined : value;
}

/**
 * The origin links must be on (`expected`) and the base for relative links: the `origin`
 * option, else the page's own. Without either there is nothing a link could be tied to, and
 * accepting every host would hand the token to whichever one the link names.
 */
function linkOrigin(option, who) {
  const page = pageLocation();
  const pageOrigin = isHttp(page?.origin) ? page.origin : undefined;
  if (option === undefined) {
    if (pageOrigin === undefined) {
      throw new TaskTokenError("malformed",
        `${who} needs { origin } (such as https://app.example) where there is no page`);
    }
    return { expected: pageOrigin, base: page.href };
  }
  const url = parseUrl(option);
  if (!isHttp(url.origin) || url.href !== `${url.origin}/`) {
    const message = `${who} origin must be an http(s) origin, such as https://app.example`;
    throw new TaskTokenError("malformed", message);
  }
  return { expected: url.origin, base: pageOrigin === undefined ? url.href : page.href };
}

/**
 * The page's `location`, or `undefined` outside a page. Only a `location` some object on
 * the global's prototype chain owns counts: one found on Object.prototype is pollution
 * (`globalThis` inherits from it in Node and workers).
 */
function pageLocation() {
  for (let o = globalThis; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    // Read through globalThis: the owner may be a prototype whose getter needs the global.
    if (Object.hasOwn(o, "location")) return globalThis.location ?? undefined;
  }
  return undefined;
}

function isHttp(origin) {
  return typeof origin === "string" && /^https?:\/\//.test(origin);
}

/** An http(s) URL, or `malformed`: a `javascript:`, `data:` or `file:` link downloads nothing. */
function parseLinkUrl(url, base) {
  const target = parseUrl(url, base);
  if (target.protocol !== "http:" && target.protocol !== "https:") {
    throw new TaskTokenError("malformed", "a link must be an http(s) URL");
  }
  return target;
}

function parseUrl(url, base) {
  try {
    return new URL(String(url), base);
  } catch {
    throw new TaskTokenError("malformed", "not a URL");
  }
}

/**
 * @import { MintRequest } from "./index.js"
 * @import { TaskClaims } from "./verify.js"
 */

/**
 * The state of an export link, as `checkLink` sees it.
 * @typedef {"valid" | "expired" | "not_yet_valid" | "wrong_resource" | "revoked"
 *   | "wrong_origin" | "invalid"} LinkState
 */

/**
 * What `checkLink` found.
 * @typedef {object} LinkCheck
 * @property {LinkState} state
 * @property {TaskTokenError["code"]} [code] The verifier's error code when not valid;
 *   `malformed` for `wrong_origin` (whose token is not even verified).
 * @property {string} [message]
 * @property {number} secondsLeft Seconds until `exp` for a valid link; 0 otherwise.
 * @property {number} [expiresAt]
 * @property {TaskClaims} [claims]
 */

/**
 * Where links may point.
 * @typedef {object} LinkOrigin
 * @property {string | URL} [origin] The one origin links may point to
 *   (`https://app.example`); by default the page's own (`location.origin`). Required where
 *   there is no page (Node, workers): without it the call throws `malformed`.
 */

/**
 * What `checkLink` checks a link for.
 * @typedef {LinkOrigin & { verifier: { verify(token: string, request: VerifyRequest):
 *   TaskClaims }, action: string, resource: string, now?: number | Date }} LinkCheckOptions
 */

/** @import { VerifyRequest } from "./verify.js" */
