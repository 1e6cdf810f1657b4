import { ActlogError, type ServerErrorBody } from "./errors.js";
import { uuidv7 } from "./uuid.js";

/** A record to store; `id` and `timestamp` are filled in when absent. */
export interface NewActivity {
  username: string;
  action: string;
  details?: Record<string, unknown>;
  ip_address?: string;
  user_agent?: string;
  /** RFC 3339; the sidecar stamps the time it stores the record when absent. */
  timestamp?: string;
  /** A UUIDv7; the client gives one before the first attempt when absent. */
  id?: string;
}

/**
 * A stored record, as queries and the stream return it. Lines written by other programs
 * may carry fields the store does not know: readers keep them, so they are here too.
 */
export interface Activity extends NewActivity {
  id: string;
  timestamp: string;
  [field: string]: unknown;
}

/** The answer for one stored record: its `id` and the `timestamp` it is stored with. */
export interface Ack {
  id: string;
  timestamp: string;
}

/** A time for `since`/`until`: a Date, or any form the command line takes (`15m`, `2026-11-24`, ...). */
export type TimeSpec = string | Date;

/** Filters with the meaning of `actlog query`'s; a list matches any (user, action, ip) or must all hold (where, grep). */
export interface Filters {
  user?: string | readonly string[];
  action?: string | readonly string[];
  ip?: string | readonly string[];
  since?: TimeSpec;
  until?: TimeSpec;
  where?: string | readonly string[];
  grep?: string | readonly string[];
}

/** Filters for `query()`. */
export interface QueryFilters extends Filters {
  /** At most this many records in all (default: every match). */
  limit?: number;
  /** Records per request, 1 to 1000 (default 500, or `limit` when smaller). */
  pageSize?: number;
  order?: "newest" | "oldest";
}

/** Filters for one `page()`. */
export interface PageFilters extends Filters {
  limit?: number;
  cursor?: string;
  order?: "newest" | "oldest";
}

/** One page of `GET /v1/activity`. */
export interface Page {
  records: Activity[];
  /** `null` on the last page. */
  next_cursor: string | null;
  /** Damaged lines or files skipped while reading. */
  damaged: number;
}

/** The figures of `actlog stats -o json`. */
export interface Stats {
  days: Array<Record<string, unknown>>;
  total: Record<string, unknown>;
  [field: string]: unknown;
}

/** Options of every call. */
export interface CallOptions {
  /** Cancels the call (and its retries); the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Per attempt; overrides the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Attempts after the first; overrides the client's `retries`. */
  retries?: number;
}

/** Options of `stream()`. */
export interface StreamOptions {
  signal?: AbortSignal;
  /** Resume strictly after this event id (a cursor an earlier stream gave). */
  lastEventId?: string;
  /** Time to get the answer's headers, per connection (default: the client's `timeoutMs`). */
  connectTimeoutMs?: number;
  /** Reconnect when nothing (not even a keep-alive) arrives for this long (default 45 s). */
  idleTimeoutMs?: number;
  /** Reconnect back-off: a random delay up to min(maxMs, baseMs * 2^n) (default 250 ms, 10 s). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Give up after this many reconnects in a row without a successful connection (default: never). */
  maxReconnects?: number;
  /** Told when a connection is answered: records stored from then on will come. */
  onOpen?: (info: { connection: number; lastEventId: string | undefined }) => void;
  /** Told of each reconnect, with the error that caused it (undefined for a clean end). */
  onReconnect?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** What a retry is told. */
export interface RetryInfo {
  attempt: number;
  delayMs: number;
  error: ActlogError;
  /** Records in the request being retried (0 for reads). */
  records: number;
}

/** How to reach the sidecar and how hard to try. */
export interface ClientOptions {
  /** Default `$ACTLOG_URL`, else `http://127.0.0.1:8417`. */
  url?: string;
  /** Bearer token, when the sidecar runs with `--token-file` (default `$ACTLOG_TOKEN`). */
  token?: string;
  /** Per attempt, in ms (default 10,000). */
  timeoutMs?: number;
  /** Attempts after the first, on timeouts, connection errors, 408, 429 and 503 (default 5). */
  retries?: number;
  /** Retry back-off: a random delay up to min(maxMs, baseMs * 2^n) (default 100 ms, 5 s). */
  backoff?: { baseMs?: number; maxMs?: number };
  /** Longest `Retry-After` honoured, in ms (default 30 s). */
  maxRetryAfterMs?: number;
  /** Told before each retry (for metrics). */
  onRetry?: (info: RetryInfo) => void;
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch;
}

const MAX_RECORDS = 1000;
// The sidecar takes bodies up to 1 MiB; keep a margin under it.
const MAX_BODY = 1024 * 1024 - 1024;
const RETRYABLE = new Set([408, 429, 503]);

/** Serializes a record for sending, giving it an id when it has none. */
export function serialize(record: NewActivity): string {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new TypeError("actlog: a record must be an object");
  }
  const withId = record.id === undefined ? { id: uuidv7(), ...record } : record;
  return JSON.stringify(withId);
}

/** Bytes of a string in UTF-8, without encoding it. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function jitter(attempt: number, baseMs: number, maxMs: number): number {
  return Math.random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1));
}

/** Retry-After in ms (seconds or an HTTP date), or undefined. */
function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined;
  const secs = Number(value);
  if (Number.isFinite(secs) && secs >= 0) return secs * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** An AbortSignal that fires on the caller's signal or after `ms`, and tells which. */
function attemptSignal(signal: AbortSignal | undefined, ms: number) {
  const controller = new AbortController();
  let timedOut = false;
  const fire = () => {
    timedOut = true;
    controller.abort(new Error("timeout"));
  };
  let timer = setTimeout(fire, ms);
  const onAbort = () => controller.abort(signal!.reason);
  if (signal) {
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  }
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    /** Restarts the timer with a new limit (the stream's idle limit). */
    touch(limit: number) {
      clearTimeout(timer);
      timer = setTimeout(fire, limit);
    },
    done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    },
    abort: () => controller.abort(new Error("closed")),
  };
}

function toQuery(filters: object): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      q.append(key, v instanceof Date ? v.toISOString() : String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { error: text };
  }
}

/**
 * The sidecar's HTTP API with timeouts, cancellation and retries. Every record gets its
 * UUIDv7 `id` before the first attempt, and the sidecar acknowledges an id it already
 * stores without writing it again, so a retry after a timeout never stores a record twice.
 */
export class ActlogClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly #backoff: { baseMs: number; maxMs: number };
  readonly #maxRetryAfterMs: number;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions = {}) {
    const env = typeof process === "object" ? process.env : {};
    this.url = (options.url ?? env.ACTLOG_URL ?? "http://127.0.0.1:8417").replace(/\/+$/, "");
    this.#token = options.token ?? env.ACTLOG_TOKEN ?? undefined;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.retries = options.retries ?? 5;
    this.#backoff = { baseMs: options.backoff?.baseMs ?? 100, maxMs: options.backoff?.maxMs ?? 5_000 };
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.#onRetry = options.onRetry;
    this.#fetch = options.fetch ?? globalThis.fetch;
    if (typeof this.#fetch !== "function") {
      throw new TypeError("actlog: no global fetch (Node.js 18 or later is needed)");
    }
  }

  #headers(extra: Record<string, string>): Record<string, string> {
    return this.#token ? { ...extra, authorization: `Bearer ${this.#token}` } : extra;
  }

  /** One request with retries; resolves to the parsed JSON of a 2xx answer. */
  async #call(
    method: "GET" | "POST",
    path: string,
    body: string | undefined,
    opts: CallOptions,
    records: number,
    onRetry?: (info: RetryInfo) => void,
  ): Promise<unknown> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const retries = opts.retries ?? this.retries;
    for (let attempt = 1; ; attempt++) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const a = attemptSignal(opts.signal, timeoutMs);
      let error: ActlogError;
      let wait: number | undefined;
      try {
        const res = await this.#fetch(this.url + path, {
          method,
          headers: this.#headers(body === undefined ? {} : { "content-type": "application/json" }),
          body,
          signal: a.signal,
        });
        const parsed = await readBody(res);
        if (res.ok) return parsed;
        const errBody =
          parsed && typeof parsed === "object" ? (parsed as ServerErrorBody) : undefined;
        const retryable = RETRYABLE.has(res.status);
        error = new ActlogError({
          message: `actlog: ${method} ${path.split("?")[0]}: ${res.status}${errBody?.error ? `: ${errBody.error}` : ""}`,
          kind: "http",
          status: res.status,
          body: errBody,
          retryable,
          attempts: attempt,
        });
        wait = retryAfterMs(res.headers.get("retry-after"));
      } catch (e) {
        if (opts.signal?.aborted && !a.timedOut()) throw opts.signal.reason;
        const timedOut = a.timedOut();
        error = new ActlogError({
          message: timedOut
            ? `actlog: ${method} ${path.split("?")[0]}: no answer within ${timeoutMs} ms`
            : `actlog: ${method} ${path.split("?")[0]}: ${connectionMessage(e)}`,
          kind: timedOut ? "timeout" : "network",
          retryable: true,
          attempts: attempt,
          cause: e,
        });
      } finally {
        a.done();
      }
      if (!error.retryable || attempt > retries) throw error;
      const delayMs =
        wait !== undefined
          ? Math.min(wait, this.#maxRetryAfterMs) + Math.random() * this.#backoff.baseMs
          : jitter(attempt, this.#backoff.baseMs, this.#backoff.maxMs);
      const info = { attempt, delayMs, error, records };
      this.#onRetry?.(info);
      onRetry?.(info);
      await sleep(delayMs, opts.signal);
    }
  }

  /**
   * Stores one record (resolving to its Ack) or an array (resolving to one Ack each, in
   * order). More than 1,000 records or 1 MiB is sent in several requests, each all or
   * nothing; an invalid record rejects with a 400 `ActlogError` whose `index` is its
   * position in the array given here.
   */
  log(record: NewActivity, opts?: CallOptions): Promise<Ack>;
  log(records: readonly NewActivity[], opts?: CallOptions): Promise<Ack[]>;
  async log(input: NewActivity | readonly NewActivity[], opts: CallOptions = {}): Promise<Ack | Ack[]> {
    if (!Array.isArray(input)) {
      const [ack] = await this.sendSerialized([serialize(input as NewActivity)], opts);
      return ack!;
    }
    const lines = (input as readonly NewActivity[]).map(serialize);
    const acks: Ack[] = [];
    for (const chunk of chunks(lines)) {
      try {
        acks.push(...(await this.sendSerialized(chunk.lines, opts)));
      } catch (e) {
        if (e instanceof ActlogError && e.index !== undefined && chunk.offset > 0) {
          throw new ActlogError({
            message: e.message,
            kind: e.kind,
            status: e.status,
            body: e.body,
            retryable: e.retryable,
            attempts: e.attempts,
            index: e.index + chunk.offset,
            cause: e,
          });
        }
        throw e;
      }
    }
    return acks;
  }

  /**
   * Posts records already serialized (each with its id), as one request: at most 1,000
   * and 1 MiB in all. The batching logger's way in.
   */
  async sendSerialized(
    lines: readonly string[],
    opts: CallOptions = {},
    onRetry?: (info: RetryInfo) => void,
  ): Promise<Ack[]> {
    if (lines.length === 0) return [];
    const body = `[${lines.join(",")}]`;
    const answer = (await this.#call("POST", "/v1/activity", body, opts, lines.length, onRetry)) as
      | { records?: Ack[] }
      | undefined;
    const acks = answer?.records;
    if (!Array.isArray(acks) || acks.length !== lines.length) {
      throw new ActlogError({
        message: `actlog: POST /v1/activity: expected ${lines.length} acknowledgements, got ${Array.isArray(acks) ? acks.length : "none"}`,
        kind: "protocol",
        retryable: false,
      });
    }
    return acks;
  }

  /** One page of matching records (newest first unless `order: "oldest"`). */
  async page(filters: PageFilters = {}, opts: CallOptions = {}): Promise<Page> {
    const page = (await this.#call("GET", `/v1/activity${toQuery(filters)}`, undefined, opts, 0)) as Page;
    if (!page || !Array.isArray(page.records)) {
      throw new ActlogError({ message: "actlog: GET /v1/activity: no records in the answer", kind: "protocol", retryable: false });
    }
    return page;
  }

  /**
   * Every matching record, newest first unless `order: "oldest"`, fetched page by page
   * following `next_cursor` as the loop asks for more.
   */
  async *query(filters: QueryFilters = {}, opts: CallOptions = {}): AsyncGenerator<Activity, void, undefined> {
    const { limit, pageSize, ...rest } = filters;
    let left = limit ?? Infinity;
    let cursor: string | undefined;
    while (left > 0) {
      const size = Math.min(pageSize ?? 500, left, 1000);
      const page = await this.page({ ...rest, limit: size, ...(cursor ? { cursor } : {}) }, opts);
      for (const r of page.records) {
        if (left-- <= 0) return;
        yield r;
      }
      if (!page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  /**
   * Each new matching record as it is stored, for as long as the loop runs. A dropped
   * connection, a silent one or a restarted sidecar is reconnected with jittered back-off,
   * sending `Last-Event-ID` so the stream goes on exactly after the last record it gave.
   * Ends on `break`; rejects with the signal's reason on abort, and with an
   * `ActlogError` on an answer that retrying cannot fix (a bad filter, a wrong token).
   */
  stream(filters: Filters = {}, opts: StreamOptions = {}): ActivityStream {
    return new ActivityStream(this, filters, opts);
  }

  /** @internal Opens one stream connection. */
  async openStream(filters: Filters, lastEventId: string | undefined, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
    return this.#fetch(`${this.url}/v1/activity/stream${toQuery(filters)}`, {
      headers: this.#headers(headers),
      signal,
    });
  }

  /** Days, records and bytes of the store. */
  async stats(opts: CallOptions = {}): Promise<Stats> {
    return (await this.#call("GET", "/v1/stats", undefined, opts, 0)) as Stats;
  }

  /** Liveness: resolves to `{status: "ok"}`, rejects when the sidecar does not answer. */
  async health(opts: CallOptions = {}): Promise<{ status: string }> {
    return (await this.#call("GET", "/healthz", undefined, { retries: 0, ...opts }, 0)) as { status: string };
  }

  /** Readiness: whether the sidecar can write (a full or read-only volume is not ready). */
  async ready(opts: CallOptions = {}): Promise<{ ready: boolean; error?: string }> {
    try {
      await this.#call("GET", "/readyz", undefined, { retries: 0, ...opts }, 0);
      return { ready: true };
    } catch (e) {
      if (e instanceof ActlogError && e.status === 503) {
        return e.error === undefined ? { ready: false } : { ready: false, error: e.error };
      }
      throw e;
    }
  }

  /** @internal */
  get streamTimeoutMs(): number {
    return this.timeoutMs;
  }
}

function connectionMessage(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return `connection failed (${cause.code})`;
  return `connection failed (${(e as Error)?.message ?? String(e)})`;
}

/** Splits serialized records into requests of at most 1,000 records and 1 MiB. */
export function* chunks(lines: readonly string[]): Generator<{ offset: number; lines: string[] }> {
  let start = 0;
  let current: string[] = [];
  let bytes = 2;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const n = utf8Length(line) + 1;
    if (current.length > 0 && (current.length >= MAX_RECORDS || bytes + n > MAX_BODY)) {
      yield { offset: start, lines: current };
      start = i;
      current = [];
      bytes = 2;
    }
    current.push(line);
    bytes += n;
  }
  if (current.length > 0) yield { offset: start, lines: current };
}

/** Limits of one request, for the batching logger. */
export const LIMITS = { records: MAX_RECORDS, bytes: MAX_BODY } as const;

/**
 * A live, resuming stream of records: iterate it with `for await`. `lastEventId` is the
 * cursor of the last record given, to store and pass as `lastEventId` to a later stream.
 */
export class ActivityStream implements AsyncIterable<Activity> {
  #lastEventId: string | undefined;
  readonly #client: ActlogClient;
  readonly #filters: Filters;
  readonly #opts: StreamOptions;
  /** Connections opened so far (1 + reconnects). */
  connections = 0;

  constructor(client: ActlogClient, filters: Filters, opts: StreamOptions) {
    this.#client = client;
    this.#filters = filters;
    this.#opts = opts;
    this.#lastEventId = opts.lastEventId;
  }

  /** The id of the last event received (the resume point), if any. */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Activity, void, undefined> {
    const { signal } = this.#opts;
    const baseMs = this.#opts.backoff?.baseMs ?? 250;
    const maxMs = this.#opts.backoff?.maxMs ?? 10_000;
    const idleMs = this.#opts.idleTimeoutMs ?? 45_000;
    const connectMs = this.#opts.connectTimeoutMs ?? this.#client.streamTimeoutMs;
    let failures = 0;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const a = attemptSignal(signal, connectMs);
      let error: unknown;
      try {
        this.connections++;
        const res = await this.#client.openStream(this.#filters, this.#lastEventId, a.signal);
        if (!res.ok) {
          const body = (await readBody(res)) as ServerErrorBody | undefined;
          const err = new ActlogError({
            message: `actlog: GET /v1/activity/stream: ${res.status}${body?.error ? `: ${body.error}` : ""}`,
            kind: "http",
            status: res.status,
            body,
            retryable: RETRYABLE.has(res.status) || res.status >= 500,
          });
          if (!err.retryable) throw err;
          error = err;
        } else if (!res.body) {
          error = new Error("no body");
        } else {
          failures = 0;
          a.touch(idleMs);
          this.#opts.onOpen?.({ connection: this.connections, lastEventId: this.#lastEventId });
          const reader = res.body.getReader();
          const parser = new SseParser();
          const decoder = new TextDecoder();
          try {
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              a.touch(idleMs);
              for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
                if (ev.id !== undefined) this.#lastEventId = ev.id;
                if (ev.event === "activity" && ev.data !== "") {
                  yield JSON.parse(ev.data) as Activity;
                }
              }
            }
          } finally {
            reader.cancel().catch(() => {});
          }
        }
      } catch (e) {
        if (signal?.aborted && !a.timedOut()) throw signal.reason;
        if (e instanceof ActlogError && !e.retryable) throw e;
        if (e instanceof SyntaxError) throw e;
        error = e;
      } finally {
        a.done();
        a.abort();
      }
      failures++;
      if (this.#opts.maxReconnects !== undefined && failures > this.#opts.maxReconnects) {
        throw new ActlogError({
          message: `actlog: stream: gave up after ${failures} failed connections`,
          kind: error instanceof ActlogError ? error.kind : "network",
          retryable: true,
          attempts: failures,
          cause: error,
        });
      }
      const delayMs = jitter(failures, baseMs, maxMs);
      this.#opts.onReconnect?.({ attempt: failures, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}

/** A server-sent event as the EventSource rules read it. */
interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/** Incremental text/event-stream parser (the HTML standard's rules). */
class SseParser {
  #buf = "";
  #event = "";
  #data: string[] = [];
  #id: string | undefined;

  *push(text: string): Generator<SseEvent> {
    const buf = this.#buf + text;
    const eol = /\r\n|\r|\n/g;
    let at = 0;
    for (let m = eol.exec(buf); m; m = eol.exec(buf)) {
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (m[0] === "\r" && m.index === buf.length - 1) break;
      const line = buf.slice(at, m.index);
      at = m.index + m[0].length;
      if (line === "") {
        if (this.#data.length > 0 || this.#id !== undefined) {
          yield { event: this.#event || "message", data: this.#data.join("\n"), id: this.#id };
        }
        this.#event = "";
        this.#data = [];
        this.#id = undefined;
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") this.#event = value;
      else if (field === "data") this.#data.push(value);
      else if (field === "id" && !value.includes("\0")) this.#id = value;
    }
    this.#buf = buf.slice(at);
  }
}
