/**
 * What a run of schedules actually exercised, counted from the stores and the histories: a
 * layer whose faults never land (no trade ever made, no kill ever mid-flow) would pass its
 * invariants without testing anything, so the suite asserts these counts too.
 */
export class Coverage {
  schedules = 0;
  withTrade = 0;
  trades = 0;
  kills = 0;
  killedMidFlow = 0;
  killedAtTradeAnswer = 0;
  killedAtTokenAnswer = 0;
  replays = 0;
  replaysExecuted = 0;
  duplicatePolls = 0;
  approvals = 0;
  expiries = 0;

  add(lines: string[], counts: { trades: number; expired: number }): void {
    const has = (re: RegExp) => lines.filter((l) => re.test(l)).length;
    this.schedules += 1;
    this.trades += counts.trades;
    if (counts.trades) this.withTrade += 1;
    this.expiries += counts.expired;
    this.kills += has(/ killed(?! before: the end of the schedule)/);
    if (has(/ killed before: (?!the end of the schedule)/)) this.killedMidFlow += 1;
    this.killedAtTradeAnswer += has(/ killed before: reading the answer to its on-behalf-of trade call/);
    this.killedAtTokenAnswer += has(/ killed before: reading the answer to its CIBA poll/);
    this.replays += has(/ replay \w+ (concurrently|later) /);
    this.replaysExecuted += has(/ replay .*→ EXECUTED/);
    this.duplicatePolls += has(/CIBA poll duplicated/);
    this.approvals += has(/Alice approves .* the page says approved/);
  }

  share(count: number): number {
    return this.schedules ? count / this.schedules : 0;
  }
}
