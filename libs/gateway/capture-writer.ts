import { Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { Counter } from 'prom-client';
import { OperatorMetrics } from '../observability/operator-metrics';
import { CaptureStore, type CaptureRow } from './capture-store';

/** Rows held for writing at most, and their characters (prompt + answer) at most: past either, a capture is dropped and counted. */
export const CAPTURE_BUFFER_ROWS = 2_000;
export const CAPTURE_BUFFER_CHARS = 16 * 1024 * 1024;
/** Rows one INSERT writes at most. */
export const CAPTURE_BATCH_ROWS = 200;
/** A capture waits at most this long before its batch is written. */
export const CAPTURE_FLUSH_MS = 200;

/**
 * Writes the gateway's captures off the answer path (docs/adr/0039): `add` only appends to a
 * bounded buffer (never waits, never throws); one batch INSERT at a time drains it. When the
 * buffer is full, or Postgres refuses a batch, captures are dropped and counted in
 * `verdict_gateway_captures_dropped_total` (by reason); nothing of a prompt is ever logged.
 */
@Injectable()
export class CaptureWriter implements OnModuleDestroy {
  private readonly logger = new Logger(CaptureWriter.name);
  private pending: CaptureRow[] = [];
  private pendingChars = 0;
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  private readonly written: Counter;
  private readonly dropped: Counter<'reason'>;

  constructor(
    private readonly store: CaptureStore,
    metrics: OperatorMetrics,
  ) {
    const registers = [metrics.registry];
    this.written = new Counter({ name: 'verdict_gateway_captures_written_total', help: 'Gateway captures (prompt and answer) written to Postgres by this replica.', registers });
    this.dropped = new Counter({ name: 'verdict_gateway_captures_dropped_total', help: 'Gateway captures dropped by this replica, by reason: buffer_full or write_failed.', labelNames: ['reason'], registers });
  }

  /** Captures waiting to be written (for tests). */
  get buffered(): number {
    return this.pending.length;
  }

  /** Queues one capture for writing; false when it was dropped (the buffer is full). */
  add(row: CaptureRow): boolean {
    const chars = row.prompt.length + (row.answer?.length ?? 0);
    if (this.pending.length >= CAPTURE_BUFFER_ROWS || this.pendingChars + chars > CAPTURE_BUFFER_CHARS) {
      this.dropped.inc({ reason: 'buffer_full' });
      return false;
    }
    this.pending.push(row);
    this.pendingChars += chars;
    if (this.pending.length >= CAPTURE_BATCH_ROWS) this.kick();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.kick(), CAPTURE_FLUSH_MS);
      this.timer.unref();
    }
    return true;
  }

  /** Writes everything buffered now (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pending.length > 0 || this.writing) {
      this.kick();
      await this.writing;
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.flush();
  }

  private kick(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.writing || this.pending.length === 0) return;
    this.writing = this.drain().finally(() => {
      this.writing = null;
      if (this.pending.length > 0 && !this.timer) {
        this.timer = setTimeout(() => this.kick(), CAPTURE_FLUSH_MS);
        this.timer.unref();
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, CAPTURE_BATCH_ROWS);
      for (const row of batch) this.pendingChars -= row.prompt.length + (row.answer?.length ?? 0);
      try {
        await this.store.insert(batch);
        this.written.inc(batch.length);
      } catch (error) {
        this.dropped.inc({ reason: 'write_failed' }, batch.length);
        // Only the error's code: a driver's message may quote a value, and a value may be a prompt.
        const code = (error as { code?: unknown }).code;
        this.logger.warn({ rows: batch.length, code: typeof code === 'string' ? code : undefined }, 'gateway captures not written');
      }
    }
  }
}
