// The export-links demo server: serves the page (js/demo/exports/) and the package, the
// issuer's JWKS and the signed revocation snapshot, mints a few export links, and serves
// downloads gated by the guard — single use: a successful download revokes its token.
// `node tests/demo/exports-server.mjs` serves it until Ctrl-C (`make demo-exports`).
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import {
  Issuer, RevocationReplica, Verifier, generateKey, guardNode, mintLink, signRevocationSnapshot,
} from "tasktoken";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ISS = "https://auth.example";
const AUD = "exports";
const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".wasm": "application/wasm", ".svg": "image/svg+xml",
};
const DATASETS = {
  1234: "region,revenue\nnorth,1200\nsouth,900\n",
  1235: "sku,units\nA-1,40\nB-7,12\n",
  1236: "day,signups\nmon,31\ntue,28\n",
  1237: "team,tickets\ncore,14\nedge,9\n",
  1238: "month,churn\njan,2.1\nfeb,1.8\n",
  1239: "host,uptime\nweb-1,99.98\nweb-2,99.91\n",
};

export async function startExportsServer({ port = 0 } = {}) {
  const { privateJwk, publicJwk } = generateKey({ kid: "exports-2026-11" });
  const jwks = { keys: [publicJwk] };
  const issuer = new Issuer({ iss: ISS, key: privateJwk });
  // The authority: the exact revoked set, published as a signed snapshot on every change.
  const revoked = new Map();
  let serial = 0;
  let snapshot;
  const publish = () => {
    const now = Math.floor(Date.now() / 1000);
    serial += 1;
    snapshot = signRevocationSnapshot(privateJwk,
      { issuer: ISS, jtis: [...revoked.keys()], serial, issuedAt: now, nextUpdate: now + 300 });
  };
  publish();
  const replica = new RevocationReplica({ keys: jwks, loader: () => snapshot, interval: 1 });
  await replica.refresh();
  const verifier = new Verifier({ issuers: { [ISS]: jwks }, audience: AUD, revocation: replica });

  const now = () => Math.floor(Date.now() / 1000);
  const link = (id, ttl, extra = {}) => mintLink(issuer, {
    url: `http://host/exports/${id}/download`, sub: "user:alice", aud: AUD,
    task: `export-${id}`, action: "datasets:export", resource: `datasets/${id}`, ttl, ...extra,
  });
  const links = () => {
    const tamper = (url) => {
      const [base, token] = url.split("#tt=");
      const [h, p, s] = token.split(".");
      const claims = JSON.parse(Buffer.from(p, "base64url"));
      claims.res = ["datasets/*"];
      return `${base}#tt=${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    };
    const revokedLink = link(1238, 600);
    const jti = JSON.parse(Buffer.from(revokedLink.split("#tt=")[1].split(".")[1], "base64url")).jti;
    revoked.set(jti, now() + 600);
    publish();
    const expired = mintLink({ mint: (r) => issuer.mint(r, { now: now() - 400 }) }, {
      url: "http://host/exports/1236/download", sub: "user:alice", aud: AUD, task: "export-1236",
      action: "datasets:export", resource: "datasets/1236", ttl: 300,
    });
    return [
      { label: "Q3 revenue by region", resource: "datasets/1234", kind: "fresh", url: link(1234, 300) },
      { label: "Inventory snapshot", resource: "datasets/1235", kind: "expiring", url: link(1235, 25) },
      { label: "Weekly signups", resource: "datasets/1236", kind: "expired", url: expired },
      { label: "Support tickets", resource: "datasets/1237", kind: "tampered", url: tamper(link(1237, 300)) },
      { label: "Churn by month", resource: "datasets/1238", kind: "revoked", url: revokedLink },
      { label: "Q3 revenue (link for another dataset)", resource: "datasets/1234",
        kind: "wrong-resource", url: link(1240, 300) },
      { label: "Host uptime", resource: "datasets/1239", kind: "scheduled",
        url: link(1239, 300, { nbf: now() + 90 }) },
    ].map((l) => ({ ...l, url: l.url.replace("http://host", "") }));
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url, "http://localhost");
    const path = url.pathname;
    const json = (status, body) => {
      res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    if (path === "/") {
      res.writeHead(302, { location: "/js/demo/exports/" }).end();
      return;
    }
    if (path === "/api/jwks") return json(200, jwks);
    if (path === "/api/links") return json(200, links());
    if (path === "/api/revocation/snapshot") {
      res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" });
      return res.end(snapshot);
    }
    const download = /^\/exports\/(\d+)\/download$/.exec(path);
    if (download) {
      await replica.refresh();
      const claims = guardNode(req, res, verifier,
        { action: "datasets:export", resource: `datasets/${download[1]}` });
      if (!claims) return;
      // Single use: revoke before answering, so a second request is refused.
      revoked.set(claims.jti, claims.exp);
      publish();
      await replica.refresh();
      res.writeHead(200, {
        "content-type": "text/csv",
        "content-disposition": `attachment; filename="dataset-${download[1]}.csv"`,
        "cache-control": "no-store",
        "referrer-policy": "no-referrer",
      });
      return res.end(DATASETS[download[1]] ?? "empty\n");
    }
    // Static files: the demo page and the package (never anything else).
    const file = normalize(decodeURIComponent(path));
    const allowed = file.startsWith("/js/demo/") || file.startsWith("/js/dist-web/") ||
      file.startsWith("/js/wasm/");
    if (!allowed || file.includes("..")) return json(404, { error: "not found" });
    try {
      const body = await readFile(join(ROOT, file.endsWith("/") ? `${file}index.html` : file));
      res.writeHead(200, {
        "content-type": TYPES[extname(file.endsWith("/") ? "x.html" : file)] ?? "application/octet-stream",
        "referrer-policy": "no-referrer",
      });
      res.end(body);
    } catch {
      json(404, { error: "not found" });
    }
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startExportsServer({ port: Number(process.env.PORT ?? 8790) });
  console.log(`export links demo: ${server.url}/  (Ctrl-C to stop)`);
}
