import { resetBuild } from "../../scripts/test-build.mjs";

/**
 * The app is built for the tests that start it over real HTTP (tests/helpers/app-server.ts) by
 * the first of them that needs it, or by `npm test` beside the unit tests; see
 * scripts/test-build.mjs. A run forgets the last run's build, unless SKIP_BUILD=1 reuses it.
 */
export { TEST_DIST_DIR } from "../../scripts/test-build.mjs";

export default function setup(): void {
  // `npm test` has already started this run's build.
  if (process.env.TEST_BUILD_STARTED !== "1") resetBuild();
}
