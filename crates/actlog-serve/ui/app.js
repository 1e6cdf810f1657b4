// actlog's page: browse, filter and live-tail the store through the /v1 routes.
//
// Safe by construction: record data reaches the page only through textContent and text
// nodes (never HTML parsing), control and bidi characters are shown as visible marks,
// and the token lives in memory (or, when the user asks, this tab's sessionStorage),
// going out only in the Authorization header.
'use strict';

(() => {
  /** Records per page of GET /v1/activity. */
  const PAGE = 100;
  /** Rows kept unless the page URL says `cap=N`: live tail drops the oldest beyond it. */
  const DEFAULT_CAP = 1000;
  /** Filter fields, named as the API's query parameters. */
  const FIELDS = ['since', 'until', 'user', 'action', 'ip', 'where', 'grep'];
  /** Page settings kept in the URL beside the filters (never sent to the API). */
  const SETTINGS = ['cap', 'tz'];
  const TOKEN_KEY = 'actlog.token';
  const KNOWN = new Set(['id', 'timestamp', 'username', 'action', 'details', 'ip_address', 'user_agent']);
  // C0/C1 controls (ANSI escapes start with U+001B), bidi embeddings, overrides and
  // isolates, zero-width and line/paragraph separators: shown as marks, never obeyed.
  const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

  const $ = (id) => document.getElementById(id);
  const state = {
    token: null,
    applied: new URLSearchParams(),
    older: null,
    cap: DEFAULT_CAP,
    local: false,
    seq: 0,
    live: null,
    paused: false,
    held: [],
    heldDropped: 0,
    lastEventId: '',
    damaged: { page: 0, chart: 0 },
  };

  function el(tag, className, ...children) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  /**
   * Text as nodes, each hidden character replaced by a visible U+XXXX mark; `lines`
   * keeps line feeds (pretty JSON, whose strings have their own escaped).
   */
  function visible(text, lines = false) {
    const frag = document.createDocumentFragment();
    const s = String(text);
    let at = 0;
    for (const m of s.matchAll(HIDDEN)) {
      if (lines && m[0] === '\n') continue;
      if (m.index > at) frag.append(document.createTextNode(s.slice(at, m.index)));
      const code = m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
      const mark = el('span', 'esc', 'U+' + code);
      mark.title = 'control or direction character U+' + code + ', shown instead of obeyed';
      frag.append(mark);
      at = m.index + m[0].length;
    }
    if (at < s.length) frag.append(document.createTextNode(s.slice(at)));
    // Whatever direction the text asks for, it stays inside its own cell.
    const wrap = el('bdi', null, frag);
    return wrap;
  }

  function shorten(s, n) {
    const chars = Array.from(String(s));
    return chars.length > n ? chars.slice(0, n - 1).join('') + '…' : chars.join('');
  }

  // Numbers are kept as written (1.50, 1e2, 100000000000000000001), as the store does,
  // where the browser can say how they were written.
  function parseJson(text) {
    if (typeof JSON.rawJSON !== 'function') return JSON.parse(text);
    return JSON.parse(text, (key, value, context) =>
      typeof value === 'number' && context && typeof context.source === 'string' && String(value) !== context.source
        ? JSON.rawJSON(context.source)
        : value);
  }

  function auth() {
    return state.token ? { Authorization: 'Bearer ' + state.token } : {};
  }

  // ---- time ----

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function utcText(ts) {
    return String(ts).replace('T', ' ');
  }
  function localText(ts) {
    const d = new Date(ts);
    if (Number.isNaN(d.getTime())) return String(ts);
    const off = -d.getTimezoneOffset();
    const sign = off >= 0 ? '+' : '-';
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} ${sign}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  }
  function setTime(td) {
    const ts = td.dataset.ts;
    const [shown, other] = state.local ? [localText(ts), utcText(ts)] : [utcText(ts), localText(ts)];
    td.replaceChildren(visible(shown));
    td.title = state.local ? 'UTC: ' + other : 'local: ' + other;
  }

  // ---- rows ----

  function globEscape(s) {
    return String(s).replace(/[\\*?[\]{},]/g, '\\$&');
  }

  function pick(field, value, shown) {
    const b = el('button', 'pick', visible(shown));
    b.type = 'button';
    b.title = 'filter by this ' + field;
    b.addEventListener('click', () => {
      $(field).value = field === 'action' ? globEscape(value) : value;
      apply();
    });
    return b;
  }

  function row(rec, cursor) {
    const tr = el('tr');
    if (typeof rec.id === 'string') tr.dataset.id = rec.id;
    if (cursor) tr.dataset.cursor = cursor;
    const time = el('td', 'time');
    time.dataset.ts = String(rec.timestamp ?? '');
    setTime(time);
    const str = (v) => (v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));
    const user = el('td', 'user');
    if (rec.username !== undefined) user.append(pick('user', str(rec.username), str(rec.username)));
    const action = el('td', 'action');
    if (rec.action !== undefined) action.append(pick('action', str(rec.action), str(rec.action)));
    const ip = el('td', 'ip');
    if (rec.ip_address !== undefined) ip.append(pick('ip', str(rec.ip_address), str(rec.ip_address)));
    const ua = el('td', 'ua');
    if (rec.user_agent !== undefined) {
      ua.append(visible(shorten(str(rec.user_agent), 40)));
      ua.title = str(rec.user_agent);
    }
    const details = el('td', 'details');
    const extra = {};
    for (const k of Object.keys(rec)) if (!KNOWN.has(k)) extra[k] = rec[k];
    const parts = [];
    if (rec.details !== undefined) parts.push(JSON.stringify(rec.details));
    if (Object.keys(extra).length) parts.push('+ ' + JSON.stringify(extra));
    if (parts.length) {
      const d = el('details');
      d.append(el('summary', null, visible(shorten(parts.join(' '), 120))));
      d.append(el('pre', null, visible(JSON.stringify(rec, null, 2), true)));
      details.append(d);
    }
    tr.append(time, user, action, ip, ua, details);
    return tr;
  }

  function rowCount() {
    return $('rows').childElementCount;
  }

  function updateSummary() {
    $('shown').textContent = rowCount().toLocaleString('en-US');
    $('damaged').textContent = Math.max(state.damaged.page, state.damaged.chart).toLocaleString('en-US');
  }

  function setOlder(cursor, note) {
    state.older = cursor;
    $('older').hidden = !cursor;
    $('older-note').textContent = note || '';
  }

  /** Drops the oldest rows beyond the cap; "load older" goes on after the new last row. */
  function trim() {
    const rows = $('rows');
    if (rows.childElementCount <= state.cap) return;
    while (rows.childElementCount > state.cap) rows.lastElementChild.remove();
    const last = rows.lastElementChild;
    if (last && last.dataset.cursor) setOlder(last.dataset.cursor, '');
    else setOlder(null, `older rows dropped to keep ${state.cap}; reload to page back`);
  }

  // ---- errors ----

  function clearErrors() {
    for (const f of FIELDS) {
      const e = $('error-' + f);
      if (e) e.textContent = '';
      $(f).removeAttribute('aria-invalid');
    }
    $('status').textContent = '';
    $('status').className = '';
  }

  // What the page is doing, on <body> as data-state / data-live / data-chart, for
  // scripts and tests that drive it (loading, ready, error; connected, reconnecting).
  function mark(name, value) {
    document.body.dataset[name] = value;
  }

  function status(text, kind) {
    $('status').textContent = text;
    $('status').className = kind || '';
  }

  /** Shows an API error next to the field it names, else in the status line. */
  function showError(body, statusCode) {
    mark('state', 'error');
    const message = body && typeof body.error === 'string' ? body.error : 'HTTP ' + statusCode;
    const field = body && body.parameter;
    if (field && FIELDS.includes(field)) {
      $('error-' + field).textContent = message;
      $(field).setAttribute('aria-invalid', 'true');
      status('The server refused a filter; see the field marked.', 'error');
    } else {
      status(message, 'error');
    }
  }

  function needToken(wrong) {
    mark('state', 'error');
    $('rows').replaceChildren();
    setOlder(null, '');
    $('count').textContent = '–';
    $('bars').replaceChildren();
    updateSummary();
    $('token-why').textContent = wrong
      ? 'The server refused this token. Enter the one in its --token-file.'
      : 'This server asks for a bearer token (the one in its --token-file).';
    $('token-form').hidden = false;
    status('A token is needed to read activity.', 'error');
    $('token-input').focus();
  }

  async function getJson(path) {
    const r = await fetch(path, { headers: auth(), cache: 'no-store' });
    let body = null;
    try {
      body = parseJson(await r.text());
    } catch {
      body = null;
    }
    return { status: r.status, body };
  }

  // ---- URL state ----

  function formParams() {
    const p = new URLSearchParams();
    for (const f of FIELDS) {
      if (f === 'where') {
        for (const line of $('where').value.split(/\r?\n/)) if (line.trim() !== '') p.append('where', line);
      } else if ($(f).value.trim() !== '') {
        p.append(f, $(f).value);
      }
    }
    return p;
  }

  function fillForm(p) {
    for (const f of FIELDS) $(f).value = f === 'where' ? p.getAll('where').join('\n') : p.get(f) ?? '';
    syncPreset();
  }

  function syncPreset() {
    const since = $('since').value.trim();
    const presets = Array.from($('preset').options, (o) => o.value);
    $('preset').value = $('until').value.trim() === '' && presets.includes(since) && since !== 'custom' ? since : 'custom';
  }

  function pageUrl(p) {
    const q = new URLSearchParams(p);
    if (state.cap !== DEFAULT_CAP) q.set('cap', String(state.cap));
    if (state.local) q.set('tz', 'local');
    const s = q.toString();
    return location.pathname + (s ? '?' + s : '');
  }

  function readUrl() {
    const q = new URLSearchParams(location.search);
    const cap = Number.parseInt(q.get('cap') ?? '', 10);
    state.cap = Number.isFinite(cap) && cap > 0 ? cap : DEFAULT_CAP;
    state.local = q.get('tz') === 'local';
    $('local-time').checked = state.local;
    $('time-head').textContent = state.local ? 'Time (local)' : 'Time (UTC)';
    for (const s of SETTINGS) q.delete(s);
    // The token never belongs in the address bar, whoever put it there.
    for (const k of ['token', 'access_token']) q.delete(k);
    return q;
  }

  // ---- loading ----

  function apply() {
    const p = formParams();
    history.pushState(null, '', pageUrl(p));
    load(p);
  }

  async function load(p) {
    state.applied = p;
    const seq = ++state.seq;
    mark('state', 'loading');
    mark('chart', 'loading');
    clearErrors();
    state.damaged = { page: 0, chart: 0 };
    const wasLive = state.live !== null;
    stopLive();
    $('rows').replaceChildren();
    setOlder(null, '');
    updateSummary();
    status('Loading…');
    // Rows first: the chart reads the whole range, and on a small machine the two would
    // share the cores.
    const ok = await loadPage(p, null, seq);
    if (seq === state.seq) loadChart(p, seq);
    if (ok && seq === state.seq) {
      status('');
      if (wasLive || $('live').checked) startLive();
    }
  }

  async function loadPage(p, cursor, seq) {
    const q = new URLSearchParams(p);
    q.set('limit', String(PAGE));
    if (cursor) q.set('cursor', cursor);
    let r;
    try {
      r = await getJson('v1/activity?' + q);
    } catch (e) {
      if (seq === state.seq) {
        mark('state', 'error');
        status('Cannot reach the server: ' + e.message, 'error');
      }
      return false;
    }
    if (seq !== state.seq) return false;
    if (r.status === 401) {
      needToken(state.token !== null);
      return false;
    }
    if (r.status !== 200 || !r.body || !Array.isArray(r.body.records)) {
      showError(r.body, r.status);
      return false;
    }
    const frag = document.createDocumentFragment();
    const records = r.body.records;
    records.forEach((rec, i) => {
      frag.append(row(rec, i === records.length - 1 ? r.body.next_cursor : null));
    });
    $('rows').append(frag);
    state.damaged.page += Number(r.body.damaged) || 0;
    setOlder(r.body.next_cursor || null, '');
    updateSummary();
    if (rowCount() === 0) status('No matching records.');
    mark('state', 'ready');
    return true;
  }

  async function loadOlder() {
    if (!state.older) return;
    const seq = state.seq;
    $('older').disabled = true;
    mark('state', 'loading');
    await loadPage(state.applied, state.older, seq);
    $('older').disabled = false;
  }

  async function loadChart(p, seq) {
    const q = new URLSearchParams(p);
    q.set('buckets', '60');
    let r;
    try {
      r = await getJson('v1/activity/histogram?' + q);
    } catch {
      return;
    }
    if (seq !== state.seq || r.status !== 200 || !r.body || !Array.isArray(r.body.buckets)) return;
    const h = r.body;
    $('count').textContent = Number(h.total).toLocaleString('en-US');
    state.damaged.chart = Number(h.damaged) || 0;
    updateSummary();
    const max = Math.max(1, ...h.buckets.map((b) => Number(b.count) || 0));
    const bars = h.buckets.map((b) => {
      const bar = el('button', 'bar');
      bar.type = 'button';
      bar.title = `${utcText(b.start)} – ${utcText(b.end)} UTC: ${Number(b.count).toLocaleString('en-US')} records (click to zoom in)`;
      const fill = el('span');
      fill.style.height = ((Number(b.count) || 0) / max) * 100 + '%';
      bar.append(fill);
      bar.addEventListener('click', () => {
        $('since').value = b.start;
        $('until').value = b.end;
        syncPreset();
        apply();
      });
      return bar;
    });
    $('bars').replaceChildren(...bars);
    $('axis-from').textContent = utcText(h.since) + ' UTC';
    $('axis-to').textContent = utcText(h.until) + ' UTC';
    mark('chart', 'ready');
  }

  // ---- live tail ----

  const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

  function liveState(text, value) {
    $('live-state').textContent = text;
    mark('live', value);
  }

  function showHeld() {
    const n = state.held.length;
    $('held').textContent = state.paused
      ? `${n} new held` + (state.heldDropped ? ` (${state.heldDropped} older ones beyond the row cap dropped)` : '')
      : '';
  }

  function prepend(rec, id) {
    $('rows').prepend(row(rec, id));
    trim();
    updateSummary();
    if (rowCount() > 0 && $('status').textContent === 'No matching records.') status('');
  }

  function arrived(ev) {
    if (ev.id !== null) state.lastEventId = ev.id;
    if (ev.data.length === 0 || (ev.event && ev.event !== 'activity')) return;
    let rec;
    try {
      rec = parseJson(ev.data.join('\n'));
    } catch {
      return;
    }
    if (state.paused) {
      state.held.push([rec, ev.id]);
      if (state.held.length > state.cap) {
        state.held.shift();
        state.heldDropped++;
      }
      showHeld();
    } else {
      prepend(rec, ev.id);
    }
  }

  function startLive() {
    stopLive();
    const gen = { ctrl: null };
    state.live = gen;
    state.lastEventId = '';
    $('live').checked = true;
    $('pause').disabled = false;
    follow(gen, new URLSearchParams(state.applied));
  }

  function stopLive() {
    const gen = state.live;
    state.live = null;
    if (gen && gen.ctrl) gen.ctrl.abort();
    if (state.paused) resume();
    $('pause').disabled = true;
    liveState('', 'off');
  }

  /** Reads the event stream until stopped, reconnecting with Last-Event-ID. */
  async function follow(gen, p) {
    let delay = 250;
    while (state.live === gen) {
      const ctrl = new AbortController();
      gen.ctrl = ctrl;
      try {
        const headers = auth();
        if (state.lastEventId) headers['Last-Event-ID'] = state.lastEventId;
        const r = await fetch('v1/activity/stream?' + p, { headers, signal: ctrl.signal, cache: 'no-store' });
        if (state.live !== gen) return;
        if (r.status === 401) {
          stopLive();
          $('live').checked = false;
          needToken(state.token !== null);
          return;
        }
        if (r.status === 400) {
          const body = await r.json().catch(() => null);
          if (body && body.header === 'last-event-id') {
            state.lastEventId = '';
            continue;
          }
          stopLive();
          $('live').checked = false;
          showError(body, 400);
          return;
        }
        if (!r.ok || !r.body) throw new Error('HTTP ' + r.status);
        liveState('● live', 'connected');
        delay = 250;
        await readEvents(r.body.getReader(), gen);
      } catch (e) {
        if (ctrl.signal.aborted || state.live !== gen) return;
      }
      if (state.live !== gen) return;
      liveState('reconnecting…', 'reconnecting');
      await sleep(delay);
      delay = Math.min(delay * 2, 4000);
    }
  }

  async function readEvents(reader, gen) {
    const decoder = new TextDecoder();
    let buf = '';
    let ev = { data: [], id: null, event: null };
    for (;;) {
      const { value, done } = await reader.read();
      if (done || state.live !== gen) return;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          arrived(ev);
          ev = { data: [], id: null, event: null };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') ev.data.push(value);
        else if (field === 'id') ev.id = value;
        else if (field === 'event') ev.event = value;
      }
    }
  }

  function pause() {
    state.paused = true;
    $('pause').textContent = 'Resume';
    showHeld();
  }

  function resume() {
    state.paused = false;
    $('pause').textContent = 'Pause';
    const held = state.held;
    state.held = [];
    state.heldDropped = 0;
    for (const [rec, id] of held) prepend(rec, id);
    showHeld();
  }

  // ---- wiring ----

  function init() {
    try {
      state.token = sessionStorage.getItem(TOKEN_KEY);
      $('token-remember').checked = state.token !== null;
    } catch {
      state.token = null;
    }
    $('filters').addEventListener('submit', (e) => {
      e.preventDefault();
      apply();
    });
    $('clear').addEventListener('click', () => {
      fillForm(new URLSearchParams());
      apply();
    });
    $('preset').addEventListener('change', () => {
      const v = $('preset').value;
      if (v === 'custom') {
        $('since').focus();
        return;
      }
      $('since').value = v;
      $('until').value = '';
      apply();
    });
    for (const f of ['since', 'until']) $(f).addEventListener('input', syncPreset);
    $('where').addEventListener('keydown', (e) => {
      // Enter applies, as in the other fields; Shift+Enter adds another condition.
      if (e.key === 'Enter' && !e.shiftKey) {
        e.preventDefault();
        apply();
      }
    });
    $('older').addEventListener('click', loadOlder);
    $('live').addEventListener('change', () => ($('live').checked ? startLive() : stopLive()));
    $('pause').addEventListener('click', () => (state.paused ? resume() : pause()));
    $('local-time').addEventListener('change', () => {
      state.local = $('local-time').checked;
      $('time-head').textContent = state.local ? 'Time (local)' : 'Time (UTC)';
      for (const td of document.querySelectorAll('#rows td.time')) setTime(td);
      history.replaceState(null, '', pageUrl(state.applied));
    });
    $('token-toggle').addEventListener('click', () => {
      $('token-form').hidden = !$('token-form').hidden;
    });
    $('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const t = $('token-input').value.trim();
      $('token-input').value = '';
      state.token = t === '' ? null : t;
      try {
        if ($('token-remember').checked && state.token !== null) sessionStorage.setItem(TOKEN_KEY, state.token);
        else sessionStorage.removeItem(TOKEN_KEY);
      } catch {
        // Storage refused (private mode): the token stays in memory only.
      }
      $('token-form').hidden = true;
      load(state.applied);
    });
    $('token-forget').addEventListener('click', () => {
      state.token = null;
      try {
        sessionStorage.removeItem(TOKEN_KEY);
      } catch {
        // Nothing stored.
      }
      $('token-remember').checked = false;
      load(state.applied);
    });
    window.addEventListener('popstate', () => {
      const p = readUrl();
      fillForm(p);
      load(p);
    });
    const p = readUrl();
    history.replaceState(null, '', pageUrl(p));
    fillForm(p);
    load(p);
  }

  init();
})();
