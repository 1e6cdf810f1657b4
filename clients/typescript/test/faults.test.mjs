// The sidecar frozen (kill -STOP) mid-request and killed mid-batch: the client times out or
// loses its connection, retries with the same ids, and `actlog query` finds every record
// exactly once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ActlogClient, createLogger, uuidv7 } from "@actlog/client";
import { startServer, stored, tempDir, exactlyOnce, sleep } from "./helpers.mjs";

test("kill -STOP mid-request: the client times out, retries after kill -CONT, every record stored once", async () => {
  const dir = tempDir();
  const server = await startServer(dir);
  let retries = 0;
  let timeouts = 0;
  const client = new ActlogClient({
    url: server.url,
    timeoutMs: 300,
    retries: 50,
    backoff: { baseMs: 20, maxMs: 200 },
    onRetry: (info) => {
      retries++;
      if (info.error.kind === "timeout") timeouts++;
    },
  });
  const ids = [];
  // The freeze lands at several points of a request: before the server reads it, while it
  // writes, after it wrote and before the answer left.
  for (const [round, delayMs] of [0, 1, 2, 3, 5, 8].entries()) {
    const batch = Array.from({ length: 200 }, (_, n) => ({ username: "stop", action: "stop.cont", details: { round, n } }));
    const sending = client.log(batch);
    await sleep(delayMs);
    process.kill(server.pid, "SIGSTOP");
    await sleep(700); // longer than the 300 ms timeout: at least one attempt times out
    process.kill(server.pid, "SIGCONT");
    const acks = await sending;
    ids.push(...acks.map((a) => a.id));
  }
  assert.ok(timeouts >= 6, `only ${timeouts} timeouts in 6 freezes (${retries} retries)`);
  const got = await stored(dir, ["--user", "stop"]);
  assert.deepEqual(exactlyOnce(got, ids), { twice: [], missing: [] });
  assert.equal(got.length, 1200);
});

test("the sidecar killed during a batch and started again: the logger loses nothing and stores nothing twice", async () => {
  const dir = tempDir();
  // fsync: a request spends longest between writing and answering, where a kill makes
  // records that are stored but never acknowledged.
  const extra = ["--durability", "fsync"];
  let server = await startServer(dir, { extra });
  const port = server.port;
  const failures = [];
  const logger = createLogger({
    url: server.url,
    timeoutMs: 2000,
    retries: 100,
    backoff: { baseMs: 20, maxMs: 250 },
    maxBatchRecords: 500,
    concurrency: 2,
    maxQueue: 4000, // back-pressure: push() waits while the sidecar is down
    onError: (e, records) => failures.push([e, records.length]),
  });
  const ids = new Set();
  const total = 30_000;
  const killAt = [3000, 7000, 11000, 15000, 19000, 23000];
  let kills = 0;
  // Beside the app's loop: each time enough is sent and a request is in flight, freeze the
  // sidecar a moment into it (so some requests are written but not yet answered), then
  // SIGKILL: no drain, no flush, the answer never comes. Then start it again.
  const killer = (async () => {
    for (const at of killAt) {
      while (!(logger.stats.sent >= at && logger.stats.inFlight > 0)) {
        if (logger.stats.sent + logger.stats.failed >= total) return;
        await new Promise(setImmediate);
      }
      await sleep(kills % 3);
      process.kill(server.pid, "SIGSTOP");
      await sleep(200);
      await server.kill("SIGKILL");
      kills++;
      server = await startServer(dir, { port, extra });
    }
  })();
  for (let n = 0; n < total; n++) {
    await logger.push({ username: "restart", action: "restart.batch", details: { n } });
    // An app does other work between records: let the sends run.
    if (n % 100 === 0) await new Promise(setImmediate);
  }
  await logger.flush();
  await killer;
  const stats = await logger.close();
  assert.equal(kills, killAt.length, `the sidecar was not killed mid-batch: ${JSON.stringify(stats)} ${failures.map(([e]) => e.message).slice(0, 3)}`);
  assert.deepEqual(failures, []);
  assert.equal(stats.sent, total);
  assert.equal(stats.failed, 0);
  assert.ok(stats.retried > 0, "nothing was retried: the kill hit no request");
  const got = await stored(dir, ["--user", "restart"]);
  for (const r of got) ids.add(r.id);
  const ns = got.map((r) => r.details.n).sort((a, b) => a - b);
  assert.equal(ids.size, got.length, `${got.length - ids.size} records stored twice`);
  assert.deepEqual(ns, Array.from({ length: total }, (_, n) => n));
});

test("ids stored before a sidecar restart are recognised after it: resent records are acknowledged, not written again", async () => {
  const dir = tempDir();
  let server = await startServer(dir);
  const port = server.port;
  const batch = Array.from({ length: 300 }, (_, n) => ({ id: uuidv7(), username: "restart-resend", action: "resend", details: { n } }));
  const first = await new ActlogClient({ url: server.url }).log(batch);
  await server.kill("SIGKILL");
  server = await startServer(dir, { port });
  const again = await new ActlogClient({ url: server.url }).log(batch);
  assert.deepEqual(again, first);
  const got = await stored(dir, ["--user", "restart-resend"]);
  assert.deepEqual(exactlyOnce(got, batch.map((r) => r.id)), { twice: [], missing: [] });
  assert.equal(got.length, 300);
});
