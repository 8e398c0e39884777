import fs from "node:fs";
import path from "node:path";
import { afterEach } from "vitest";
import { startedApps } from "./started-apps";

/**
 * After a failing test, what each app of its file logged: the last lines on the test's output
 * (the report shows a failing test's console), the whole log under test-results/app-logs. A
 * failure seen only in CI can then be read instead of guessed.
 */
const TAIL_LINES = 80;

afterEach((context) => {
  if (context.task.result?.state !== "fail" || startedApps.size === 0) return;
  const dir = path.resolve(__dirname, "..", "..", "test-results", "app-logs");
  fs.mkdirSync(dir, { recursive: true });
  const name = `${path.basename(context.task.file?.name ?? "test")}-${context.task.name}`.replace(/[^\w.-]+/g, "_").slice(0, 120);
  for (const [url, output] of startedApps) {
    const log = output();
    const file = path.join(dir, `${name}-${new URL(url).port}.log`);
    fs.writeFileSync(file, log);
    process.stderr.write(`--- ${url}: the last ${TAIL_LINES} lines it logged (all of it in ${path.relative(process.cwd(), file)}) ---\n${log.split("\n").slice(-TAIL_LINES).join("\n")}\n`);
  }
});
