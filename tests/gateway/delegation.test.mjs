// Delegation chains through the gateway in real workerd (`wrangler dev`): an orchestrator's
// bound token narrowed offline for a sub-agent (`delegate`) is accepted where a token is,
// with the sub-agent's proof when the last link is bound, only for what the link grants; a
// widened link is refused; revoking the root ends the chain (docs/delegation.md).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Issuer, createProof, delegate, generateProofKey } from "tasktoken";
import { AUDIENCE, ISSUER, makeKeys, rawRequest, startGateway, startOrigin } from "./harness.js";

const keys = makeKeys();
const issuer = new Issuer({ iss: ISSUER, key: keys.k1.privateJwk });
let origin;
let gw;

before(async () => {
  origin = await startOrigin();
  gw = await startGateway({ keys, origin });
});
after(async () => {
  await gw?.stop();
  await origin?.close();
});

/** The orchestrator: customers 48xx (every customer), read, bound to its key, one hand-off. */
function orchestrator() {
  const key = generateProofKey();
  const token = issuer.mint({
    sub: "agent:orchestrator", aud: AUDIENCE, task: "lookup-48xx", scope: "customers:read",
    res: ["customers/*"], ttl: 300, cnfJkt: key.jkt, dlg: 1,
  });
  return { key, token };
}

const link = (key, extra = {}) => ({
  key: key.privateJwk, sub: "agent:sub-4821", aud: AUDIENCE, task: "lookup-48xx/4821",
  scope: "customers:read", res: ["customers/4821"], ttl: 60, ...extra,
});

test("a chain is a token at the gateway: the link's grant, the sub-agent's proof", async () => {
  const orch = orchestrator();
  const before = origin.seen.length;
  // Unbound last link: a bearer chain, for customer 4821 only.
  const chain = delegate(orch.token, link(orch.key));
  const ok = await rawRequest(gw.base, "/customers/4821", { token: chain });
  assert.equal(ok.status, 200, JSON.stringify(ok.body));
  assert.equal(ok.body.sub, "agent:sub-4821", "the origin sees the sub-agent");
  assert.equal(origin.seen.at(-1).headers["x-tasktoken-delegated-by"], "agent:orchestrator",
    "and the identity the issuer granted");
  assert.equal(origin.seen.at(-1).headers.authorization, undefined, "no chain at the origin");
  const other = await rawRequest(gw.base, "/customers/4822", { token: chain });
  assert.equal(other.status, 403);
  assert.equal(other.body.error, "resource_denied", "the root covers it, the link does not");
  // Bound last link: the sub-agent's proof, for the URL it calls, with `ath` of the chain.
  const sub = generateProofKey();
  const bound = delegate(orch.token, link(orch.key, { cnfJkt: sub.jkt }));
  const url = `${gw.base}/customers/4821`;
  const proof = createProof({ key: sub.privateJwk, method: "GET", url, token: bound });
  const withProof = await rawRequest(gw.base, "/customers/4821",
    { headers: { authorization: `DPoP ${bound}`, dpop: proof } });
  assert.equal(withProof.status, 200, JSON.stringify(withProof.body));
  const asBearer = await rawRequest(gw.base, "/customers/4821", { token: bound });
  assert.equal(asBearer.status, 401);
  assert.equal(asBearer.body.error, "binding_required");
  // The orchestrator's own key does not stand in for the sub-agent's.
  const stolen = createProof({ key: orch.key.privateJwk, method: "GET", url, token: bound });
  const wrongKey = await rawRequest(gw.base, "/customers/4821",
    { headers: { authorization: `DPoP ${bound}`, dpop: stolen } });
  assert.equal(wrongKey.body.error, "binding_mismatch");
  assert.equal(origin.seen.length, before + 2);
});

test("a link signed by a stranger, or a chain over the depth, is delegation_denied", async () => {
  const orch = orchestrator();
  const stranger = generateProofKey();
  // A chain built by hand from a link the stranger signed: delegate() refuses to make it,
  // so splice a stranger's link onto a genuine root.
  const own = orchestrator();
  const strangerRoot = issuer.mint({
    sub: "agent:x", aud: AUDIENCE, task: "lookup-48xx", scope: "customers:read",
    res: ["customers/*"], ttl: 300, cnfJkt: stranger.jkt, dlg: 1,
  });
  const strangersLink = delegate(strangerRoot, link(stranger)).split("~")[1];
  const spliced = `${own.token}~${strangersLink}`;
  const refused = await rawRequest(gw.base, "/customers/4821", { token: spliced });
  assert.equal(refused.status, 401);
  assert.equal(refused.body.error, "delegation_denied");
  // dlg 1 allows one link; a second one (signed correctly) is beyond it.
  const sub = generateProofKey();
  const one = delegate(orch.token, link(orch.key, { cnfJkt: sub.jkt }));
  assert.throws(() => delegate(one, link(sub)), (e) => e.code === "delegation_denied");
});

test("revoking the root ends every chain built on it", async () => {
  const orch = orchestrator();
  const chain = delegate(orch.token, link(orch.key));
  assert.equal((await rawRequest(gw.base, "/customers/4821", { token: chain })).status, 200);
  const url = `${gw.base}/_tasktoken/revoke`;
  const proof = createProof({ key: orch.key.privateJwk, method: "POST", url, token: orch.token });
  const revoked = await rawRequest(gw.base, "/_tasktoken/revoke",
    { method: "POST", headers: { authorization: `DPoP ${orch.token}`, dpop: proof } });
  assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
  let last;
  for (const end = Date.now() + 5000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
    last = await rawRequest(gw.base, "/customers/4821", { token: chain });
    if (last.status !== 200) break;
  }
  assert.equal(last.status, 401, JSON.stringify(last.body));
  assert.equal(last.body.error, "revoked");
});

test("a single-use route takes the token, never a chain (whose jti its holder can mint anew)", async () => {
  const key = generateProofKey();
  const token = issuer.mint({
    sub: "agent:exporter", aud: AUDIENCE, task: "export-7", scope: "datasets:export",
    res: ["datasets/7"], ttl: 300, cnfJkt: key.jkt, dlg: 1,
  });
  const before = origin.seen.length;
  for (const n of [1, 2]) {
    const chain = delegate(token, { key: key.privateJwk, sub: `agent:copy-${n}`, aud: AUDIENCE,
      task: "export-7", scope: "datasets:export", res: ["datasets/7"], ttl: 60 });
    const refused = await rawRequest(gw.base, "/datasets/7/export", { method: "POST", token: chain });
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
    assert.equal(refused.body.error, "delegation_denied");
  }
  assert.equal(origin.seen.length, before, "the origin never saw them");
});
