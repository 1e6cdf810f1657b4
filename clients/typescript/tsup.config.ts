import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", express: "src/express.ts", fastify: "src/fastify.ts" },
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "node18",
  platform: "node",
  sourcemap: false,
  splitting: false,
  external: ["express", "fastify"],
});
