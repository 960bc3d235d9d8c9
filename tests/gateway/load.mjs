// The gateway load figure (`make load`): requests per second and latency through a gated
// route vs the same route ungated, both in local workerd, driven by autocannon in a second
// process on loopback. Writes target/bench/gateway-load.json and prints a table.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { Issuer } from "tasktoken";
import { startWrangler } from "../runtime/wrangler.js";
import { AUDIENCE, ISSUER, makeKeys, startGateway, startOrigin } from "./harness.js";

const SECONDS = Number(process.env.LOAD_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.LOAD_CONNECTIONS ?? 16);
const autocannon = new URL("../node_modules/.bin/autocannon", import.meta.url).pathname;

function load(url, headers = {}) {
  const args = ["--json", "-c", String(CONNECTIONS), "-d", String(SECONDS)];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}=${v}`);
  // Warm-up, then the measured run.
  execFileSync(autocannon, [...args.slice(0, 3), "-d", "2", ...args.slice(5), url], { stdio: "ignore" });
  const out = JSON.parse(execFileSync(autocannon, [...args, url], { encoding: "utf8", maxBuffer: 1 << 26 }));
  return {
    rps: Math.round(out.requests.average),
    p50: out.latency.p50,
    p99: out.latency.p99,
    errors: out.errors + out.non2xx,
  };
}

const origin = await startOrigin();
const keys = makeKeys();
const gw = await startGateway({ keys, origin, refreshSeconds: 5 });
const ungated = await startWrangler(new URL("./ungated/wrangler.toml", import.meta.url), {
  vars: { ORIGIN_URL: origin.url },
});
try {
  const token = new Issuer({ iss: ISSUER, key: keys.k1.privateJwk }).mint({
    sub: "agent:load", aud: AUDIENCE, task: "load", scope: "customers:read",
    res: ["customers/4821"], ttl: 900,
  });
  const base = load(`${ungated.url}customers/4821`);
  origin.seen.length = 0;
  const gated = load(`${gw.base}/customers/4821`, { authorization: `Bearer ${token}` });
  origin.seen.length = 0;
  const result = {
    date: new Date().toISOString(), node: process.version, seconds: SECONDS,
    connections: CONNECTIONS, ungated: base, gated,
    addedLatencyMs: { p50: gated.p50 - base.p50, p99: gated.p99 - base.p99 },
    throughputRatio: Number((gated.rps / base.rps).toFixed(3)),
  };
  mkdirSync(new URL("../../target/bench/", import.meta.url), { recursive: true });
  writeFileSync(new URL("../../target/bench/gateway-load.json", import.meta.url), JSON.stringify(result, null, 2));
  console.log(`| route | req/s | p50 ms | p99 ms | errors |`);
  console.log(`|---|---|---|---|---|`);
  console.log(`| ungated proxy | ${base.rps} | ${base.p50} | ${base.p99} | ${base.errors} |`);
  console.log(`| gated (task token verified) | ${gated.rps} | ${gated.p50} | ${gated.p99} | ${gated.errors} |`);
  console.log(`added latency p50 ${result.addedLatencyMs.p50} ms, p99 ${result.addedLatencyMs.p99} ms; throughput ratio ${result.throughputRatio}`);
} finally {
  await gw.stop();
  await ungated.stop();
  await origin.close();
}
