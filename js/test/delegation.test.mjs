// Delegation (DESIGN.md, "Delegation"): an orchestrator holding a bound task token hands a
// narrower task to a sub-agent offline; the chain is verified where tokens are, by the
// Verifier and the guards; every widening is refused. The adversarial cases are the shared
// vectors (tests/vectors/tokens.json), run in vectors.test.mjs, workerd and Chromium.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  Issuer, TaskTokenError, Verifier, createProof, delegate, generateKey, generateProofKey, guard,
} from "tasktoken";

const ISS = "https://auth.example";
const { privateJwk, publicJwk } = generateKey({ kid: "k1" });
const issuer = new Issuer({ iss: ISS, key: privateJwk, maxDelegation: 2 });
const verifier = new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: "crm-api" });

function code(fn) {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof TaskTokenError, String(error));
    return error.code;
  }
  return "ok";
}

/** The orchestrator's token: customers 48xx, read and list, bound to its key, dlg 2. */
function orchestrate() {
  const key = generateProofKey();
  const token = issuer.mint({
    sub: "agent:orchestrator", aud: ["crm-api", "billing-api"], task: "lookup-48xx",
    scope: "customers:read customers:list", res: ["customers/*"], ttl: 300,
    cnfJkt: key.jkt, dlg: 2,
  });
  return { key, token };
}

test("an orchestrator hands one customer to a sub-agent, who proves its own key", () => {
  const orchestrator = orchestrate();
  const sub = generateProofKey();
  const chain = delegate(orchestrator.token, {
    key: orchestrator.key.privateJwk, sub: "agent:sub-4821", aud: "crm-api",
    task: "lookup-48xx/4821", scope: "customers:read", res: ["customers/4821"], ttl: 60,
    cnfJkt: sub.jkt,
  });
  assert.equal(chain.split("~").length, 2);
  const url = "https://api.example/customers/4821";
  const dpop = { proof: createProof({ key: sub.privateJwk, method: "GET", url, token: chain }),
    method: "GET", url };
  const claims = verifier.verify(chain, { action: "customers:read", resource: "customers/4821", dpop });
  assert.equal(claims.sub, "agent:sub-4821");
  assert.equal(claims.iss, ISS);
  assert.deepEqual(claims.act, { sub: "agent:orchestrator" });
  // What the root granted and the link did not is refused through the chain.
  const other = createProof({ key: sub.privateJwk, method: "GET", url, token: chain });
  assert.equal(code(() => verifier.verify(chain,
    { action: "customers:list", resource: "customers/4821", dpop: { proof: other, method: "GET", url } })),
  "action_denied");
  // The orchestrator's own proof does not make the sub-agent's chain usable.
  const stolen = createProof({ key: orchestrator.key.privateJwk, method: "GET", url, token: chain });
  assert.equal(code(() => verifier.verify(chain,
    { action: "customers:read", resource: "customers/4821", dpop: { proof: stolen, method: "GET", url } })),
  "binding_mismatch");
});

test("delegate refuses every widening, a foreign key, and a depth beyond dlg", () => {
  const orchestrator = orchestrate();
  const base = { key: orchestrator.key.privateJwk, sub: "agent:sub", aud: "crm-api",
    task: "lookup-48xx/4821", scope: "customers:read", res: ["customers/4821"], ttl: 60 };
  const widen = (change) => code(() => delegate(orchestrator.token, { ...base, ...change }));
  assert.equal(widen({}), "ok");
  assert.equal(widen({ scope: "customers:write" }), "delegation_denied");
  assert.equal(widen({ res: ["orders/1"] }), "delegation_denied");
  assert.equal(widen({ aud: "other-api" }), "delegation_denied");
  assert.equal(widen({ task: "export-all" }), "delegation_denied");
  assert.equal(widen({ dlg: 2, cnfJkt: generateProofKey().jkt }), "delegation_denied");
  assert.equal(widen({ key: generateProofKey().privateJwk }), "delegation_denied");
  assert.equal(widen({ key: generateProofKey({ alg: "ES256" }).privateJwk }), "malformed");
  // A chain of the depth the root allows, and no deeper.
  let chain = orchestrator.token;
  let key = orchestrator.key;
  for (const dlg of [1, 0]) {
    const next = generateProofKey();
    chain = delegate(chain, { ...base, key: key.privateJwk, cnfJkt: next.jkt, dlg });
    key = next;
  }
  assert.equal(chain.split("~").length, 3);
  assert.equal(code(() => delegate(chain, { ...base, key: key.privateJwk })), "delegation_denied");
  // The issuer's lint: dlg needs a binding and stays within maxDelegation.
  const mint = { sub: "a", aud: "crm-api", task: "t", scope: "customers:read", res: ["c/1"], ttl: 60 };
  assert.equal(code(() => issuer.mint({ ...mint, dlg: 1 })), "invalid_claim");
  assert.equal(code(() => issuer.mint({ ...mint, dlg: 3, cnfJkt: key.jkt })), "invalid_claim");
  assert.equal(code(() => new Issuer({ iss: ISS, key: privateJwk, maxDelegation: 5 })), "malformed");
});

test("verifiers can refuse chains or cap their depth; the guard takes chains as tokens", () => {
  const orchestrator = orchestrate();
  const chain = delegate(orchestrator.token, {
    key: orchestrator.key.privateJwk, sub: "agent:sub", aud: "crm-api", task: "lookup-48xx/1",
    scope: "customers:read", res: ["customers/4821"], ttl: 60,
  });
  const request = { action: "customers:read", resource: "customers/4821" };
  assert.equal(code(() => verifier.verify(chain, request)), "ok");
  const strict = new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } }, audience: "crm-api",
    maxDelegationDepth: 0 });
  assert.equal(code(() => strict.verify(chain, request)), "delegation_denied");
  assert.equal(code(() => new Verifier({ issuers: { [ISS]: { keys: [publicJwk] } },
    audience: "crm-api", maxDelegationDepth: 5 })), "malformed");
  const gate = guard(new Request("https://api.example/customers/4821",
    { headers: { authorization: `Bearer ${chain}` } }), verifier, request);
  assert.equal(gate.ok, true, JSON.stringify(gate));
  assert.equal(gate.claims.sub, "agent:sub");
  const refused = guard(new Request("https://api.example/customers/4821",
    { headers: { authorization: `Bearer ${chain}` } }), strict, request);
  assert.equal(refused.ok, false);
  assert.equal(refused.response.status, 401, "a chain this verifier refuses is no valid token");
  assert.match(refused.response.headers.get("www-authenticate"), /error="invalid_token"/);
});
