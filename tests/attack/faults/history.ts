/**
 * What happened in one schedule, in order, with real milliseconds since it began: the operations
 * the schedule ran, what each one met (a decision page that said "too late", a kill that landed
 * before a given statement, a replay the broker refused), and the tail of the app's own log. A
 * failing schedule prints this next to its seed.
 */
const APP_LOG_LINES = 60;

export class History {
  private readonly startedAt = Date.now();
  readonly lines: string[] = [];
  private readonly appLog: string[] = [];

  add(line: string): void {
    this.lines.push(`${String(Date.now() - this.startedAt).padStart(5)} ms  ${line}`);
  }

  /** One line the app printed (console), kept for the report; only the last ones are shown. */
  app(line: string): void {
    this.appLog.push(`${String(Date.now() - this.startedAt).padStart(5)} ms  ${line.replace(/\s+/g, " ").slice(0, 220)}`);
    if (this.appLog.length > APP_LOG_LINES * 4) this.appLog.splice(0, this.appLog.length - APP_LOG_LINES);
  }

  appTail(): string[] {
    return this.appLog.slice(-APP_LOG_LINES);
  }
}
