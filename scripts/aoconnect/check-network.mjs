// Drives a three-node aonode testnet with the real @permaweb/aoconnect client, through node 2
// only: the module was published on node 0 and the process is scheduled by node 0's SU, so
// node 2's gateway must find the module at its peers and answer the Scheduler-Location of
// node 0's SU from gossip. Run by ../aoconnect-check.sh.
import { readFileSync } from "node:fs";
import { connect, createDataItemSigner } from "@permaweb/aoconnect";
import { connect as schedulerUtils } from "@permaweb/ao-scheduler-utils";

const [node0, node2, walletFile, module, scheduler] = process.argv.slice(2);
const ao = connect({ MODE: "legacy", MU_URL: node2 + "/mu", CU_URL: node2 + "/cu", GATEWAY_URL: node2, GRAPHQL_URL: node2 + "/graphql" });
const signer = createDataItemSigner(JSON.parse(readFileSync(walletFile, "utf8")));

let failed = 0, passed = 0;
function check(name, ok, got) {
  if (ok) { passed++; console.log(`ok    ${name}`); }
  else { failed++; console.log(`FAIL  ${name}: ${JSON.stringify(got).slice(0, 400)}`); }
}
async function attempt(name, fn) {
  try { await fn(); } catch (e) { check(name, false, String(e?.stack || e)); }
}

await attempt("node 2 serves the module published on node 0", async () => {
  const res = await fetch(`${node2}/${module}`, { method: "HEAD" });
  check("node 2 serves the module published on node 0", res.status === 200 && res.headers.get("type") === "Module", res.status);
});

const sched = schedulerUtils({ GRAPHQL_URL: node2 + "/graphql", cacheSize: 10 });
await attempt("node 2 locates node 0's SU", async () => {
  let loc;
  // Locations are gossiped every record interval: give the network a few rounds.
  for (let i = 0; i < 60 && loc?.url !== node0 + "/su"; i++) {
    loc = await sched.raw(scheduler).catch(() => undefined);
    if (loc?.url !== node0 + "/su") await new Promise((ok) => setTimeout(ok, 1000));
  }
  check("node 2 locates node 0's SU", loc?.url === node0 + "/su", loc);
});

await attempt("spawn through node 2 with node 0's module and SU", async () => {
  const pid = await ao.spawn({ module, scheduler, signer, tags: [{ name: "Name", value: "aoconnect-network" }] });
  check("spawn through node 2 with node 0's module and SU", /^[A-Za-z0-9_-]{43}$/.test(pid), pid);
  const mid = await ao.message({ process: pid, signer, tags: [{ name: "Action", value: "Eval" }], data: "return 6 * 7" });
  const r = await ao.result({ process: pid, message: mid });
  check("result through node 2", r.Output?.data?.output === 42, r);
  const located = await sched.locate(pid);
  check("node 2 locates the process's SU", located?.url === node0 + "/su", located);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
