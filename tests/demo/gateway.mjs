// The demo behind `make demo`: the edge gateway in local workerd, one agent, one task.
import { Issuer, completeTask } from "tasktoken";
import { ISSUER, AUDIENCE, makeKeys, rawRequest, startGateway, startOrigin } from "../gateway/harness.js";

const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s) => console.log(s);
const show = (label, res) => {
  const body = typeof res.body === "object" ? JSON.stringify(res.body) : res.body;
  say(`   ${label} → ${bold(res.status)} ${body}`);
};

say(bold("tasktoken: an edge gateway that lets an agent do exactly one task\n"));
const origin = await startOrigin();
const keys = makeKeys();
say("1. Start the gateway in real workerd (wrangler dev, local, offline), in front of a CRM API.");
const gw = await startGateway({ keys, origin, refreshSeconds: 2 });
try {
  say(`   gateway at ${gw.base}, origin at ${origin.url}\n`);
  say("2. The issuer mints a task token for agent:lookup-bot — task lookup-4821:");
  say("   customers:read on customers/4821, for 5 minutes, audience crm-api.");
  const issuer = new Issuer({ iss: ISSUER, key: keys.k1.privateJwk });
  const token = issuer.mint({
    sub: "agent:lookup-bot", aud: AUDIENCE, task: "lookup-4821", scope: "customers:read",
    res: ["customers/4821"], ttl: 300,
  });
  say(`   ${token.slice(0, 32)}… (${token.length} bytes)\n`);
  say("3. The agent does its task:");
  show("GET /customers/4821", await rawRequest(gw.base, "/customers/4821", { token }));
  say("\n4. …and tries to do more:");
  show("GET /customers/4822", await rawRequest(gw.base, "/customers/4822", { token }));
  show("POST /datasets/4821/export", await rawRequest(gw.base, "/datasets/4821/export", { method: "POST", token }));
  show("GET /customers/4821/../4822", await rawRequest(gw.base, "/customers/4821/../4822", { token }));
  show("GET /customers/4821 (no token)", await rawRequest(gw.base, "/customers/4821"));
  say("\n5. The task is done: completeTask(token, authority) revokes it at the edge authority.");
  await completeTask(token, `${gw.base}/_tasktoken/revoke`);
  say("   revoked; the signed filter is published to KV and every isolate picks it up.\n");
  say("6. The same token, a moment later:");
  show("GET /customers/4821", await rawRequest(gw.base, "/customers/4821", { token }));
  say(`\n   The origin saw ${origin.seen.length} request(s), all of them allowed ones.`);
} finally {
  await gw.stop();
  await origin.close();
}
