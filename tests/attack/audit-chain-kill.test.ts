import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, describe, expect, it } from "vitest";
import { readChain } from "@/lib/audit/chain";
import { exportLine } from "@/lib/audit/record";
import { verifyChain } from "@/lib/audit/verify";
import { openDb } from "@/lib/store/db";

/**
 * The audit chain's group commit (lib/audit/group-commit.ts) attacked with kill -9: a process
 * appends from eight concurrent loops to an embedded store on disk, so that records are written
 * in groups, and is killed with SIGKILL while it appends. Every append it had answered (a tool
 * call answers only after its record is written) must be in the store afterwards, with the hash
 * it was answered with, and the chain must verify. Three kills in a row on the same store, each
 * new process chaining onto what the last one left.
 */
const root = fs.mkdtempSync(path.join(os.tmpdir(), "sg-audit-kill-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const CHILD = path.join(__dirname, "audit-append-child.ts");

/** Runs the child until it has answered `answers` appends, kills it with SIGKILL; returns what it answered. */
async function appendThenKill(dataDir: string, answers: number): Promise<Map<number, string>> {
  const child = spawn(process.execPath, ["--import", "tsx", "--conditions=react-server", CHILD], {
    env: { ...process.env, DATA_DIR: dataDir, CONCURRENCY: "8" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
  const answered = new Map<number, string>();
  for await (const line of createInterface({ input: child.stdout })) {
    const m = /^answered (\d+) ([0-9a-f]{64})$/.exec(line);
    if (!m) continue;
    answered.set(Number(m[1]), m[2]!);
    if (answered.size === answers) child.kill("SIGKILL");
  }
  expect(await exited, stderr).toBe("SIGKILL");
  return answered;
}

async function storedChain(dataDir: string): Promise<string[]> {
  const db = await openDb({ dataDir });
  try {
    const lines: string[] = [];
    for await (const r of readChain(db)) lines.push(exportLine(r));
    return lines;
  } finally {
    await db.close();
  }
}

describe("the audit chain killed with SIGKILL while it appends in groups", () => {
  it("keeps every answered record, and one chain that verifies", async () => {
    const dataDir = path.join(root, "store");
    const answeredAll = new Map<number, string>();
    for (const answers of [150, 300, 80]) {
      const answered = await appendThenKill(dataDir, answers);
      expect(answered.size).toBeGreaterThanOrEqual(answers);
      for (const [seq, hash] of answered) answeredAll.set(seq, hash);

      const lines = await storedChain(dataDir);
      expect(verifyChain(lines)).toMatchObject({ ok: true });
      const stored = new Map(lines.map((l) => JSON.parse(l) as { seq: number; hash: string }).map((r) => [r.seq, r.hash]));
      const lost = [...answeredAll].filter(([seq, hash]) => stored.get(seq) !== hash);
      expect(lost).toEqual([]);
    }
  }, 240_000);
});
