/**
 * Group commit for jobs a worker holds at once: each write takes every item waiting (up to
 * `maxSize` in total) into one call, and at most `lanes` writes run at a time. A write that
 * would be smaller than `maxSize` waits until its oldest item is `lingerMs` old, so small jobs
 * (single-event requests) share the per-transaction cost of round trips, planning and the
 * commit; full groups (batched requests) go at once. The wait delays when events become
 * visible to analysis, never the HTTP answer (that is given once the job is in Redis).
 *
 * A group that fails is written again item by item, so one bad item never fails the others:
 * only the items that fail alone are rejected (and retried or failed by the queue).
 */
export class WriteGroup<T> {
  private readonly waiting: Array<{ item: T; size: number; at: number; resolve: () => void; reject: (error: unknown) => void }> = [];
  private waitingSize = 0;
  private running = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly write: (items: T[]) => Promise<unknown>,
    private readonly lanes: number,
    private readonly maxSize: number,
    private readonly lingerMs = 0,
  ) {}

  /** Resolves when the item is committed (alone or with others); rejects with the error of writing it alone. */
  submit(item: T, size: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, size, at: Date.now(), resolve, reject });
      this.waitingSize += size;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.lanes && this.waiting.length > 0) {
      const wait = this.waitingSize < this.maxSize ? this.waiting[0].at + this.lingerMs - Date.now() : 0;
      if (wait > 0) {
        this.timer ??= setTimeout(() => {
          this.timer = null;
          this.pump();
        }, wait);
        return;
      }
      let size = this.waiting[0].size;
      let count = 1;
      while (count < this.waiting.length && size + this.waiting[count].size <= this.maxSize) size += this.waiting[count++].size;
      const group = this.waiting.splice(0, count);
      this.waitingSize -= size;
      this.running++;
      void this.writeGroup(group).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async writeGroup(group: typeof this.waiting): Promise<void> {
    try {
      await this.write(group.map((g) => g.item));
      for (const g of group) g.resolve();
      return;
    } catch (error) {
      if (group.length === 1) {
        group[0].reject(error);
        return;
      }
    }
    for (const g of group) {
      try {
        await this.write([g.item]);
        g.resolve();
      } catch (error) {
        g.reject(error);
      }
    }
  }
}
