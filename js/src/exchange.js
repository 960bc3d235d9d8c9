// The client of the token service (`tasktoken serve`): trade the identity token a workload
// already has for a task token (RFC 8693 token exchange), use it for one task, revoke it when
// the task is done. Web APIs only. A DPoP proof needs the mint module's signer, so the full
// entry (./index.js) hands one in and `tasktoken/verify` exchanges for bearer tokens only.
//
// Errors: a refusal by the service is a TaskTokenError whose `code` is the OAuth `error`
// (RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8628 §3.5 for `authorization_pending`), not one of the
// verifier's codes: what went wrong is the service's decision, in the service's words
// (docs/decisions.md, "Token exchange errors").
import { TaskTokenError } from "./errors.js";
import { below, isRedirect, parseHttpUrl, readJson } from "./http.js";
import { isInstance, ownValue, parseClaims, snapshotObject } from "./input.js";
import { revokeWith } from "./revocation.js";
import { bad, MAX_TOKEN_LENGTH } from "./util.js";

const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
/** Collecting a request a person approved (DESIGN.md, "Approval"). */
const APPROVAL_GRANT = "urn:tasktoken:grant-type:approval";
/** How long `approval` waits unless told otherwise, and at most (seconds). */
const DEFAULT_APPROVAL_WAIT = 900;
const MAX_APPROVAL_WAIT = 86_400;
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";

/** The OAuth errors an exchange may end with; any other answer is `server_error`. */
const EXCHANGE_ERRORS = Object.freeze([
  "unsupported_grant_type", "invalid_request", "invalid_grant", "invalid_scope",
  "invalid_target", "authorization_pending", "access_denied", "expired_token",
  // The service's own besides DESIGN.md's (docs/token-service.md): RFC 9449 §5, RFC 6749 §5.2.
  "invalid_dpop_proof", "temporarily_unavailable", "server_error",
]);
const KNOWN_ERRORS = new Set(EXCHANGE_ERRORS);

/** The options an exchange reads; any other member is a typo, refused. */
const EXCHANGE_OPTIONS = new Set([
  "service", "subjectToken", "audience", "scope", "res", "task", "ttl", "dlg", "dpop", "fetch",
  "approval",
]);

/** The service's body limit (DESIGN.md), and the most of an answer that is read. */
const MAX_BODY = 64 * 1024;
/** The longest `error_description` passed on as a message. */
const MAX_DESCRIPTION = 300;

/**
 * Exchanges the workload's identity token for a task token at the token service (bearer
 * tokens only in `tasktoken/verify`, where `dpop` is `malformed`; the full `tasktoken` entry
 * also binds them with DPoP).
 *
 * `POST <service>/token`, form-encoded (RFC 8693 §2.1), no redirects followed.
 * @param {BearerExchangeOptions} options
 *   `service`: the service's base URL, http(s) (a trailing slash is fine; no query, fragment
 *   or credentials). `subjectToken`: the identity token (an OIDC JWT). `scope`: actions,
 *   space-separated or as an array. `res`: at least one resource pattern. `ttl`: seconds (a
 *   positive integer; the service's default otherwise). `dlg`: delegation depth (an integer
 *   from 0). Any other member, a wrong type, an empty string or list is `malformed`, and
 *   nothing is sent.
 *   `approval`: for a policy that needs a person's approval (DESIGN.md, "Approval"), wait for
 *   it instead of rejecting with `authorization_pending`: `{ timeout?, signal?, onPending? }`
 *   (or `true`). `onPending({ id, expiresIn, interval })` is called once with the request's
 *   public id (what approvers see; the collection secret stays here), then the service is
 *   polled every `interval` seconds (its own, at least 1) with the approval grant — and a
 *   fresh DPoP proof by the same key when bound — until the token comes (once), or the
 *   request is denied (`access_denied`) or expires (`expired_token`), or `timeout` seconds
 *   (default 900, at most 86400) pass or `signal` aborts (`authorization_pending`, the
 *   request left as it is).
 * @returns {Promise<ExchangeResult>}
 *   Rejects with a TaskTokenError: the service's OAuth `error` as `code`
 *   (`unsupported_grant_type`, `invalid_request`, `invalid_grant`, `invalid_scope`,
 *   `invalid_target`, `authorization_pending`, `access_denied`, `expired_token`,
 *   `invalid_dpop_proof`, `temporarily_unavailable`; `server_error` for anything else, an unreachable service, or an answer
 *   that is not the JSON of RFC 8693 §2.2), its `error_description` (control characters and
 *   anything that looks like a token removed, at most 300 characters) as `message`, the HTTP
 *   `status`, and for `authorization_pending` the `approvalId`, `interval` and `expiresIn`
 *   the service gave.
 */
export function exchangeToken(options) {
  return exchange(options, undefined);
}

/**
 * Runs one task with its own token: exchanges one (as `exchangeToken`), calls
 * `callback({ token, fetch, claims })`, and then always revokes the token
 * (`completeTask(token, "<service>/revocation/revoke")`, a DPoP-bound one with a proof by
 * its key) — also when the callback throws.
 *
 * - `fetch` sends the token: `Authorization: Bearer <token>`, or for a DPoP-bound token
 *   (full entry, `dpop` given) `Authorization: DPoP` with a fresh proof per request. It
 *   refuses (`malformed`, nothing sent) a URL whose origin is not in `origins`, any request
 *   once the task is over, and never follows a redirect (a 3xx is an error, or with
 *   `redirect: "manual"` the answer): the token goes only where the caller sends it.
 * - `claims` are the token's payload as the service wrote it, decoded but **not verified**:
 *   for information (`exp`, `jti`, `task`), never for a decision.
 *
 * Resolves to the callback's result. If the callback throws, that error is rethrown, and a
 * failed revocation is reported to `onRevokeError` (else console.error); if only the
 * revocation fails, its error is thrown.
 * @template T
 * @param {BearerExchangeOptions & TaskOptions} options
 *   `origins`: the origins (`https://api.example`) the token may be sent to; default any.
 *   An entry that is not an http(s) origin is `malformed`.
 * @param {(task: TaskContext) => T | Promise<T>} callback
 * @returns {Promise<T>}
 */
export function withTask(options, callback) {
  return runTask(options, callback, undefined);
}

/**
 * @internal The exchange, with the DPoP signer of the full entry (or none):
 * `{ proof(key, url, nonce, token) => string, fetch(key, token, fetch) => fetch }`.
 */
export async function exchange(options, signer) {
  return exchangeFor(readExchange(options, signer, "exchangeToken"));
}

/** @internal `withTask`, with the DPoP signer of the full entry (or none). */
export async function runTask(options, callback, signer) {
  if (typeof callback !== "function") throw bad("withTask needs a callback function");
  const { origins, onRevokeError, ...rest } = snapshotObject(options, "withTask options");
  const allowed = origins === undefined ? undefined : originSet(origins);
  if (onRevokeError !== undefined && typeof onRevokeError !== "function") {
    throw bad("onRevokeError must be a function");
  }
  const request = readExchange(rest, signer, "withTask");
  const granted = await exchangeFor(request);
  const { token } = granted;
  let over = false;
  let failed = false;
  let value, failure;
  try {
    const claims = unverifiedClaims(token);
    const fetch = taskFetch(granted, request, allowed, () => over);
    value = await callback({ token, fetch, claims });
  } catch (error) {
    failed = true;
    failure = error;
  }
  over = true;
  try {
    await revokeToken(request, token, granted.tokenType === "DPoP");
  } catch (revokeError) {
    if (!failed) throw revokeError;
    // The callback's error is the one the caller must see; the revocation's is not lost.
    if (onRevokeError) onRevokeError(revokeError);
    else console.error("tasktoken: withTask could not revoke the task's token", revokeError);
  }
  if (failed) throw failure;
  return value;
}

/**
 * The caller's exchange options, checked, as what the request needs:
 * `{ service, tokenUrl, body, scope, key, signer, subjectToken, send }`. Reads own members
 * only; `who` names the caller's function in messages.
 */
function readExchange(options, signer, who) {
  const o = snapshotObject(options, `${who} options`);
  for (const name of Object.keys(o)) {
    // The name of a member is the caller's, never token text.
    if (!EXCHANGE_OPTIONS.has(name)) throw bad(`${who} does not take ${JSON.stringify(name).slice(0, 40)}`);
  }
  const { subjectToken, audience, res, task, ttl, dlg, dpop, fetch: fetchImpl } = o;
  const approval = readApproval(o.approval);
  const service = readService(o.service, who);
  if (typeof subjectToken !== "string" || subjectToken.length === 0 || subjectToken.length > MAX_BODY) {
    throw bad(`${who} needs subjectToken: a non-empty string under 64 KiB`);
  }
  for (const [name, value] of [["audience", audience], ["task", task]]) {
    if (typeof value !== "string" || value.length === 0) throw bad(`${who} needs ${name}: a non-empty string`);
  }
  const scope = readScope(o.scope, who);
  const resources = arrayCopy(res, "res");
  if (resources === undefined || resources.length === 0 ||
      !resources.every((r) => typeof r === "string" && r.length > 0)) {
    throw bad(`${who} needs res: a non-empty array of non-empty strings`);
  }
  if (ttl !== undefined && !(Number.isSafeInteger(ttl) && ttl > 0)) throw bad("ttl must be a positive integer of seconds");
  if (dlg !== undefined && !(Number.isSafeInteger(dlg) && dlg >= 0)) throw bad("dlg must be an integer from 0");
  if (fetchImpl !== undefined && typeof fetchImpl !== "function") throw bad("fetch must be a function");
  let key;
  if (dpop !== undefined) {
    if (signer === undefined) {
      throw bad(`dpop needs the full entry: import ${who} from "tasktoken", not "tasktoken/verify"`);
    }
    key = snapshotObject(dpop, "dpop").key;
    if (key === null || typeof key !== "object") throw bad("dpop needs { key: a private JWK from generateProofKey }");
  }
  const form = new URLSearchParams();
  form.append("grant_type", GRANT_TYPE);
  form.append("subject_token", subjectToken);
  form.append("subject_token_type", JWT_TYPE);
  form.append("audience", audience);
  form.append("scope", scope);
  for (const r of resources) form.append("res", r);
  form.append("task", task);
  if (ttl !== undefined) form.append("ttl", String(ttl));
  if (dlg !== undefined) form.append("dlg", String(dlg));
  const body = form.toString();
  if (body.length > MAX_BODY) throw bad("the exchange request is over the service's 64 KiB");
  return {
    service, tokenUrl: below(service, "/token"), body, scope, key, signer, subjectToken, approval,
    send: fetchImpl ?? globalThis.fetch.bind(globalThis),
  };
}

/** The `approval` option: `undefined` (do not wait), or `{ timeout, signal, onPending }`. */
function readApproval(value) {
  if (value === undefined || value === false) return undefined;
  const o = value === true ? {} : snapshotObject(value, "approval");
  const { timeout = DEFAULT_APPROVAL_WAIT, signal, onPending } = o;
  if (!(Number.isSafeInteger(timeout) && timeout > 0 && timeout <= MAX_APPROVAL_WAIT)) {
    throw bad("approval.timeout must be an integer number of seconds from 1 to 86400");
  }
  if (signal !== undefined && !isInstance(signal, AbortSignal)) throw bad("approval.signal must be an AbortSignal");
  if (onPending !== undefined && typeof onPending !== "function") throw bad("approval.onPending must be a function");
  return { timeout, signal, onPending };
}

/**
 * Polls for an approved request (RFC 8628 §3.4-3.5 style) until it is decided, the wait is
 * over, or the signal aborts; returns the last answer.
 */
async function awaitApproval(request, pending) {
  const { approval } = request;
  const approvalId = ownOf(pending.answer, "approval_id");
  if (typeof approvalId !== "string" || approvalId.length === 0 || approvalId.length > 256) {
    return pending;
  }
  const seconds = (answer, name, fallback) => {
    const v = ownOf(answer, name);
    return Number.isSafeInteger(v) && v >= 0 ? v : fallback;
  };
  const clamp = (n) => Math.min(Math.max(n, 1), 60);
  if (approval.onPending) {
    approval.onPending({ id: approvalId.split(".")[0], expiresIn: seconds(pending.answer, "expires_in", 0),
      interval: seconds(pending.answer, "interval", 5) });
  }
  const form = new URLSearchParams([["grant_type", APPROVAL_GRANT], ["approval_id", approvalId]]);
  const poll = { ...request, body: form.toString() };
  const until = Date.now() + approval.timeout * 1000;
  let last = pending;
  let interval = clamp(seconds(pending.answer, "interval", 5));
  for (;;) {
    const wait = Math.min(interval * 1000, until - Date.now());
    if (wait <= 0 || !(await sleep(wait, approval.signal))) return last;
    last = await post(poll, undefined);
    const error = ownOf(last.answer, "error");
    if (last.response.ok || error !== "authorization_pending") return last;
    interval = clamp(seconds(last.answer, "interval", interval));
  }
}

/** Resolves `true` after `ms`, or `false` at once if `signal` aborts (or has). */
function sleep(ms, signal) {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (value) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", abort);
      resolve(value);
    };
    const abort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/** The grant for a checked request; throws the service's refusal. */
async function exchangeFor(request) {
  let { response, answer } = await post(request, undefined);
  // RFC 9449 §8: the service wants a nonce in the proof; one more try, with it.
  const nonce = response.headers.get("dpop-nonce");
  if (request.key !== undefined && response.status === 400 && nonce !== null &&
      ownOf(answer, "error") === "use_dpop_nonce") {
    ({ response, answer } = await post(request, nonce));
  }
  if (request.approval !== undefined && response.status === 400 &&
      ownOf(answer, "error") === "authorization_pending") {
    ({ response, answer } = await awaitApproval(request, { response, answer }));
  }
  if (!response.ok) throw refusal(response.status, answer, request.subjectToken);
  try {
    return readGrant(answer, request);
  } catch (error) {
    // A token came with an answer we cannot use: revoke it rather than leave it live.
    const token = ownOf(answer, "access_token");
    if (typeof token === "string" && token.length > 0 && token.length <= MAX_TOKEN_LENGTH) {
      // Bound if a proof went with the request (the service binds then); as Bearer if not.
      await revokeToken(request, token, request.key !== undefined)
        .catch(() => request.key !== undefined ? revokeToken(request, token, false) : undefined)
        .catch(() => {});
    }
    throw error;
  }
}

/**
 * Revokes the task's token at `<service>/revocation/revoke`: a bound one (`bound`) with a
 * DPoP proof by the request's key, as the service requires; else as Bearer.
 */
function revokeToken(request, token, bound) {
  const options = { __proto__: null, fetch: request.send };
  if (bound) options.dpop = { __proto__: null, key: request.key };
  return revokeWith(token, below(request.service, "/revocation/revoke"), options, request.signer);
}

/** POSTs the form (with a fresh DPoP proof when bound); the answer's JSON or `undefined`. */
async function post(request, nonce) {
  const headers = new Headers([
    ["content-type", "application/x-www-form-urlencoded"],
    ["accept", "application/json"],
  ]);
  if (request.key !== undefined) {
    headers.set("dpop", request.signer.proof(request.key, request.tokenUrl.href, nonce));
  }
  let response, answer;
  try {
    // No prototype: fetch() reads init members with inheritance (WebIDL), so a polluted
    // `body` or `method` would otherwise change the request. No redirects: the subject token
    // is for this service only ("manual", and a redirect refused here: workerd has no "error").
    response = await request.send(request.tokenUrl.href, {
      __proto__: null, method: "POST", headers, body: request.body, redirect: "manual",
    });
    if (isRedirect(response)) throw new TypeError(`a redirect (HTTP ${response.status}) is not followed`);
    answer = await readJson(response, MAX_BODY);
  } catch (cause) {
    throw new TaskTokenError("server_error", "the token service could not be reached", { cause });
  }
  return { response, answer };
}

/** The success answer of RFC 8693 §2.2.1, checked; `server_error` if it is not one. */
function readGrant(answer, request) {
  const token = ownOf(answer, "access_token");
  const issued = ownOf(answer, "issued_token_type");
  const type = ownOf(answer, "token_type");
  const expiresIn = ownOf(answer, "expires_in");
  const scope = ownOf(answer, "scope") ?? request.scope;
  const tokenType = typeof type === "string" ? TOKEN_TYPES[type.toLowerCase()] : undefined;
  const problem =
    typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH ? "access_token"
    : issued !== JWT_TYPE ? "issued_token_type"
    : tokenType === undefined ? "token_type"
    : tokenType === "DPoP" && request.key === undefined ? "token_type (DPoP without a proof key)"
    : !(Number.isSafeInteger(expiresIn) && expiresIn >= 0) ? "expires_in"
    : typeof scope !== "string" ? "scope"
    : undefined;
  if (problem !== undefined) {
    throw new TaskTokenError("server_error", `the token service's answer has no valid ${problem}`);
  }
  return { token, tokenType, expiresIn, scope };
}

/** `token_type` is case-insensitive (RFC 6749 §5.1); no prototype, no inherited entries. */
const TOKEN_TYPES = { __proto__: null, bearer: "Bearer", dpop: "DPoP" };

/** The TaskTokenError for a refusal (RFC 6749 §5.2), with the service's details. */
function refusal(status, answer, subjectToken) {
  const error = ownOf(answer, "error");
  const code = KNOWN_ERRORS.has(error) ? error : "server_error";
  const description = ownOf(answer, "error_description");
  let message = typeof description === "string" ? clean(description, subjectToken) : "";
  if (message === "") {
    message = answer === undefined
      ? `the token service answered HTTP ${status} without a JSON error`
      : `the token service refused the exchange (HTTP ${status})`;
  }
  const refused = new TaskTokenError(code, message);
  refused.status = status;
  if (code === "authorization_pending") {
    const approvalId = ownOf(answer, "approval_id");
    const interval = ownOf(answer, "interval");
    const expiresIn = ownOf(answer, "expires_in");
    // Not enumerable: the id carries the collection secret, and errors end up in logs
    // (util.inspect and JSON.stringify leave non-enumerable members out).
    if (typeof approvalId === "string" && approvalId.length <= 256) {
      Object.defineProperty(refused, "approvalId", { value: approvalId, enumerable: false });
    }
    if (Number.isSafeInteger(interval) && interval >= 0) refused.interval = interval;
    if (Number.isSafeInteger(expiresIn) && expiresIn >= 0) refused.expiresIn = expiresIn;
  }
  return refused;
}

/**
 * A description fit for a message: no token text (the subject token, or anything shaped like
 * a JWT), no control or bidirectional-override characters, single spaces, at most 300
 * characters.
 */
function clean(text, subjectToken) {
  let out = text
    .split(subjectToken).join("[token]")
    .replace(/eyJ[\w-]*\.[\w-]*\.?[\w-]*/g, "[token]")
    .replace(/[\p{Cc}\p{Cf}\u2028\u2029]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  if (out.length > MAX_DESCRIPTION) {
    out = out.slice(0, MAX_DESCRIPTION - 1).replace(/[\ud800-\udbff]$/, "") + "…";
  }
  return out;
}

/** An own member of a JSON object answer, else `undefined`. */
function ownOf(answer, name) {
  return answer !== null && typeof answer === "object" && !Array.isArray(answer)
    ? ownValue(answer, name) : undefined;
}

/** The base URL of the service: http(s), with no query or fragment to lose. */
function readService(value, who) {
  const what = `${who} service`;
  if (typeof value !== "string" && !isInstance(value, URL)) throw bad(`${what} must be a URL string or URL`);
  const url = parseHttpUrl(value, what);
  if (url.search !== "" || url.hash !== "") throw bad(`${what} must have no query or fragment`);
  return url;
}

/** `scope` as the form sends it: a string, or actions joined by single spaces. */
function readScope(scope, who) {
  if (typeof scope === "string" && scope.length > 0) return scope;
  const actions = arrayCopy(scope, "scope");
  if (actions !== undefined && actions.length > 0 &&
      actions.every((a) => typeof a === "string" && a.length > 0 && !/\s/.test(a))) {
    return actions.join(" ");
  }
  throw bad(`${who} needs scope: a non-empty string or array of actions`);
}

/** A copy of an array the caller passed, each element read once; `undefined` if none. */
function arrayCopy(value, what) {
  try {
    return Array.isArray(value) ? [...value] : undefined;
  } catch (cause) {
    throw new TaskTokenError("malformed", `${what} could not be read`, { cause });
  }
}

/** `origins` as a set of origin strings; anything but http(s) origins is `malformed`. */
function originSet(origins) {
  const entries = arrayCopy(origins, "origins");
  if (entries === undefined) throw bad("origins must be an array of origins");
  const set = new Set();
  for (const entry of entries) {
    let url;
    try {
      if (typeof entry !== "string" && !isInstance(entry, URL)) throw new TypeError("not a URL");
      url = new URL(String(entry));
    } catch {
      throw bad("origins must be http(s) origins, such as https://api.example");
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.href !== `${url.origin}/`) {
      throw bad("origins must be http(s) origins, such as https://api.example");
    }
    set.add(url.origin);
  }
  return set;
}

/**
 * The task's `fetch`: the token on requests to allowed origins while the task runs, as
 * Bearer or, for a DPoP-bound token, through the full entry's `dpopFetch`.
 */
function taskFetch(granted, request, allowed, isOver) {
  const { token, tokenType } = granted;
  const bound = tokenType === "DPoP" ? request.signer.fetch(request.key, token, request.send) : undefined;
  return async (input, init = undefined) => {
    if (isOver()) throw bad("the task is complete: its token has been revoked");
    let target;
    try {
      const copy = init === undefined || init === null ? undefined : snapshotObject(init, "fetch init");
      target = new Request(input, copy);
    } catch (cause) {
      if (cause instanceof TaskTokenError) throw cause;
      throw new TaskTokenError("malformed", "the task's fetch needs a URL or Request and a RequestInit", { cause });
    }
    const url = new URL(target.url);
    const origin = url.origin;
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw bad("the task's fetch sends its token to http(s) URLs only");
    }
    if (allowed !== undefined && !allowed.has(origin)) {
      throw bad(`${origin.slice(0, 200)} is not one of the task's origins; its token is not sent there`);
    }
    // A redirect would carry the token (or the proof) to a URL nobody checked: always
    // "manual" (workerd has no "error"), and unless the caller asked for "manual", a
    // redirect is the TypeError that "error" would have been.
    const manual = target.redirect === "manual";
    let response;
    if (bound !== undefined) {
      response = await bound(new Request(target, { __proto__: null, redirect: "manual" }));
    } else {
      const headers = new Headers(target.headers);
      headers.set("authorization", `Bearer ${token}`);
      response = await request.send(new Request(target, { __proto__: null, headers, redirect: "manual" }));
    }
    if (!manual && isRedirect(response)) {
      throw new TypeError(`the task's fetch follows no redirects (HTTP ${response.status})`);
    }
    return response;
  };
}

/** The payload of a compact JWS, decoded but not verified; `server_error` if it is none. */
function unverifiedClaims(token) {
  const part = token.split(".")[1];
  try {
    if (part === undefined || !/^[\w-]+$/.test(part)) throw new TypeError("not base64url");
    const binary = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    const claims = parseClaims(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (claims === null || typeof claims !== "object" || Array.isArray(claims)) throw new TypeError("not an object");
    return claims;
  } catch (cause) {
    throw new TaskTokenError("server_error", "the token service issued a token whose claims cannot be read", { cause });
  }
}

/** @import { TaskClaims } from "./verify.js" */

/**
 * What `exchangeToken` asks the token service for (RFC 8693 §2.1).
 * @typedef {object} BearerExchangeOptions
 * @property {string | URL} service The service's base URL, http(s): the request goes to
 *   `<service>/token`.
 * @property {string} subjectToken The workload's identity token (an OIDC JWT from its
 *   platform).
 * @property {string} audience The one audience the task token is for.
 * @property {string | string[]} scope Actions: space-separated, or as an array.
 * @property {string[]} res Resource patterns, at least one.
 * @property {string} task The workflow segment, e.g. `deploy-8812/stage:deploy`.
 * @property {number} [ttl] Lifetime in seconds (default: the service's).
 * @property {number} [dlg] Delegation depth the token may grant (default 0).
 * @property {typeof fetch} [fetch]
 * @property {boolean | ApprovalWait} [approval] For a policy that needs a person's approval:
 *   wait for the decision (polling the service at its interval) instead of rejecting with
 *   `authorization_pending`.
 */

/**
 * How `exchangeToken` waits for an approval.
 * @typedef {object} ApprovalWait
 * @property {number} [timeout] Seconds to wait at most (default 900, at most 86400); then
 *   `authorization_pending`.
 * @property {AbortSignal} [signal] Stops waiting (`authorization_pending`, the request left
 *   as it is).
 * @property {(pending: { id: string, expiresIn: number, interval: number }) => void}
 *   [onPending] Called once with the request's public id (what approvers see), before
 *   waiting.
 */

/**
 * A task token the service granted (RFC 8693 §2.2.1).
 * @typedef {object} ExchangeResult
 * @property {string} token
 * @property {"Bearer" | "DPoP"} tokenType `DPoP` when the service bound the token to the
 *   proof's key.
 * @property {number} expiresIn Seconds until it expires.
 * @property {string} scope The actions granted, space-separated.
 */

/**
 * What `withTask` adds to the exchange options.
 * @typedef {object} TaskOptions
 * @property {Array<string | URL>} [origins] The origins (`https://api.example`) the task's
 *   fetch may send the token to; default any.
 * @property {(error: unknown) => void} [onRevokeError] Told about a failed revocation when
 *   the callback failed too (default console.error).
 */

/**
 * What a `withTask` callback gets.
 * @typedef {object} TaskContext
 * @property {string} token
 * @property {(input: string | URL | Request, init?: RequestInit) => Promise<Response>} fetch
 *   Sends the token (Bearer, or DPoP with a fresh proof) to the allowed origins, follows no
 *   redirect, and refuses once the task is over.
 * @property {TaskClaims} claims The token's payload, decoded but NOT verified: for
 *   information, never for a decision.
 */
