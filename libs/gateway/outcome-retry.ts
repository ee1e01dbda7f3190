import { DomainError, type FieldError } from '../errors/domain-error';
import type { ServedAs } from '../ingestion/outcome-validator';

/** An outcome event of the gateway (served call or shadow copy) waiting to be enqueued; its `id` is the idempotency key. */
export interface RetryItem {
  projectId: string;
  kind: 'served' | 'shadow';
  event: { id: string } & Record<string, unknown>;
  /** A served call's assignment when it started (its outcome keeps it; libs/ingestion/outcome-validator.ts). */
  servedAs?: ServedAs;
}

/** What ingestion answers for a batch: the items it refused as invalid (the others are enqueued). */
export interface SendResult {
  rejected: Array<{ index: number; errors: FieldError[] }>;
}

export interface OutcomeRetryOptions {
  /** Events held at most; past it a new event is dropped (docs/adr/0038). */
  max: number;
  /** The ingestion path: resolves once the events are acknowledged by the queue, throws when refused. */
  send: (projectId: string, events: RetryItem['event'][], items: RetryItem[]) => Promise<SendResult>;
  /** An event ingestion refused as invalid (a bug, not a fault): not retried. */
  onRejected: (item: RetryItem, errors: FieldError[] | null, error: unknown) => void;
  /** An event dropped because the buffer was full. */
  onDropped: (item: RetryItem) => void;
  /** Summaries (counts only, never an event): at most one of each kind per `logIntervalMs`. */
  log: (fields: Record<string, unknown>, message: string) => void;
  baseDelayMs?: number;
  maxDelayMs?: number;
  batchSize?: number;
  logIntervalMs?: number;
  random?: () => number;
  now?: () => number;
}

export const DEFAULT_BASE_DELAY_MS = 250;
export const DEFAULT_MAX_DELAY_MS = 30_000;
/** Events per retried enqueue at most (one project's consecutive events). */
export const DEFAULT_BATCH_SIZE = 500;
/** During a shutdown flush, retries come at least this often. */
const CLOSING_MAX_DELAY_MS = 250;

/**
 * Capped exponential backoff with "equal jitter": attempt 1 waits between base/2 and base,
 * attempt n between d/2 and d where d = min(cap, base * 2^(n-1)).
 */
export function retryDelay(attempt: number, random: () => number, baseMs = DEFAULT_BASE_DELAY_MS, capMs = DEFAULT_MAX_DELAY_MS): number {
  const d = Math.min(capMs, baseMs * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return d / 2 + random() * (d / 2);
}

/**
 * Whether a refusal is for good: ingestion found the batch invalid (a 4xx other than 429).
 * Everything else (queue backend away or silent: 503; queue too deep: 429; the database away
 * while reading the rules) is transient and retried.
 */
export function isPermanent(error: unknown): boolean {
  return error instanceof DomainError && error.status >= 400 && error.status < 500 && error.status !== 429;
}

/**
 * The gateway's bounded in-process retry buffer for outcome events the ingestion path refused
 * for a transient reason (issue #17, docs/adr/0038). While it holds events, new ones queue
 * behind them (first in, first out); one retry loop sends the oldest run of one project's
 * events, backing off (capped, jittered) until the queue accepts. A retry after an ambiguous
 * refusal (an enqueue that timed out but landed) is safe: the writer stores an event id once.
 * Full: the newest event is dropped and counted.
 */
export class OutcomeRetryBuffer {
  private readonly items: RetryItem[] = [];
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly batchSize: number;
  private readonly logIntervalMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  /** Direct sends in flight (the buffer was empty when they started). */
  private direct = 0;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private attempt = 0;
  private closingUntil: number | null = null;
  private droppedTotal = 0;
  private droppedUnlogged = 0;
  private lastDropLog = Number.NEGATIVE_INFINITY;
  private lastRefusalLog = Number.NEGATIVE_INFINITY;
  private retriesTotal = 0;

  constructor(private readonly options: OutcomeRetryOptions) {
    this.baseMs = options.baseDelayMs ?? DEFAULT_BASE_DELAY_MS;
    this.capMs = options.maxDelayMs ?? DEFAULT_MAX_DELAY_MS;
    this.batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.logIntervalMs = options.logIntervalMs ?? 10_000;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** Events held (waiting for a retry or being retried). */
  get depth(): number {
    return this.items.length;
  }

  /** Events dropped because the buffer was full, since start. */
  get dropped(): number {
    return this.droppedTotal;
  }

  /** Retried enqueues (each a batch) since start, whatever their result. */
  get retries(): number {
    return this.retriesTotal;
  }

  /**
   * Records one event: sent at once when nothing is held, else queued behind the held ones.
   * Never throws; the returned promise (for tests) settles once the first attempt is done.
   */
  submit(item: RetryItem): Promise<void> {
    if (this.items.length > 0 || this.closingUntil !== null) {
      this.hold(item);
      return Promise.resolve();
    }
    this.direct++;
    return this.options.send(item.projectId, [item.event], [item]).then(
      (result) => {
        this.direct--;
        const first = result.rejected[0];
        if (first) this.options.onRejected(item, first.errors, null);
      },
      (error: unknown) => {
        this.direct--;
        if (isPermanent(error)) this.options.onRejected(item, null, error);
        else {
          this.logRefusal(error);
          this.hold(item);
        }
      },
    );
  }

  /**
   * Graceful shutdown: retries what is held (at least every 250 ms) until it is acknowledged or
   * `deadlineMs` passed. Resolves with the number of events left (lost with the process).
   */
  async close(deadlineMs: number): Promise<number> {
    this.closingUntil = this.now() + deadlineMs;
    this.wake?.();
    // Direct sends in flight may still hand their event over.
    const until = this.closingUntil;
    while ((this.direct > 0 || this.items.length > 0) && this.now() < until) {
      if (this.items.length > 0) this.startLoop();
      const pause = sleep(Math.max(1, Math.min(50, until - this.now())));
      await (this.loop ? Promise.race([this.loop, pause]) : pause);
    }
    return this.items.length;
  }

  private hold(item: RetryItem): void {
    if (this.items.length >= this.options.max) {
      this.droppedTotal++;
      this.droppedUnlogged++;
      this.options.onDropped(item);
      const now = this.now();
      if (now - this.lastDropLog >= this.logIntervalMs) {
        this.options.log({ dropped: this.droppedUnlogged, droppedTotal: this.droppedTotal, max: this.options.max }, 'gateway outcome buffer full: newest outcomes dropped');
        this.droppedUnlogged = 0;
        this.lastDropLog = now;
      }
      return;
    }
    this.items.push(item);
    this.startLoop();
  }

  private logRefusal(error: unknown): void {
    const now = this.now();
    if (now - this.lastRefusalLog < this.logIntervalMs) return;
    this.lastRefusalLog = now;
    const reason = error instanceof DomainError ? error.message : error instanceof Error ? error.name : 'unknown';
    this.options.log({ depth: this.items.length + 1, reason }, 'gateway outcomes refused by ingestion: held for retry');
  }

  private startLoop(): void {
    if (this.loop) return;
    this.loop = this.run().finally(() => {
      this.loop = null;
      // An item held while the loop was finishing.
      if (this.items.length > 0 && !this.pastDeadline()) this.startLoop();
    });
  }

  private pastDeadline(): boolean {
    return this.closingUntil !== null && this.now() >= this.closingUntil;
  }

  private async run(): Promise<void> {
    while (this.items.length > 0 && !this.pastDeadline()) {
      if (this.attempt > 0) {
        const delay = retryDelay(this.attempt, this.random, this.baseMs, this.closingUntil === null ? this.capMs : Math.min(this.capMs, CLOSING_MAX_DELAY_MS));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
        if (this.pastDeadline()) return;
      }
      const projectId = this.items[0].projectId;
      let n = 1;
      while (n < this.items.length && n < this.batchSize && this.items[n].projectId === projectId) n++;
      const batch = this.items.slice(0, n);
      this.retriesTotal++;
      try {
        const result = await this.options.send(projectId, batch.map((i) => i.event), batch);
        this.items.splice(0, n);
        this.attempt = 0;
        for (const r of result.rejected) this.options.onRejected(batch[r.index], r.errors, null);
      } catch (error: unknown) {
        if (isPermanent(error)) {
          this.items.splice(0, n);
          this.attempt = 0;
          for (const item of batch) this.options.onRejected(item, null, error);
        } else {
          this.attempt++;
          this.logRefusal(error);
        }
      }
    }
    if (this.items.length === 0 && this.retriesTotal > 0) this.lastRefusalLog = Number.NEGATIVE_INFINITY;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
