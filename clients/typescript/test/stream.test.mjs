// stream() against a real sidecar across a day change, maintenance (while connected and
// while the sidecar is down) and a sidecar restart: every matching record exactly once,
// in the order written; and a new stream resumes after a saved lastEventId.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ActlogClient, ActlogError, uuidv7 } from "@actlog/client";
import { ACTLOG, actlog, startServer, stored, tempDir, utcDay, sleep } from "./helpers.mjs";

async function waitFor(what, cond, ms = 20_000) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** `actlog append -` from another process, with the ids and timestamps given. */
function appendCli(dir, records) {
  return new Promise((resolve, reject) => {
    const child = spawn(ACTLOG, ["--dir", dir, "append", "-"], { stdio: ["pipe", "ignore", "inherit"] });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`append exited ${code}`))));
    child.stdin.end(records.map((r) => JSON.stringify(r) + "\n").join(""));
  });
}

async function maintain(dir, now) {
  const r = await actlog(["--dir", dir, "--now", now, "maintain"]);
  assert.equal(r.code, 0, r.stderr);
}

/** Consumes a stream in the background into `got` (with the lastEventId after each). */
function collect(stream) {
  const got = [];
  const cursors = [];
  const done = (async () => {
    for await (const r of stream) {
      got.push(r);
      cursors.push(stream.lastEventId);
    }
  })();
  done.catch(() => {});
  return { got, cursors, done };
}

test("the stream resumes exactly across midnight, maintenance and a sidecar restart", async (t) => {
  const dir = tempDir();
  let server = await startServer(dir);
  const port = server.port;
  const client = new ActlogClient({ url: server.url, backoff: { baseMs: 20, maxMs: 200 } });
  let opened = 0;
  const reconnects = [];
  const ac = new AbortController();
  const stream = client.stream(
    { action: "s.*" },
    {
      signal: ac.signal,
      backoff: { baseMs: 50, maxMs: 300 },
      idleTimeoutMs: 10_000,
      onOpen: () => opened++,
      onReconnect: (info) => reconnects.push(info),
    },
  );
  const { got, cursors, done } = collect(stream);
  t.after(() => ac.abort(new Error("test over")));
  await waitFor("the stream to open", () => opened === 1);
  const expected = [];
  const today = utcDay(0);
  const tomorrow = utcDay(1);
  const log = async (action, count, timestamp) => {
    const recs = Array.from({ length: count }, (_, n) => ({
      username: "strëam",
      action,
      details: { n },
      ...(timestamp ? { timestamp } : {}),
    }));
    const acks = await client.log(recs);
    if (action.startsWith("s.")) expected.push(...acks.map((a) => a.id));
  };

  // Connected: today's records, and some that do not match.
  await log("s.one", 10);
  await log("other", 5);
  await waitFor("10 events", () => got.length >= 10);
  // Maintenance while connected: as if two days later, today's file is compressed; new
  // records of today go to a plain file beside it.
  await maintain(dir, utcDay(2));
  assert.ok(existsSync(join(dir, `activity-${today}.json.gz`)), "maintenance compressed nothing");
  await log("s.two", 10);
  // Midnight while connected: records of tomorrow, a new day file.
  await log("s.midnight", 5, `${tomorrow}T00:00:00.001Z`);
  await waitFor("25 events", () => got.length >= 25);

  // The sidecar stops (SIGTERM ends streams); while it is down another process writes
  // and maintenance compresses both days.
  await server.kill("SIGTERM");
  const down = Array.from({ length: 20 }, (_, n) => ({ id: uuidv7(), timestamp: `${tomorrow}T00:00:01.${String(n).padStart(3, "0")}Z`, username: "cli", action: "s.down", details: { n } }));
  await appendCli(dir, down);
  expected.push(...down.map((r) => r.id));
  await maintain(dir, utcDay(3));
  assert.ok(existsSync(join(dir, `activity-${tomorrow}.json.gz`)));
  await sleep(400); // the stream keeps trying to reconnect meanwhile
  server = await startServer(dir, { port });
  await log("s.after", 10, `${tomorrow}T10:00:00.000Z`);
  await waitFor(`${expected.length} events`, () => got.length >= expected.length);
  // A duplicate would have time to arrive.
  await sleep(1500);
  ac.abort(new Error("test over"));
  await assert.rejects(done);

  assert.equal(expected.length, 55);
  assert.deepEqual(got.map((r) => r.id), expected);
  assert.ok(opened >= 2, `opened ${opened} times`);
  assert.ok(reconnects.length >= 1);
  assert.ok(got.every((r) => r.action.startsWith("s.")));
  // Every record is also stored exactly once.
  const all = await stored(dir, ["--action", "s.*"]);
  assert.equal(new Set(all.map((r) => r.id)).size, 55);
  assert.equal(all.length, 55);
  assert.ok(cursors.every((c) => typeof c === "string" && c.length > 0), "an event came without an id");

  // A new stream given a saved position replays what came after it, and goes on live.
  const from = 12;
  const resumed = client.stream({ action: "s.*" }, { lastEventId: cursors[from - 1] });
  const it = resumed[Symbol.asyncIterator]();
  t.after(() => it.return());
  const replay = [];
  while (replay.length < expected.length - from) {
    const { value } = await it.next();
    replay.push(value.id);
  }
  assert.deepEqual(replay, expected.slice(from));
  await log("s.live", 1, `${tomorrow}T11:00:00.000Z`);
  const { value: live } = await it.next();
  assert.equal(live.id, expected.at(-1));
  await it.return();
});

test("a stream with a filter the server refuses rejects with a non-retryable 400", async () => {
  const dir = tempDir();
  const server = await startServer(dir);
  const client = new ActlogClient({ url: server.url });
  const err = await (async () => {
    for await (const _ of client.stream({ where: "details.x ==" })) break;
  })().catch((e) => e);
  assert.ok(err instanceof ActlogError, String(err));
  assert.equal(err.status, 400);
  assert.equal(err.retryable, false);
});

test("a silent stream connection (sidecar frozen) is dropped after idleTimeoutMs and resumed", async (t) => {
  const dir = tempDir();
  const server = await startServer(dir);
  const client = new ActlogClient({ url: server.url });
  let opened = 0;
  const reasons = [];
  const ac = new AbortController();
  const stream = client.stream({ user: "frozen" }, {
    signal: ac.signal,
    idleTimeoutMs: 500,
    connectTimeoutMs: 500,
    backoff: { baseMs: 20, maxMs: 100 },
    onOpen: () => opened++,
    onReconnect: (i) => reasons.push(i.error),
  });
  const { got, done } = collect(stream);
  t.after(() => {
    process.kill(server.pid, "SIGCONT");
    ac.abort(new Error("over"));
  });
  await waitFor("open", () => opened === 1);
  const first = await client.log([{ username: "frozen", action: "a" }]);
  await waitFor("first event", () => got.length === 1);
  process.kill(server.pid, "SIGSTOP");
  await sleep(1500);
  process.kill(server.pid, "SIGCONT");
  const second = await client.log([{ username: "frozen", action: "b" }]);
  await waitFor("second event", () => got.length >= 2);
  await sleep(1000);
  ac.abort(new Error("over"));
  await assert.rejects(done);
  assert.deepEqual(got.map((r) => r.id), [first[0].id, second[0].id]);
  assert.ok(reasons.length >= 1, "never reconnected");
  assert.ok(opened >= 2);
});
