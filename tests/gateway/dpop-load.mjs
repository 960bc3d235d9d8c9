// What the global proof replay check costs (docs/gateway.md, "Proof replay across
// isolates"): latency of DPoP requests on a route whose replay is decided by the isolate
// (`GET /customers/:id`) and on one that also asks the Durable Object (`POST
// /customers/:id/notes`, `proofReplay: "global"`), in local workerd through `wrangler dev`.
// Two measurements:
// - autocannon in a second process (dpop-client.mjs: a fresh proof per request, signed in a
//   batch before the run), 1 and 16 connections, p50/p99 in whole milliseconds; the same two
//   routes with an unbound Bearer token (no proof, no Durable Object) are the control for
//   the routes' own difference (method, body, origin);
// - sequential requests from this process, the two routes interleaved, timed to the
//   microsecond: the median difference is the Durable Object round trip.
// Writes target/bench/gateway-dpop-load.json and prints tables. Run: `cd tests && node
// gateway/dpop-load.mjs` (LOAD_SECONDS, LOAD_CONNECTIONS as in load.mjs; SEQUENTIAL requests
// per route, 300; LOAD_SHARDS sets PROOF_REPLAY_SHARDS, default the deployment's).
import { execFile } from "node:child_process";
import { request as httpRequest } from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { Issuer, createProof, generateProofKey } from "tasktoken";
import { AUDIENCE, ISSUER, makeKeys, startGateway, startOrigin } from "./harness.js";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 10);
const CONNECTION_COUNTS = (process.env.LOAD_CONNECTIONS ?? "1,16").split(",").map(Number);
const SEQUENTIAL = Number(process.env.SEQUENTIAL ?? 300);
const run = promisify(execFile);
const client = new URL("./dpop-client.mjs", import.meta.url).pathname;

const ROUTES = {
  isolate: { method: "GET", path: "/customers/4821" },
  global: { method: "POST", path: "/customers/4821/notes" },
};

/** One autocannon run through dpop-client.mjs (its own process, so the origin keeps up). */
async function load(options) {
  // Enough proofs for the warm-up and the run at 1,000 req/s, about three times the rates
  // local workerd reaches here (the client fails rather than reuse a proof).
  const count = (SECONDS + 2) * 1000;
  const { stdout } = await run(process.execPath, [client, JSON.stringify({ ...options, seconds: SECONDS, count })],
    { maxBuffer: 1 << 26 });
  return JSON.parse(stdout.trim().split("\n").at(-1));
}

/** One request over a fresh connection; resolves to [status, milliseconds]. */
function timed(base, method, path, headers) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = httpRequest({ host: hostname, port, path, method, headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve([res.statusCode, Number(process.hrtime.bigint() - start) / 1e6]));
    });
    req.on("error", reject);
    req.end();
  });
}

/** The `p`th percentile of ascending `sorted` (nearest rank). */
function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const origin = await startOrigin();
const keys = makeKeys();
const gw = await startGateway({ keys, origin, refreshSeconds: 5,
  extraVars: process.env.LOAD_SHARDS ? { PROOF_REPLAY_SHARDS: process.env.LOAD_SHARDS } : {} });
try {
  const issuer = new Issuer({ iss: ISSUER, key: keys.k1.privateJwk });
  const claims = { sub: "agent:load", aud: AUDIENCE, task: "load", scope: "customers:read notes:write",
    res: ["customers/4821", "customers/4821/notes"], ttl: 900 };
  const proofKey = generateProofKey({ alg: "EdDSA" });
  const bound = issuer.mint({ ...claims, cnfJkt: proofKey.jkt });
  const unbound = issuer.mint(claims);

  const rows = [];
  for (const connections of CONNECTION_COUNTS) {
    for (const [name, scheme] of [["Bearer", null], ["DPoP", proofKey.privateJwk]]) {
      for (const [replay, route] of Object.entries(ROUTES)) {
        const result = await load({ base: gw.base, ...route, token: scheme ? bound : unbound,
          key: scheme ?? undefined, connections });
        rows.push({ connections, scheme: name, route: `${route.method} ${route.path}`,
          replay: scheme ? replay : "none (no proof)", ...result });
      }
    }
    origin.seen.length = 0;
  }

  // Sequential, interleaved, microsecond timing: the Durable Object's round trip.
  const samples = { isolate: [], global: [] };
  for (let i = 0; i < SEQUENTIAL + 20; i++) {
    for (const [replay, route] of Object.entries(ROUTES)) {
      const proof = createProof({ key: proofKey.privateJwk, method: route.method, url: `${gw.base}${route.path}`, token: bound });
      const [status, ms] = await timed(gw.base, route.method, route.path, { authorization: `DPoP ${bound}`, dpop: proof });
      if (status !== 200) throw new Error(`${route.path}: ${status}`);
      if (i >= 20) samples[replay].push(ms); // the first 20 warm up
    }
  }
  origin.seen.length = 0;
  const sequential = {};
  for (const [replay, list] of Object.entries(samples)) {
    const sorted = [...list].sort((a, b) => a - b);
    sequential[replay] = { n: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90),
      p99: percentile(sorted, 99) };
  }

  const result = { date: new Date().toISOString(), node: process.version, seconds: SECONDS, rows, sequential };
  mkdirSync(new URL("../../target/bench/", import.meta.url), { recursive: true });
  writeFileSync(new URL("../../target/bench/gateway-dpop-load.json", import.meta.url), JSON.stringify(result, null, 2));
  console.log("| connections | token | route | proof replay decided by | req/s | p50 ms | p99 ms | errors |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.connections} | ${r.scheme} | ${r.route} | ${r.replay} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} |`);
  }
  console.log("\nsequential, interleaved (ms):");
  for (const [replay, s] of Object.entries(sequential)) {
    console.log(`${replay}: n=${s.n} p50 ${s.p50.toFixed(2)} p90 ${s.p90.toFixed(2)} p99 ${s.p99.toFixed(2)}`);
  }
  console.log(`added by the Durable Object: p50 ${(sequential.global.p50 - sequential.isolate.p50).toFixed(2)} ms, ` +
    `p99 ${(sequential.global.p99 - sequential.isolate.p99).toFixed(2)} ms`);
} finally {
  await gw.stop();
  await origin.close();
}
