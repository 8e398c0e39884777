/**
 * Group commit: items submitted while a write is under way, or in the same turn of the event loop
 * as the first, wait, and are written together by the next write. One write runs at a time. The
 * first write waits for the event loop's check phase (setImmediate): a write that PGlite runs
 * synchronously on this thread would otherwise always finish before a concurrent request could
 * submit, and every group would hold one item. Each submitter is answered only when the write that holds
 * its item has finished (for the audit chain: its transaction has committed), so nobody is told
 * "done" for an item that a crash could still lose. When a write of several items fails because
 * of what one of them holds (`retryAlone` says so), each is written again on its own, so one bad
 * item is refused alone and the others still land. Any other failure (a lost connection: the write
 * may even have committed) refuses the whole group rather than risk writing it twice.
 */
interface Waiting<T, R> {
  item: T;
  resolve(result: R): void;
  reject(error: unknown): void;
}

export class GroupCommit<T, R> {
  private queue: Waiting<T, R>[] = [];
  private writing = false;

  /** `write` gets the items in the order they were submitted and returns one result per item. */
  constructor(
    private readonly write: (items: T[]) => Promise<R[]>,
    private readonly maxGroup: number,
    private readonly retryAlone: (error: unknown) => boolean = () => true,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.writing) return;
      this.writing = true;
      setImmediate(() => void this.drain());
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, this.maxGroup);
        try {
          settle(group, await this.write(group.map((w) => w.item)));
        } catch (error) {
          if (group.length === 1 || !this.retryAlone(error)) for (const w of group) w.reject(error);
          else for (const w of group) await this.write([w.item]).then((r) => settle([w], r), w.reject);
        }
      }
    } finally {
      this.writing = false;
    }
  }
}

function settle<T, R>(group: Waiting<T, R>[], results: R[]): void {
  if (results.length !== group.length) {
    const error = new Error(`a group write returned ${results.length} results for ${group.length} items`);
    for (const w of group) w.reject(error);
    return;
  }
  group.forEach((w, i) => w.resolve(results[i]!));
}
