// Seeds the fuzz corpora from the shared vectors: `node fuzz/seed.mjs` (from anywhere).
//
// Writes fuzz/corpus/<target>/<sha1 of the input>, so running it again adds nothing twice
// and never removes what libFuzzer found. The corpora are not committed (fuzz/.gitignore):
// this script and tests/vectors/ are the source of truth.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";

const root = new URL("../", import.meta.url);
const vectors = (name) => JSON.parse(readFileSync(new URL(`tests/vectors/${name}`, root), "utf8"));
const tokens = vectors("tokens.json");
const keys = vectors("keys.json");
const resources = vectors("resources.json");
const revocation = vectors("revocation.json");

const b64 = (text) => Buffer.from(text, "base64url");
const seeds = { token: [], claims: [], jwk: [], revocation: [], resource: [], prepared: [], proof: [], chain: [] };

// token: every vector token, as it is; chain: the delegation chains among them.
for (const c of tokens.cases) seeds.token.push(c.token);
for (const c of tokens.cases) if (c.token.includes("~")) seeds.chain.push(c.token);

// claims: every vector token's payload, and its `header NUL payload` form.
for (const c of tokens.cases) {
  const [header, payload] = c.token.split(".");
  if (payload === undefined) continue;
  seeds.claims.push(b64(payload));
  seeds.claims.push(Buffer.concat([b64(header), Buffer.from([0]), b64(payload)]));
}

// jwk: the key vectors, every verifier's JWKS and key, the private keys, the revocation keys.
for (const c of keys.cases) seeds.jwk.push(c.jwk);
for (const config of Object.values(tokens.verifiers)) {
  for (const jwks of Object.values(config.issuers)) {
    seeds.jwk.push(JSON.stringify(jwks));
    for (const key of jwks.keys) seeds.jwk.push(JSON.stringify(key));
  }
}
for (const key of Object.values(tokens.privateKeys)) seeds.jwk.push(JSON.stringify(key));
seeds.jwk.push(JSON.stringify(revocation.keys));

// revocation: the snapshot, the delta, the chain, and every hostile case.
seeds.revocation.push(b64(revocation.snapshot.bytes), b64(revocation.delta.bytes));
for (const delta of revocation.chain.deltas) seeds.revocation.push(b64(delta));
for (const c of [...revocation.snapshotErrors, ...revocation.deltaErrors]) {
  seeds.revocation.push(b64(c.bytes));
}

// resource: `resource NL pattern NL ...` for every resource vector, and every token case's
// request against the token's own `res` (its `scope` as the first line's partner).
for (const c of resources.cases) seeds.resource.push([c.resource, ...c.patterns].join("\n"));
for (const c of tokens.cases) {
  const claims = c.expect?.claims;
  if (!claims) continue;
  seeds.resource.push([c.request.resource, ...claims.res].join("\n"));
  seeds.resource.push([c.request.action, claims.scope].join("\n"));
}

// proof: `proof NL method NL url`, from every DPoP case of the token vectors.
for (const c of tokens.cases) {
  const d = c.request.dpop;
  if (d) seeds.proof.push([d.proof, d.method, d.url].join("\n"));
}

// prepared: `mode ‖ 32 ‖ 64 ‖ message`. Even modes sign with the 32-byte seed and XOR the
// signature with the 64 bytes (zero: valid; one bit: a flip); odd modes take raw key and
// signature bytes, here the small-order encodings as keys and as `R`.
const message = Buffer.from(tokens.cases[0].token.split(".").slice(0, 2).join("."));
const zero = Buffer.alloc(64);
const flip = Buffer.alloc(64);
flip[40] = 1;
for (let seed = 0; seed < 4; seed++) {
  seeds.prepared.push(Buffer.concat([Buffer.from([0]), Buffer.alloc(32, seed), zero, message]));
  seeds.prepared.push(Buffer.concat([Buffer.from([2]), Buffer.alloc(32, seed), flip, message]));
}
const smallOrder = ["0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"].map((h) => Buffer.from(h, "hex"));
for (const point of smallOrder) {
  seeds.prepared.push(Buffer.concat([Buffer.from([1]), point, point, Buffer.alloc(32), message]));
}

for (const [target, inputs] of Object.entries(seeds)) {
  const dir = new URL(`corpus/${target}/`, import.meta.url);
  mkdirSync(dir, { recursive: true });
  const names = new Set();
  for (const input of inputs) {
    const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
    const name = createHash("sha1").update(bytes).digest("hex");
    if (!names.has(name)) writeFileSync(new URL(name, dir), bytes);
    names.add(name);
  }
  console.log(`seed: fuzz/corpus/${target}: ${names.size} distinct seeds`);
}
