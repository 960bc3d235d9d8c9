import * as tt from "tasktoken";
import * as verifyOnly from "tasktoken/verify";
import tokens from "../../vectors/tokens.json";
import keys from "../../vectors/keys.json";
import { runKeyVectors, runTokenVectors } from "../../../js/test/suite/vectors.js";
import { network } from "./network.js";

export default {
  async fetch(request, env, ctx) {
    // Readiness probe: answered at once (the vector run takes seconds).
    const { pathname } = new URL(request.url);
    if (pathname === "/ready") return new Response("ok");
    if (pathname.startsWith("/net/")) return network(request, ctx);
    const { privateJwk, publicJwk } = tt.generateKey({ kid: "w1" });
    const issuer = new tt.Issuer({ iss: "https://auth.example", key: privateJwk });
    const token = issuer.mint({
      sub: "agent:edge", aud: "crm-api", task: "t", scope: "customers:read",
      res: ["customers/*"], ttl: 60,
    });
    const verifier = new tt.Verifier({
      issuers: { "https://auth.example": { keys: [publicJwk] } }, audience: "crm-api",
    });
    const gated = tt.guard(
      new Request("https://x/customers/1", { headers: { authorization: `Bearer ${token}` } }),
      verifier, { action: "customers:read", resource: "customers/1" },
    );
    const denied = tt.guard(
      new Request("https://x/customers/1", { headers: { authorization: `Bearer ${token}` } }),
      verifier, { action: "customers:write", resource: "customers/1" },
    );
    return Response.json({
      runtime: navigator.userAgent,
      tokens: runTokenVectors(tt, tokens),
      // The same vectors through the verify-only entry (its own, smaller wasm module).
      verifyOnlyTokens: runTokenVectors(verifyOnly, tokens),
      verifyOnlyMints: "Issuer" in verifyOnly,
      tokenCases: tokens.cases.length,
      keys: runKeyVectors(tt, keys),
      mintedAndGated: gated.ok && gated.claims.sub === "agent:edge",
      deniedStatus: denied.ok ? 200 : denied.response.status,
    });
  },
};
