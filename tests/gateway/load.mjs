// The gateway load figure (`make load`): requests per second and latency through a gated
// route vs the same route ungated, both in local workerd, driven by autocannon in a second
// process on loopback. Writes target/bench/gateway-load.json and prints a table. The machine
// is shared and noisy: LOAD_ROUNDS (default 3) rounds, ungated and gated alternating, and
// the medians reported (each round's figures are in the JSON). Both Workers run at the same
// wrangler log level (`warn`): the gated one's audit lines are still written (batched,
// docs/gateway.md), wrangler just does not echo them into this process, which is also the
// origin.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mkdirSync, writeFileSync } from "node:fs";
import { Issuer } from "tasktoken";
import { startWrangler } from "../runtime/wrangler.js";
import { AUDIENCE, ISSUER, makeKeys, startGateway, startOrigin } from "./harness.js";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 10);
const CONNECTION_COUNTS = (process.env.LOAD_CONNECTIONS ?? "1,16").split(",").map(Number);
const ROUNDS = Number(process.env.LOAD_ROUNDS ?? 3);
const autocannon = new URL("../node_modules/.bin/autocannon", import.meta.url).pathname;

// Async: the origin answers from this process, so its event loop must keep running.
const run = promisify(execFile);

async function load(url, connections, headers = {}) {
  const args = ["--json", "-c", String(connections), "-d", String(SECONDS)];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}=${v}`);
  // Warm-up, then the measured run.
  await run(autocannon, [...args.slice(0, 3), "-d", "2", ...args.slice(5), url]);
  const out = JSON.parse((await run(autocannon, [...args, url], { maxBuffer: 1 << 26 })).stdout);
  return {
    rps: Math.round(out.requests.average),
    p50: out.latency.p50,
    p99: out.latency.p99,
    errors: out.errors + out.non2xx,
  };
}

const origin = await startOrigin();
const keys = makeKeys();
const gw = await startGateway({ keys, origin, refreshSeconds: 5, logLevel: "warn" });
const ungated = await startWrangler(new URL("./ungated/wrangler.toml", import.meta.url), {
  vars: { ORIGIN_URL: origin.url },
});
try {
  const token = new Issuer({ iss: ISSUER, key: keys.k1.privateJwk }).mint({
    sub: "agent:load", aud: AUDIENCE, task: "load", scope: "customers:read",
    res: ["customers/4821"], ttl: 900,
  });
  const rows = [];
  for (const connections of CONNECTION_COUNTS) {
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const base = await load(`${ungated.url}customers/4821`, connections);
      const gated = await load(`${gw.base}/customers/4821`, connections,
        { authorization: `Bearer ${token}` });
      origin.seen.length = 0;
      rounds.push({ ungated: base, gated, ratio: gated.rps / base.rps });
    }
    const mid = (values) => values.sort((a, b) => a - b)[(values.length - 1) >> 1];
    const median = (side) => Object.fromEntries(["rps", "p50", "p99", "errors"]
      .map((key) => [key, key === "errors" ? rounds.reduce((n, r) => n + r[side].errors, 0)
        : mid(rounds.map((r) => r[side][key]))]));
    const base = median("ungated");
    const gated = median("gated");
    rows.push({
      connections, ungated: base, gated,
      addedLatencyMs: { p50: gated.p50 - base.p50, p99: gated.p99 - base.p99 },
      throughputRatio: Number((gated.rps / base.rps).toFixed(3)),
      ratioPerRound: rounds.map((r) => Number(r.ratio.toFixed(3))),
      rounds,
    });
  }
  const result = { date: new Date().toISOString(), node: process.version, seconds: SECONDS, rounds: ROUNDS, rows };
  mkdirSync(new URL("../../target/bench/", import.meta.url), { recursive: true });
  writeFileSync(new URL("../../target/bench/gateway-load.json", import.meta.url), JSON.stringify(result, null, 2));
  console.log("| connections | route | req/s | p50 ms | p99 ms | errors |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) {
    for (const [name, m] of [["ungated proxy", r.ungated], ["gated (task token verified)", r.gated]]) {
      console.log(`| ${r.connections} | ${name} | ${m.rps} | ${m.p50} | ${m.p99} | ${m.errors} |`);
    }
  }
  for (const r of rows) {
    console.log(`c=${r.connections}: added latency p50 ${r.addedLatencyMs.p50} ms, ` +
      `p99 ${r.addedLatencyMs.p99} ms; throughput ratio ${r.throughputRatio} (medians of ${ROUNDS}; ` +
      `per round ${r.ratioPerRound.join(", ")})`);
  }
} finally {
  await gw.stop();
  await ungated.stop();
  await origin.close();
}
