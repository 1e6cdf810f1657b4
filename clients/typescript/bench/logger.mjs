// Records/s from one Node process through the batching logger to one `actlog serve`, with
// `flush` and with `fsync` durability, then the Rust-side `cargo bench --bench serve` of the
// same run for comparison. Run: npm run bench (ACTLOG_BENCH_QUICK=1 for a smoke run;
// ACTLOG_BENCH_NO_RUST=1 to skip the Rust side; ACTLOG_BIN for another binary).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createLogger } from "@actlog/client";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const bin = process.env.ACTLOG_BIN ?? join(repo, "target", "release", "actlog");
if (!existsSync(bin)) {
  console.error(`bench: ${bin} not found: cargo build --release (or set ACTLOG_BIN)`);
  process.exit(2);
}
const quick = !!process.env.ACTLOG_BENCH_QUICK;
const N = quick ? 20_000 : 300_000;

function serve(dir, durability) {
  const child = spawn(bin, ["--dir", dir, "serve", "--listen", "127.0.0.1:0", "--durability", durability], { stdio: ["ignore", "ignore", "pipe"] });
  return new Promise((ok, fail) => {
    let seen = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", function onData(c) {
      seen += c;
      const m = /(http:\/\/127\.0\.0\.1:\d+)\r?\n/.exec(seen);
      if (m) {
        child.stderr.off("data", onData);
        child.stderr.resume();
        ok({ url: m[1], child });
      }
    });
    child.once("exit", (code) => fail(new Error(`actlog serve exited ${code}: ${seen}`)));
  });
}

async function run(durability) {
  const dir = mkdtempSync(join(tmpdir(), "actlog-bench-"));
  const { url, child } = await serve(dir, durability);
  try {
    const logger = createLogger({ url, concurrency: 4 });
    const ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
    const started = process.hrtime.bigint();
    for (let n = 0; n < N; n++) {
      const record = { username: `user${n % 500}`, action: "report.view", details: { reportId: `r-${n}`, durationMs: n % 997, path: "/reports/view" }, ip_address: "203.0.113.7", user_agent: ua };
      // log() while there is room; push() waits when the queue is full (back-pressure).
      if (!tryLog(logger, record)) await logger.push(record);
    }
    const stats = await logger.close();
    const secs = Number(process.hrtime.bigint() - started) / 1e9;
    if (stats.sent !== N || stats.failed !== 0) throw new Error(`sent ${stats.sent} of ${N}, failed ${stats.failed}`);
    const count = spawnSync(bin, ["--dir", dir, "query", "-c"], { encoding: "utf8" }).stdout.trim();
    if (Number(count) !== N) throw new Error(`actlog query -c says ${count}, expected ${N}`);
    return { rate: N / secs, retried: stats.retried };
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

function tryLog(logger, record) {
  const { queued, inFlight } = logger.stats;
  if (queued + inFlight >= 100_000) return false;
  return logger.log(record);
}

console.log(`Node ${process.version}, ${N} records of about 350 bytes, one process, batching logger (concurrency 4, batches of 1,000)`);
console.log("");
console.log("| case | records/s |");
console.log("| --- | ---: |");
for (const durability of ["flush", "fsync"]) {
  const { rate, retried } = await run(durability);
  console.log(`| Node logger -> 1 sidecar, \`${durability}\` | ${Math.round(rate).toLocaleString("en-US")} |${retried ? ` (${retried} retried)` : ""}`);
}
if (!process.env.ACTLOG_BENCH_NO_RUST) {
  console.log("");
  console.log("Rust side, same run: cargo bench --bench serve");
  const r = spawnSync("cargo", ["bench", "--bench", "serve"], { cwd: repo, stdio: ["ignore", "inherit", "inherit"], env: process.env });
  process.exitCode = r.status ?? 1;
}
