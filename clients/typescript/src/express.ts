import type { IncomingMessage, ServerResponse } from "node:http";
import { logRequest, type AdapterOptions } from "./adapter.js";

export { clientAddress, type ActivitySink, type AdapterOptions } from "./adapter.js";

/** The parts of an Express 5 request the middleware reads. */
export interface ExpressLikeRequest extends IncomingMessage {
  /** The client address; Express takes it from X-Forwarded-For only under `trust proxy`. */
  ip?: string | undefined;
  baseUrl?: string;
  route?: { path?: unknown } | undefined;
  get?(name: string): string | undefined;
}

/**
 * Express 5 middleware logging one activity per request when its answer is finished (or
 * the client went away): `action` is `METHOD /mount/route/:pattern`, `ip_address` is
 * `req.ip`, which Express takes from X-Forwarded-For only when the app sets `trust proxy`.
 * Mount it before the routes: `app.use(actlogExpress({ logger, username: (req) => ... }))`.
 */
export function actlogExpress<Req extends ExpressLikeRequest = ExpressLikeRequest>(
  options: AdapterOptions<Req>,
): (req: Req, res: ServerResponse, next: (err?: unknown) => void) => void {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      const routePath = req.route?.path;
      const route =
        typeof routePath === "string" ? `${req.baseUrl ?? ""}${routePath}` || "/" : undefined;
      logRequest(options, req, {
        method: req.method ?? "GET",
        route,
        ip: req.ip ?? req.socket?.remoteAddress,
        userAgent: req.headers["user-agent"],
        // A client that left before the answer: 499, as proxies write it.
        status: res.writableFinished ? res.statusCode : 499,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    };
    res.once("finish", finish);
    res.once("close", finish);
    next();
  };
}

export default actlogExpress;
