export {
  ActlogClient,
  ActivityStream,
  type Ack,
  type Activity,
  type CallOptions,
  type ClientOptions,
  type Filters,
  type NewActivity,
  type Page,
  type PageFilters,
  type QueryFilters,
  type RetryInfo,
  type Stats,
  type StreamOptions,
  type TimeSpec,
} from "./client.js";
export { ActlogError, ActlogQueueFullError, ActlogClosedError, type ActlogErrorKind, type ServerErrorBody } from "./errors.js";
export { createLogger, type Logger, type LoggerOptions, type LoggerStats } from "./logger.js";
export { uuidv7 } from "./uuid.js";
