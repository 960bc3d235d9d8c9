// The shared vectors (tests/vectors/*.json) run through the package's public surface. Plain
// ESM with no runtime imports, so the same suite runs in Node, in workerd and in Chromium:
// each runner passes in the package and the parsed vector files and asserts no failures.

/**
 * Runs tokens.json: builds each case's verifier, verifies at the case's clock, and compares
 * the claims or the error code. Returns a list of failure descriptions (empty when all pass).
 */
export function runTokenVectors(tt, tokens) {
  const failures = [];
  for (const c of tokens.cases) {
    const config = tokens.verifiers[c.verifier];
    let got;
    try {
      const verifier = new tt.Verifier({ ...config, ...revocationOptions(tt, config, c.revocation, c.now) });
      // `repeat`: the same request twice (a replayed proof); the second result counts.
      if (c.repeat) {
        try {
          verifier.verify(c.token, { ...c.request, now: c.now });
        } catch {}
      }
      const claims = verifier.verify(c.token, { ...c.request, now: c.now });
      got = { claims };
    } catch (error) {
      if (!(error instanceof tt.TaskTokenError)) {
        failures.push(`${c.name}: threw a non-TaskTokenError: ${error}`);
        continue;
      }
      got = { error: error.code };
    }
    if (!sameJson(got, asThePackageReturns(c.expect))) {
      failures.push(`${c.name}: expected ${JSON.stringify(c.expect)}, got ${JSON.stringify(got)}`);
    }
  }
  return failures;
}

/**
 * Runs keys.json through the package: public keys and key sets by building a Verifier,
 * private keys by building an Issuer. JSON text with duplicate members cannot become a JS
 * object, so those cases are skipped and reported as such.
 */
export function runKeyVectors(tt, keys) {
  const failures = [];
  const skipped = [];
  for (const c of keys.cases) {
    if (c.name.includes("duplicate_member")) {
      skipped.push(c.name);
      continue;
    }
    const jwk = JSON.parse(c.jwk);
    let got;
    try {
      if (c.kind === "private") {
        new tt.Issuer({ iss: "https://auth.example", key: jwk });
        got = { kid: jwk.kid };
      } else {
        const set = c.kind === "jwks" ? jwk : { keys: [jwk] };
        new tt.Verifier({ issuers: { "https://auth.example": set }, audience: "crm-api" });
        got = c.kind === "jwks" ? { kids: set.keys.map((k) => k.kid) } : { kid: jwk.kid };
      }
    } catch (error) {
      got = { error: error instanceof tt.TaskTokenError ? error.code : `non-TaskTokenError ${error}` };
    }
    if (!sameJson(got, c.expect)) {
      failures.push(`${c.name}: expected ${JSON.stringify(c.expect)}, got ${JSON.stringify(got)}`);
    }
  }
  return { failures, skipped };
}

/**
 * A case's expected result as the package hands it back: the core returns a `__proto__`
 * claim as data (`valid_proto_claim`), and the package drops such members at every depth
 * (docs/decisions.md), so that no merge by a caller can make one a prototype.
 */
function asThePackageReturns(expect) {
  return JSON.parse(JSON.stringify(expect), (key, value) => (key === "__proto__" ? undefined : value));
}

/**
 * The Verifier options for a case's revocation data (the issuer it is for, a snapshot,
 * deltas), if it has any: loaded for that issuer with its keys, as of the case's clock.
 */
function revocationOptions(tt, config, revocation, now) {
  if (revocation === undefined) return {};
  const { issuer } = revocation;
  const keys = config.issuers[issuer];
  let source;
  if (revocation.snapshot === null) {
    source = new tt.RevocationReplica({ keys, issuer, loader: () => null });
  } else {
    source = tt.RevocationFilter.fromSnapshot(base64url(revocation.snapshot), keys, { issuer, now });
    for (const delta of revocation.deltas) source.applyDelta(base64url(delta));
  }
  return {
    revocation: source,
    revocationGrace: revocation.grace,
    failOpenWhenStale: revocation.failOpenWhenStale,
    onStaleRevocation: () => {},
  };
}

/** Decodes unpadded base64url with the Web platform's atob (Node, workerd, browsers). */
export function base64url(text) {
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Compares two JSON values structurally, own properties only (`__proto__` included). */
export function sameJson(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]));
}
