// The packed tarball, installed into fresh projects, compiles with `tsc --strict` under each
// module resolution, and its ESM and CommonJS builds load under Node.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync, symlinkSync, readdirSync, existsSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./helpers.mjs";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(pkgDir, "node_modules", "typescript", "bin", "tsc");
let tarball;

before(() => {
  const out = tempDir("actlog-pack-");
  const name = execFileSync("npm", ["pack", "--silent", "--pack-destination", out], { cwd: pkgDir, encoding: "utf8" }).trim().split("\n").at(-1);
  tarball = join(out, name);
});

// A file that uses the types; each @ts-expect-error fails the build if the types became `any`.
const USE = `
import { ActlogClient, ActlogError, createLogger, uuidv7, type Activity, type Ack } from "@actlog/client";
import { actlogExpress } from "@actlog/client/express";
import { actlogFastify } from "@actlog/client/fastify";

export async function use(): Promise<number> {
  const client = new ActlogClient({ url: "http://127.0.0.1:1", timeoutMs: 100 });
  const ack: Ack = await client.log({ username: "alice", action: "login", details: { a: 1 } });
  const acks: Ack[] = await client.log([{ username: "bob", action: "x", id: uuidv7() }]);
  // @ts-expect-error username must be a string
  await client.log({ username: 1, action: "x" });
  // @ts-expect-error action is required
  await client.log({ username: "a" });
  // @ts-expect-error the store takes no fields beyond the contract's
  await client.log({ username: "a", action: "b", colour: "red" });
  for await (const r of client.query({ user: ["alice"], since: new Date(), limit: 5 })) {
    const a: Activity = r;
    const extra: unknown = a["x_tenant"];
    // @ts-expect-error a timestamp is a string
    const n: number = a.timestamp;
    void extra; void n;
  }
  const s = client.stream({ action: "report.*" }, { lastEventId: "c" });
  const id: string | undefined = s.lastEventId;
  try { await client.stats(); } catch (e) {
    if (e instanceof ActlogError) {
      const st: number | undefined = e.status;
      const ok: boolean = e.retryable;
      const i: number | undefined = e.index;
      void st; void ok; void i;
    }
  }
  const logger = createLogger({ url: "http://127.0.0.1:1", maxBatchRecords: 10, onError: (err, recs) => void [err.message, recs.length] });
  const queued: boolean = logger.log({ username: "u", action: "a" });
  // @ts-expect-error log() returns a boolean, not a promise
  await logger.log({ username: "u", action: "a" }).then(() => 1);
  const mw = actlogExpress({ logger, username: (req) => req.headers["x-user"] as string | undefined });
  const plugin = actlogFastify;
  void mw; void plugin; void id; void queued; void acks; void ack;
  return logger.stats.sent;
}
`;

const configs = [
  { name: "nodenext", type: "module", module: "nodenext", moduleResolution: "nodenext" },
  { name: "nodenext-cjs", type: "commonjs", module: "nodenext", moduleResolution: "nodenext" },
  { name: "node16", type: "module", module: "node16", moduleResolution: "node16" },
  { name: "node16-cjs", type: "commonjs", module: "node16", moduleResolution: "node16" },
  { name: "bundler-esnext", type: "module", module: "esnext", moduleResolution: "bundler" },
  { name: "bundler-preserve", type: "module", module: "preserve", moduleResolution: "bundler" },
];

/** A fresh project with the tarball installed by npm, and the frameworks' own types. */
function scratch(cfg) {
  const dir = join(tempDir("actlog-scratch-"), cfg.name);
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `scratch-${cfg.name}`, private: true, type: cfg.type }));
  execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock", tarball], { cwd: dir, stdio: "pipe" });
  // Types the scratch file needs besides the package (the app would have them): linked
  // from this package's dev dependencies rather than downloaded again.
  const own = join(pkgDir, "node_modules");
  for (const entry of readdirSync(own)) {
    if (entry.startsWith(".")) continue;
    const names = entry.startsWith("@") ? readdirSync(join(own, entry)).map((n) => `${entry}/${n}`) : [entry];
    for (const n of names) {
      if (n === "@actlog/client" || existsSync(join(dir, "node_modules", n))) continue;
      mkdirSync(dirname(join(dir, "node_modules", n)), { recursive: true });
      symlinkSync(join(own, n), join(dir, "node_modules", n));
    }
  }
  writeFileSync(join(dir, "use.ts"), USE);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        module: cfg.module,
        moduleResolution: cfg.moduleResolution,
        target: "es2022",
        lib: ["es2022"],
        types: ["node"],
        skipLibCheck: false,
        noEmit: cfg.moduleResolution === "bundler",
        outDir: "out",
      },
      files: ["use.ts"],
    }),
  );
  return dir;
}

for (const cfg of configs) {
  test(`the tarball compiles under tsc --strict with module ${cfg.module}, moduleResolution ${cfg.moduleResolution} (${cfg.type})`, () => {
    const dir = scratch(cfg);
    try {
      execFileSync(process.execPath, [tsc, "-p", dir], { cwd: dir, encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      assert.fail(`tsc failed in ${cfg.name}:\n${e.stdout}${e.stderr}`);
    }
    if (cfg.moduleResolution !== "bundler") {
      // What tsc emitted runs: the package's ESM or CommonJS build loads.
      const out = execFileSync(process.execPath, ["-e", `import(${JSON.stringify(join(dir, "out", "use.js"))}).then(m => console.log(typeof m.use))`], { cwd: dir, encoding: "utf8" });
      assert.equal(out.trim(), "function");
    }
  });
}

test("a deliberate type error fails the build (the check above can fail)", () => {
  const dir = scratch(configs[0]);
  writeFileSync(join(dir, "use.ts"), `import { ActlogClient } from "@actlog/client";\nawait new ActlogClient().log({ username: "a", action: 3 });\n`);
  assert.throws(() => execFileSync(process.execPath, [tsc, "-p", dir], { cwd: dir, stdio: "pipe" }), (e) => /use\.ts.*error TS(2322|2769)/.test(String(e.stdout)));
});

test("require() and import give the same API from the installed tarball", () => {
  const dir = scratch(configs[1]);
  const cjs = execFileSync(process.execPath, ["-e", `const a = require("@actlog/client"); const e = require("@actlog/client/express"); const f = require("@actlog/client/fastify"); console.log([typeof a.ActlogClient, typeof a.createLogger, typeof e.actlogExpress, typeof f.actlogFastify].join())`], { cwd: dir, encoding: "utf8" });
  const esm = execFileSync(process.execPath, ["--input-type=module", "-e", `import { ActlogClient, createLogger } from "@actlog/client"; import { actlogExpress } from "@actlog/client/express"; import { actlogFastify } from "@actlog/client/fastify"; console.log([typeof ActlogClient, typeof createLogger, typeof actlogExpress, typeof actlogFastify].join())`], { cwd: dir, encoding: "utf8" });
  assert.equal(cjs.trim(), "function,function,function,function");
  assert.equal(esm, cjs);
});
