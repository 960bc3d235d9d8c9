// Types of `tasktoken/verify`: the verification half of the package (one smaller wasm
// module). Every name here is the same declaration as in `tasktoken`.
export {
  ErrorCode, TaskTokenError, Ed25519Jwk, AuditEvent, MAX_TOKEN_LENGTH, ready,
  VerifierOptions, VerifyRequest, TaskClaims, Verifier,
  RevocationInfo, RevocationFilter, RevocationReplicaOptions, RevocationReplica,
  LinkState, LinkCheck, LinkOrigin, linkToken, checkLink, fetchLink, completeTask,
  GuardOptions, GuardResult, guard, NodeRequestLike, NodeResponseLike, guardNode,
} from "./index.js";
