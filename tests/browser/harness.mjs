// Shared by ui.test.mjs and bench.mjs: the actlog binary, real `actlog serve` processes
// on loopback, and Debian's Chromium driven by playwright-core (never a downloaded
// browser). Every process started here is stopped when the test process exits, also
// after a failure.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** The actlog binary under test (.ci/run builds it and sets ACTLOG_BIN). */
export const BIN = process.env.ACTLOG_BIN;
if (!BIN) {
  throw new Error('ACTLOG_BIN is not set: build actlog (cargo build) and set ACTLOG_BIN=target/debug/actlog');
}
/** The browser: Debian's chromium package. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const children = new Set();
const scratch = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});
// Killed from outside (a CI timeout, Ctrl-C): the servers go too.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.on(signal, () => process.exit(code));

/** A fresh temporary directory, removed at exit. */
export function tempDir(prefix) {
  const d = mkdtempSync(join(tmpdir(), prefix));
  scratch.add(d);
  return d;
}

/** Runs `actlog ARGS` to its end: { status, stdout, stderr }; exit 2 throws. */
export function actlog(args, input) {
  const env = { ...process.env };
  delete env.ACTLOG_DIR;
  const r = spawnSync(BIN, args, { input, encoding: 'utf8', maxBuffer: 1 << 30, env });
  if (r.error) throw r.error;
  if (r.status !== 0 && r.status !== 1) throw new Error(`actlog ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  return r;
}

/** Appends records (objects) to `dir` with `actlog append -`. */
export function appendAll(dir, records) {
  actlog(['--dir', dir, 'append', '-'], records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** Appends one record with `actlog append --user ...` and returns the stored record. */
export function appendOne(dir, user, action, more = []) {
  const r = actlog(['--dir', dir, 'append', '--user', user, '--action', action, ...more]);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

/** `actlog query -r -o json FLAGS`: the ids, newest first. */
export function queryIds(dir, flags) {
  const r = actlog(['--dir', dir, 'query', '-r', '-o', 'json', ...flags]);
  return r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l).id);
}

/** A running `actlog serve`; `listen` defaults to a free loopback port. */
export async function startServer(dir, extra = [], listen = '127.0.0.1:0') {
  const child = spawn(BIN, ['--dir', dir, 'serve', '--listen', listen, ...extra], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.add(child);
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      const m = /serving .* on (http:\/\/\S+)\n/.exec(seen);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`actlog serve exited ${code}: ${seen}`)));
  });
  return {
    url,
    addr: url.replace('http://', ''),
    /** SIGTERM, and wait until it has exited. */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((res) => child.once('exit', res));
      child.kill('SIGTERM');
      await gone;
      children.delete(child);
    },
  };
}

/** Chromium with a fresh profile, headless, with nothing reaching out on its own. */
export async function launchBrowser() {
  const profile = tempDir('actlog-ui-profile-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return context;
}

/**
 * A new page that records console errors, uncaught exceptions and CSP violations
 * (the listener is installed by the browser before any page script runs).
 */
export async function watchedPage(context) {
  const page = await context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
  await page.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });
  return { page, problems };
}

/** Waits until the page has finished loading rows (or failed). */
export async function settled(page) {
  try {
    await page.waitForFunction(() => document.body.dataset.state && document.body.dataset.state !== 'loading');
  } catch (e) {
    const seen = await page.evaluate(() => JSON.stringify({
      url: location.href, ...document.body.dataset, status: document.getElementById('status')?.textContent,
    })).catch((why) => String(why));
    throw new Error(`the page did not finish loading: ${seen}: ${e.message}`);
  }
  return page.evaluate(() => document.body.dataset.state);
}

/** The ids of the rows shown, top to bottom. */
export function shownIds(page) {
  return page.$$eval('#rows tr', (rows) => rows.map((r) => r.dataset.id));
}

/** Clicks "load older" until it is gone; returns the ids shown then. */
export async function loadAll(page) {
  for (;;) {
    const more = await page.isVisible('#older');
    if (!more) return shownIds(page);
    await page.click('#older');
    await settled(page);
  }
}
