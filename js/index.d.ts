// Types of the `tasktoken` package (every runtime entry exports the same surface).

/** The stable error codes, the same strings in Rust, JS and the CLI. */
export type ErrorCode =
  | "malformed"
  | "unsupported_alg"
  | "wrong_type"
  | "unknown_key"
  | "bad_signature"
  | "missing_claim"
  | "invalid_claim"
  | "untrusted_issuer"
  | "wrong_audience"
  | "not_yet_valid"
  | "expired"
  | "lifetime_too_long"
  | "revoked"
  | "stale_revocation"
  | "action_denied"
  | "resource_denied"
  | "binding_required"
  | "binding_mismatch"
  | "invalid_proof"
  | "proof_replayed"
  | "delegation_denied";

/**
 * The token service's refusals, as `exchangeToken` and `withTask` throw them: the OAuth
 * `error` of the answer (RFC 6749 §5.2, RFC 8693 §2.2.2), or `server_error` for any other,
 * an unreachable service or an answer that is not one.
 */
export type ExchangeErrorCode =
  | "unsupported_grant_type"
  | "invalid_request"
  | "invalid_grant"
  | "invalid_scope"
  | "invalid_target"
  | "authorization_pending"
  | "access_denied"
  | "expired_token"
  | "invalid_dpop_proof"
  | "temporarily_unavailable"
  | "server_error";

/**
 * Thrown by every entry point; `code` says which check failed: an ErrorCode, or from
 * `exchangeToken`/`withTask` the service's ExchangeErrorCode.
 */
export class TaskTokenError extends Error {
  constructor(code: ErrorCode | ExchangeErrorCode, message: string, options?: { cause?: unknown });
  readonly name: "TaskTokenError";
  readonly code: ErrorCode | ExchangeErrorCode;
  /** The HTTP status of a token service's refusal. */
  readonly status?: number;
  /** `authorization_pending`: the approval to poll for (see DESIGN.md, Approval). */
  readonly approvalId?: string;
  /** `authorization_pending`: seconds to wait between polls. */
  readonly interval?: number;
  /** `authorization_pending`: seconds until the request expires. */
  readonly expiresIn?: number;
}

/** An Ed25519 key as a JWK (RFC 8037): `kty` OKP, `crv` Ed25519. */
export interface Ed25519Jwk {
  kty: "OKP";
  crv: "Ed25519";
  kid: string;
  x: string;
  /** Present only in a private JWK. */
  d?: string;
  alg?: "EdDSA" | "Ed25519";
  use?: "sig";
  [member: string]: unknown;
}

/** A private JWK: keep it secret. */
export interface PrivateJwk extends Ed25519Jwk {
  d: string;
}

/** One decision — a mint, a verification, a revocation — never with token text or keys. */
export interface AuditEvent {
  /** Seconds since the epoch. */
  time: number;
  event: "mint" | "verify" | "revoke";
  /** `"ok"` or the stable error code. */
  outcome: "ok" | ErrorCode;
  /** Claims appear only once the signature held; `kid`/`issuer` once the key was trusted. */
  issuer?: string;
  kid?: string;
  sub?: string;
  task?: string;
  jti?: string;
  /** The requested action (verify) or the granted scope (mint). */
  action?: string;
  /** The requested resource (verify) or the granted patterns, space-separated (mint). */
  resource?: string;
  /** The verifier (its `name`), issuer (`iss`), guard or authority that decided. */
  decided_by: string;
}

/** The largest token accepted, in bytes. */
export const MAX_TOKEN_LENGTH: 8192;

/** Resolves when the core is ready (every entry has started it before import returns). */
export function ready(): Promise<void>;

/** Generates an Ed25519 key pair. */
export function generateKey(options: { kid: string }): {
  privateJwk: PrivateJwk;
  publicJwk: Ed25519Jwk;
};

/** A DPoP proof key as a JWK: Ed25519 (`OKP`) or P-256 (`EC`). */
export interface ProofJwk {
  kty: "OKP" | "EC";
  crv: "Ed25519" | "P-256";
  x: string;
  y?: string;
}

/**
 * A new DPoP proof key (RFC 9449), Ed25519 by default; `jkt` is its RFC 7638 thumbprint, the
 * `cnf.jkt` of tokens bound to it.
 */
export function generateProofKey(options?: { alg?: "EdDSA" | "ES256" }): {
  privateJwk: ProofJwk & { d: string };
  publicJwk: ProofJwk;
  jkt: string;
};

/** A fresh DPoP proof for one request, bound to `token` (`ath`) and a server `nonce`. */
export function createProof(options: {
  key: ProofJwk & { d: string };
  method: string;
  url: string | URL;
  token?: string;
  nonce?: string;
  now?: number | Date;
}): string;

/** What `delegate` hands on: a grant no wider than the chain's last element. */
export interface DelegateOptions {
  /** The private Ed25519 proof JWK the chain's last element is bound to. */
  key: ProofJwk & { d: string };
  /** The sub-agent. */
  sub: string;
  /** Audiences, each one of the previous element's. */
  aud: string | string[];
  /** The previous task, or a sub-task of it (`task/…`). */
  task: string;
  /** Space-separated actions, each one of the previous element's. */
  scope: string;
  /** Resource patterns, each inside one of the previous element's. */
  res: string[];
  /** Lifetime in seconds (the link never outlives the previous element). */
  ttl: number;
  /** The sub-agent's key thumbprint: binds the link (and lets it delegate further). */
  cnfJkt?: string;
  /** How many more links the sub-agent may add (lower than the previous element's). */
  dlg?: number;
  now?: number | Date;
}

/**
 * Delegates a narrower task offline: `chain` (a task token or `ROOT~LINK…`) with one more
 * link signed by `key`. Throws `delegation_denied` for anything that would widen the grant.
 */
export function delegate(chain: string, options: DelegateOptions): string;

/**
 * A `fetch` that sends `token` as `Authorization: DPoP` with a fresh proof per request, and
 * retries once with a server's `DPoP-Nonce` when asked (`use_dpop_nonce`).
 */
export function dpopFetch(options: {
  key: ProofJwk & { d: string };
  token: string;
  fetch?: typeof fetch;
}): (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface IssuerOptions {
  /** The issuer name written as `iss`. */
  iss: string;
  /** The private JWK that signs. */
  key: PrivateJwk;
  /** Longest TTL in seconds (default 900). */
  maxTtl?: number;
  /** Most actions in one token's scope (default 4). */
  maxActions?: number;
  /** Largest `dlg` this issuer mints (default 1, at most 4). */
  maxDelegation?: number;
  /** Allow a bare `*` resource and more actions than `maxActions`. */
  allowBroadScope?: boolean;
  /** Receives an audit event for every mint and refusal. */
  onDecision?: (event: AuditEvent) => void;
}

export interface MintRequest {
  /** The non-human identity, e.g. `agent:lookup-bot`. */
  sub: string;
  /** The service(s) that may accept the token. */
  aud: string | string[];
  /** The workflow segment, e.g. `deploy-8812/stage:deploy`. */
  task: string;
  /** Space-separated actions, e.g. `customers:read`. */
  scope: string;
  /** Resource patterns, e.g. `customers/4821` or `artifacts/web/*`. */
  res: string[];
  /** Lifetime in seconds. */
  ttl: number;
  /** Optional start, seconds since the epoch. */
  nbf?: number;
  /** Optional key binding: RFC 7638 thumbprint written as `cnf.jkt`. */
  cnfJkt?: string;
  /**
   * How many delegation links the holder may add (`dlg`, default 0); needs `cnfJkt` and at
   * most the issuer's `maxDelegation`.
   */
  dlg?: number;
  /** Extra claims, copied as they are (not v1 claim names). */
  claims?: Record<string, unknown>;
}

/** Mints task tokens for one issuer. */
export class Issuer {
  constructor(options: IssuerOptions);
  /** Mints a token, issued now (or at `options.now`), with a fresh 128-bit `jti`. */
  mint(request: MintRequest, options?: { now?: number | Date }): string;
}

export interface VerifierOptions {
  /**
   * Trusted issuers and their key sets: a JWKS object per issuer, or a RemoteKeySet, whose
   * changes the verifier follows (and which it asks for a refresh on `unknown_key`).
   */
  issuers: Record<string, { keys: Ed25519Jwk[] } | RemoteKeySet>;
  /**
   * Revocation data consulted on every verification (a hit is `revoked`). It governs the
   * tokens of one issuer: its `issuer`, or the trusted issuer whose keys are its keys;
   * tokens of other issuers are `stale_revocation`.
   */
  revocation?: RevocationReplica | RevocationFilter;
  /** Seconds after the data's `nextUpdate` before it is stale (default 60, at most 86400). */
  revocationGrace?: number;
  /** Accept tokens on missing or stale revocation data, with a warning (default false). */
  failOpenWhenStale?: boolean;
  /**
   * Called synchronously with the `jti` on a filter hit; returning exactly `false`
   * overrules it (a false positive). Anything else, or a throw, leaves the token revoked.
   */
  exactCheck?: (jti: string) => boolean;
  /** Called instead of console.warn when a token is accepted on stale data. */
  onStaleRevocation?: (claims: TaskClaims) => void;
  /** Receives an audit event for every verification decision. */
  onDecision?: (event: AuditEvent) => void;
  /** This verifier's name in audit events (`decided_by`, default "verifier"). */
  name?: string;
  /**
   * How many authenticated tokens to remember (default 1024; 0 turns the cache off). A token
   * seen again skips the signature, claim types, issuer and audience; time, lifetime,
   * revocation, binding, action and resource are checked on every call.
   */
  cacheSize?: number;
  /** This service's name; the token's `aud` must include it. */
  audience: string;
  /** Largest accepted lifetime in seconds (default 900, at most 86400). */
  maxLifetime?: number;
  /** Tolerated clock difference in seconds (default 30, at most 300). */
  clockSkew?: number;
  /** How old a DPoP proof may be, in seconds (default 60, at most 300). */
  proofMaxAge?: number;
  /** Accept only key-bound tokens (`cnf.jkt`). */
  requireBinding?: boolean;
  /**
   * Most links of a delegation chain (`ROOT~LINK…`) accepted (default and most 4; 0 refuses
   * every chain with `delegation_denied`).
   */
  maxDelegationDepth?: number;
}

export interface VerifyRequest {
  /** The action about to be performed; must be one of the token's scope entries. */
  action: string;
  /** The resource about to be touched; must match one of the token's `res` patterns. */
  resource: string;
  /** Thumbprint of a key the caller proved possession of by other means (for `cnf.jkt`). */
  keyThumbprint?: string;
  /**
   * The DPoP proof (RFC 9449) the request carried, with its method and URL: checked, and the
   * token must be bound to its key. Each proof is accepted once per verifier.
   */
  dpop?: { proof: string; method: string; url: string; nonce?: string };
  /** Verify as of this time (seconds since the epoch, or a Date). Default: now. */
  now?: number | Date;
  /** Receives this call's audit event (in addition to the verifier's own listener). */
  onDecision?: (event: AuditEvent) => void;
}

/**
 * The claims of a verified token; unknown claims are included, except a `__proto__` member
 * (at any depth), which is dropped so that no merge can make it a prototype.
 */
export interface TaskClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  iat: number;
  nbf?: number;
  exp: number;
  jti: string;
  task: string;
  scope: string;
  res: string[];
  cnf?: { jkt: string };
  /** Delegation links the holder may still add. */
  dlg?: number;
  /**
   * For a delegation chain: the delegators, the most recent outermost, the root's `sub`
   * innermost (RFC 8693 §4.1).
   */
  act?: DelegationActor;
  /** For a delegation chain: the hash of the element before the last link. */
  prev?: string;
  [claim: string]: unknown;
}

/** One delegator of a chain, and the one before it. */
export interface DelegationActor {
  sub: string;
  act?: DelegationActor;
}

/** Verifies task tokens for one audience. */
export class Verifier {
  constructor(options: VerifierOptions);
  /** Returns the claims, or throws a TaskTokenError with the one failed check's code. */
  verify(token: string, request: VerifyRequest): TaskClaims;
  /**
   * Genuine and current only (no action, resource, binding or revocation check). Not an
   * authorization to revoke: a copied key-bound token passes it; use `authorizeRevocation`.
   */
  verifyForRevocation(token: string, options?: { now?: number | Date }): TaskClaims;
  /**
   * The claims of the token a revocation request may revoke: `bearer` itself (genuine,
   * current, and if key-bound only with `dpop`, a proof by its key for the revocation
   * request: else `binding_required`, `binding_mismatch`, `invalid_proof` or
   * `proof_replayed`), or `target` once `bearer` is authorized first (every check,
   * revocation and binding included, for `tokens:revoke` on `tokens/<jti of target>`); then
   * `target` must be genuine and current.
   */
  authorizeRevocation(
    bearer: string,
    target?: string,
    options?: {
      dpop?: { proof: string; method: string; url: string; nonce?: string };
      now?: number | Date;
    },
  ): TaskClaims;
  /** Decisions so far by outcome, for metrics: `{ ok: 12, expired: 1 }`. */
  stats(): Partial<Record<"ok" | ErrorCode, number>>;
}

/** Serial, times and geometry of a revocation filter. */
export interface RevocationInfo {
  serial: number;
  issuedAt: number;
  nextUpdate: number;
  kid: string;
  /** The issuer whose tokens the data governs. */
  iss: string;
  bits: number;
  hashes: number;
}

/** A verified revocation snapshot, with deltas applied on its serial. */
export class RevocationFilter {
  private constructor();
  /**
   * Verifies a snapshot signed by one of `keys`, plausible at `now`. With `issuer`, the data
   * must name it and `keys` are trusted to sign its revocation data; without, a Verifier
   * accepts the filter only if `keys` are the token keys of the issuer the data names.
   */
  static fromSnapshot(
    bytes: Uint8Array | ArrayBuffer,
    keys: { keys: Ed25519Jwk[] },
    options?: { issuer?: string; now?: number | Date },
  ): RevocationFilter;
  /** Verifies a delta with the same keys and applies it; unchanged on error. */
  applyDelta(bytes: Uint8Array | ArrayBuffer): this;
  /** True if `jti` hits the filter. */
  has(jti: string): boolean;
  readonly info: RevocationInfo;
}

export interface RevocationReplicaOptions {
  /**
   * The JWKS whose keys may sign revocation data for `issuer`, or a RemoteKeySet of them
   * (the token service's JWKS), followed: when its keys change the replica builds its core
   * again and offers it the data it holds, keeping the filter where the new keys verify it.
   */
  keys: { keys: Ed25519Jwk[] } | RemoteKeySet;
  /**
   * The issuer whose tokens the data governs (data naming another is refused). Default:
   * the trusted issuer of the Verifier it is given to whose token keys `keys` are.
   */
  issuer?: string;
  /** Base URL serving `<url>/snapshot` and `<url>/delta/<serial>`. */
  url?: string | URL;
  /**
   * Or: returns bytes (snapshots and/or deltas) after `serial`, or a snapshot for `null`;
   * `signal` aborts after `timeout`.
   */
  loader?: (request: { serial: number | null; signal: AbortSignal }) =>
    | Uint8Array | ArrayBuffer | Array<Uint8Array | ArrayBuffer> | null | undefined
    | Promise<Uint8Array | ArrayBuffer | Array<Uint8Array | ArrayBuffer> | null | undefined>;
  /** Seconds between refreshes (default 30). */
  interval?: number;
  /** Seconds one fetch or loader call may take (default 5, at most 120). */
  timeout?: number;
  fetch?: typeof fetch;
  /** Told about data that failed to verify or load (the last good filter is kept). */
  onError?: (error: Error) => void;
}

/** Keeps a verified revocation filter fresh from a URL or a loader. */
export class RevocationReplica {
  constructor(options: RevocationReplicaOptions);
  /** The current filter's info, or null before the first load. */
  readonly info: RevocationInfo | null;
  /** Seconds since the last successful refresh. */
  readonly age: number;
  has(jti: string): boolean;
  /** Offers bytes obtained elsewhere. */
  offer(bytes: Uint8Array | ArrayBuffer): "replaced" | "applied" | "buffered" | "ignored";
  refresh(): Promise<RevocationInfo>;
  /** Refreshes only if the interval has passed since the last attempt (for Workers). */
  refreshIfDue(): Promise<RevocationInfo | null>;
  /** Refreshes on an interval (Node, browsers); in Workers use refreshIfDue per request. */
  start(): this;
  stop(): void;
}

export interface RevocationPublishOptions {
  jtis: string[];
  serial: number;
  issuedAt: number;
  nextUpdate: number;
}

/**
 * For authorities: a signed snapshot of `issuer`'s revoked `jtis` (a new generation, fresh
 * salt, sized for twice the entries and at least `capacity`), or of the same geometry and
 * salt as `generation`.
 */
export function signRevocationSnapshot(
  key: PrivateJwk,
  options: RevocationPublishOptions & { issuer: string; capacity?: number; fpr?: number },
  generation?: Uint8Array | ArrayBuffer,
): Uint8Array;

/** What an authority publishes next, decided by the core's planner. */
export interface RevocationPlan {
  step: "delta" | "snapshot";
  serial: number;
  issuedAt: number;
  nextUpdate: number;
}

/** For authorities: the next serial and times, and a delta or a new generation. */
export function planRevocationPublication(
  options: {
    previousSerial: number;
    now: number;
    adding: number;
    live: number;
    entries?: number;
    validFor?: number;
    fpr?: number;
    minCapacity?: number;
  },
  generation?: Uint8Array | ArrayBuffer,
): RevocationPlan;

/** For authorities: a signed delta adding `jtis` to the generation of `snapshot`. */
export function signRevocationDelta(
  key: PrivateJwk,
  snapshot: Uint8Array | ArrayBuffer,
  options: RevocationPublishOptions & { baseSerial: number },
): Uint8Array;

/** The state of an export link, as `checkLink` sees it. */
export type LinkState =
  | "valid" | "expired" | "not_yet_valid" | "wrong_resource" | "revoked" | "wrong_origin"
  | "invalid";

export interface LinkCheck {
  state: LinkState;
  /** The verifier's error code when not valid; `malformed` for `wrong_origin`. */
  code?: ErrorCode;
  message?: string;
  /** Seconds until `exp` for a valid link; 0 otherwise. */
  secondsLeft: number;
  expiresAt?: number;
  claims?: TaskClaims;
}

/** Mints a link for one export (one action, one resource): `url#tt=<token>`, `url` http(s). */
export function mintLink(
  issuer: Pick<Issuer, "mint">,
  options: Omit<MintRequest, "scope" | "res"> & { url: string | URL; action: string; resource: string },
): string;

/** The token in a link's fragment, if any. */
export function linkToken(url: string | URL): string | undefined;

export interface LinkOrigin {
  /**
   * The one origin links may point to (`https://app.example`); by default the page's own
   * (`location.origin`). Required where there is no page (Node, workers): without it the
   * call throws `malformed`.
   */
  origin?: string | URL;
}

/**
 * Checks a link locally with a verifier, for the action and the resource the page expects. A
 * link on another origin is `wrong_origin` (its token is not verified); one that is not
 * http(s) throws `malformed`.
 */
export function checkLink(
  url: string | URL,
  options: LinkOrigin & {
    verifier: Pick<Verifier, "verify">; action: string; resource: string; now?: number | Date;
  },
): LinkCheck;

/**
 * Requests a link's URL without its fragment, the token in `Authorization: Bearer`; a link
 * on another origin, or not http(s), throws `malformed` and nothing is requested. `origin` is
 * not passed on to fetch().
 */
export function fetchLink(url: string | URL, init?: RequestInit & LinkOrigin): Promise<Response>;

/**
 * Revokes a token when its task is done: POSTs it to the authority URL (through `fetch` if
 * given), or calls it. With `dpop: { key }` (the private proof JWK the token is bound to)
 * the token goes as `Authorization: DPoP` with a fresh proof for that URL: a key-bound token
 * revokes itself only so. `dpop` with a function or object authority is `malformed`.
 */
export function completeTask(
  token: string,
  authority: string | URL | ((token: string) => unknown) | { revoke(token: string): unknown },
  options?: { fetch?: typeof fetch; dpop?: { key: ProofJwk & { d: string } } },
): Promise<void>;

/**
 * An issuer's public keys fetched from a JWKS URL (the token service's
 * `/.well-known/jwks.json`) and kept fresh; trust it in a Verifier in place of a key set.
 * Until the first successful refresh it has no keys (verification is `unknown_key`); a failed
 * refresh keeps the last good keys and is reported to `onError`.
 */
export class RemoteKeySet {
  constructor(options: {
    /** The JWKS URL, http(s). */
    url: string | URL;
    /** Seconds between scheduled refreshes (default 300). */
    interval?: number;
    /**
     * Fewest seconds between two fetches an unknown key asks for, and between two attempts
     * while no keys are loaded (default 30).
     */
    minRefresh?: number;
    /**
     * Seconds one fetch may take, its answer read included (default 5, at most 120); a
     * refresh not ended by then never holds up the next one.
     */
    timeout?: number;
    fetch?: typeof fetch;
    /** Told about every failed refresh (the last good keys are kept). */
    onError?: (error: Error) => void;
  });
  /** A copy of the current JWKS, or null before the first load. */
  readonly jwks: { keys: Ed25519Jwk[] } | null;
  /** 0 before the first load; grows each time the keys change. */
  readonly version: number;
  /** Seconds since the last successful refresh. */
  readonly age: number;
  /**
   * The refresh running now, resolving (never rejecting) once it has ended, or null. In a
   * Worker, `ctx.waitUntil(keys.pending)` after an `unknown_key` lets the refresh the
   * verifier started finish after the response.
   */
  readonly pending: Promise<void> | null;
  /** Fetches now; rejects (`unknown_key`) only while no keys were ever loaded. */
  refresh(): Promise<{ keys: Ed25519Jwk[] }>;
  /**
   * Refreshes only if the interval (`minRefresh` while no keys are loaded) has passed since
   * the last attempt (for Workers).
   */
  refreshIfDue(): Promise<{ keys: Ed25519Jwk[] } | null>;
  /** A background refresh, unless one ran under `minRefresh` seconds ago; never rejects. */
  requestRefresh(): void;
  /** Refreshes on an interval (Node, browsers); in Workers use refreshIfDue per request. */
  start(): this;
  stop(): void;
}

/** What `exchangeToken` asks the token service for (RFC 8693 §2.1). */
export interface BearerExchangeOptions {
  /** The service's base URL, http(s): the request goes to `<service>/token`. */
  service: string | URL;
  /** The workload's identity token (an OIDC JWT from its platform). */
  subjectToken: string;
  /** The one audience the task token is for. */
  audience: string;
  /** Actions: space-separated, or as an array. */
  scope: string | string[];
  /** Resource patterns, at least one. */
  res: string[];
  /** The workflow segment, e.g. `deploy-8812/stage:deploy`. */
  task: string;
  /** Lifetime in seconds (default: the service's). */
  ttl?: number;
  /** Delegation depth the token may grant (default 0). */
  dlg?: number;
  fetch?: typeof fetch;
  /**
   * For a policy that needs a person's approval: wait for the decision (polling the service
   * at its interval) instead of rejecting with `authorization_pending`.
   */
  approval?: boolean | ApprovalWait;
}

/** How `exchangeToken` waits for an approval. */
export interface ApprovalWait {
  /** Seconds to wait at most (default 900, at most 86400); then `authorization_pending`. */
  timeout?: number;
  /** Stops waiting (`authorization_pending`, the request left as it is). */
  signal?: AbortSignal;
  /** Called once with the request's public id (what approvers see), before waiting. */
  onPending?: (pending: { id: string; expiresIn: number; interval: number }) => void;
}

/** `exchangeToken`'s options in `tasktoken`: proof of possession too. */
export interface ExchangeOptions extends BearerExchangeOptions {
  /** Bind the token to this DPoP key: a proof for `POST <service>/token` is sent. */
  dpop?: { key: ProofJwk & { d: string } };
}

/** A task token the service granted (RFC 8693 §2.2.1). */
export interface ExchangeResult {
  token: string;
  /** `DPoP` when the service bound the token to the proof's key. */
  tokenType: "Bearer" | "DPoP";
  /** Seconds until it expires. */
  expiresIn: number;
  /** The actions granted, space-separated. */
  scope: string;
}

/**
 * Exchanges an identity token for a task token at the token service; a refusal rejects with
 * a TaskTokenError whose `code` is an ExchangeErrorCode; bad arguments are `malformed`.
 */
export function exchangeToken(options: ExchangeOptions): Promise<ExchangeResult>;

/** What `withTask` adds to the exchange options. */
export interface TaskOptions {
  /** The origins (`https://api.example`) the task's fetch may send the token to; default any. */
  origins?: Array<string | URL>;
  /** Told about a failed revocation when the callback failed too (default console.error). */
  onRevokeError?: (error: unknown) => void;
}

/** What a `withTask` callback gets. */
export interface TaskContext {
  token: string;
  /**
   * Sends the token (Bearer, or DPoP with a fresh proof) to the allowed origins, follows no
   * redirect, and refuses once the task is over.
   */
  fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** The token's payload, decoded but NOT verified: for information, never for a decision. */
  claims: TaskClaims;
}

/**
 * Exchanges a token, runs `callback` with it, and always revokes it afterwards; resolves to
 * the callback's result. The callback's error wins over a failed revocation.
 */
export function withTask<T>(
  options: ExchangeOptions & TaskOptions,
  callback: (task: TaskContext) => T | Promise<T>,
): Promise<T>;

export interface GuardOptions<R> {
  /** The action the route performs. */
  action: string;
  /** The resource the route touches, or a function of the request that returns it. */
  resource: string | ((request: R) => string);
  /** Also read the token from this header (opt-in). */
  header?: string;
  /** Also read the token from this query parameter (opt-in). */
  query?: string;
  /** Thumbprint of a key the caller proved possession of (not with the DPoP scheme). */
  keyThumbprint?: string;
  /** Receives the audit event of this request's decision. */
  onDecision?: (event: AuditEvent) => void;
  /**
   * The DPoP nonce proofs must carry (RFC 9449 §9), or a function returning the current
   * one; a proof without it is answered 401 `use_dpop_nonce` with a `DPoP-Nonce` header.
   */
  dpopNonce?: string | (() => string);
  /**
   * `guardNode` only: the scheme and host clients address this server by, which DPoP
   * proofs' `htu` must name (`https://api.example`); required for DPoP requests.
   */
  origin?: string;
}

export type GuardResult =
  | { ok: true; claims: TaskClaims }
  | { ok: false; response: Response; error: TaskTokenError };

/** Verifies a Fetch API request: the claims, or a ready 401/403/400/503 Response. */
export function guard(
  request: Request,
  verifier: Pick<Verifier, "verify">,
  options: GuardOptions<Request>,
): GuardResult;

/** Minimal shapes of Node's IncomingMessage and ServerResponse used by `guardNode`. */
export interface NodeRequestLike {
  url?: string;
  method?: string;
  headers: Record<string, string | string[] | undefined>;
}
export interface NodeResponseLike {
  writeHead(status: number, headers: Record<string, string>): unknown;
  end(body: string): unknown;
}

/** The guard for Node's http server: the claims, or `null` after writing the refusal. */
export function guardNode<R extends NodeRequestLike>(
  req: R,
  res: NodeResponseLike,
  verifier: Pick<Verifier, "verify">,
  options: GuardOptions<R>,
): TaskClaims | null;
