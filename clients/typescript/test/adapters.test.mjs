// Express 5 and Fastify 5 apps on loopback, driven by real HTTP requests, logging through
// the batching logger into a real sidecar; the records are read back with `actlog query`.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import express from "express";
import Fastify from "fastify";
import { createLogger } from "@actlog/client";
import { actlogExpress } from "@actlog/client/express";
import { actlogFastify } from "@actlog/client/fastify";
import { startServer, stored, tempDir, cleanup } from "./helpers.mjs";

let dir;
let logger;

before(async () => {
  dir = tempDir();
  const server = await startServer(dir);
  logger = createLogger({ url: server.url, maxDelayMs: 10 });
  cleanup(() => logger.close());
});

/** A raw request (node:http, so the headers are exactly these). */
function request(port, method, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode));
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * Listens on the IPv4-mapped loopback address of an IPv6 socket, so the app sees its
 * client as `::ffff:127.0.0.1`, as Node reports IPv4 clients of a dual-stack socket.
 */
async function listenMapped(server) {
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "::ffff:127.0.0.1", resolve);
  });
  cleanup(() => new Promise((r) => server.close(r)));
  return server.address().port;
}

const UA = "Mozilla/5.0 (X11; Linux x86_64) tëst/1.0";

/** Rows in one order, whatever order they were stored in. */
const sortRows = (rows) => rows.map((r) => JSON.stringify(r)).sort().map((r) => JSON.parse(r));

function expressApp(trust) {
  const app = express();
  if (trust) app.set("trust proxy", "loopback");
  app.use(actlogExpress({ logger, username: (req) => req.get("x-user") }));
  const api = express.Router();
  api.get("/reports/:reportId", (req, res) => res.json({ id: req.params.reportId }));
  api.post("/reports", (req, res) => res.status(201).end());
  app.use("/api", api);
  app.get("/boom", () => {
    throw new Error("boom");
  });
  return app;
}

test("Express 5: one activity per request, action from the route pattern, ip from the socket unless the proxy is trusted", async () => {
  const plain = await listenMapped(http.createServer(expressApp(false)));
  const trusting = await listenMapped(http.createServer(expressApp(true)));
  const xff = { "x-forwarded-for": "198.51.100.23", "user-agent": UA };
  assert.equal(await request(plain, "GET", "/api/reports/r-8812?secret=token", { ...xff, "x-user": "alice" }), 200);
  assert.equal(await request(plain, "POST", "/api/reports", { ...xff, "x-user": "Zoë" }), 201);
  assert.equal(await request(plain, "GET", "/no/such/page/42", xff), 404);
  assert.equal(await request(plain, "GET", "/boom", { ...xff, "x-user": "bob" }), 500);
  assert.equal(await request(trusting, "GET", "/api/reports/r-1", { ...xff, "x-user": "carol" }), 200);
  await logger.flush();
  const got = await stored(dir, ["--action", "GET *", "--action", "POST *"]);
  // The logger keeps several batches in flight, so records of separate batches may be
  // stored in either order: compared as a set.
  const seen = sortRows(got.map((r) => [r.username, r.action, r.ip_address, r.details.status]));
  assert.deepEqual(seen, sortRows([
    ["alice", "GET /api/reports/:reportId", "127.0.0.1", 200],
    ["Zoë", "POST /api/reports", "127.0.0.1", 201],
    ["anonymous", "GET (no route)", "127.0.0.1", 404],
    ["bob", "GET /boom", "127.0.0.1", 500],
    // `trust proxy`: the client is the one the trusted loopback proxy names.
    ["carol", "GET /api/reports/:reportId", "198.51.100.23", 200],
  ]));
  for (const r of got) {
    assert.equal(r.user_agent, UA);
    assert.equal(typeof r.details.durationMs, "number");
    assert.ok(r.details.durationMs >= 0);
    assert.ok(!JSON.stringify(r).includes("secret=token"), "the raw URL leaked into the record");
  }
});

async function fastifyApp(trustProxy) {
  const app = Fastify({ trustProxy });
  await app.register(actlogFastify, { logger, username: (req) => decodeURIComponent(req.headers["x-user"] ?? "") });
  await app.register(
    async (scoped) => {
      scoped.get("/orders/:orderId", async (req) => ({ id: req.params.orderId }));
      scoped.delete("/orders/:orderId", async (req, reply) => reply.code(204).send());
    },
    { prefix: "/shop" },
  );
  await app.ready();
  const port = await listenMapped(app.server);
  cleanup(() => app.close());
  return port;
}

test("Fastify 5: one activity per request, action from the route pattern, ip from the socket unless trustProxy", async () => {
  const plain = await fastifyApp(false);
  const trusting = await fastifyApp(true);
  const xff = { "x-forwarded-for": "203.0.113.99", "user-agent": UA };
  assert.equal(await request(plain, "GET", "/shop/orders/o-1?card=4111", { ...xff, "x-user": "dave" }), 200);
  assert.equal(await request(plain, "DELETE", "/shop/orders/o-2", { ...xff, "x-user": encodeURIComponent("名前") }), 204);
  assert.equal(await request(plain, "GET", "/nothing/here", xff), 404);
  assert.equal(await request(trusting, "GET", "/shop/orders/o-3", { ...xff, "x-user": "erin" }), 200);
  await logger.flush();
  // The Express test's records come first in the same store: these are the last four.
  const got = (await stored(dir, ["--action", "* /shop/*", "--action", "GET (no route)"])).slice(-4);
  // The logger keeps several batches in flight, so records of separate batches may be
  // stored in either order: compared as a set.
  const seen = sortRows(got.map((r) => [r.username, r.action, r.ip_address, r.details.status]));
  assert.deepEqual(seen, sortRows([
    ["dave", "GET /shop/orders/:orderId", "127.0.0.1", 200],
    ["名前", "DELETE /shop/orders/:orderId", "127.0.0.1", 204],
    ["anonymous", "GET (no route)", "127.0.0.1", 404],
    ["erin", "GET /shop/orders/:orderId", "203.0.113.99", 200],
  ]));
  for (const r of got) {
    assert.equal(r.user_agent, UA);
    assert.ok(r.details.durationMs >= 0);
    assert.ok(!JSON.stringify(r).includes("card=4111"));
  }
});

test("skip, action and details options: health checks left out, actions named the app's way, details merged", async () => {
  const app = express();
  app.use(
    actlogExpress({
      logger,
      username: () => "opts",
      skip: (req) => req.path === "/healthz",
      action: (req, route) => `custom.${req.method.toLowerCase()}:${route}`,
      details: (req) => ({ tenant: req.get("x-tenant") }),
    }),
  );
  app.get("/healthz", (req, res) => res.end("ok"));
  app.get("/items/:itemId", (req, res) => res.end("item"));
  const port = await listenMapped(http.createServer(app));
  assert.equal(await request(port, "GET", "/healthz"), 200);
  assert.equal(await request(port, "GET", "/items/9", { "x-tenant": "acme" }), 200);
  await logger.flush();
  const got = await stored(dir, ["--user", "opts"]);
  assert.deepEqual(got.map((r) => [r.action, r.details.tenant, r.details.status]), [["custom.get:/items/:itemId", "acme", 200]]);
});
