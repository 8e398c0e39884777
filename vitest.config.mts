import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const root = path.dirname(fileURLToPath(import.meta.url));

/** A test file that starts the built app (directly, with a test issuer or through the recovery rig) waits for the build. */
const needsBuild = (file: string) => /\bstart(App|AppWithTestIssuer|RecoveryRig)\(/.test(fs.readFileSync(file, "utf8"));

/**
 * The files that need no build first (longest first, as vitest orders them), so that the two
 * workers run them while the app builds; then those that start the app.
 */
class BuildLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const later = sorted.filter((f) => needsBuild(f.moduleId));
    return [...sorted.filter((f) => !later.includes(f)), ...later];
  }
}

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
    setupFiles: ["tests/helpers/app-logs.ts"],
    // Server logs of passing tests stay out of the report; a failing test still shows its own.
    silent: "passed-only",
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    // A file's first startApp() may wait for the app's build, which a busy machine makes slow.
    hookTimeout: 600_000,
    sequence: { sequencer: BuildLastSequencer },
  },
});
