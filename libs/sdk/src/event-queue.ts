import { backoffDelay, isRetryableStatus, parseRetryAfter, sleep } from './backoff';
import { BatchOptions, QueueStats } from './types';
import { VerdictError } from './verdict-error';

export interface Transport {
  fetch: typeof fetch;
  url: string;
  apiKey: string;
  requestTimeoutMs: number;
}

export const DEFAULT_BATCH: Required<BatchOptions> = {
  maxBatchSize: 100,
  flushIntervalMs: 1000,
  maxBufferSize: 10_000,
  maxAttempts: 6,
  retryBaseMs: 200,
  retryMaxMs: 30_000,
};

type SendResult = 'sent' | 'retry_later' | 'dropped';

/**
 * A bounded, batching, retrying queue for one endpoint (exposures or outcomes).
 * Batches leave when `maxBatchSize` items are waiting or `flushIntervalMs` after the
 * first; one request is in flight at a time, so order is kept. Retryable failures
 * (network, 408/429/502/503/504) back off exponentially with jitter, or wait the
 * server's Retry-After; the same body (same idempotency ids) is resent. A batch that
 * exhausts its attempts goes back to the front of the queue for the next round. When the
 * buffer is full the oldest items are dropped, counted, and reported once per episode.
 */
export class EventQueue<T> {
  private items: T[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | null = null;
  private draining: Promise<boolean> | null = null;
  private overflowing = false;
  private closed = false;
  private readonly stats: QueueStats = { buffered: 0, sent: 0, dropped: 0, rejected: 0 };
  private readonly options: Required<BatchOptions>;
  private readonly label: string;

  constructor(
    private readonly bodyKey: 'exposures' | 'events',
    private readonly transport: Transport,
    options: BatchOptions | undefined,
    private readonly onError: (e: Error) => void,
  ) {
    this.options = { ...DEFAULT_BATCH, ...options };
    this.label = bodyKey === 'events' ? 'outcomes' : 'exposures';
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** Items refused before they were queued (they could not be stored): counted with those the service rejected. */
  countRejected(n = 1): void {
    this.stats.rejected += n;
  }

  snapshotStats(): QueueStats {
    return { ...this.stats, buffered: this.size };
  }

  push(item: T): void {
    if (this.closed) {
      this.stats.dropped++;
      this.onError(new VerdictError('closed', `client closed: ${this.label} item dropped`));
      return;
    }
    if (this.size >= this.options.maxBufferSize) {
      this.head++;
      this.stats.dropped++;
      if (!this.overflowing) {
        this.overflowing = true;
        this.onError(
          new VerdictError('buffer_full', `${this.label} buffer full (${this.options.maxBufferSize}): dropping the oldest`, {
            dropped: this.stats.dropped,
          }),
        );
      }
    }
    this.items.push(item);
    if (this.size >= this.options.maxBatchSize) this.kick();
    else this.schedule(this.options.flushIntervalMs);
  }

  /**
   * Sends everything buffered now; resolves true when the buffer is empty, false when a
   * round failed (its items stay buffered for a later round).
   */
  async flush(): Promise<boolean> {
    this.clearTimer();
    // Wait out a round in progress, then drain what is left (and what arrived meanwhile).
    let ok = this.draining ? await this.draining : true;
    if (ok && this.size > 0) {
      this.kick();
      ok = await this.draining!;
    }
    if (this.size > 0) this.schedule(ok ? this.options.flushIntervalMs : this.options.retryMaxMs);
    return ok && this.size === 0;
  }

  /** Final flush: later pushes are refused. */
  async close(): Promise<boolean> {
    const ok = await this.flush();
    this.closed = true;
    this.clearTimer();
    return ok;
  }

  private schedule(ms: number): void {
    if (this.timer !== null || this.draining !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, ms);
    // A pending flush alone must not keep the process alive (beforeExit flushes).
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private kick(): void {
    this.clearTimer();
    if (this.draining !== null) return;
    this.draining = this.drain().then((ok) => {
      this.draining = null;
      if (this.size > 0 && !this.closed) this.schedule(ok ? this.options.flushIntervalMs : this.options.retryMaxMs);
      return ok;
    });
  }

  private async drain(): Promise<boolean> {
    while (this.size > 0) {
      const batch = this.take(this.options.maxBatchSize);
      if ((await this.send(batch)) === 'retry_later') {
        this.putBack(batch);
        return false;
      }
    }
    this.overflowing = false;
    return true;
  }

  private take(n: number): T[] {
    const batch = this.items.slice(this.head, this.head + n);
    this.head += batch.length;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return batch;
  }

  private putBack(batch: T[]): void {
    const rest = this.items.slice(this.head);
    const room = Math.max(0, this.options.maxBufferSize - rest.length);
    const kept = batch.slice(batch.length - Math.min(room, batch.length));
    this.stats.dropped += batch.length - kept.length;
    this.items = kept.concat(rest);
    this.head = 0;
  }

  private async send(batch: T[]): Promise<SendResult> {
    // Serialised once: every retry resends exactly the same ids.
    const body = JSON.stringify({ [this.bodyKey]: batch });
    const { maxAttempts, retryBaseMs, retryMaxMs } = this.options;
    let lastError: unknown = null;
    for (let attempt = 0; attempt < maxAttempts; attempt++) {
      let wait: number | null = null;
      try {
        const res = await this.transport.fetch(this.transport.url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${this.transport.apiKey}`,
            'content-type': 'application/json',
          },
          body,
          signal: AbortSignal.timeout(this.transport.requestTimeoutMs),
        });
        if (res.ok) {
          this.stats.sent += batch.length;
          await this.checkRejected(res);
          return 'sent';
        }
        const text = await res.text().catch(() => '');
        if (!isRetryableStatus(res.status)) {
          this.stats.dropped += batch.length;
          this.onError(
            new VerdictError('send_failed', `POST /v1/${this.label}: ${res.status}, ${batch.length} items dropped`, {
              status: res.status,
              body: text.slice(0, 500),
            }),
          );
          return 'dropped';
        }
        lastError = new VerdictError('send_failed', `POST /v1/${this.label}: ${res.status}`, { status: res.status });
        const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
        if (retryAfter !== null) wait = Math.min(retryAfter, retryMaxMs);
      } catch (cause) {
        lastError = cause;
      }
      if (attempt + 1 < maxAttempts) await sleep(wait ?? backoffDelay(attempt, retryBaseMs, retryMaxMs));
    }
    this.onError(
      new VerdictError('send_failed', `POST /v1/${this.label}: failed after ${maxAttempts} attempts, will retry later`, {
        cause: lastError,
        status: lastError instanceof VerdictError ? lastError.details.status : undefined,
      }),
    );
    return 'retry_later';
  }

  private async checkRejected(res: Response): Promise<void> {
    const body = (await res.json().catch(() => null)) as { rejected?: Array<{ index: number; errors: unknown }> } | null;
    const rejected = body?.rejected;
    if (Array.isArray(rejected) && rejected.length > 0) {
      this.stats.rejected += rejected.length;
      this.onError(new VerdictError('rejected', `${rejected.length} ${this.label} rejected by the service`, { rejected }));
    }
  }
}
