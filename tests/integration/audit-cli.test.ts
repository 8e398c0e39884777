import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appendAudit } from "@/lib/audit/chain";
import { openTestDb } from "../helpers/store";

/**
 * `npm run audit` as a user runs it, against a data directory: export writes the chain as JSON
 * lines, verify accepts it untouched and names the record an edit broke (exit 1), usage errors
 * exit 2, and an export while another process has the embedded store open is refused.
 */
const ROOT = path.resolve(__dirname, "..", "..");
let dir: string;

function audit(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "node_modules/tsx/dist/cli.mjs"), "scripts/audit.ts", ...args], {
      cwd: ROOT,
      env: { ...process.env, DATA_DIR: path.join(dir, "data"), DATABASE_URL: "", NODE_ENV: "test" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "audit-cli-"));
  const db = await openTestDb(path.join(dir, "data"));
  for (let i = 1; i <= 4; i++) {
    await appendAudit(db, { source: "agent", event: "order.frozen", decision: "frozen", sub: "alice", act: { sub: "aurelius" }, orderId: `ord_${i}` });
  }
  await db.close();
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("npm run audit", () => {
  it("exports the chain, and an untouched export verifies", async () => {
    const file = path.join(dir, "chain.jsonl");
    const exported = await audit(["export", file]);
    expect(exported).toMatchObject({ code: 0, stderr: expect.stringContaining("exported 4 records") });
    const lines = fs.readFileSync(file, "utf8").trim().split("\n");
    expect(lines.map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3, 4]);

    const toStdout = await audit(["export"]);
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdout.trim().split("\n")).toEqual(lines);

    const verified = await audit(["verify", file]);
    expect(verified).toMatchObject({ code: 0, stdout: expect.stringContaining("✓ intact: 4 records") });
    const head = JSON.parse(lines[3]!).hash as string;
    expect((await audit(["verify", file, "--head", head])).code).toBe(0);
  });

  it("verify names the record an edit broke, exit 1", async () => {
    const lines = fs.readFileSync(path.join(dir, "chain.jsonl"), "utf8").trim().split("\n");
    const changed = path.join(dir, "changed.jsonl");
    fs.writeFileSync(changed, lines.map((l, i) => (i === 2 ? l.replace('"ord_3"', '"ord_X"') : l)).join("\n"));
    const result = await audit(["verify", changed]);
    expect(result).toMatchObject({ code: 1, stdout: expect.stringContaining("✗ broken at record 3 (line 3): record 3 was changed") });

    const removed = path.join(dir, "removed.jsonl");
    fs.writeFileSync(removed, lines.filter((_, i) => i !== 1).join("\n"));
    expect(await audit(["verify", removed])).toMatchObject({ code: 1, stdout: expect.stringContaining("record 2 was removed") });
  });

  it("usage errors exit 2", async () => {
    expect((await audit([])).code).toBe(2);
    expect((await audit(["verify"])).code).toBe(2);
    expect((await audit(["verify", path.join(dir, "missing.jsonl")])).code).toBe(2);
    expect((await audit(["verify", path.join(dir, "chain.jsonl"), "--head", "nothex"])).code).toBe(2);
    expect((await audit(["export", "a", "b"])).code).toBe(2);
  });

  it("refuses to export while another process has the embedded store open", async () => {
    const db = await openTestDb(path.join(dir, "data"));
    try {
      const result = await audit(["export"]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`is open in process ${process.pid}`);
      expect(result.stdout).toBe("");
    } finally {
      await db.close();
    }
    expect((await audit(["export"])).code).toBe(0);
  });
});
