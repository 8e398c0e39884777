// Creates a PGlite cluster in the directory named by the first argument and applies the plan read
// as JSON from stdin ({ setup, record, migrations: [{ name, statements }] }): `setup` once, then
// each migration in one transaction, recorded by `record` with its name as $1. Then it exits.
//
// lib/store/pglite-cluster.ts runs it as a child process: initdb grows the WebAssembly memory by
// hundreds of MiB that a process never hands back, and a process that ends hands back everything.
// Plain JavaScript, so that Node runs it as it is, in development and from a build.
import { PGlite } from "@electric-sql/pglite";

const dir = process.argv[2];
if (!dir) {
  console.error("usage: node pglite-init.mjs DIR < plan.json");
  process.exit(2);
}
let input = "";
for await (const chunk of process.stdin) input += chunk;
const plan = JSON.parse(input);

const pg = await PGlite.create(dir);
await pg.exec(plan.setup);
for (const migration of plan.migrations) {
  await pg.transaction(async (tx) => {
    for (const statement of migration.statements) await tx.query(statement);
    await tx.query(plan.record, [migration.name]);
  });
}
await pg.close();
