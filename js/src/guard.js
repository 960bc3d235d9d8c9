// Guards for the hot path: read the token from a request, verify it for one action on one
// resource, and hand back either the claims or a ready HTTP answer. Written once, for the
// Fetch API (Workers, Deno, Bun, browsers' service workers, Node's global Request) and, via
// `guardNode`, for Node's `http` server.
import { proofNonce, refusalEvent } from "../wasm/verify/tasktoken.js";
import { TaskTokenError } from "./errors.js";
import { hasMethod, ownValue, snapshotObject } from "./input.js";
import { emit } from "./util.js";

const REALM = "tasktoken";
/** Codes that mean "a valid token, but not for this": 403 with insufficient_scope. */
const FORBIDDEN = new Set(["action_denied", "resource_denied"]);
/** Codes that are the server's fault, not the token's: 503, fail closed. */
const UNAVAILABLE = new Set(["stale_revocation"]);
/** Codes about the DPoP proof rather than the token: `error="invalid_dpop_proof"`. */
const PROOF = new Set(["invalid_proof", "proof_replayed"]);
/** The proof algorithms a verifier accepts, announced in DPoP challenges (RFC 9449 §7.1). */
const PROOF_ALGS = "EdDSA ES256";

/**
 * Verifies the task token a Fetch API request carries: the claims, or a ready 401/403/400/503
 * Response.
 *
 * @param {Request} request a Fetch API request
 * @param {Pick<Verifier, "verify">} verifier a tasktoken Verifier
 * @param {GuardOptions<Request>} options
 *   `action` and `resource` are what the route is about to do; `onDecision` receives the
 *   audit event of this request's decision; `header` and `query` opt in
 *   to reading the token from that header or query parameter as well as from
 *   `Authorization: Bearer` (a request that carries it in more than one place is refused).
 *   Proof of possession (RFC 9449): `Authorization: DPoP <token>` with a `DPoP: <proof>`
 *   header, the proof checked for the request's method and URL; a bound token sent as
 *   `Bearer`, or an unbound one as `DPoP`, is refused, with a `WWW-Authenticate: DPoP`
 *   challenge (`invalid_token`, or `invalid_dpop_proof` for the proof). `dpopNonce` (a string,
 *   or a function returning the current one): proofs must carry this server nonce; one that
 *   does not is answered `use_dpop_nonce` with a `DPoP-Nonce` header (RFC 9449 §9), which
 *   `dpopFetch` follows.
 * @returns {GuardResult}
 */
export function guard(request, verifier, options) {
  options = snapshotObject(options, "guard options");
  const decision = decide(
    (name) => request.headers.get(name),
    () => new URL(request.url).searchParams,
    () => resolveResource(options?.resource, request),
    () => ({ method: request.method, url: request.url }),
    verifier,
    options,
  );
  if (decision.ok) return { ok: true, claims: decision.claims };
  const { status, headers, body } = decision.answer;
  // No prototype: the init's members are read with inheritance (WebIDL), so a polluted
  // `statusText` would otherwise change every refusal, or break it (a bad one throws).
  const init = { __proto__: null, status, headers };
  return { ok: false, error: decision.error, response: new Response(body, init) };
}

/**
 * The same guard for Node's `http` server: returns the claims, or writes the refusal to
 * `res` and returns `null`.
 *
 * @template {NodeRequestLike} R
 * @param {R} req Node's IncomingMessage
 * @param {NodeResponseLike} res Node's ServerResponse
 * @param {Pick<Verifier, "verify">} verifier
 * @param {GuardOptions<R>} options
 *   `origin` (`https://api.example`): the scheme and host clients address this server by,
 *   which DPoP proofs' `htu` must name; required for DPoP requests (the `Host` header and
 *   the request line are the client's word, not the server's).
 * @returns {TaskClaims | null}
 */
export function guardNode(req, res, verifier, options) {
  if (!hasMethod(res, "writeHead") || !hasMethod(res, "end")) {
    throw new TaskTokenError("malformed", "guardNode needs Node's ServerResponse as res");
  }
  options = snapshotObject(options, "guardNode options");
  const decision = decide(
    // Own members only: Node's `req.headers` is an ordinary object, and an inherited
    // `authorization` is prototype pollution, not a header.
    (name) => headerValue(ownValue(req.headers, name)),
    () => new URL(req.url ?? "/", "http://localhost").searchParams,
    () => resolveResource(options?.resource, req),
    () => {
      // The URL the proof must name is this server's, said by the operator, never by the
      // request: not the `Host` header, not an absolute-form request line.
      if (typeof options.origin !== "string" || !/^https?:\/\/[^/?#]+$/i.test(options.origin)) {
        throw new TaskTokenError("malformed", "guardNode needs { origin: \"https://host\" } to check DPoP proofs");
      }
      const path = typeof req.url === "string" ? req.url : "";
      if (!path.startsWith("/") || path.startsWith("//")) {
        throw new TaskTokenError("malformed", "the request target is not a path");
      }
      return { method: String(req.method), url: `${options.origin}${path}` };
    },
    verifier,
    options,
  );
  if (decision.ok) return decision.claims;
  const { status, headers, body } = decision.answer;
  res.writeHead(status, headers);
  res.end(body);
  return null;
}

/**
 * @internal For `tasktoken/mcp`: the guard's decision for a request seen through accessors —
 * `{ ok: true, claims, token, dpop }` (`dpop` true for the DPoP scheme), or `{ ok: false,
 * error, answer: { status, headers, body } }` — with nothing sent.
 */
export { decide as decideRequest };

/**
 * @returns {{ ok: true, claims: TaskClaims, token: string, dpop: boolean } | Refusal}
 */
function decide(getHeader, getParams, getResource, getTarget, verifier, options) {
  let token;
  let resource;
  let dpop;
  // Refusals decided here, before any token reached the verifier, are audited here too.
  const early = (status, error, challenge) => {
    const onDecision = options?.onDecision;
    if (typeof onDecision === "function") {
      const action = typeof options?.action === "string" ? options.action : undefined;
      emit(onDecision, JSON.parse(refusalEvent(error.code, "guard", action, undefined, Date.now() / 1000)));
    }
    return refuse(status, error, challenge);
  };
  try {
    if (typeof options?.action !== "string") {
      throw new TaskTokenError("malformed", "guard needs { action: string, resource }");
    }
    const found = extractToken(getHeader, getParams, options);
    if (found === undefined) {
      const error = new TaskTokenError("malformed", "no task token in the request");
      return early(401, error, `Bearer realm="${REALM}", DPoP algs="${PROOF_ALGS}"`);
    }
    token = found.token;
    if (found.dpop) {
      const proof = getHeader("dpop");
      // One proof, exactly: two `DPoP` headers arrive joined by a comma.
      if (!proof || proof.includes(",") || proof.trim() !== proof) {
        const error = new TaskTokenError("invalid_proof", "a DPoP token needs exactly one DPoP proof header");
        return early(401, error, challenge(true, "invalid_dpop_proof", error));
      }
      dpop = { proof, ...getTarget() };
      const required = currentNonce(options.dpopNonce);
      if (required !== undefined) {
        if (proofNonce(proof) !== required) {
          const error = new TaskTokenError("invalid_proof", "the proof must carry the server's nonce");
          const refusal = early(401, error, challenge(true, "use_dpop_nonce", error));
          refusal.answer.headers["dpop-nonce"] = required;
          return refusal;
        }
        dpop.nonce = required;
      }
    }
    resource = getResource();
  } catch (error) {
    const e = asTaskTokenError(error);
    return early(400, e, bearer("invalid_request", e));
  }
  const scheme = dpop !== undefined;
  try {
    const claims = verifier.verify(token, {
      action: options.action,
      resource,
      ...(scheme ? { dpop } : { keyThumbprint: options.keyThumbprint }),
      onDecision: options.onDecision,
    });
    // RFC 9449 §7.1: the DPoP scheme is for bound tokens only (the proof proved nothing).
    const own = (o, k) => o !== null && typeof o === "object" && Object.hasOwn(o, k) ? o[k] : undefined;
    if (scheme && typeof own(own(claims, "cnf"), "jkt") !== "string") {
      const error = new TaskTokenError("binding_mismatch", "the token is not key-bound; send it as Bearer");
      return refuse(401, error, challenge(true, "invalid_token", error));
    }
    return { ok: true, claims, token, dpop: scheme };
  } catch (error) {
    return refusalFor(error, scheme);
  }
}

/**
 * @internal The refusal of a verification that threw `error` (`dpop`: the request used the
 * DPoP scheme): 403 `insufficient_scope` for a valid token that does not grant the request,
 * 503 when revocation data is stale, else 401 (`invalid_dpop_proof` for the proof).
 * @param {unknown} error
 * @param {boolean} dpop
 * @returns {Refusal}
 */
export function refusalFor(error, dpop) {
  const e = asTaskTokenError(error);
  // A bound token sent as Bearer is `binding_required`: answered with a DPoP challenge.
  const dpopChallenge = dpop || e.code === "binding_required" || PROOF.has(e.code);
  if (FORBIDDEN.has(e.code)) return refuse(403, e, challenge(dpopChallenge, "insufficient_scope", e));
  if (UNAVAILABLE.has(e.code)) return refuse(503, e, challenge(dpopChallenge, "temporarily_unavailable", e));
  const code = PROOF.has(e.code) ? "invalid_dpop_proof" : "invalid_token";
  return refuse(401, e, challenge(dpopChallenge, code, e));
}

/**
 * The one token the request carries (`{ token, dpop }`, `dpop` true for the DPoP scheme),
 * `undefined` if none, or a throw if ambiguous.
 */
function extractToken(getHeader, getParams, options) {
  const found = [];
  let dpop = false;
  const authorization = getHeader("authorization");
  if (authorization) {
    const match = /^(Bearer|DPoP) +([^ ]+) *$/i.exec(authorization);
    if (match) {
      found.push(match[2]);
      dpop = match[1].toLowerCase() === "dpop";
    } else if (/^(bearer|dpop)\b/i.test(authorization.trimStart())) {
      // A header we cannot read exactly must not let another source win: a proxy or a log
      // could read it differently from us.
      throw new TaskTokenError("malformed", "the Authorization header is not `Bearer <token>` or `DPoP <token>`");
    }
  }
  if (typeof options.header === "string") {
    const value = getHeader(options.header.toLowerCase());
    if (value) found.push(value.trim());
  }
  if (typeof options.query === "string") {
    const values = getParams().getAll(options.query);
    found.push(...values);
  }
  if (found.length > 1) {
    throw new TaskTokenError("malformed", "the request carries more than one token");
  }
  return found.length === 0 ? undefined : { token: found[0], dpop };
}

function resolveResource(resource, request) {
  const value = typeof resource === "function" ? resource(request) : resource;
  if (typeof value !== "string") {
    throw new TaskTokenError("malformed", "guard resource must be a string or return one");
  }
  return value;
}

/**
 * @param {number} status
 * @param {TaskTokenError} error
 * @param {string} challenge
 * @returns {Refusal}
 */
function refuse(status, error, challenge) {
  const body = JSON.stringify({ error: error.code, message: error.message });
  const headers = {
    "content-type": "application/json",
    "cache-control": "no-store",
    "www-authenticate": challenge,
  };
  return { ok: false, error, answer: { status, headers, body } };
}

/**
 * An RFC 6750 §3 challenge, or with `dpop` an RFC 9449 §7.1 one; the description is our
 * message with quotes, backslashes, controls and anything outside Latin-1 (not allowed in a
 * header value) removed.
 */
function challenge(dpop, code, error) {
  const description = String(error?.message ?? "").replace(/[^\u0020-\u007e\u00a0-\u00ff]|["\\]/g, "");
  const scheme = dpop ? `DPoP algs="${PROOF_ALGS}"` : `Bearer realm="${REALM}"`;
  return `${scheme}, error="${code}", error_description="${description}"`;
}

/** The nonce a guard requires: `dpopNonce` as given, or its function's answer. */
function currentNonce(option) {
  const value = typeof option === "function" ? option() : option;
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^[\x21-\x7e]+$/.test(value)) {
    throw new TaskTokenError("malformed", "dpopNonce must be a non-empty visible-ASCII string");
  }
  return value;
}

/** A Bearer challenge. */
function bearer(code, error) {
  return challenge(false, code, error);
}

function asTaskTokenError(error) {
  if (error instanceof TaskTokenError) return error;
  return new TaskTokenError("malformed", "the request could not be checked", { cause: error });
}

/** @internal A Node header value (a string, or an array of them) as one string. */
export function headerValue(value) {
  return Array.isArray(value) ? value.join(", ") : value;
}

/**
 * @import { AuditEvent } from "./util.js"
 * @import { TaskClaims, Verifier } from "./verify.js"
 */

/**
 * What a guarded route does, and where its token may come from.
 * @template R
 * @typedef {object} GuardOptions
 * @property {string} action The action the route performs.
 * @property {string | ((request: R) => string)} resource The resource the route touches, or
 *   a function of the request that returns it.
 * @property {string} [header] Also read the token from this header (opt-in).
 * @property {string} [query] Also read the token from this query parameter (opt-in).
 * @property {string} [keyThumbprint] Thumbprint of a key the caller proved possession of
 *   (not with the DPoP scheme).
 * @property {(event: AuditEvent) => void} [onDecision] Receives the audit event of this
 *   request's decision.
 * @property {string | (() => string)} [dpopNonce] The DPoP nonce proofs must carry (RFC 9449
 *   §9), or a function returning the current one; a proof without it is answered 401
 *   `use_dpop_nonce` with a `DPoP-Nonce` header.
 * @property {string} [origin] `guardNode` only: the scheme and host clients address this
 *   server by, which DPoP proofs' `htu` must name (`https://api.example`); required for DPoP
 *   requests.
 */

/**
 * @internal A refusal decided, not yet sent.
 * @typedef {{ ok: false, error: TaskTokenError,
 *   answer: { status: number, headers: Record<string, string>, body: string } }} Refusal
 */

/**
 * What `guard` decided: the claims, or the refusal to send.
 * @typedef {{ ok: true, claims: TaskClaims }
 *   | { ok: false, response: Response, error: TaskTokenError }} GuardResult
 */

/**
 * The minimal shape of Node's IncomingMessage used by `guardNode`.
 * @typedef {object} NodeRequestLike
 * @property {string} [url]
 * @property {string} [method]
 * @property {Record<string, string | string[] | undefined>} headers
 */

/**
 * The minimal shape of Node's ServerResponse used by `guardNode`.
 * @typedef {object} NodeResponseLike
 * @property {(status: number, headers: Record<string, string>) => unknown} writeHead
 * @property {(body: string) => unknown} end
 */
