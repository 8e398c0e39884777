import { spawnSync } from "node:child_process";
import path from "node:path";
import { expect, it } from "vitest";

/** The whole project type-checks under `strict` (next build skips this; see next.config.ts). */
it("type-checks with tsc --noEmit", () => {
  const root = path.resolve(__dirname, "..", "..");
  const run = spawnSync(process.execPath, [path.join(root, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", root], {
    cwd: root,
    encoding: "utf8",
  });
  expect(run.stdout + run.stderr).toBe("");
  expect(run.status).toBe(0);
}, 120_000);
