/**
 * The child process of audit-chain-kill.test.ts: opens the embedded store in DATA_DIR as the
 * server does, then appends audit records from CONCURRENCY loops without end, printing
 * `answered <seq> <hash>` for each append as soon as appendAudit resolves (what a tool call waits
 * for before it answers). The test kills it with SIGKILL at some point.
 */
import { appendAudit } from "../../lib/audit/chain";
import { openDb } from "../../lib/store/db";
import { migrate, readMigrations } from "../../lib/store/migrate";

async function main() {
  const dataDir = process.env.DATA_DIR!;
  const concurrency = Number(process.env.CONCURRENCY ?? 8);
  const migrations = readMigrations();
  const db = await openDb({ dataDir, migrations });
  await migrate(db);
  process.stdout.write("ready\n");
  let n = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      for (;;) {
        const i = n++;
        const record = await appendAudit(db, {
          source: "resource_server",
          event: "tool.allowed",
          decision: "allowed",
          reason: `call ${i}`,
          sub: "aurelius",
          act: loop % 2 ? { sub: "aurelius" } : null,
          tool: "get_market_price",
        });
        process.stdout.write(`answered ${record.seq} ${record.hash}\n`);
      }
    }),
  );
}

main().catch((error) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
