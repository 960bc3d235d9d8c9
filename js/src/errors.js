/**
 * The one error type of the package, thrown by every entry point. `code` says which check
 * failed: one of the stable codes of DESIGN.md (`malformed`, `expired`, `action_denied`, ...),
 * the same strings as in Rust and the CLI, or from `exchangeToken`/`withTask` the service's
 * ExchangeErrorCode; `message` says what was wrong and never contains token text or key
 * material.
 */
export class TaskTokenError extends Error {
  /**
   * @param {ErrorCode | ExchangeErrorCode} code a stable error code
   * @param {string} message a human-readable explanation
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    /** @readonly @type {"TaskTokenError"} */
    this.name = "TaskTokenError";
    /** @readonly */
    this.code = code;
    // Declarations only (no value is set here): what the token service's client adds.
    /** The HTTP status of a token service's refusal. @type {number | undefined} */
    this.status;
    /**
     * `authorization_pending`: the approval to poll for (see DESIGN.md, Approval).
     * @readonly @type {string | undefined}
     */
    this.approvalId;
    /** `authorization_pending`: seconds to wait between polls. @type {number | undefined} */
    this.interval;
    /** `authorization_pending`: seconds until the request expires. @type {number | undefined} */
    this.expiresIn;
  }
}

/**
 * The stable error codes of DESIGN.md, the same strings in Rust, JS and the CLI.
 * @typedef {"malformed" | "unsupported_alg" | "wrong_type" | "unknown_key" | "bad_signature"
 *   | "missing_claim" | "invalid_claim" | "untrusted_issuer" | "wrong_audience"
 *   | "not_yet_valid" | "expired" | "lifetime_too_long" | "revoked" | "stale_revocation"
 *   | "action_denied" | "resource_denied" | "binding_required" | "binding_mismatch"
 *   | "invalid_proof" | "proof_replayed" | "delegation_denied"} ErrorCode
 */

/**
 * The token service's refusals, as `exchangeToken` and `withTask` throw them: the OAuth
 * `error` of the answer (RFC 6749 §5.2, RFC 8693 §2.2.2), or `server_error` for any other,
 * an unreachable service or an answer that is not one.
 * @typedef {"unsupported_grant_type" | "invalid_request" | "invalid_grant" | "invalid_scope"
 *   | "invalid_target" | "authorization_pending" | "access_denied" | "expired_token"
 *   | "invalid_dpop_proof" | "temporarily_unavailable" | "server_error"} ExchangeErrorCode
 */
