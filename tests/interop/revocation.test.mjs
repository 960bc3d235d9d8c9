// The revocation path end to end, as an operator and a service would run it: revoke a token
// with the CLI into the SQLite authority, build the signed filter, and both the CLI verifier
// and the npm package's verifier refuse that token as `revoked` while another still passes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { RevocationFilter, Verifier } from "tasktoken";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const bin = process.env.TASKTOKEN_BIN ?? join(root, "target", "release", "tasktoken");
const ISS = "https://auth.example";

test("revoke with the CLI, build the filter: CLI and npm verifiers both say revoked", () => {
  const dir = mkdtempSync(join(tmpdir(), "tasktoken-revocation-"));
  const file = (name) => join(dir, name);
  const run = (args, input) => spawnSync(bin, args, { input, encoding: "utf8" });
  const jwks = execFileSync(bin, ["keygen", "--kid", "k1", "--out", file("k1.jwk")], { encoding: "utf8" });
  execFileSync("sh", ["-c", `cat > ${file("jwks.json")}`], { input: jwks });
  const mint = (task) => execFileSync(bin, [
    "mint", "--key", file("k1.jwk"), "--iss", ISS, "--sub", "agent:lookup-bot", "--aud", "crm-api",
    "--task", task, "--scope", "customers:read", "--res", "customers/4821", "--ttl", "5m",
  ], { encoding: "utf8" }).trim();
  const done = mint("lookup-4821");
  const live = mint("lookup-4821-retry");

  const revoked = run(["revoke", "--db", file("authority.db"), "-"], done);
  assert.equal(revoked.status, 0, revoked.stderr);
  const built = run(["filter", "build", "--db", file("authority.db"), "--key", file("k1.jwk"),
    "--iss", ISS, "--out", file("snapshot.bin")]);
  assert.equal(built.status, 0, built.stderr);

  const cliVerify = (token) => run(["verify", "--jwks", file("jwks.json"), "--iss", ISS,
    "--aud", "crm-api", "--action", "customers:read", "--resource", "customers/4821",
    "--filter", file("snapshot.bin"), "-"], token);
  const refused = cliVerify(done);
  assert.equal(refused.status, 1);
  assert.equal(JSON.parse(refused.stderr).error, "revoked");
  assert.equal(cliVerify(live).status, 0);

  const keys = JSON.parse(jwks);
  const verifier = new Verifier({
    issuers: { [ISS]: keys }, audience: "crm-api",
    revocation: RevocationFilter.fromSnapshot(readFileSync(file("snapshot.bin")), keys),
  });
  const request = { action: "customers:read", resource: "customers/4821" };
  assert.throws(() => verifier.verify(done, request), { code: "revoked" });
  assert.equal(verifier.verify(live, request).task, "lookup-4821-retry");
});
