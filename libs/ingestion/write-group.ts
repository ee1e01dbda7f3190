/**
 * Group commit for jobs a worker holds at once: each write takes every item waiting (up to
 * `maxSize` in total) into one call, and at most `lanes` writes run at a time. Under light
 * load an item is written alone and at once; under heavy load items that arrive during a
 * write share the next one, so small jobs (single-event requests) share the per-transaction
 * cost of round trips and the commit.
 *
 * A group that fails is written again item by item, so one bad item never fails the others:
 * only the items that fail alone are rejected (and retried or failed by the queue).
 */
export class WriteGroup<T> {
  private readonly waiting: Array<{ item: T; size: number; resolve: () => void; reject: (error: unknown) => void }> = [];
  private running = 0;

  constructor(
    private readonly write: (items: T[]) => Promise<unknown>,
    private readonly lanes: number,
    private readonly maxSize: number,
  ) {}

  /** Resolves when the item is committed (alone or with others); rejects with the error of writing it alone. */
  submit(item: T, size: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, size, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.lanes && this.waiting.length > 0) {
      let size = this.waiting[0].size;
      let count = 1;
      while (count < this.waiting.length && size + this.waiting[count].size <= this.maxSize) size += this.waiting[count++].size;
      const group = this.waiting.splice(0, count);
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
