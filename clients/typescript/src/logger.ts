import { ActlogClient, LIMITS, utf8Length, type ClientOptions, type NewActivity } from "./client.js";
import { ActlogClosedError, ActlogError, ActlogQueueFullError } from "./errors.js";
import { uuidv7 } from "./uuid.js";

let isoMs = -1;
let iso = "";
/** The current time as RFC 3339 with milliseconds, formatted once per millisecond. */
function nowIso(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}

/** Options of `createLogger()`: the client's, or a client, plus the batching limits. */
export interface LoggerOptions extends ClientOptions {
  /** An existing client to send through (its url, token and retry settings apply). */
  client?: ActlogClient;
  /** Records per request, at most 1,000 (default 1,000). */
  maxBatchRecords?: number;
  /** Bytes per request body, at most about 1 MiB (default: that). */
  maxBatchBytes?: number;
  /** A record waits at most this long for its batch to fill (default 50 ms). */
  maxDelayMs?: number;
  /** Records held (waiting and in flight) before `log()` refuses more (default 100,000). */
  maxQueue?: number;
  /** Requests in flight at once (default 4). */
  concurrency?: number;
  /**
   * Called with a record `log()` could not queue because the queue is full (the record is
   * not stored). Without it, `log()` throws `ActlogQueueFullError` instead.
   */
  onOverflow?: (record: NewActivity) => void;
  /**
   * Called with records the sidecar refused (400: that record alone, the rest of its batch
   * is sent again) or that could not be sent after every retry. Default: one line on stderr.
   */
  onError?: (error: ActlogError, records: NewActivity[]) => void;
  /**
   * Close (send everything) on these signals, then let the signal take its course
   * (`true` means `["SIGTERM", "SIGINT"]`). Off by default.
   */
  closeOnSignals?: boolean | NodeJS.Signals[];
}

/** The logger's counters. */
export interface LoggerStats {
  /** Records acknowledged by the sidecar. */
  sent: number;
  /** Records sent again after a timeout, a connection error, 408, 429 or 503. */
  retried: number;
  /** Records refused or given up on (each passed to `onError`). */
  failed: number;
  /** Records not queued because the queue was full (each passed to `onOverflow` or thrown). */
  overflowed: number;
  /** Records waiting for a batch. */
  queued: number;
  /** Records in requests not yet answered. */
  inFlight: number;
}

/** A batching logger: `log()` returns at once, records go to the sidecar in batches. */
export interface Logger {
  /**
   * Queues a record (giving it its `id`, and the current time as its `timestamp` when it
   * has none) and returns at once: `true` if queued; when the queue is full, `false` after
   * passing it to `onOverflow`, or throws `ActlogQueueFullError` without one.
   */
  log(record: NewActivity): boolean;
  /** Waits for room in the queue (back-pressure), then queues the record. */
  push(record: NewActivity): Promise<void>;
  /** Sends what is queued now; resolves when nothing is waiting or in flight. */
  flush(): Promise<LoggerStats>;
  /** Refuses new records, sends the rest, removes the signal hooks. */
  close(): Promise<LoggerStats>;
  /** A snapshot of the counters. */
  readonly stats: LoggerStats;
  readonly closed: boolean;
}

interface Item {
  line: string;
  bytes: number;
}

function defaultOnError(error: ActlogError, records: NewActivity[]): void {
  process.stderr.write(`actlog: ${records.length} record(s) not stored: ${error.message}\n`);
}

/** Creates a batching logger (see `Logger`). */
export function createLogger(options: LoggerOptions = {}): Logger {
  return new BatchingLogger(options);
}

class BatchingLogger implements Logger {
  readonly #client: ActlogClient;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #maxDelayMs: number;
  readonly #maxQueue: number;
  readonly #concurrency: number;
  readonly #onOverflow: ((record: NewActivity) => void) | undefined;
  readonly #onError: (error: ActlogError, records: NewActivity[]) => void;
  #queue: Item[] = [];
  #head = 0;
  #queuedBytes = 0;
  #inFlight = 0;
  #inFlightRecords = 0;
  #timer: NodeJS.Timeout | undefined;
  #flushing = 0;
  #closed = false;
  #idle: Array<() => void> = [];
  #room: Array<() => void> = [];
  #signals: Array<[NodeJS.Signals, () => void]> = [];
  #counters = { sent: 0, retried: 0, failed: 0, overflowed: 0 };

  constructor(o: LoggerOptions) {
    this.#client = o.client ?? new ActlogClient(o);
    this.#maxRecords = Math.max(1, Math.min(o.maxBatchRecords ?? LIMITS.records, LIMITS.records));
    this.#maxBytes = Math.max(1, Math.min(o.maxBatchBytes ?? LIMITS.bytes, LIMITS.bytes));
    this.#maxDelayMs = o.maxDelayMs ?? 50;
    this.#maxQueue = o.maxQueue ?? 100_000;
    this.#concurrency = Math.max(1, o.concurrency ?? 4);
    this.#onOverflow = o.onOverflow;
    this.#onError = o.onError ?? defaultOnError;
    const signals = o.closeOnSignals === true ? (["SIGTERM", "SIGINT"] as NodeJS.Signals[]) : o.closeOnSignals || [];
    for (const sig of signals) {
      const handler = () => {
        void this.close().finally(() => {
          // Nobody else listens: do what the signal would have done without us.
          if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
        });
      };
      process.once(sig, handler);
      this.#signals.push([sig, handler]);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get #queued(): number {
    return this.#queue.length - this.#head;
  }

  get stats(): LoggerStats {
    return { ...this.#counters, queued: this.#queued, inFlight: this.#inFlightRecords };
  }

  #prepare(record: NewActivity): Item {
    if (record === null || typeof record !== "object" || Array.isArray(record)) {
      throw new TypeError("actlog: a record must be an object");
    }
    // One object in the stored field order, stringified once: the hot path's whole cost.
    const line = JSON.stringify({
      id: record.id ?? uuidv7(),
      timestamp: record.timestamp ?? nowIso(),
      ...record,
    });
    return { line, bytes: utf8Length(line) + 1 };
  }

  log(record: NewActivity): boolean {
    if (this.#closed) throw new ActlogClosedError();
    const item = this.#prepare(record);
    if (this.#queued + this.#inFlightRecords >= this.#maxQueue) {
      this.#counters.overflowed++;
      const parsed = JSON.parse(item.line) as NewActivity;
      if (!this.#onOverflow) throw new ActlogQueueFullError(this.#maxQueue, parsed);
      this.#onOverflow(parsed);
      return false;
    }
    this.#enqueue(item);
    return true;
  }

  async push(record: NewActivity): Promise<void> {
    if (this.#closed) throw new ActlogClosedError();
    const item = this.#prepare(record);
    while (this.#queued + this.#inFlightRecords >= this.#maxQueue) {
      await new Promise<void>((resolve) => this.#room.push(resolve));
      if (this.#closed) throw new ActlogClosedError();
    }
    this.#enqueue(item);
  }

  #enqueue(item: Item): void {
    this.#queue.push(item);
    this.#queuedBytes += item.bytes;
    if (this.#queued >= this.#maxRecords || this.#queuedBytes + 2 >= this.#maxBytes) {
      this.#pump();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump(true);
      }, this.#maxDelayMs);
    }
  }

  /** Starts requests while there is room: full batches, or any batch when `force`. */
  #pump(force = false): void {
    while (this.#inFlight < this.#concurrency && this.#queued > 0) {
      const full = this.#queued >= this.#maxRecords || this.#queuedBytes + 2 >= this.#maxBytes;
      if (!full && !force && this.#flushing === 0) break;
      const batch = this.#take();
      this.#inFlight++;
      this.#inFlightRecords += batch.length;
      void this.#send(batch).finally(() => {
        this.#inFlight--;
        this.#inFlightRecords -= batch.length;
        this.#wake();
        this.#pump(this.#flushing > 0);
      });
    }
    if (this.#queued > 0 && this.#timer === undefined && this.#inFlight < this.#concurrency) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump(true);
      }, this.#maxDelayMs);
    }
  }

  #take(): Item[] {
    const batch: Item[] = [];
    let bytes = 2;
    while (this.#head < this.#queue.length && batch.length < this.#maxRecords) {
      const item = this.#queue[this.#head]!;
      if (batch.length > 0 && bytes + item.bytes > this.#maxBytes) break;
      batch.push(item);
      bytes += item.bytes;
      this.#queuedBytes -= item.bytes;
      this.#head++;
    }
    // Compact now and then so the array does not grow without end.
    if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  async #send(batch: Item[]): Promise<void> {
    let items = batch;
    while (items.length > 0) {
      try {
        await this.#client.sendSerialized(
          items.map((i) => i.line),
          {},
          (info) => {
            this.#counters.retried += info.records;
          },
        );
        this.#counters.sent += items.length;
        return;
      } catch (e) {
        const err =
          e instanceof ActlogError
            ? e
            : new ActlogError({ message: `actlog: ${String(e)}`, kind: "protocol", retryable: false, cause: e });
        // One bad record refuses its whole batch: report it alone and send the others.
        const bad = err.status === 400 ? err.index : undefined;
        if (bad !== undefined && bad >= 0 && bad < items.length && items.length > 1) {
          this.#fail(err, [items[bad]!]);
          items = items.filter((_, i) => i !== bad);
          continue;
        }
        this.#fail(err, items);
        return;
      }
    }
  }

  #fail(err: ActlogError, items: Item[]): void {
    this.#counters.failed += items.length;
    try {
      this.#onError(
        err,
        items.map((i) => JSON.parse(i.line) as NewActivity),
      );
    } catch (e) {
      process.stderr.write(`actlog: onError threw: ${String(e)}\n`);
    }
  }

  #wake(): void {
    while (this.#room.length > 0 && this.#queued + this.#inFlightRecords < this.#maxQueue) {
      this.#room.shift()!();
    }
    if (this.#queued === 0 && this.#inFlight === 0) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }

  async flush(): Promise<LoggerStats> {
    if (this.#queued === 0 && this.#inFlight === 0) return this.stats;
    this.#flushing++;
    try {
      if (this.#timer !== undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
      const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
      this.#pump(true);
      await idle;
    } finally {
      this.#flushing--;
    }
    return this.stats;
  }

  async close(): Promise<LoggerStats> {
    this.#closed = true;
    for (const [sig, handler] of this.#signals) process.removeListener(sig, handler);
    this.#signals = [];
    // Waiting push() calls find the logger closed.
    for (const resolve of this.#room.splice(0)) resolve();
    return this.flush();
  }
}
