import type { NewActivity } from "./client.js";

/** What the adapters need of a logger: `createLogger()`'s `log`. */
export interface ActivitySink {
  log(record: NewActivity): unknown;
}

/** Options shared by the Express middleware and the Fastify plugin. */
export interface AdapterOptions<Req> {
  /** Where the activity goes: a logger from `createLogger()`. */
  logger: ActivitySink;
  /** The end user of a request; `undefined` or `""` logs `anonymous`. */
  username: (req: Req) => string | undefined | null;
  /** Name for requests without a user (default `"anonymous"`). */
  anonymous?: string;
  /** The action; default `METHOD /route/:pattern` (never the raw URL). */
  action?: (req: Req, route: string | undefined) => string;
  /** More `details` merged beside `status` and `durationMs`. */
  details?: (req: Req) => Record<string, unknown> | undefined;
  /** Requests for which nothing is logged (health checks, say). */
  skip?: (req: Req) => boolean;
  /** Told when the logger refuses a record (queue full, closed); default: one line on stderr. */
  onError?: (error: unknown) => void;
}

/**
 * The client address as the store keeps it: an IPv4-mapped IPv6 address is the IPv4
 * client it maps, a zone index (`%eth0`) is dropped; anything empty is absent.
 */
export function clientAddress(addr: string | undefined | null): string | undefined {
  if (!addr) return undefined;
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(addr);
  if (mapped) return mapped[1];
  const zone = addr.indexOf("%");
  return zone > 0 ? addr.slice(0, zone) : addr;
}

/** Builds and logs the request's record, never throwing into the framework. */
export function logRequest<Req>(
  o: AdapterOptions<Req>,
  req: Req,
  fields: {
    method: string;
    route: string | undefined;
    ip: string | undefined;
    userAgent: string | undefined;
    status: number;
    durationMs: number;
  },
): void {
  try {
    if (o.skip?.(req)) return;
    const user = o.username(req);
    const action = o.action
      ? o.action(req, fields.route)
      : `${fields.method} ${fields.route ?? "(no route)"}`;
    const record: NewActivity = {
      username: user ? user : (o.anonymous ?? "anonymous"),
      action,
      details: {
        ...o.details?.(req),
        status: fields.status,
        durationMs: Math.round(fields.durationMs * 1000) / 1000,
      },
    };
    const ip = clientAddress(fields.ip);
    if (ip !== undefined) record.ip_address = ip;
    if (fields.userAgent) record.user_agent = fields.userAgent;
    o.logger.log(record);
  } catch (e) {
    if (o.onError) o.onError(e);
    else process.stderr.write(`actlog: request not logged: ${String(e)}\n`);
  }
}
