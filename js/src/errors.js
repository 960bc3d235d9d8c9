/**
 * The one error type of the package. `code` is one of the stable codes of DESIGN.md
 * (`malformed`, `expired`, `action_denied`, ...), the same strings as in Rust and the CLI;
 * `message` says what was wrong and never contains token text or key material.
 */
export class TaskTokenError extends Error {
  /**
   * @param {string} code a stable error code
   * @param {string} message a human-readable explanation
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = "TaskTokenError";
    this.code = code;
  }
}
