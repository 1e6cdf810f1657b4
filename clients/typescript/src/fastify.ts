import type { FastifyInstance, FastifyPluginCallback, FastifyRequest } from "fastify";
import { logRequest, type AdapterOptions } from "./adapter.js";

export { clientAddress, type ActivitySink, type AdapterOptions } from "./adapter.js";

/** Options of the Fastify plugin. */
export type ActlogFastifyOptions = AdapterOptions<FastifyRequest>;

/**
 * Fastify 5 plugin logging one activity per request (`onResponse`): `action` is
 * `METHOD /route/:pattern`, `ip_address` is `request.ip`, which Fastify takes from
 * X-Forwarded-For only with `trustProxy`. Its hook applies to the whole app (it is not
 * encapsulated): `await app.register(actlogFastify, { logger, username: (req) => ... })`.
 */
const plugin = (app: FastifyInstance, options: ActlogFastifyOptions, done: (err?: Error) => void): void => {
  app.addHook("onResponse", (request, reply, next) => {
    const url = request.routeOptions?.url;
    logRequest(options, request, {
      method: request.method,
      route: typeof url === "string" && request.is404 !== true ? url : undefined,
      ip: request.ip,
      userAgent: request.headers["user-agent"],
      status: reply.statusCode,
      durationMs: reply.elapsedTime,
    });
    next();
  });
  done();
};

// What fastify-plugin would set: the hook reaches every route, and errors name the plugin.
Object.assign(plugin, {
  [Symbol.for("skip-override")]: true,
  [Symbol.for("fastify.display-name")]: "@actlog/client/fastify",
  [Symbol.for("plugin-meta")]: { name: "@actlog/client/fastify", fastify: "5.x" },
});

/** The plugin; see above. */
export const actlogFastify: FastifyPluginCallback<ActlogFastifyOptions> = plugin;

export default actlogFastify;
