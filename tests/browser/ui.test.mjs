// The /ui page in a real headless Chromium against a real `actlog serve` on loopback,
// on stores written with the actlog command line, judged by `actlog query`.
//
//   ACTLOG_BIN=target/debug/actlog node --test tests/browser/ui.test.mjs
//
// Writes the README's screenshot to docs/ui.png (ACTLOG_UI_SCREENSHOT elsewhere).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  actlog, appendAll, appendOne, launchBrowser, loadAll, queryIds, settled, shownIds,
  startServer, tempDir, watchedPage,
} from './harness.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCREENSHOT = process.env.ACTLOG_UI_SCREENSHOT || join(HERE, '..', '..', 'docs', 'ui.png');

const USERS = ['alice', 'bob', 'café', 'Zoë Ω', 'mallory'];
const ACTIONS = ['report.view', 'report.export', 'login', 'user.delete', 'café.order'];
const IPS = ['10.1.2.3', '10.200.0.9', '203.0.113.7', '2001:db8::42', '198.51.100.23'];
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36',
  'curl/8.5.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15',
];

/** 260 records over the last 72 hours (every 17 minutes, off any preset's edge). */
function sampleRecords(n = 260) {
  const now = Date.now();
  const out = [];
  for (let i = n - 1; i >= 0; i--) {
    const t = new Date(now - (i * 17 * 60 + 7) * 1000 - 500);
    const rec = {
      timestamp: t.toISOString(),
      username: USERS[i % USERS.length],
      action: ACTIONS[(i * 3) % ACTIONS.length],
      details: { n: i % 13, reportId: `r-${8800 + (i % 40)}`, durationMs: (i * 37) % 900 },
      ip_address: IPS[(i * 7) % IPS.length],
    };
    if (i % 4 !== 0) rec.user_agent = AGENTS[i % AGENTS.length];
    out.push(rec);
  }
  return out;
}

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

/** A store of `records` written with the CLI, and a server on it (stopped after the test). */
async function fixture(t, records, extra = []) {
  const dir = tempDir('actlog-ui-');
  appendAll(dir, records);
  const server = await startServer(dir, extra);
  t.after(() => server.stop());
  return { dir, server };
}

async function open(t, url) {
  const watched = await watchedPage(browser);
  t.after(() => watched.page.close());
  await watched.page.goto(url);
  return watched;
}

async function applyFilters(page, fields) {
  for (const f of ['since', 'until', 'user', 'action', 'ip', 'where', 'grep']) {
    await page.fill('#' + f, fields[f] ?? '');
  }
  await page.click('#apply');
  return settled(page);
}

test('the list shows what the CLI wrote, newest first, paging through every record once', async (t) => {
  const { dir, server } = await fixture(t, sampleRecords());
  const { page, problems } = await open(t, server.url + '/ui');
  assert.equal(await settled(page), 'ready');
  const want = queryIds(dir, []);
  assert.equal(want.length, 260);
  const first = await shownIds(page);
  assert.deepEqual(first, want.slice(0, 100), 'the first page is the newest 100');
  const all = await loadAll(page);
  assert.deepEqual(all, want, 'load older: no gap, no repeat, newest first');
  assert.equal(new Set(all).size, all.length);
  await page.waitForSelector('body[data-chart="ready"]');
  assert.equal(await page.textContent('#count'), '260');
  assert.equal(await page.textContent('#shown'), '260');
  assert.equal(await page.textContent('#damaged'), '0');
  assert.equal(await page.isVisible('#token-form'), false, 'no token asked for where none is needed');
  // Columns: time in UTC with local time on hover, the user agent shortened.
  const cells = await page.$$eval('#rows tr:first-child td', (tds) => tds.map((td) => [td.textContent, td.title]));
  const top = JSON.parse(actlog(['--dir', dir, 'query', '-r', '-n', '1', '-o', 'json']).stdout);
  assert.equal(cells[0][0], top.timestamp.replace('T', ' '));
  assert.match(cells[0][1], /^local: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:\d\d$/);
  assert.equal(cells[1][0], top.username);
  assert.equal(cells[2][0], top.action);
  assert.equal(cells[3][0], top.ip_address);
  if (top.user_agent) {
    assert.equal(cells[4][1], top.user_agent);
    assert.ok(Array.from(cells[4][0]).length <= 40);
  }
  assert.ok(cells[5][0].includes(JSON.stringify(top.details).slice(0, 60)));
  // The toggle shows local time, and the UTC time moves to the hover text.
  await page.check('#local-time');
  const local = await page.$eval('#rows tr:first-child td.time', (td) => [td.textContent, td.title]);
  assert.equal(local[1], 'UTC: ' + top.timestamp.replace('T', ' '));
  assert.deepEqual(problems, []);
});

test('each filter narrows the list to exactly what actlog query returns, and lives in the URL', async (t) => {
  const { dir, server } = await fixture(t, sampleRecords());
  const { page } = await open(t, server.url + '/ui');
  await settled(page);
  const cases = [
    [{ user: 'café' }, ['--user', 'café']],
    [{ action: 'report.*' }, ['--action', 'report.*']],
    [{ action: 'caf?.order' }, ['--action', 'caf?.order']],
    [{ ip: '10.0.0.0/8' }, ['--ip', '10.0.0.0/8']],
    [{ ip: '2001:db8::/32' }, ['--ip', '2001:db8::/32']],
    [{ where: 'details.durationMs>400\ndetails.n<=6' }, ['--where', 'details.durationMs>400', '--where', 'details.n<=6']],
    [{ grep: 'r-88[0-1]\\d' }, ['-g', 'r-88[0-1]\\d']],
    [{ since: '24h' }, ['--since', '24h']],
    [{ since: '2d', until: '1d', user: 'bob' }, ['--since', '2d', '--until', '1d', '--user', 'bob']],
  ];
  for (const [fields, flags] of cases) {
    assert.equal(await applyFilters(page, fields), 'ready', JSON.stringify(fields));
    const want = queryIds(dir, flags);
    assert.ok(want.length > 0 && want.length < 260, `${JSON.stringify(fields)} narrows (${want.length})`);
    assert.deepEqual(await loadAll(page), want, JSON.stringify(fields));
    await page.waitForSelector('body[data-chart="ready"]');
    assert.equal(await page.textContent('#count'), String(want.length), `${JSON.stringify(fields)}: count`);
    // Reloading the URL (as a shared link) gives the same view.
    const url = new URL(page.url());
    for (const [k, v] of Object.entries(fields)) {
      assert.deepEqual(url.searchParams.getAll(k), k === 'where' ? v.split('\n') : [v]);
    }
    await page.reload();
    await settled(page);
    assert.deepEqual(await loadAll(page), want, `${JSON.stringify(fields)} after reload`);
  }
  // A time preset from the menu is the `since` the command line takes.
  await applyFilters(page, {});
  await page.selectOption('#preset', '24h');
  await settled(page);
  assert.equal(new URL(page.url()).searchParams.get('since'), '24h');
  assert.deepEqual(await loadAll(page), queryIds(dir, ['--since', '24h']));
  // A click on a user, an action or an IP filters by it.
  await applyFilters(page, {});
  for (const [column, flag] of [['user', '--user'], ['action', '--action'], ['ip', '--ip']]) {
    await applyFilters(page, {});
    const value = await page.textContent(`#rows tr:nth-child(3) td.${column} button`);
    await page.click(`#rows tr:nth-child(3) td.${column} button`);
    await settled(page);
    assert.deepEqual(await loadAll(page), queryIds(dir, [flag, value]), `click on ${column} ${value}`);
  }
  // A click on a chart bar zooms into its bucket.
  await applyFilters(page, {});
  await page.waitForSelector('body[data-chart="ready"]');
  const bars = await page.$$('#bars .bar');
  assert.ok(bars.length > 10);
  const bar = bars[Math.floor(bars.length / 2)];
  const title = await bar.getAttribute('title');
  await bar.click();
  await settled(page);
  const since = await page.inputValue('#since');
  const until = await page.inputValue('#until');
  const zoomed = queryIds(dir, ['--since', since, '--until', until]);
  assert.match(title, new RegExp(`: ${zoomed.length} records`));
  assert.deepEqual(await loadAll(page), zoomed);
});

test('server errors are shown next to the field they name; damaged lines are counted', async (t) => {
  const { dir, server } = await fixture(t, sampleRecords(20));
  // A writer that died mid-line, then the next append: one damaged line.
  const day = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().pop();
  appendFileSync(join(dir, day), '{"id":"01937c3e-5b7a');
  appendOne(dir, 'after-crash', 'login');
  const { page } = await open(t, server.url + '/ui');
  await settled(page);
  await page.waitForSelector('body[data-chart="ready"]');
  assert.equal(await page.textContent('#damaged'), '1');
  assert.equal(await page.textContent('#count'), '21');
  for (const [fields, field, words] of [
    [{ where: 'details.n==1' }, 'where', /unknown operator/i],
    [{ since: '2026-11-31' }, 'since', /2026-11-31/],
    [{ since: '1h', until: '2h' }, 'since', /empty/i],
    [{ ip: '10.0.0.300' }, 'ip', /10\.0\.0\.300/],
    [{ action: 'report.[' }, 'action', /never closed/],
    [{ grep: '(' }, 'grep', /\(/],
  ]) {
    assert.equal(await applyFilters(page, fields), 'error', JSON.stringify(fields));
    assert.match(await page.textContent('#error-' + field), words, JSON.stringify(fields));
    assert.equal(await page.getAttribute('#' + field, 'aria-invalid'), 'true');
    assert.equal((await shownIds(page)).length, 0);
  }
  assert.equal(await applyFilters(page, {}), 'ready');
  assert.equal(await page.textContent('#error-where'), '');
});

test('live tail shows new records at once, holds them while paused, and survives a restart', async (t) => {
  const { dir, server: first } = await fixture(t, sampleRecords(30));
  const { page } = await open(t, first.url + '/ui?cap=50');
  await settled(page);
  await page.check('#live');
  await page.waitForSelector('body[data-live="connected"]');
  // Another process appends; the row is at the top within 2 seconds.
  const a = appendOne(dir, 'live-writer', 'report.view');
  await page.waitForSelector(`#rows tr:first-child[data-id="${a.id}"]`, { timeout: 2000 });

  // Paused: the record arrives (the counter says so) but is held back.
  await page.click('#pause');
  const b = appendOne(dir, 'live-writer', 'paused.one');
  const c = appendOne(dir, 'live-writer', 'paused.two');
  await page.waitForFunction(() => document.getElementById('held').textContent.startsWith('2 new held'));
  assert.equal(await page.$(`#rows tr[data-id="${b.id}"]`), null);
  assert.equal(await page.$(`#rows tr[data-id="${c.id}"]`), null);
  await page.click('#pause');
  assert.deepEqual((await shownIds(page)).slice(0, 3), [c.id, b.id, a.id]);

  // The sidecar restarts; a record written while it was down is shown once it is back
  // (Last-Event-ID), then new ones again.
  await first.stop();
  await page.waitForSelector('body[data-live="reconnecting"]');
  const d = appendOne(dir, 'while-down', 'login');
  const second = await startServer(dir, [], first.addr);
  t.after(() => second.stop());
  await page.waitForSelector(`#rows tr[data-id="${d.id}"]`, { timeout: 30000 });
  await page.waitForSelector('body[data-live="connected"]');
  const e = appendOne(dir, 'after-restart', 'login');
  await page.waitForSelector(`#rows tr:first-child[data-id="${e.id}"]`, { timeout: 2000 });
  const ids = await shownIds(page);
  assert.deepEqual(ids.slice(0, 5), [e.id, d.id, c.id, b.id, a.id]);
  assert.equal(new Set(ids).size, ids.length, 'nothing shown twice');

  // The row cap: the page keeps at most 50 rows however many arrive.
  appendAll(dir, Array.from({ length: 120 }, (_, i) => ({ username: 'burst', action: 'tick', details: { i } })));
  await page.waitForFunction(() => document.querySelector('#rows tr:first-child td.details')?.textContent.includes('"i":119'));
  assert.equal((await shownIds(page)).length, 50);
  assert.deepEqual(await shownIds(page), queryIds(dir, ['-n', '50']));
});

test('hostile records render as inert text, with no console error and no CSP violation', async (t) => {
  const hostile = [
    { username: '<script>window.__pwned=1</script>', action: '"><img src=x onerror="window.__pwned=2">' },
    { username: 'evil\u202Egnp.exe', action: 'bidi.\u2067override\u2069', details: { file: 'invoice\u202Etxt.exe' } },
    { username: 'ansi\u001b[2J\u001b[31m', action: 'term.escape', details: { msg: '\u001b[31mred\u001b[0m \u001b]0;title\u0007' }, user_agent: '<svg onload=window.__pwned=3>' },
    { username: "'-alert(1)-'", action: 'javascript:alert(1)', details: { html: '<iframe srcdoc="<script>parent.__pwned=4</script>">' } },
  ];
  const { dir, server } = await fixture(t, hostile);
  // A line another program wrote, with a field this version does not know.
  const day = readdirSync(dir).find((f) => f.endsWith('.json'));
  appendFileSync(join(dir, day), JSON.stringify({
    id: '01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11', timestamp: new Date().toISOString().replace(/(\.\d{3})\d*Z$/, '$1Z'),
    username: 'future', action: 'x.y', tenant: '<b>acme</b>',
  }) + '\n');
  const { page, problems } = await open(t, server.url + '/ui');
  assert.equal(await settled(page), 'ready');
  const rows = await shownIds(page);
  assert.equal(rows.length, 5);
  const texts = await page.$$eval('#rows tr', (trs) => trs.map((tr) => tr.textContent));
  const all = texts.join('\n');
  assert.ok(all.includes('<script>window.__pwned=1</script>'));
  assert.ok(all.includes('"><img src=x onerror="window.__pwned=2">'));
  assert.ok(all.includes('<svg onload=window.__pwned=3>'.slice(0, 30)));
  // Direction and terminal controls are shown as marks, never obeyed.
  assert.ok(all.includes('evilU+202Egnp.exe'), all);
  assert.ok(all.includes('U+2067override'));
  assert.ok(all.includes('ansiU+001B[2JU+001B[31m'), 'a raw ESC shows as a mark');
  assert.ok(all.includes('\\u001b[31mred'), 'inside details JSON escapes it');
  assert.ok(!/[\u202A-\u202E\u2066-\u2069\u001b]/.test(all), 'no raw control character is in the text');
  // The unknown field is shown with the details, and in full when expanded.
  const future = await page.$('#rows tr[data-id="01937c3e-5b7a-7d4e-9b1c-2f4a8e6d0c11"] details');
  assert.ok((await future.textContent()).includes('"tenant":"<b>acme</b>"'));
  await future.click();
  const pretty = await future.$eval('pre', (p) => p.textContent);
  assert.ok(pretty.includes('\n  "tenant": "<b>acme</b>"\n'), pretty);
  for (const d of await page.$$('#rows details')) await d.click();
  // Nothing hostile became an element or ran.
  assert.equal(await page.$$eval('#list img, #list svg, #list script, #list iframe', (e) => e.length), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  await page.waitForSelector('body[data-chart="ready"]');
  assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
  assert.deepEqual(problems, []);
});

test('with a token configured, the page without it sees nothing and with it everything', async (t) => {
  const token = 'ui-test-token-' + 'x'.repeat(32);
  const tokenDir = tempDir('actlog-ui-token-');
  const tokenFile = join(tokenDir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const { dir, server } = await fixture(t, sampleRecords(40), ['--token-file', tokenFile]);
  const { page } = await open(t, server.url + '/ui?user=alice');
  assert.equal(await settled(page), 'error');
  assert.equal((await shownIds(page)).length, 0);
  assert.equal(await page.textContent('#count'), '–');
  assert.ok(await page.isVisible('#token-form'));
  // A wrong token is refused and still shows nothing.
  await page.fill('#token-input', 'wrong');
  await page.click('#token-use');
  assert.equal(await settled(page), 'error');
  assert.match(await page.textContent('#token-why'), /refused/);
  assert.equal((await shownIds(page)).length, 0);
  // The right one, not kept: everything, and the token is in no URL and no storage.
  await page.fill('#token-input', token);
  await page.click('#token-use');
  assert.equal(await settled(page), 'ready');
  assert.deepEqual(await loadAll(page), queryIds(dir, ['--user', 'alice']));
  await page.check('#live');
  await page.waitForSelector('body[data-live="connected"]');
  const live = appendOne(dir, 'alice', 'token.live');
  await page.waitForSelector(`#rows tr:first-child[data-id="${live.id}"]`, { timeout: 2000 });
  const stored = () => page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));
  assert.ok(!page.url().includes(token));
  assert.equal(await stored(), '[{},{}]');
  assert.equal(await page.inputValue('#token-input'), '');
  // Memory only: a reload forgets it.
  await page.reload();
  assert.equal(await settled(page), 'error');
  assert.equal((await shownIds(page)).length, 0);
  // Ticked: kept in this tab's sessionStorage (never localStorage) across a reload.
  await page.fill('#token-input', token);
  await page.check('#token-remember');
  await page.click('#token-use');
  assert.equal(await settled(page), 'ready');
  await page.reload();
  assert.equal(await settled(page), 'ready');
  assert.deepEqual(await loadAll(page), queryIds(dir, ['--user', 'alice']));
  assert.equal(await page.evaluate(() => localStorage.length), 0);
  assert.ok(!page.url().includes(token));
  // Forgotten: nothing again.
  await page.click('#token-toggle');
  await page.click('#token-forget');
  assert.equal(await settled(page), 'error');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);
});

test('the README screenshot is written and is not blank', async (t) => {
  const { server } = await fixture(t, sampleRecords(260));
  const { page, problems } = await open(t, server.url + '/ui?since=7d');
  await settled(page);
  await page.waitForSelector('body[data-chart="ready"]');
  await page.click('#rows tr:nth-child(2) details');
  const png = await page.screenshot({ path: SCREENSHOT });
  // Judged apart from the page: the image decoded in a blank tab, its pixels counted.
  const judge = await browser.newPage();
  t.after(() => judge.close());
  const figures = await judge.evaluate(async (b64) => {
    const img = new Image();
    img.src = 'data:image/png;base64,' + b64;
    await img.decode();
    const canvas = new OffscreenCanvas(img.width, img.height);
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, img.width, img.height).data;
    const colours = new Map();
    for (let i = 0; i < data.length; i += 4) {
      const key = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
      colours.set(key, (colours.get(key) || 0) + 1);
    }
    const background = Math.max(...colours.values());
    return { width: img.width, height: img.height, colours: colours.size, other: 1 - background / (data.length / 4) };
  }, png.toString('base64'));
  assert.equal(figures.width, 1280);
  assert.ok(figures.colours > 50, `distinct colours: ${figures.colours}`);
  assert.ok(figures.other > 0.05, `share of pixels not background: ${figures.other}`);
  assert.deepEqual(problems, []);
});
