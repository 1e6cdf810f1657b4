// Real `actlog serve` processes for the tests: started on loopback in a temp dir, stopped
// at the end (also when a test fails), and the `actlog` command line to check what is stored.
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";
import { once } from "node:events";

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../../..");

/** The actlog binary: $ACTLOG_BIN, else the workspace's debug build. */
export const ACTLOG =
  process.env.ACTLOG_BIN ?? join(repoRoot, "target", "debug", "actlog");
if (!existsSync(ACTLOG)) {
  throw new Error(`actlog binary not found at ${ACTLOG}: run cargo build, or set ACTLOG_BIN`);
}

const children = new Set();
const cleanups = [];
// Registered at import, so it belongs to the file's root: runs after all its tests.
after(async () => {
  for (const f of cleanups.reverse()) await f();
});
process.on("exit", () => {
  for (const c of children) {
    try {
      process.kill(c.pid, "SIGCONT");
      c.kill("SIGKILL");
    } catch {}
  }
});

/** A temp directory removed after the file's tests. */
export function tempDir(prefix = "actlog-ts-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Starts `actlog --dir DIR serve --listen 127.0.0.1:PORT ...extra` (port 0: a free one) and
 * resolves once it prints its address.
 */
export async function startServer(dir, { port = 0, extra = [], env = {} } = {}) {
  const child = spawn(ACTLOG, ["--dir", dir, "serve", "--listen", `127.0.0.1:${port}`, ...extra], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...env },
  });
  children.add(child);
  child.on("exit", () => children.delete(child));
  let seen = "";
  const url = await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      seen += chunk;
      // Only a whole line: stderr may arrive cut in the middle of the address.
      const m = /(http:\/\/127\.0\.0\.1:\d+)\r?\n/.exec(seen);
      if (m) {
        child.stderr.off("data", onData);
        // Keep draining so the server never blocks on stderr.
        child.stderr.resume();
        resolve(m[1]);
      }
    };
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", onData);
    child.once("exit", (code) => reject(new Error(`actlog serve exited ${code}: ${seen}`)));
  });
  const server = {
    url,
    port: Number(new URL(url).port),
    child,
    pid: child.pid,
    dir,
    /** Sends `signal` (default SIGKILL) and waits for the exit. */
    async kill(signal = "SIGKILL") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      // SIGKILL ends a stopped process as it is; anything else needs it running.
      child.kill(signal);
      if (signal !== "SIGKILL") process.kill(child.pid, "SIGCONT");
      await exited;
    },
  };
  cleanups.push(() => server.kill());
  return server;
}

/** Runs the actlog command line; resolves to { code, stdout, stderr }. */
export function actlog(args, { env = {} } = {}) {
  return new Promise((resolve) => {
    execFile(
      ACTLOG,
      args,
      { env: { ...process.env, ...env }, maxBuffer: 512 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Every stored record matching `args`, parsed, read by `actlog query -o json` (stored order). */
export async function stored(dir, args = []) {
  const r = await actlog(["--dir", dir, "query", "-o", "json", ...args]);
  if (r.code === 1) return [];
  if (r.code !== 0) throw new Error(`actlog query failed (${r.code}): ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
}

/** Ids that occur more than once, and expected ids that are missing. */
export function exactlyOnce(records, expectedIds) {
  const count = new Map();
  for (const r of records) count.set(r.id, (count.get(r.id) ?? 0) + 1);
  const twice = [...count].filter(([, n]) => n > 1).map(([id]) => id);
  const missing = expectedIds.filter((id) => !count.has(id));
  return { twice, missing };
}

/** The UTC day `n` days from today, YYYY-MM-DD. */
export function utcDay(n) {
  return new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
}

/** Runs `f` after the file's tests (servers, proxies, temp dirs). */
export function cleanup(f) {
  cleanups.push(f);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
