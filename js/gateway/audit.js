// The gateway's audit trail: every decision's event (the core's, or the gateway's own for
// what it decides after the guard), written in batches rather than a line per request.
// Locally a console line costs far more than the decision it records — wrangler carries
// each one through the inspector and its log pipe — and on Cloudflare each line is a
// log event to store and pay for; a batch of up to `maxEvents` events, written at the
// latest `delayMs` after its first, loses no decision and keeps each event whole.

/**
 * Collects audit events and writes them as one JSON line per batch: `{"audit":"tasktoken",
 * "count":N,"events":[...]}` (JSON text rather than an object: the runtime's formatting of
 * an object for the console costs more than the decisions it records). A batch is written when it holds `maxEvents` events, or `delayMs` after
 * its first event — the wait is registered with that request's `ctx.waitUntil()`, since in
 * Workers a timer does not outlive the request that set it otherwise. `maxEvents: 1` writes
 * each event at once, alone in its batch.
 */
export class AuditTrail {
  #events = [];
  #maxEvents;
  #delayMs;
  #write;
  /** True while a flush is scheduled for the batch being filled. */
  #scheduled = false;

  /**
   * @param {{ maxEvents: number, delayMs: number, write?: (line: object) => void }} options
   */
  constructor({ maxEvents, delayMs, write = (line) => console.log(JSON.stringify(line)) }) {
    this.#maxEvents = maxEvents;
    this.#delayMs = delayMs;
    this.#write = write;
  }

  /**
   * Adds one event; `ctx` is the request's ExecutionContext (its `waitUntil` keeps the
   * scheduled flush alive after the answer has gone out).
   */
  record(event, ctx) {
    this.#events.push(event);
    if (this.#events.length >= this.#maxEvents) {
      this.flush();
    } else if (!this.#scheduled) {
      this.#scheduled = true;
      const flushed = new Promise((resolve) => setTimeout(resolve, this.#delayMs)).then(() => {
        this.#scheduled = false;
        this.flush();
      });
      ctx.waitUntil(flushed);
    }
  }

  /** Writes what is collected, if anything, as one line. */
  flush() {
    if (this.#events.length === 0) return;
    const events = this.#events;
    this.#events = [];
    try {
      this.#write({ audit: "tasktoken", count: events.length, events });
    } catch (error) {
      console.error("tasktoken gateway: writing the audit trail failed:", String(error?.message ?? error));
    }
  }
}
