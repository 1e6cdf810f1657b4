// The /ui benchmark: time from opening the page to its first rows on a 30-day store of
// 200,000 records a day, beside the API's own first page (the floor the page stands on),
// and the page's JS heap during a long live tail, which the row cap must keep bounded.
//
//   cargo build --release --bin actlog
//   ACTLOG_BIN=target/release/actlog node tests/browser/bench.mjs
//
// ACTLOG_BENCH_QUICK=1: a 2-day store of 20,000 a day and 6,000 tailed records (the CI
// smoke). ACTLOG_BENCH_STORE=DIR keeps the generated store there to reuse across runs
// (default: a temporary directory). Tail records are POSTed in batches of 1,000 to the
// sidecar as fast as it takes them: an hour at 100 records/s (360,000), simulated faster.

import { performance } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import { actlog, BIN, launchBrowser, startServer, tempDir } from './harness.mjs';

const QUICK = process.env.ACTLOG_BENCH_QUICK === '1';
const DAYS = QUICK ? 2 : 30;
const PER_DAY = QUICK ? 20000 : 200000;
const TAILED = QUICK ? 6000 : 360000;
/** The page's default row cap (README), which the tail below must hold to. */
const CAP = 1000;
const RUNS = QUICK ? 3 : 7;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function firstRows(browser, url) {
  const page = await browser.newPage();
  // Set before any page script runs: the moment the list first has a row.
  await page.addInitScript(() => {
    new MutationObserver((_, obs) => {
      if (document.querySelector('#rows tr')) {
        window.__firstRows = performance.now();
        obs.disconnect();
      }
    }).observe(document, { subtree: true, childList: true });
  });
  const t0 = performance.now();
  await page.goto(url + '/ui');
  await page.waitForSelector('#rows tr');
  const wall = performance.now() - t0;
  const inPage = await page.evaluate(() => window.__firstRows);
  await page.close();
  return { wall, inPage };
}

async function apiFirstPage(url) {
  const t0 = performance.now();
  const r = await fetch(url + '/v1/activity?limit=100');
  const body = await r.json();
  if (body.records.length !== 100) throw new Error('the API gave ' + body.records.length + ' records');
  return performance.now() - t0;
}

async function heap(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  return usedSize;
}

async function liveTail(browser) {
  const dir = tempDir('actlog-bench-tail-');
  const server = await startServer(dir, ['--dedupe-window', '0']);
  try {
    const page = await browser.newPage();
    const cdp = await page.context().newCDPSession(page);
    await page.goto(`${server.url}/ui`);
    await page.waitForFunction(() => document.body.dataset.state === 'ready');
    await page.check('#live');
    await page.waitForSelector('body[data-live="connected"]');
    const rows = [];
    const start = await heap(cdp);
    // Measured once the cap is full, so that what is compared is growth with the tail alone.
    const checkpoints = [2 * CAP, TAILED / 2, TAILED];
    let sent = 0;
    const t0 = performance.now();
    for (const upto of checkpoints) {
      while (sent < upto) {
        const n = Math.min(1000, upto - sent);
        const batch = Array.from({ length: n }, (_, i) => ({
          username: `user${(sent + i) % 97}`,
          action: 'bench.tick',
          details: { seq: sent + i, note: 'x'.repeat(80) },
          ip_address: '203.0.113.7',
          user_agent: 'bench',
        }));
        const r = await fetch(server.url + '/v1/activity', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(batch),
        });
        if (r.status !== 201) throw new Error('POST answered ' + r.status);
        sent += n;
      }
      const last = upto - 1;
      await page.waitForFunction(
        (seq) => document.querySelector('#rows tr:first-child td.details')?.textContent.includes(`"seq":${seq},`),
        last,
        { timeout: 600000, polling: 250 },
      );
      rows.push({
        tailed: upto,
        rows: await page.$$eval('#rows tr', (r) => r.length),
        heap: await heap(cdp),
        seconds: (performance.now() - t0) / 1000,
      });
    }
    await page.close();
    return { start, rows };
  } finally {
    await server.stop();
  }
}

const storeDir = process.env.ACTLOG_BENCH_STORE || tempDir('actlog-bench-store-');
if (!existsSync(storeDir + '/activity-2026-10-01.json.gz')) {
  const t = performance.now();
  actlog(['--dir', storeDir, 'demo', '--days', String(DAYS), '--per-day', String(PER_DAY), '-q']);
  console.error(`generated ${DAYS} days x ${PER_DAY} records in ${((performance.now() - t) / 1000).toFixed(0)} s`);
}
const browser = await launchBrowser();
const server = await startServer(storeDir);
try {
  // One warm-up of each (the OS page cache, the browser's first start), then the runs.
  await apiFirstPage(server.url);
  await firstRows(browser, server.url);
  const api = [];
  const page = [];
  for (let i = 0; i < RUNS; i++) {
    api.push(await apiFirstPage(server.url));
    page.push(await firstRows(browser, server.url));
  }
  const tail = await liveTail(browser);
  const mb = (b) => (b / 1e6).toFixed(2);
  console.log(`# /ui benchmark (${BIN}): ${DAYS} days x ${PER_DAY.toLocaleString('en-US')} records, median of ${RUNS}`);
  console.log('| case | median ms | min ms | max ms |');
  console.log('| --- | ---: | ---: | ---: |');
  const line = (name, xs) => console.log(`| ${name} | ${median(xs).toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`);
  line('baseline: GET /v1/activity?limit=100 (Node fetch, whole body)', api);
  line('/ui opened to first rows shown (in-page, from navigation start)', page.map((p) => p.inPage));
  line('/ui opened to first rows shown (driver wall clock)', page.map((p) => p.wall));
  console.log('');
  console.log(`# live tail, row cap ${CAP}: ${TAILED.toLocaleString('en-US')} records through the stream`);
  console.log('| records tailed | rows kept | JS heap after GC, MB | seconds |');
  console.log('| ---: | ---: | ---: | ---: |');
  console.log(`| 0 | 0 | ${mb(tail.start)} | 0 |`);
  for (const r of tail.rows) console.log(`| ${r.tailed.toLocaleString('en-US')} | ${r.rows} | ${mb(r.heap)} | ${r.seconds.toFixed(0)} |`);
  const first = tail.rows[0];
  const last = tail.rows[tail.rows.length - 1];
  if (last.rows > CAP) throw new Error(`the page kept ${last.rows} rows, over the cap of ${CAP}`);
  // Bounded: the heap once the cap is full does not grow with what streamed through.
  if (last.heap > first.heap * 1.5 + 2e6) throw new Error(`the heap grew from ${mb(first.heap)} MB to ${mb(last.heap)} MB`);
} finally {
  await server.stop();
  await browser.close();
}
