// Types of `tasktoken/verify`: the verification half of the package (one smaller wasm
// module). Every name here is the same declaration as in `tasktoken`, except the token
// service's client, which has no DPoP here (signing a proof needs the mint module).
import type {
  BearerExchangeOptions, ExchangeResult, TaskContext, TaskOptions,
} from "./index.js";

export {
  ErrorCode, ExchangeErrorCode, TaskTokenError, Ed25519Jwk, AuditEvent, MAX_TOKEN_LENGTH, ready,
  VerifierOptions, VerifyRequest, TaskClaims, DelegationActor, Verifier, RemoteKeySet,
  RevocationInfo, RevocationFilter, RevocationReplicaOptions, RevocationReplica,
  LinkState, LinkCheck, LinkOrigin, linkToken, checkLink, fetchLink,
  GuardOptions, GuardResult, guard, NodeRequestLike, NodeResponseLike, guardNode,
  BearerExchangeOptions, ExchangeResult, TaskContext, TaskOptions, ApprovalWait,
} from "./index.js";

/**
 * `completeTask` without proof of possession: `dpop` needs the full `tasktoken` entry (a
 * key-bound token sent as Bearer is refused by the authority, `binding_required`).
 */
export function completeTask(
  token: string,
  authority: string | URL | ((token: string) => unknown) | { revoke(token: string): unknown },
  options?: { fetch?: typeof fetch },
): Promise<void>;

/** `exchangeToken` for bearer tokens: `dpop` needs the full `tasktoken` entry. */
export function exchangeToken(options: BearerExchangeOptions): Promise<ExchangeResult>;

/** `withTask` for bearer tokens: `dpop` needs the full `tasktoken` entry. */
export function withTask<T>(
  options: BearerExchangeOptions & TaskOptions,
  callback: (task: TaskContext) => T | Promise<T>,
): Promise<T>;
