// A typed consumer of the package, checked with `tsc --noEmit` by `make test`.
import {
  generateKey, Issuer, Verifier, TaskTokenError, guard, guardNode, ready,
  type ErrorCode, type ExchangeErrorCode, type TaskClaims, type GuardResult,
} from "tasktoken";

await ready();
const { privateJwk, publicJwk } = generateKey({ kid: "k1" });
const issuer = new Issuer({ iss: "https://auth.example", key: privateJwk, maxTtl: 300 });
const token: string = issuer.mint({
  sub: "agent:lookup-bot", aud: "crm-api", task: "lookup-4821",
  scope: "customers:read", res: ["customers/4821"], ttl: 60,
});
const verifier = new Verifier({
  issuers: { "https://auth.example": { keys: [publicJwk] } },
  audience: "crm-api",
});
try {
  const claims: TaskClaims = verifier.verify(token, {
    action: "customers:read", resource: "customers/4821", now: new Date(),
  });
  const task: string = claims.task;
  const extra: unknown = claims["ticket"];
  void task; void extra;
} catch (e) {
  if (e instanceof TaskTokenError) {
    // A TaskTokenError's code is a verifier code or, from the token service's client, an
    // OAuth one (docs/decisions.md).
    const code: ErrorCode | ExchangeErrorCode = e.code;
    void code;
  }
}

export default {
  fetch(request: Request): Response {
    const gate: GuardResult = guard(request, verifier, {
      action: "customers:read",
      resource: (r) => new URL(r.url).pathname.slice(1),
    });
    if (!gate.ok) return gate.response;
    return Response.json({ task: gate.claims.task });
  },
};

const claimsOrNull: TaskClaims | null = guardNode(
  { url: "/customers/4821", headers: { authorization: `Bearer ${token}` } },
  { writeHead: () => undefined, end: () => undefined },
  verifier,
  { action: "customers:read", resource: "customers/4821" },
);
void claimsOrNull;

// @ts-expect-error: ttl is required
issuer.mint({ sub: "s", aud: "a", task: "t", scope: "x", res: ["r"] });

import { RevocationFilter, RevocationReplica, completeTask, type RevocationInfo } from "tasktoken";
const replica = new RevocationReplica({ keys: { keys: [publicJwk] }, url: "https://cdn.example/rev", interval: 15 });
const revocable = new Verifier({
  issuers: { "https://auth.example": { keys: [publicJwk] } },
  audience: "crm-api",
  revocation: replica,
  exactCheck: (jti) => jti.length > 0,
});
void revocable;
const info: RevocationInfo | null = replica.info;
void info;
const filter: RevocationFilter = RevocationFilter.fromSnapshot(new Uint8Array(), { keys: [publicJwk] });
void filter.has("jti");
const forIssuer = RevocationFilter.fromSnapshot(new Uint8Array(), { keys: [publicJwk] },
  { issuer: "https://auth.example", now: new Date() });
const governs: string = forIssuer.info.iss;
void governs;
const bound = new RevocationReplica({ keys: { keys: [publicJwk] }, issuer: "https://auth.example", url: "https://cdn.example/rev" });
void bound;
const loaded = new RevocationReplica({ keys: { keys: [publicJwk] }, timeout: 2,
  loader: async ({ serial, signal }) => (await fetch(`https://cdn.example/rev/${serial ?? "snapshot"}`, { signal })).arrayBuffer() });
void loaded;
const target: string = revocable.authorizeRevocation(token, token).jti;
void target;
import { planRevocationPublication, signRevocationSnapshot, type RevocationPlan } from "tasktoken";
const plan: RevocationPlan = planRevocationPublication({ previousSerial: 0, now: 1, adding: 1, live: 1 });
if (plan.step === "snapshot") {
  void signRevocationSnapshot(privateJwk, { issuer: "https://auth.example", jtis: [], serial: plan.serial,
    issuedAt: plan.issuedAt, nextUpdate: plan.nextUpdate });
}
// @ts-expect-error: a snapshot names its issuer
signRevocationSnapshot(privateJwk, { jtis: [], serial: 1, issuedAt: 1, nextUpdate: 2 });
await completeTask(token, "https://auth.example/_tasktoken/revoke");

import { checkLink, fetchLink, mintLink, type LinkCheck } from "tasktoken";
const link: string = mintLink(issuer, {
  url: "https://app.example/exports/1234/download", sub: "user:alice", aud: "exports",
  task: "export-1234", action: "datasets:export", resource: "datasets/1234", ttl: 300,
});
const state: LinkCheck = checkLink(link, { verifier, action: "datasets:export", resource: "datasets/1234" });
if (state.state === "valid") void fetchLink(link);
const elsewhere: LinkCheck = checkLink(link, {
  verifier, action: "datasets:export", resource: "datasets/1234", origin: "https://app.example",
});
if (elsewhere.state === "wrong_origin") void fetchLink(link, { origin: new URL("https://app.example"), method: "GET" });
const counts = new Verifier({ issuers: {}, audience: "x", onDecision: (e) => void e.outcome }).stats(); void counts.ok;

// The verify-only entry: the same declarations, and no minting.
import * as verifyOnly from "tasktoken/verify";
const edge: verifyOnly.Verifier = new verifyOnly.Verifier({
  issuers: { "https://auth.example": { keys: [publicJwk] } },
  audience: "crm-api",
});
const sameClass: Verifier = edge;
const code: verifyOnly.ErrorCode = "revoked";
const gate: verifyOnly.GuardResult = verifyOnly.guard(
  new Request("https://x/customers/1"), edge, { action: "customers:read", resource: "customers/1" },
);
// @ts-expect-error minting is not part of tasktoken/verify
verifyOnly.generateKey({ kid: "k2" });
void sameClass; void code; void gate;

import { createProof, dpopFetch, generateProofKey } from "tasktoken";
const proofKey = generateProofKey({ alg: "ES256" });
const boundToken: string = issuer.mint({ sub: "s", aud: "a", task: "t", scope: "x", res: ["r"], ttl: 60,
  cnfJkt: proofKey.jkt });
const dpopProof: string = createProof({ key: proofKey.privateJwk, method: "GET", url: "https://api.example/r", token: boundToken });
void verifier.verify(boundToken, { action: "x", resource: "r", dpop: { proof: dpopProof, method: "GET", url: "https://api.example/r" } });
const agentFetch = dpopFetch({ key: proofKey.privateJwk, token: boundToken });
void agentFetch("https://api.example/r");
// @ts-expect-error: the private key is needed to sign
createProof({ key: proofKey.publicJwk, method: "GET", url: "https://api.example/r" });

// The token service's client: exchange, run a task, keys that follow the service.
import { exchangeToken, withTask, RemoteKeySet, type ExchangeResult, type TaskContext } from "tasktoken";
const exchange = {
  service: "https://auth.example", subjectToken: "id.token.jwt", audience: "crm-api",
  scope: ["customers:read"], res: ["customers/4821"], task: "lookup-4821",
};
const granted: ExchangeResult = await exchangeToken({ ...exchange, ttl: 60, dpop: { key: proofKey.privateJwk } });
const tokenType: "Bearer" | "DPoP" = granted.tokenType;
void tokenType;
try {
  await exchangeToken({ ...exchange, scope: "customers:read" });
} catch (e) {
  if (e instanceof TaskTokenError && e.code === "authorization_pending") {
    const poll: [string | undefined, number | undefined] = [e.approvalId, e.interval];
    void poll;
  }
}
const answer: number = await withTask({ ...exchange, origins: ["https://api.example"] },
  async ({ fetch, claims, token }: TaskContext) => {
    const res: Response = await fetch("https://api.example/customers/4821");
    void claims.exp; void token;
    return res.status;
  });
void answer;
// @ts-expect-error: res is an array of patterns
void exchangeToken({ ...exchange, res: "customers/4821" });
const remote = new RemoteKeySet({ url: "https://auth.example/.well-known/jwks.json", minRefresh: 30, timeout: 3 });
await remote.refresh();
// In a Worker: ctx.waitUntil(remote.pending) after an unknown_key.
const pendingRefresh: Promise<void> | null = remote.pending;
if (pendingRefresh) await pendingRefresh;
const following = new Verifier({ issuers: { "https://auth.example": remote }, audience: "crm-api",
  revocation: new RevocationReplica({ keys: remote, url: "https://auth.example/revocation" }) });
void following;
const version: number = remote.version;
void version;
await completeTask(granted.token, "https://auth.example/revocation/revoke", { fetch });
void verifyOnly.exchangeToken(exchange);
void verifyOnly.withTask(exchange, () => 1);
void new verifyOnly.Verifier({ issuers: { "https://auth.example": new verifyOnly.RemoteKeySet({ url: "https://a/j" }) }, audience: "x" });
// @ts-expect-error: tasktoken/verify exchanges for bearer tokens only
void verifyOnly.exchangeToken({ ...exchange, dpop: { key: proofKey.privateJwk } });
// A bound token revokes itself with a proof by its key (the full entry signs it).
await completeTask(granted.token, "https://auth.example/revocation/revoke", { dpop: { key: proofKey.privateJwk } });
// @ts-expect-error: tasktoken/verify cannot sign the proof
void verifyOnly.completeTask(granted.token, "https://auth.example/revocation/revoke", { dpop: { key: proofKey.privateJwk } });
void verifyOnly.completeTask(granted.token, "https://auth.example/revocation/revoke");
const self: string = revocable.authorizeRevocation(token, undefined, {
  dpop: { proof: "p", method: "POST", url: "https://auth.example/revocation/revoke" }, now: new Date(),
}).jti;
void self;

// What the generated declarations keep from the JSDoc: wrong usage fails.
// @ts-expect-error: a verification names the resource too
verifier.verify(token, { action: "customers:read" });
// @ts-expect-error: a TaskTokenError's code is a stable code
void new TaskTokenError("nope", "message");
// @ts-expect-error: filters come from fromSnapshot only
void new RevocationFilter();
// @ts-expect-error: a guard needs the route's action
guard(new Request("https://x/"), verifier, { resource: "r" });
// @ts-expect-error: a Verifier needs its audience
void new Verifier({ issuers: {} });
const stale: Promise<RevocationInfo | null> = replica.refreshIfDue();
void stale;
// @ts-expect-error: offer answers one of four words
const offered: "merged" = replica.offer(new Uint8Array());
void offered;
