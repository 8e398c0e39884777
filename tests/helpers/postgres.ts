import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "./app-server";

/**
 * A throwaway PostgreSQL server for tests of what PGlite cannot show (several connections at
 * once): initdb into a temporary directory, pg_ctl start on a free loopback port, trust
 * authentication. Needs PostgreSQL's binaries (POSTGRES_BIN, or Debian's /usr/lib/postgresql/N/bin);
 * run as root, the server runs as `nobody`, since PostgreSQL refuses root. `.ci/run` installs
 * them where they are missing.
 */
export interface TestPostgres {
  url: string;
  stop(): Promise<void>;
}

function binDir(): string | undefined {
  const candidates = [process.env.POSTGRES_BIN, ...listVersions().map((v) => `/usr/lib/postgresql/${v}/bin`)].filter(Boolean) as string[];
  return candidates.find((d) => fs.existsSync(path.join(d, "initdb")) && fs.existsSync(path.join(d, "pg_ctl")));
}

function listVersions(): string[] {
  try {
    return fs.readdirSync("/usr/lib/postgresql").sort().reverse();
  } catch {
    return [];
  }
}

export async function startTestPostgres(): Promise<TestPostgres> {
  const bin = binDir();
  if (!bin) throw new Error("no PostgreSQL binaries: apt-get install postgresql (as .ci/run does), or set POSTGRES_BIN");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "test-pg-"));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync("chown", ["nobody", dir]);
  const run = (cmd: string, args: string[]) =>
    execFileSync(asRoot ? "runuser" : path.join(bin, cmd), asRoot ? ["-u", "nobody", "--", path.join(bin, cmd), ...args] : args, { stdio: "ignore", timeout: 120_000 });
  const data = path.join(dir, "data");
  run("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync"]);
  const port = await freePort();
  run("pg_ctl", ["-D", data, "-w", "-l", path.join(dir, "log"), "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, "start"]);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      try {
        run("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
