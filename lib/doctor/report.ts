/**
 * The doctor's findings: one line per check, ✓ (fine), ✗ (the demo will not work until this is
 * fixed: the exit code is non-zero), ! (worth a look, or not checkable without side effects) or
 * – (for information: neither a problem nor a warning), with fix hints below a failure. Secrets are scrubbed from every line before it is stored, so
 * nothing a server echoes back can print one.
 */
export type Status = "ok" | "fail" | "warn" | "info";

export interface Finding {
  status: Status;
  /** A stable id for tests and scripts, e.g. "discovery", "agent-token.scope". */
  id: string;
  title: string;
  detail?: string;
  fix: string[];
}

const MARK: Record<Status, string> = { ok: "✓", fail: "✗", warn: "!", info: "–" };

export class DoctorReport {
  readonly findings: Finding[] = [];

  constructor(private readonly secrets: string[] = []) {}

  ok(id: string, title: string, detail?: string): void {
    this.add({ status: "ok", id, title, detail, fix: [] });
  }

  fail(id: string, title: string, detail?: string, fix: string[] = []): void {
    this.add({ status: "fail", id, title, detail, fix });
  }

  warn(id: string, title: string, detail?: string, fix: string[] = []): void {
    this.add({ status: "warn", id, title, detail, fix });
  }

  info(id: string, title: string, detail?: string): void {
    this.add({ status: "info", id, title, detail, fix: [] });
  }

  get failed(): boolean {
    return this.findings.some((f) => f.status === "fail");
  }

  find(id: string): Finding | undefined {
    return this.findings.find((f) => f.id === id);
  }

  /** The printable report. */
  format(): string {
    const lines: string[] = [];
    for (const f of this.findings) {
      lines.push(`${MARK[f.status]} ${f.title}`);
      if (f.detail) lines.push(...f.detail.split("\n").map((l) => `    ${l}`));
      for (const hint of f.fix) lines.push(`    → ${hint}`);
    }
    const fails = this.findings.filter((f) => f.status === "fail").length;
    const warns = this.findings.filter((f) => f.status === "warn").length;
    lines.push("", fails ? `${fails} problem(s) to fix${warns ? `, ${warns} warning(s)` : ""}.` : `No problems found${warns ? ` (${warns} warning(s))` : ""}.`);
    return lines.join("\n");
  }

  private add(f: Finding): void {
    this.findings.push({ ...f, title: this.scrub(f.title), detail: f.detail === undefined ? undefined : this.scrub(f.detail), fix: f.fix.map((h) => this.scrub(h)) });
  }

  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (secret.length >= 4) out = out.split(secret).join("***");
    return out;
  }
}
