// `npm pack` of js/ yields a tarball that installs into an empty directory and works there:
// the README's Node example, copied verbatim, runs against the installed package.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = fileURLToPath(new URL("..", import.meta.url));
const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");

test("npm pack installs in an empty directory and runs the README example", () => {
  const work = mkdtempSync(join(tmpdir(), "tasktoken-pack-"));
  const packed = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: pkgDir, encoding: "utf8" }),
  )[0];
  const files = packed.files.map((f) => f.path).sort();
  for (const m of ["verify", "mint"]) {
    assert.ok(files.includes(`wasm/${m}/tasktoken_bg.wasm`), `the ${m} wasm ships`);
    assert.ok(!files.includes(`wasm/${m}/tasktoken.js`), `the ${m} glue is bundled, not shipped`);
  }
  assert.ok(files.includes("index.d.ts") && files.includes("verify.d.ts"), "the types ship");
  for (const runtime of ["node", "web", "workerd"]) {
    for (const entry of ["", "-verify", "-mcp"]) {
      assert.ok(files.includes(`dist-${runtime}/${runtime}${entry}.js`), `the ${runtime}${entry} bundle ships`);
    }
  }
  assert.ok(!files.some((f) => f.startsWith("src/") || f.startsWith("load/")), "sources are bundled");
  assert.ok(!files.some((f) => f.startsWith("test/") || f.startsWith("node_modules/")), files.join());

  const app = join(work, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", join(work, packed.filename)], {
    cwd: app, encoding: "utf8",
  });
  const example = /## Quick start \(Node[^\n]*\n[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(example, "the README has a Node example");
  writeFileSync(join(app, "example.mjs"), example);
  const out = execFileSync("node", ["example.mjs"], { cwd: app, encoding: "utf8" });
  assert.match(out, /^ok: agent:lookup-bot may do lookup-4821$/m);
  assert.match(out, /^refused: resource_denied$/m);

  // `tasktoken/verify` verifies a token minted through `tasktoken`, in one process, and
  // carries no minting.
  writeFileSync(join(app, "split.mjs"), `
    import { Issuer, generateKey } from "tasktoken";
    import * as verifyOnly from "tasktoken/verify";
    const { privateJwk, publicJwk } = generateKey({ kid: "k1" });
    const token = new Issuer({ iss: "https://issuer.example", key: privateJwk }).mint({
      sub: "ci:job", aud: "api", task: "t", scope: "a:read", res: ["a/1"], ttl: 60 });
    const v = new verifyOnly.Verifier({ issuers: { "https://issuer.example": { keys: [publicJwk] } },
      audience: "api" });
    console.log(v.verify(token, { action: "a:read", resource: "a/1" }).sub);
    console.log(["Issuer", "generateKey", "signRevocationSnapshot", "mintLink"]
      .filter((n) => n in verifyOnly).join(",") || "no minting");
  `);
  const split = execFileSync("node", ["split.mjs"], { cwd: app, encoding: "utf8" });
  assert.equal(split, "ci:job\nno minting\n");
});
