// A dependency-free client for the actlog sidecar (`actlog serve`), for Node.js 18+ (it
// uses the built-in fetch). Types for TypeScript are in actlog-client.d.ts.
//
//   import { ActlogClient } from "./actlog-client.mjs";
//   const actlog = new ActlogClient({ url: "http://127.0.0.1:8417" });
//   await actlog.log({ username: "alice", action: "login", ip_address: req.ip });
//   const { records } = await actlog.query({ user: "alice", limit: 20 });

/** An error answered by the sidecar: `status` is the HTTP status, `body` its JSON. */
export class ActlogError extends Error {
  constructor(status, body) {
    super(body && body.error ? `actlog: ${status}: ${body.error}` : `actlog: HTTP ${status}`);
    this.name = "ActlogError";
    this.status = status;
    this.body = body;
  }
}

export class ActlogClient {
  /**
   * @param {{url?: string, token?: string, timeoutMs?: number}} [options]
   *   url: the sidecar (default $ACTLOG_URL or http://127.0.0.1:8417);
   *   token: the bearer token if the sidecar was started with --token-file.
   */
  constructor(options = {}) {
    this.url = (options.url ?? process.env.ACTLOG_URL ?? "http://127.0.0.1:8417").replace(/\/$/, "");
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30000;
  }

  headers(extra = {}) {
    const h = { ...extra };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    return h;
  }

  async request(path, init = {}) {
    const res = await fetch(this.url + path, {
      ...init,
      headers: this.headers(init.headers),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = { error: text };
    }
    if (!res.ok) throw new ActlogError(res.status, body);
    return body;
  }

  /**
   * Stores one record or an array of up to 1,000, all or nothing. Resolves, once the
   * sidecar's durability is reached, to [{id, timestamp}] in the order given.
   */
  async log(records) {
    const body = await this.request("/v1/activity", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(records),
    });
    return body.records;
  }

  /**
   * One page of matching records, newest first: {records, next_cursor, damaged}.
   * Filters: user, action, ip, since, until, where, grep (a string, or an array for
   * several), limit, cursor, order ("newest" | "oldest").
   */
  async query(filters = {}) {
    return this.request(`/v1/activity?${toQuery(filters)}`);
  }

  /** Every matching record, page by page (newest first unless order: "oldest"). */
  async *all(filters = {}) {
    let cursor;
    do {
      const page = await this.query({ ...filters, cursor });
      yield* page.records;
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }

  /**
   * Calls onRecord for each new matching record until the returned stop() is called.
   * Filters as for query (without limit, cursor, order).
   */
  stream(filters, onRecord) {
    const controller = new AbortController();
    const done = (async () => {
      const res = await fetch(`${this.url}/v1/activity/stream?${toQuery(filters)}`, {
        headers: this.headers({ accept: "text/event-stream" }),
        signal: controller.signal,
      });
      if (!res.ok) throw new ActlogError(res.status, await res.json().catch(() => null));
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of res.body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n");
          if (/^event: ?activity$/m.test(event) && data) onRecord(JSON.parse(data));
        }
      }
    })().catch((e) => {
      if (e.name !== "AbortError") throw e;
    });
    return { stop: () => controller.abort(), done };
  }
}

function toQuery(filters = {}) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(filters)) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) q.append(key, String(v));
  }
  return q.toString();
}
