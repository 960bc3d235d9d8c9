// The shared vectors give the same results through the npm package as through Rust.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as jose from "jose";
import * as tt from "tasktoken";
import { runKeyVectors, runTokenVectors } from "./suite/vectors.js";

const vectors = (name) =>
  JSON.parse(readFileSync(new URL(`../../tests/vectors/${name}`, import.meta.url), "utf8"));

test("tokens.json: every case, same claims or same error code", () => {
  const tokens = vectors("tokens.json");
  assert.ok(tokens.cases.length > 150);
  assert.deepEqual(runTokenVectors(tt, tokens), []);
});

test("keys.json: every importable case, same kid or same error code", () => {
  const { failures, skipped } = runKeyVectors(tt, vectors("keys.json"));
  assert.deepEqual(failures, []);
  assert.deepEqual(skipped, ["public_duplicate_member"]);
});

test("a __proto__ claim is dropped: never a prototype, nor an own member that a caller's " +
  "Object.assign would make one", () => {
  const tokens = vectors("tokens.json");
  const c = tokens.cases.find((x) => x.name === "valid_proto_claim");
  assert.ok(Object.hasOwn(c.expect.claims, "__proto__"), "the core returns it as data");
  const claims = new tt.Verifier(tokens.verifiers.default).verify(c.token, { ...c.request, now: c.now });
  assert.equal(Object.hasOwn(claims, "__proto__"), false);
  assert.equal(Object.getPrototypeOf(claims), Object.prototype);
  assert.equal(claims.admin, undefined);
  assert.equal(Object.assign({}, claims).admin, undefined);
});

test("resources.json: patterns signed by jose into a token, matched by the package", async () => {
  const tokens = vectors("tokens.json");
  const key = await jose.importJWK(tokens.privateKeys.a1, "EdDSA");
  const verifier = new tt.Verifier(tokens.verifiers.default);
  const now = Math.floor(Date.now() / 1000);
  for (const c of vectors("resources.json").cases) {
    const token = await new jose.SignJWT({ task: "t", scope: "r", res: c.patterns })
      .setProtectedHeader({ alg: "EdDSA", typ: "tt+jwt", kid: "a1" })
      .setIssuer("https://auth.example").setSubject("agent:x").setAudience("crm-api")
      .setIssuedAt(now).setExpirationTime(now + 60).setJti("resource-vector-jti")
      .sign(key);
    let allowed = true;
    try {
      verifier.verify(token, { action: "r", resource: c.resource, now });
    } catch (error) {
      assert.equal(error.code, "resource_denied", JSON.stringify(c));
      allowed = false;
    }
    assert.equal(allowed, c.allowed, JSON.stringify(c));
  }
});
