/**
 * Bounds the offline evaluation calls in flight per upstream base URL in one worker process,
 * whatever run they belong to (docs/adr/0040): each run has its own `concurrency` (1-32), and
 * two runs at once against the same model server would otherwise add up. A keyed counting
 * semaphore: a permit is held for one attempt of a call (never during a retry's wait), waiters
 * are served first come first served, and a waiter whose run stops (its abort signal) leaves
 * the queue. Waiters are bounded by the lanes of the runs this worker takes at once (each lane
 * waits for one permit at most); a key with nothing in flight and no waiter is dropped, so the
 * map holds only upstreams in use.
 */
export class UpstreamLimiter {
  private readonly keys = new Map<string, { inFlight: number; waiters: Array<() => void> }>();

  constructor(readonly maxInFlight: number) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new RangeError('maxInFlight must be a positive integer');
  }

  /** The base URL as a key: scheme and host lower-cased (URL does it), default port dropped, no trailing slash. */
  static keyOf(baseUrl: string): string {
    try {
      const url = new URL(baseUrl);
      return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    } catch {
      return baseUrl;
    }
  }

  /** Calls in flight for a base URL now (for tests and metrics). */
  inFlight(baseUrl: string): number {
    return this.keys.get(UpstreamLimiter.keyOf(baseUrl))?.inFlight ?? 0;
  }

  /** Runs `fn` holding one permit of `baseUrl`'s upstream; rejects with the signal's reason if it aborts while waiting. */
  async run<T>(baseUrl: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const key = UpstreamLimiter.keyOf(baseUrl);
    await this.acquire(key, signal);
    try {
      return await fn();
    } finally {
      this.release(key);
    }
  }

  private acquire(key: string, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    let entry = this.keys.get(key);
    if (!entry) {
      entry = { inFlight: 0, waiters: [] };
      this.keys.set(key, entry);
    }
    if (entry.inFlight < this.maxInFlight) {
      entry.inFlight++;
      return Promise.resolve();
    }
    const own = entry;
    return new Promise<void>((resolve, reject) => {
      const granted = (): void => {
        signal?.removeEventListener('abort', aborted);
        resolve();
      };
      const aborted = (): void => {
        const i = own.waiters.indexOf(granted);
        if (i >= 0) own.waiters.splice(i, 1);
        this.dropIfIdle(key, own);
        reject(signal!.reason);
      };
      own.waiters.push(granted);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  private release(key: string): void {
    const entry = this.keys.get(key);
    if (!entry) return;
    const next = entry.waiters.shift();
    // The permit passes straight to the next waiter: inFlight stays the same.
    if (next) next();
    else {
      entry.inFlight--;
      this.dropIfIdle(key, entry);
    }
  }

  private dropIfIdle(key: string, entry: { inFlight: number; waiters: unknown[] }): void {
    if (entry.inFlight === 0 && entry.waiters.length === 0 && this.keys.get(key) === entry) this.keys.delete(key);
  }
}
