// The load client of dpop-load.mjs, run in its own process: autocannon with a fresh DPoP
// proof on every request, from a batch signed before the run (signing is the client's cost,
// not the gateway's, and must not slow the load down). Input: one JSON argument
// `{ base, method, path, token, key, connections, seconds, count }` (`key` the proof key's
// private JWK; omitted: Bearer, no proof). Output: one JSON line with req/s, p50, p99 and
// errors of the measured run, after a 2 s warm-up.
import autocannon from "autocannon";
import { createProof } from "tasktoken";

const { base, method, path, token, key, connections, seconds, count } = JSON.parse(process.argv[2]);
const url = `${base}${path}`;
const proofs = [];
if (key) for (let i = 0; i < count; i++) proofs.push(createProof({ key, method, url, token }));
let used = 0;

/**
 * One autocannon run of `duration` seconds; every request takes the next proof of the batch
 * (a run that would need more than the batch fails rather than reuse one).
 */
function run(duration) {
  return autocannon({
    url: base,
    connections,
    duration,
    requests: [{
      method,
      path,
      setupRequest(request) {
        const headers = { ...request.headers };
        if (key) {
          if (used >= proofs.length) throw new Error("the batch of proofs is used up; raise count");
          headers.authorization = `DPoP ${token}`;
          headers.dpop = proofs[used++];
        } else {
          headers.authorization = `Bearer ${token}`;
        }
        return { ...request, headers };
      },
    }],
  });
}

await run(2);
const out = await run(seconds);
console.log(JSON.stringify({
  rps: Math.round(out.requests.average),
  p50: out.latency.p50,
  p99: out.latency.p99,
  errors: out.errors + out.non2xx,
  proofsUsed: used,
}));
