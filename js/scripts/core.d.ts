// What js/src uses of the wasm-bindgen glue (js/wasm/{verify,mint}/tasktoken.js, built by
// `make wasm`, not committed), for scripts/types.mjs only: every import of
// `../wasm/*/tasktoken.js` in src resolves here while the package's declarations are
// generated, so they never depend on whether the glue is built, and no glue type can reach
// them (the generator refuses output that names the wasm). Strings are JSON text; times are
// seconds since the epoch; a core call that refuses throws a TaskTokenError.

// The verify module (`../wasm/verify/tasktoken.js`).

export class CoreVerifier {
  constructor(options: string);
  /** `dpop`: `{ proof, method, url, nonce? }` as JSON text. */
  verify(token: string, action: string, resource: string, keyThumbprint: string | undefined,
    dpop: string | undefined, now: number): string;
  verifyForRevocation(token: string, now: number): string;
  authorizeRevocation(bearer: string, target: string | undefined, dpop: string | undefined,
    now: number): string;
  /** Each later decision's audit event, as JSON text built by the core. */
  setDecisionSink(sink: ((event: string) => void) | undefined): void;
  useFilter(filter: CoreRevocationFilter, grace: number, failOpenWhenStale: boolean,
    exactCheck: ((jti: string) => boolean) | undefined): void;
  useReplica(replica: CoreReplica, grace: number, failOpenWhenStale: boolean,
    exactCheck: ((jti: string) => boolean) | undefined): void;
  staleIgnored(): boolean;
  free(): void;
}

export class CoreReplica {
  constructor(jwks: string, issuer: string | undefined);
  /** `"replaced"`, `"applied"`, `"buffered"` or `"ignored"`. */
  offer(bytes: Uint8Array, now: number): "replaced" | "applied" | "buffered" | "ignored";
  has(jti: string): boolean;
  hasGap(): boolean;
  info(): string | undefined;
  free(): void;
}

export class CoreRevocationFilter {
  private constructor();
  static fromSnapshot(bytes: Uint8Array, jwks: string, issuer: string | undefined,
    now: number): CoreRevocationFilter;
  applyDelta(bytes: Uint8Array, now: number): void;
  has(jti: string): boolean;
  info(): string;
  free(): void;
}

export function proofNonce(proof: string): string | undefined;
export function refusalEvent(outcome: string, decidedBy: string, action: string | undefined,
  resource: string | undefined, now: number): string;

// The mint module (`../wasm/mint/tasktoken.js`).

export class CoreIssuer {
  constructor(options: string);
  mint(request: string, now: number): string;
  setDecisionSink(sink: ((event: string) => void) | undefined): void;
  free(): void;
}

export function generateKey(kid: string): string;
export function generateProofKey(alg: "EdDSA" | "ES256"): string;
export function createProof(key: string, method: string, url: string, token: string | undefined,
  nonce: string | undefined, now: number): string;
export function delegate(chain: string, key: string, link: string, now: number): string;
export function planPublication(options: string, generation: Uint8Array | undefined): string;
export function signSnapshot(key: string, options: string,
  generation: Uint8Array | undefined): Uint8Array;
export function signDelta(key: string, snapshot: Uint8Array, options: string): Uint8Array;
