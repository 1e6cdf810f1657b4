// Logs and queries activity through the sidecar, as the seed's TypeScript app would.
// Run: actlog serve &  node examples/node/example.mjs   (ACTLOG_URL to point elsewhere)
import { ActlogClient, ActlogError } from "./actlog-client.mjs";

const actlog = new ActlogClient({ token: process.env.ACTLOG_TOKEN });

// The app's "activity logging API endpoint" would call this per event; the end user's
// address and agent come from the app (it knows them), never from proxy headers.
const [login] = await actlog.log({
  username: "alice",
  action: "login",
  ip_address: "203.0.113.7",
  user_agent: "Mozilla/5.0",
});
console.log(`logged login ${login.id} at ${login.timestamp}`);

// Several at once: all or nothing.
await actlog.log([
  { username: "alice", action: "report.view", details: { reportId: "r-8812" } },
  { username: "bob", action: "logout" },
]);

// A bad record is refused with its index and field; nothing of the request is written.
try {
  await actlog.log([{ username: "carol", action: "x" }, { username: "dave" }]);
  throw new Error("the invalid batch was accepted");
} catch (e) {
  if (!(e instanceof ActlogError) || e.status !== 400) throw e;
  console.log(`refused as expected: record ${e.body.index}, field ${e.body.field}`);
}

// The seed's "recent logs" view: newest first, one page.
const page = await actlog.query({ user: "alice", limit: 20 });
console.log(`alice's recent activity: ${page.records.length} records`);
for (const r of page.records) console.log(`  ${r.timestamp} ${r.action}`);

let all = 0;
for await (const _ of actlog.all({ limit: 1 })) all++;
console.log(`all records, one per page: ${all}`);
if (all !== 3) throw new Error(`expected 3 records, paged ${all}`);
