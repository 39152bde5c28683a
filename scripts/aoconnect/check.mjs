// Drives a running aonode with the real @permaweb/aoconnect client (legacy mode): spawn,
// message, result, dryrun, results, monitor, unmonitor, assign, and an outbox reply; the SU
// look-ups of @permaweb/ao-scheduler-utils (Scheduler-Location by GraphQL), getMessages as
// aoconnect calls it (no process-id) and message({returnAssignmentSlot}).
// Run by ../aoconnect-check.sh, which installs aoconnect and starts the node.
import { readFileSync } from "node:fs";
import { connect, createDataItemSigner } from "@permaweb/aoconnect";
import { connect as schedulerUtils } from "@permaweb/ao-scheduler-utils";

const [base, walletFile, module, scheduler] = process.argv.slice(2);
const ao = connect({ MODE: "legacy", MU_URL: base + "/mu", CU_URL: base + "/cu", GATEWAY_URL: base, GRAPHQL_URL: base + "/graphql" });
const signer = createDataItemSigner(JSON.parse(readFileSync(walletFile, "utf8")));

let failed = 0, passed = 0;
function check(name, ok, got) {
  if (ok) { passed++; console.log(`ok    ${name}`); }
  else { failed++; console.log(`FAIL  ${name}: ${JSON.stringify(got).slice(0, 400)}`); }
}
// attempt runs a check whose call may throw, reporting the error as its failure.
async function attempt(name, fn) {
  try { await fn(); } catch (e) { check(name, false, String(e?.stack || e)); }
}

const pid = await ao.spawn({ module, scheduler, signer, tags: [{ name: "Name", value: "aoconnect-check" }] });
check("spawn returns a process id", /^[A-Za-z0-9_-]{43}$/.test(pid), pid);

const mid = await ao.message({ process: pid, signer, tags: [{ name: "Action", value: "Eval" }],
  data: "Handlers.add('ping', Handlers.utils.hasMatchingTag('Action','Ping'), function(m) Send({Target=m.From, Data='pong'}) end) return 40 + 2" });
check("message returns an id", /^[A-Za-z0-9_-]{43}$/.test(mid), mid);

const r = await ao.result({ process: pid, message: mid });
check("result of Eval", r.Output?.data?.output === 42, r);

const d = await ao.dryrun({ process: pid, tags: [{ name: "Action", value: "Ping" }] });
check("dryrun answers with the outbox", Array.isArray(d.Messages) && d.Messages[0]?.Data === "pong", d);

const rs = await ao.results({ process: pid, sort: "DESC", limit: 5 });
check("results lists evaluations", Array.isArray(rs.edges) && rs.edges.length >= 1 && typeof rs.edges[0].cursor === "string", rs);

const m2 = await ao.message({ process: pid, signer, tags: [{ name: "Action", value: "Ping" }] });
const r2 = await ao.result({ process: pid, message: m2 });
check("handler sends a reply with an anchor", r2.Messages?.[0]?.Data === "pong" && r2.Messages[0].Anchor?.length === 32, r2);

check("monitor", /^[A-Za-z0-9_-]{43}$/.test(await ao.monitor({ process: pid, signer })), "");
check("unmonitor", /^[A-Za-z0-9_-]{43}$/.test(await ao.unmonitor({ process: pid, signer })), "");

const aid = await ao.assign({ process: pid, message: m2 });
check("assign returns the assignment id", /^[A-Za-z0-9_-]{43}$/.test(aid), aid);

// The SU is found by its Scheduler-Location, as the reference MU, CU and aos find it.
const sched = schedulerUtils({ GRAPHQL_URL: base + "/graphql", cacheSize: 10 });
await attempt("Scheduler-Location of the node's SU", async () => {
  const loc = await sched.raw(scheduler);
  check("Scheduler-Location of the node's SU", loc?.url === base + "/su", loc);
});
await attempt("the scheduler validates", async () => {
  check("the scheduler validates", (await sched.validate(scheduler)) === true, "");
});
await attempt("locate by the process", async () => {
  const located = await sched.locate(pid);
  check("locate by the process", located?.url === base + "/su" && located?.address === scheduler, located);
});

// getMessages: GET {su}/{process}?from&to&limit with no process-id.
await attempt("getMessages without process-id", async () => {
  const res = await fetch(`${base}/su/${pid}?from=0&to=${Date.now() + 60_000}&limit=100`);
  const body = await res.json();
  check("getMessages without process-id", res.status === 200 && Array.isArray(body.edges) && body.edges.length >= 3, body);
});

// message({returnAssignmentSlot}): locate, then the assignment's Nonce from the SU.
await attempt("message returns the assignment slot", async () => {
  const slot = await ao.message({ process: pid, signer, tags: [{ name: "Action", value: "Ping" }], returnAssignmentSlot: true });
  if (typeof slot === "string" && /^[A-Za-z0-9_-]{43}$/.test(slot)) {
    console.log("skip  message returns the assignment slot: this aoconnect ignores returnAssignmentSlot");
    return;
  }
  const n = Number(typeof slot === "object" ? slot?.slot : slot);
  check("message returns the assignment slot", Number.isInteger(n) && n >= 3, slot);
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
