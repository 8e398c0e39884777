import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = path.dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  resolve: {
    alias: {
      // `server-only` throws outside React Server Components; tests run lib/ code in plain Node.
      "server-only": path.join(root, "tests/helpers/server-only-stub.ts"),
      "@": root,
    },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    globalSetup: ["tests/helpers/global-setup.ts"],
    // Server logs of passing tests stay out of the report; a failing test still shows its own.
    silent: "passed-only",
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
