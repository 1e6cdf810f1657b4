// Logs and queries activity through the sidecar with @actlog/client, as the seed's
// TypeScript app would. Build the package first (cd clients/typescript && npm ci && npm run build),
// then: actlog serve &  node examples/node/example.mjs   (ACTLOG_URL to point elsewhere)
// An app imports "@actlog/client"; this example, living in the repository, imports the build.
import { ActlogClient, ActlogError, createLogger } from "../../clients/typescript/dist/index.js";

const actlog = new ActlogClient(); // $ACTLOG_URL, $ACTLOG_TOKEN, else http://127.0.0.1:8417

// The hot path: log() returns at once; records go in batches, with retries that never
// store a record twice (each gets its UUIDv7 id before the first attempt).
const logger = createLogger({ client: actlog });
logger.log({ username: "alice", action: "login", ip_address: "203.0.113.7", user_agent: "Mozilla/5.0" });
const { sent } = await logger.close(); // on shutdown: send what is queued
console.log(`logger sent ${sent} record(s)`);

// Awaited writes, all or nothing per request.
const acks = await actlog.log([
  { username: "alice", action: "report.view", details: { reportId: "r-8812" } },
  { username: "bob", action: "logout" },
]);
console.log(`logged ${acks.map((a) => a.id).join(", ")}`);

// A bad record is refused with its index and field; nothing of the request is written.
try {
  await actlog.log([{ username: "carol", action: "x" }, { username: "dave" }]);
  throw new Error("the invalid batch was accepted");
} catch (e) {
  if (!(e instanceof ActlogError) || e.status !== 400) throw e;
  console.log(`refused as expected: record ${e.index}, field ${e.field}, retryable ${e.retryable}`);
}

// The seed's "recent logs" view: newest first, pages followed as the loop goes.
const recent = [];
for await (const r of actlog.query({ user: "alice", limit: 20 })) recent.push(r);
console.log(`alice's recent activity: ${recent.length} records`);
for (const r of recent) console.log(`  ${r.timestamp} ${r.action}`);

let all = 0;
for await (const _ of actlog.query({ pageSize: 1 })) all++;
console.log(`all records, one per page: ${all}`);
if (all !== 3) throw new Error(`expected 3 records, paged ${all}`);
