// Every call of ActlogClient against a real `actlog serve`, judged by `actlog query` and by
// the `uuid` package (an independent UUID implementation).
import { test, before } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { validate as uuidValidate, version as uuidVersion } from "uuid";
import { ActlogClient, ActlogError, uuidv7 } from "@actlog/client";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, stored, tempDir, exactlyOnce, cleanup, utcDay } from "./helpers.mjs";

let server;
let client;
let dir;

before(async () => {
  dir = tempDir();
  server = await startServer(dir);
  client = new ActlogClient({ url: server.url, timeoutMs: 10_000 });
});

test("log() of one record resolves to its id and timestamp; the record is in the day file", async () => {
  const ack = await client.log({
    username: "Zoë 名前 🚀",
    action: "report.view",
    details: { reportId: "r-8812", quote: "\"'\n\t<script>", big: 100000000000000000001n.toString() },
    ip_address: "::ffff:203.0.113.7",
    user_agent: "Mozilla/5.0 (tëst)",
  });
  assert.ok(uuidValidate(ack.id) && uuidVersion(ack.id) === 7, `not a UUIDv7: ${ack.id}`);
  assert.match(ack.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const [rec] = await stored(dir, ["--user", "Zoë 名前 🚀"]);
  assert.equal(rec.id, ack.id);
  assert.equal(rec.details.quote, "\"'\n\t<script>");
  assert.equal(rec.ip_address, "203.0.113.7");
  assert.equal(rec.user_agent, "Mozilla/5.0 (tëst)");
  const [read] = await client.page({ user: "Zoë 名前 🚀" }).then((p) => p.records);
  assert.deepEqual(read, rec);
});

test("fields another program wrote that the store does not know come back from query()", async () => {
  // A line in today's day file, as an older or newer writer might leave it.
  const line = JSON.stringify({ id: uuidv7(), timestamp: new Date().toISOString(), username: "other-writer", action: "x", x_tenant: "acme", x_n: 1.50 });
  appendFileSync(join(dir, `activity-${utcDay(0)}.json`), line.replace('"x_n":1.5', '"x_n":1.50') + "\n");
  const [r] = await client.page({ user: "other-writer" }).then((p) => p.records);
  assert.equal(r.x_tenant, "acme");
  assert.equal(r.x_n, 1.5);
});

test("uuidv7() gives valid, strictly increasing ids carrying the current time", () => {
  const t0 = Date.now();
  const ids = Array.from({ length: 20_000 }, () => uuidv7());
  const t1 = Date.now();
  for (const id of ids) assert.ok(uuidValidate(id) && uuidVersion(id) === 7, id);
  assert.equal(new Set(ids).size, ids.length);
  const sorted = [...ids].sort();
  assert.deepEqual(sorted, ids, "ids are not in increasing order");
  const ms = (id) => parseInt(id.replace(/-/g, "").slice(0, 12), 16);
  assert.ok(ms(ids[0]) >= t0 && ms(ids[0]) <= t1 + 1);
  // The same millisecond many times over, and a clock that steps back, still increase.
  const same = Array.from({ length: 5000 }, () => uuidv7(1_700_000_000_000));
  assert.deepEqual([...same].sort(), same);
  assert.equal(new Set(same).size, same.length);
});

test("log() of 2,500 records splits them into requests of at most 1,000 and stores each once", async () => {
  const records = Array.from({ length: 2500 }, (_, n) => ({ username: "bulk", action: "bulk.add", details: { n } }));
  const acks = await client.log(records);
  assert.equal(acks.length, 2500);
  const got = await stored(dir, ["--user", "bulk"]);
  assert.deepEqual(got.map((r) => r.details.n), records.map((_, n) => n));
  assert.deepEqual(got.map((r) => r.id), acks.map((a) => a.id));
});

test("log() over 1 MiB in all is split by size; each request stays under the limit", async () => {
  const blob = "é".repeat(30_000); // 60 KB of UTF-8 per record (lines are at most 64 KiB), 1.2 MB in all
  const records = Array.from({ length: 20 }, (_, n) => ({ username: "big", action: "big.add", details: { n, blob } }));
  const acks = await client.log(records);
  assert.equal(acks.length, 20);
  const got = await stored(dir, ["--user", "big"]);
  assert.equal(got.length, 20);
  assert.ok(got.every((r) => r.details.blob === blob));
});

test("an invalid record is a 400 ActlogError naming its index in the caller's array and its field, never retried", async () => {
  const records = Array.from({ length: 1500 }, (_, n) => ({ username: "badbatch", action: "ok", details: { n } }));
  delete records[1200].action;
  let retries = 0;
  const c = new ActlogClient({ url: server.url, onRetry: () => retries++ });
  const err = await c.log(records).catch((e) => e);
  assert.ok(err instanceof ActlogError, String(err));
  assert.equal(err.status, 400);
  assert.equal(err.kind, "http");
  assert.equal(err.index, 1200);
  assert.equal(err.field, "action");
  assert.equal(err.retryable, false);
  assert.equal(err.attempts, 1);
  assert.equal(retries, 0);
  assert.match(err.error, /action/);
  // The first request (records 0-999) went in; the second, holding the bad one, not at all.
  const got = await stored(dir, ["--user", "badbatch"]);
  assert.equal(got.length, 1000);
});

test("query() follows next_cursor across pages, newest first, with limit, order and filters", async () => {
  const records = Array.from({ length: 53 }, (_, n) => ({ username: n % 2 ? "pg-odd" : "pg-even", action: `page.${n}`, details: { n } }));
  await client.log(records);
  const all = [];
  for await (const r of client.query({ user: ["pg-odd", "pg-even"], pageSize: 7 })) all.push(r.details.n);
  assert.deepEqual(all, records.map((_, n) => n).reverse());
  const oldest = [];
  for await (const r of client.query({ user: "pg-odd", order: "oldest", pageSize: 5 })) oldest.push(r.details.n);
  assert.deepEqual(oldest, records.map((_, n) => n).filter((n) => n % 2));
  const few = [];
  for await (const r of client.query({ user: "pg-even", limit: 9, pageSize: 4 })) few.push(r.details.n);
  assert.equal(few.length, 9);
  const matched = [];
  for await (const r of client.query({ user: "pg-even", where: "details.n>=40", since: new Date(Date.now() - 3600_000) })) matched.push(r.details.n);
  assert.deepEqual(matched, [52, 50, 48, 46, 44, 42, 40]);
  const page = await client.page({ user: "pg-odd", limit: 3 });
  assert.equal(page.records.length, 3);
  assert.equal(typeof page.next_cursor, "string");
});

test("a bad filter is a 400 naming the parameter", async () => {
  const err = await client.page({ since: "2026-11-31" }).catch((e) => e);
  assert.ok(err instanceof ActlogError);
  assert.equal(err.status, 400);
  assert.equal(err.parameter, "since");
  assert.equal(err.retryable, false);
});

test("stats(), health() and ready() answer", async () => {
  const stats = await client.stats();
  assert.ok(Array.isArray(stats.days) && stats.days.length >= 1);
  assert.equal(typeof stats.total, "object");
  const total = (await stored(dir)).length;
  assert.equal(stats.total.records, total);
  assert.deepEqual(await client.health(), { status: "ok" });
  assert.deepEqual(await client.ready(), { ready: true });
});

test("an AbortSignal cancels a call at once, and a timeout is a retryable ActlogError", async () => {
  // A server that accepts and never answers.
  const silent = http.createServer(() => {});
  await new Promise((r) => silent.listen(0, "127.0.0.1", r));
  cleanup(() => silent.close());
  silent.closeAllConnections?.();
  const url = `http://127.0.0.1:${silent.address().port}`;
  const c = new ActlogClient({ url, timeoutMs: 150, retries: 2, backoff: { baseMs: 10, maxMs: 20 } });
  const err = await c.stats().catch((e) => e);
  assert.ok(err instanceof ActlogError, String(err));
  assert.equal(err.kind, "timeout");
  assert.equal(err.retryable, true);
  assert.equal(err.attempts, 3);
  const ac = new AbortController();
  const slow = new ActlogClient({ url, timeoutMs: 60_000 });
  const pending = slow.log({ username: "a", action: "b" }, { signal: ac.signal });
  const reason = new Error("caller gave up");
  setTimeout(() => ac.abort(reason), 50);
  assert.equal(await pending.catch((e) => e), reason);
  // Already aborted: nothing is sent.
  assert.equal(await slow.health({ signal: AbortSignal.abort(reason) }).catch((e) => e), reason);
  silent.closeAllConnections();
});

test("connection errors are retried, then a retryable 'network' ActlogError", async () => {
  const probe = http.createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const port = probe.address().port;
  await new Promise((r) => probe.close(r));
  let retries = 0;
  const c = new ActlogClient({ url: `http://127.0.0.1:${port}`, retries: 3, backoff: { baseMs: 5, maxMs: 10 }, onRetry: () => retries++ });
  const err = await c.log({ username: "x", action: "y" }).catch((e) => e);
  assert.ok(err instanceof ActlogError);
  assert.equal(err.kind, "network");
  assert.equal(err.retryable, true);
  assert.equal(retries, 3);
  assert.match(err.message, /ECONNREFUSED/);
});

test("429 and 503 are retried honouring Retry-After; the retried record is stored once", async () => {
  // A proxy in front of the real sidecar: refuses the first two POSTs, passes the rest on.
  const statuses = [429, 503];
  const seen = [];
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      seen.push({ method: req.method, at: Date.now() });
      if (req.method === "POST" && statuses.length > 0) {
        res.writeHead(statuses.shift(), { "content-type": "application/json", "retry-after": "1" });
        res.end(JSON.stringify({ error: "busy" }));
        return;
      }
      const up = http.request(server.url + req.url, { method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  cleanup(() => proxy.close());
  const c = new ActlogClient({ url: `http://127.0.0.1:${proxy.address().port}`, backoff: { baseMs: 1, maxMs: 2 } });
  const ack = await c.log({ username: "retry-after", action: "try" });
  assert.equal(seen.length, 3);
  // Retry-After: 1 was honoured both times.
  assert.ok(seen[1].at - seen[0].at >= 990, `${seen[1].at - seen[0].at} ms`);
  assert.ok(seen[2].at - seen[1].at >= 990, `${seen[2].at - seen[1].at} ms`);
  const got = await stored(dir, ["--user", "retry-after"]);
  assert.deepEqual(got.map((r) => r.id), [ack.id]);
  proxy.closeAllConnections();
});

test("a record sent again with the same id is acknowledged with its stored timestamp and not written twice", async () => {
  const id = uuidv7();
  const first = await client.log({ id, username: "resend", action: "once", timestamp: "2026-01-02T03:04:05.006Z" });
  const again = await client.log({ id, username: "resend", action: "once", timestamp: "2026-01-02T09:09:09.999Z" });
  assert.deepEqual(again, first);
  const batch = Array.from({ length: 10 }, (_, n) => ({ id: uuidv7(), username: "resend", action: "batch", details: { n } }));
  const a1 = await client.log(batch);
  const a2 = await client.log(batch);
  assert.deepEqual(a2, a1);
  const got = await stored(dir, ["--user", "resend"]);
  const { twice, missing } = exactlyOnce(got, [id, ...batch.map((r) => r.id)]);
  assert.deepEqual({ twice, missing }, { twice: [], missing: [] });
  assert.equal(got.length, 11);
});
