// Types for actlog-client.mjs (the actlog sidecar's HTTP API, docs/openapi.yaml).

export interface NewActivity {
  username: string;
  action: string;
  details?: Record<string, unknown>;
  ip_address?: string;
  user_agent?: string;
  /** RFC 3339; default: now. */
  timestamp?: string;
}

export interface Activity extends NewActivity {
  id: string;
  timestamp: string;
}

export interface Filters {
  user?: string | string[];
  action?: string | string[];
  ip?: string | string[];
  since?: string;
  until?: string;
  where?: string | string[];
  grep?: string | string[];
}

export interface PageQuery extends Filters {
  limit?: number;
  cursor?: string;
  order?: "newest" | "oldest";
}

export interface Page {
  records: Activity[];
  next_cursor: string | null;
  damaged: number;
}

export class ActlogError extends Error {
  status: number;
  body: { error?: string; index?: number; field?: string; written?: number } | null;
}

export class ActlogClient {
  constructor(options?: { url?: string; token?: string; timeoutMs?: number });
  log(records: NewActivity | NewActivity[]): Promise<{ id: string; timestamp: string }[]>;
  query(filters?: PageQuery): Promise<Page>;
  all(filters?: Omit<PageQuery, "cursor">): AsyncGenerator<Activity>;
  stream(filters: Filters, onRecord: (r: Activity) => void): { stop(): void; done: Promise<void> };
}
