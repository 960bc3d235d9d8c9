// `make bench`, the token service: exchanges per second and p50/p99 latency at 16
// concurrent clients, `tasktoken serve` side by side with the reference a user would
// otherwise write — a Node service on jose: `jwtVerify` of the identity token against the
// provider's JWKS, a claims check, `SignJWT` of an EdDSA task token. Both get the same
// pre-signed identity tokens (each used once), from the same load generator, one after
// the other, on this machine. Ours also does what the reference does not: the policy
// engine, a durable record of each subject token's `jti` (SQLite, WAL, synchronous=FULL,
// group-committed), and an audit line per exchange. Writes target/bench/service.json.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SignJWT, exportJWK, generateKeyPair, importJWK, jwtVerify, createLocalJWKSet } from "jose";

const root = resolve(import.meta.dirname, "../..");
const bin = process.env.TASKTOKEN_BIN ?? join(root, "target/release/tasktoken");
const CONCURRENCY = 16;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ISSUER = "https://auth.bench";
// RS256 (GitHub Actions' and most OIDC providers' algorithm) or ES256 (some Kubernetes
// clusters, SPIFFE); the identity tokens are signed before the runs, in worker threads.
const ALG = process.env.BENCH_ALG ?? "RS256";
const IDP = "https://idp.bench";

const child = process.argv.includes("--reference");
const dir = child ? process.env.BENCH_DIR : mkdtempSync(join(tmpdir(), "tt-bench-service-"));
let idp, idpJwk, issuerJwk;
if (child) {
  idpJwk = JSON.parse(readFileSync(join(dir, "idp-jwks.json"), "utf8")).keys[0];
  issuerJwk = JSON.parse(readFileSync(join(dir, "issuer.jwk"), "utf8"));
} else {
  idp = await generateKeyPair(ALG, { extractable: true });
  idpJwk = { ...(await exportJWK(idp.publicKey)), kid: "idp-1", alg: ALG, use: "sig" };
  writeFileSync(join(dir, "idp-jwks.json"), JSON.stringify({ keys: [idpJwk] }));
  const issuerKey = await generateKeyPair("EdDSA", { crv: "Ed25519", extractable: true });
  issuerJwk = { ...(await exportJWK(issuerKey.privateKey)), kid: "svc-1" };
  writeFileSync(join(dir, "issuer.jwk"), JSON.stringify(issuerJwk), { mode: 0o600 });
}
if (!child) writeFileSync(join(dir, "service.toml"), `
issuer = "${ISSUER}"
key = "issuer.jwk"
store = "sqlite:authority.db"
audit = "audit.log"

[[identity]]
name = "ci"
issuer = "${IDP}"
jwks = "idp-jwks.json"
audience = "${ISSUER}"
algorithms = ["${ALG}"]

[[policy]]
name = "deploy"
identity = "ci"
claims = { repository = "acme/*" }
sub = "ci:{repository}#{run_id}"
aud = ["artifact-repo"]
task = "deploy-{run_id}/*"
scope = ["artifacts:read"]
res = ["repos/{repository}/*"]
max_ttl = "10m"
`);

/** `count` identity tokens of one run, each with its own `jti`, signed by two workers. */
async function identities(count) {
  const { Worker } = await import("node:worker_threads");
  const jwk = await exportJWK(idp.privateKey);
  const now = Math.floor(Date.now() / 1000);
  const sign = `
    const { workerData: { jwk, alg, from, to, now, IDP, ISSUER, pid }, parentPort } = require("node:worker_threads");
    const crypto = require("node:crypto");
    const key = crypto.createPrivateKey({ key: jwk, format: "jwk" });
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const header = b64({ alg, kid: "idp-1", typ: "JWT" });
    const out = [];
    for (let i = from; i < to; i++) {
      const payload = b64({ iss: IDP, aud: ISSUER, sub: "repo:acme/app:ref:refs/heads/main", repository: "acme/app",
        run_id: "8812", jti: pid + "-" + i, iat: now, exp: now + 600 });
      const input = header + "." + payload;
      const sig = alg === "RS256" ? crypto.sign("sha256", Buffer.from(input), key)
        : crypto.sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" });
      out.push(input + "." + sig.toString("base64url"));
    }
    parentPort.postMessage(out);`;
  const half = Math.ceil(count / 2);
  const parts = await Promise.all([0, 1].map((w) => new Promise((ok, fail) => {
    const worker = new Worker(sign, { eval: true, workerData: { jwk, alg: ALG, from: w * half, to: Math.min(count, (w + 1) * half), now, IDP, ISSUER, pid: process.pid } });
    worker.once("message", ok).once("error", fail);
  })));
  return parts.flat();
}

function body(subject) {
  return new URLSearchParams([
    ["grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"],
    ["subject_token", subject],
    ["subject_token_type", "urn:ietf:params:oauth:token-type:jwt"],
    ["audience", "artifact-repo"], ["scope", "artifacts:read"], ["res", "repos/acme/app/*"],
    ["task", "deploy-8812/stage:deploy"], ["ttl", "300"],
  ]).toString();
}

/** The reference: what a Node developer writes with jose (no replay record, no audit). */
function reference() {
  const jwks = createLocalJWKSet({ keys: [idpJwk] });
  const key = importJWK(issuerJwk, "EdDSA");
  const server = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const form = new URLSearchParams(Buffer.concat(chunks).toString());
    try {
      const { payload } = await jwtVerify(form.get("subject_token"), jwks, { issuer: IDP, audience: ISSUER, algorithms: [idpJwk.alg] });
      if (!String(payload.repository).startsWith("acme/") || form.get("audience") !== "artifact-repo" ||
          form.get("scope") !== "artifacts:read" || !form.get("task").startsWith(`deploy-${payload.run_id}/`)) {
        res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_target"}');
        return;
      }
      const ttl = Number(form.get("ttl") ?? 300);
      const token = await new SignJWT({ sub: `ci:${payload.repository}#${payload.run_id}`, task: form.get("task"),
                                        scope: form.get("scope"), res: form.getAll("res") })
        .setProtectedHeader({ alg: "EdDSA", typ: "tt+jwt", kid: "svc-1" })
        .setIssuer(ISSUER).setAudience(form.get("audience")).setIssuedAt().setExpirationTime(`${ttl}s`)
        .setJti(crypto.randomUUID()).sign(await key);
      res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
        .end(JSON.stringify({ access_token: token, issued_token_type: "urn:ietf:params:oauth:token-type:jwt",
                              token_type: "Bearer", expires_in: ttl, scope: form.get("scope") }));
    } catch {
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_grant"}');
    }
  });
  return new Promise((ok) => server.listen(0, "127.0.0.1", () => ok({ url: `http://127.0.0.1:${server.address().port}`, stop: () => server.close() })));
}

/** The reference in its own process, so that the load generator does not share its thread. */
function referenceProcess() {
  const child = spawn(process.execPath, [import.meta.filename, "--reference"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, BENCH_DIR: dir } });
  return firstLine(child);
}

function ours() {
  const child = spawn(bin, ["serve", "--config", join(dir, "service.toml"), "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "inherit"] });
  // BENCH_PERF=FILE: a CPU profile of the service during the load (perf, call graphs).
  if (process.env.BENCH_PERF) {
    spawn("perf", ["record", "-F", "999", "-g", "-p", String(child.pid), "-o", process.env.BENCH_PERF,
      "--", "sleep", String(SECONDS)], { stdio: "ignore" });
  }
  return firstLine(child);
}

function firstLine(child) {
  return new Promise((ok, fail) => {
    let text = "";
    child.stdout.on("data", (data) => {
      text += data;
      const line = text.split("\n")[0];
      if (text.includes("\n")) ok({ url: JSON.parse(line).listening, stop: () => child.kill("SIGTERM") });
    });
    child.on("exit", (code) => fail(new Error(`exited ${code}`)));
  });
}

/** wrk's script: each thread takes every n-th body of the file, each body once. */
const WRK_SCRIPT = `
local threads, bodies, next = {}, {}, 0
function setup(thread) thread:set("id", #threads); table.insert(threads, thread) end
function init(args)
  local n, count = 0, tonumber(args[2])
  for line in io.lines(args[1]) do
    if n % count == id then bodies[#bodies + 1] = line end
    n = n + 1
  end
end
function request()
  next = next + 1
  return wrk.format("POST", "/token", { ["Content-Type"] = "application/x-www-form-urlencoded" }, bodies[next] or "")
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
`;

/** wrk (C, two threads) with 16 keep-alive connections for `SECONDS`: throughput and latency. */
function load(url, file) {
  const script = join(dir, "load.lua");
  writeFileSync(script, WRK_SCRIPT);
  const out = execFileSync("wrk", ["-t2", `-c${CONCURRENCY}`, `-d${SECONDS}s`, "--timeout", "5s", "-s", script, url, "--", file, "2"], { encoding: "utf8" });
  const r = JSON.parse(out.trim().split("\n").pop());
  return { rps: r.requests / (r.duration_us / 1e6), p50: r.p50_us / 1000, p99: r.p99_us / 1000, failures: r.errors, requests: r.requests };
}

if (child) {
  const { url } = await reference();
  console.log(JSON.stringify({ listening: url }));
} else {
  console.log(`token service: ${ALG} identity tokens, ${CONCURRENCY} concurrent clients, ${SECONDS} s a run, ${ROUNDS} rounds`);
  const file = join(dir, "bodies.txt");
  writeFileSync(file, (await identities(Number(process.env.BENCH_TOKENS ?? 25000 * SECONDS))).map(body).join("\n") + "\n");
  const results = { ours: [], reference: [] };
  for (let round = 0; round < ROUNDS; round++) {
    // BENCH_ONLY=ours (or reference): one side only, for A/B runs of one implementation.
    const sides = [["reference", referenceProcess], ["ours", ours]]
      .filter(([name]) => !process.env.BENCH_ONLY || process.env.BENCH_ONLY === name);
    for (const [name, start] of sides) {
      // Each round starts from an empty store: every identity token is new to it.
      for (const f of ["authority.db", "authority.db-wal", "authority.db-shm"]) rmSync(join(dir, f), { force: true });
      const server = await start();
      const r = load(server.url, file);
      server.stop();
      results[name].push(r);
      console.log(`  round ${round + 1} ${name.padEnd(9)} ${r.rps.toFixed(0).padStart(6)} exchanges/s  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms  (${r.requests} requests, ${r.failures} failed)`);
      await new Promise((ok) => setTimeout(ok, 500));
    }
  }
  if (process.env.BENCH_ONLY) process.exit(0);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const summary = Object.fromEntries(Object.entries(results).map(([k, rs]) => [k, {
    rps: median(rs.map((r) => r.rps)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)),
    failures: rs.reduce((a, r) => a + r.failures, 0) }]));
  const ratio = summary.ours.rps / summary.reference.rps;
  console.log(`  median: tasktoken serve ${summary.ours.rps.toFixed(0)}/s (p50 ${summary.ours.p50.toFixed(2)} ms, p99 ${summary.ours.p99.toFixed(2)} ms)`);
  console.log(`          jose reference  ${summary.reference.rps.toFixed(0)}/s (p50 ${summary.reference.p50.toFixed(2)} ms, p99 ${summary.reference.p99.toFixed(2)} ms)`);
  console.log(`  throughput ratio ${ratio.toFixed(2)}x the reference (target >= 3x); p99 ${summary.ours.p99.toFixed(2)} ms (target <= 5 ms)`);
  mkdirSync(join(root, "target/bench"), { recursive: true });
  writeFileSync(join(root, "target/bench/service.json"), JSON.stringify({ alg: ALG, concurrency: CONCURRENCY, seconds: SECONDS, results, summary, ratio }, null, 2));
  if (summary.ours.failures || summary.reference.failures) {
    console.error("some exchanges were refused: the figures are not comparable");
    process.exitCode = 1;
  }
}
