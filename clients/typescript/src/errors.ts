/** What went wrong: the server answered with an error, the attempt timed out, the
 * connection failed, or the answer was not what the API promises. */
export type ActlogErrorKind = "http" | "timeout" | "network" | "protocol";

/** The fields of the sidecar's JSON error answer (docs/openapi.yaml). */
export interface ServerErrorBody {
  error?: string;
  index?: number;
  field?: string;
  parameter?: string;
  header?: string;
  path?: string;
  op?: string;
  written?: number;
  [key: string]: unknown;
}

/**
 * A failed call. `retryable` says whether sending the same request again is safe and may
 * succeed (the client already did so, up to its `retries`, before throwing).
 */
export class ActlogError extends Error {
  /** The HTTP status, or `undefined` when no answer came (timeout, connection error). */
  readonly status: number | undefined;
  readonly kind: ActlogErrorKind;
  /** The server's `error` message, when it sent one. */
  readonly error: string | undefined;
  /** For a refused `log()`: the position of the bad record in the array given to `log()`. */
  readonly index: number | undefined;
  /** For a refused record: the field at fault (`username`, `details`, ...). */
  readonly field: string | undefined;
  /** For a refused query: the query parameter at fault. */
  readonly parameter: string | undefined;
  /** Timeouts, connection errors, 408, 429 and 503: the same request may succeed later. */
  readonly retryable: boolean;
  /** How many attempts were made before giving up. */
  readonly attempts: number;
  /** The whole JSON error answer, if any. */
  readonly body: ServerErrorBody | undefined;

  constructor(init: {
    message: string;
    kind: ActlogErrorKind;
    status?: number | undefined;
    body?: ServerErrorBody | undefined;
    retryable: boolean;
    attempts?: number;
    index?: number | undefined;
    cause?: unknown;
  }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "ActlogError";
    this.kind = init.kind;
    this.status = init.status;
    this.body = init.body;
    this.error = typeof init.body?.error === "string" ? init.body.error : undefined;
    this.index = init.index ?? (typeof init.body?.index === "number" ? init.body.index : undefined);
    this.field = typeof init.body?.field === "string" ? init.body.field : undefined;
    this.parameter = typeof init.body?.parameter === "string" ? init.body.parameter : undefined;
    this.retryable = init.retryable;
    this.attempts = init.attempts ?? 1;
  }
}

/** Thrown by `logger.log()` when the queue is full and no `onOverflow` was given. */
export class ActlogQueueFullError extends Error {
  /** The record that was not queued (with the `id` it was given). */
  readonly record: unknown;
  constructor(limit: number, record: unknown) {
    super(`actlog: logger queue full (${limit} records waiting); await logger.push() to wait for room`);
    this.name = "ActlogQueueFullError";
    this.record = record;
  }
}

/** Thrown by `logger.log()` after `close()`. */
export class ActlogClosedError extends Error {
  constructor() {
    super("actlog: logger is closed");
    this.name = "ActlogClosedError";
  }
}
