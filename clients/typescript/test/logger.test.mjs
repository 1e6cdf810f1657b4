// The batching logger against a real sidecar: batching by size and age, a bad record
// reported alone, overflow never silent, back-pressure, flush/close, the SIGTERM hook.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import http from "node:http";
import { createLogger, ActlogQueueFullError, ActlogClosedError, ActlogError } from "@actlog/client";
import { startServer, stored, tempDir, cleanup } from "./helpers.mjs";

let server;
let dir;
/** A proxy in front of the sidecar counting POST bodies' record counts. */
let proxyUrl;
const batches = [];

before(async () => {
  dir = tempDir();
  server = await startServer(dir);
  const proxy = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method === "POST") batches.push(JSON.parse(body.toString()).length);
      const up = http.request(server.url + req.url, { method: req.method, headers: req.headers }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.end(body);
    });
  });
  await new Promise((r) => proxy.listen(0, "127.0.0.1", r));
  cleanup(() => {
    proxy.closeAllConnections();
    return new Promise((r) => proxy.close(r));
  });
  proxyUrl = `http://127.0.0.1:${proxy.address().port}`;
});

test("log() returns at once; records go in batches of maxBatchRecords, and a partial batch after maxDelayMs", async () => {
  batches.length = 0;
  const logger = createLogger({ url: proxyUrl, maxBatchRecords: 100, maxDelayMs: 30, concurrency: 1 });
  for (let n = 0; n < 250; n++) assert.equal(logger.log({ username: "batch", action: "b", details: { n } }), true);
  assert.equal(logger.stats.sent, 0, "log() waited for the network");
  // No flush: the last 50 go when their age limit passes.
  const deadline = Date.now() + 10_000;
  while (logger.stats.sent < 250 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(batches, [100, 100, 50]);
  const got = await stored(dir, ["--user", "batch"]);
  assert.deepEqual(got.map((r) => r.details.n), Array.from({ length: 250 }, (_, n) => n));
  await logger.close();
});

test("a record the sidecar refuses is reported alone; the rest of its batch is stored", async () => {
  const errors = [];
  const logger = createLogger({ url: server.url, onError: (e, recs) => errors.push([e, recs]) });
  for (let n = 0; n < 20; n++) {
    logger.log(n === 7 ? { username: "iso", action: "x", ip_address: "not-an-ip", details: { n } } : { username: "iso", action: "ok", details: { n } });
  }
  const stats = await logger.flush();
  assert.equal(stats.sent, 19);
  assert.equal(stats.failed, 1);
  assert.equal(errors.length, 1);
  const [err, recs] = errors[0];
  assert.ok(err instanceof ActlogError);
  assert.equal(err.status, 400);
  assert.equal(err.field, "ip_address");
  assert.equal(recs.length, 1);
  assert.equal(recs[0].details.n, 7);
  const got = await stored(dir, ["--user", "iso"]);
  assert.deepEqual(got.map((r) => r.details.n), Array.from({ length: 20 }, (_, n) => n).filter((n) => n !== 7));
  await logger.close();
});

test("a full queue is never a silent drop: onOverflow gets the record, or log() throws; push() waits for room", async () => {
  // A sidecar that is down: nothing leaves the queue.
  const probe = http.createServer();
  await new Promise((r) => probe.listen(0, "127.0.0.1", r));
  const deadUrl = `http://127.0.0.1:${probe.address().port}`;
  await new Promise((r) => probe.close(r));
  const overflowed = [];
  const withCallback = createLogger({ url: deadUrl, retries: 0, maxQueue: 5, maxDelayMs: 60_000, onOverflow: (r) => overflowed.push(r), onError: () => {} });
  for (let n = 0; n < 8; n++) withCallback.log({ username: "of", action: "a", details: { n } });
  assert.deepEqual(overflowed.map((r) => r.details.n), [5, 6, 7]);
  assert.ok(overflowed.every((r) => typeof r.id === "string"));
  assert.equal(withCallback.stats.overflowed, 3);

  const throwing = createLogger({ url: deadUrl, retries: 0, maxQueue: 2, maxDelayMs: 60_000, onError: () => {} });
  throwing.log({ username: "t", action: "a" });
  throwing.log({ username: "t", action: "a" });
  assert.throws(() => throwing.log({ username: "t", action: "lost?" }), (e) => e instanceof ActlogQueueFullError && e.record.action === "lost?");

  // Back-pressure: push() resolves only once the queue has room, i.e. after a send.
  const logger = createLogger({ url: server.url, maxQueue: 3, maxDelayMs: 20, maxBatchRecords: 3 });
  for (let n = 0; n < 3; n++) await logger.push({ username: "bp", action: "a", details: { n } });
  let pushed = false;
  const waiting = logger.push({ username: "bp", action: "a", details: { n: 3 } }).then(() => (pushed = true));
  assert.equal(pushed, false);
  await waiting;
  assert.ok(logger.stats.sent >= 3, "push() resolved before the queue had room");
  await logger.close();
  assert.equal((await stored(dir, ["--user", "bp"])).length, 4);
  assert.throws(() => logger.log({ username: "bp", action: "late" }), ActlogClosedError);
  // Closing sends what they hold: to a sidecar that is down, so it fails, and says so.
  assert.equal((await withCallback.close()).failed, 5);
  assert.equal((await throwing.close()).failed, 2);
});

test("closeOnSignals: SIGTERM sends what is queued, then the process ends as SIGTERM would", async () => {
  const script = `
    const { createLogger } = require("@actlog/client");
    const logger = createLogger({ url: ${JSON.stringify(server.url)}, maxDelayMs: 60000, closeOnSignals: ["SIGTERM"] });
    for (let n = 0; n < 500; n++) logger.log({ username: "sigterm", action: "queued", details: { n } });
    setInterval(() => {}, 1000);
    process.stdout.write("ready\\n");
  `;
  const child = spawn(process.execPath, ["-e", script], { cwd: new URL("..", import.meta.url), stdio: ["ignore", "pipe", "inherit"] });
  await once(child.stdout, "data");
  child.kill("SIGTERM");
  const [code, signal] = await once(child, "exit");
  assert.equal(signal, "SIGTERM", `exit code ${code}`);
  const got = await stored(dir, ["--user", "sigterm"]);
  assert.deepEqual(got.map((r) => r.details.n), Array.from({ length: 500 }, (_, n) => n));
});
