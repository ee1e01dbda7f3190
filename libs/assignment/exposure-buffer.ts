import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { ExposureRecord } from '../queue/queues';
import { ExposureProducer } from './exposure.producer';

const FLUSH_EVERY_MS = 200;
const FLUSH_AT = 1000;
/** Past this, new exposures are dropped (and counted) rather than growing memory while Redis is away. */
const MAX_PENDING = 100_000;

/**
 * Collects the exposures that /v1/assign observes and enqueues them in batches,
 * off the request path: assignment answers from memory and never waits on Redis.
 * Repeats of the same unit within a window are coalesced into one record.
 */
@Injectable()
export class ExposureBuffer implements OnApplicationShutdown {
  private readonly logger = new Logger(ExposureBuffer.name);
  private pending = new Map<string, ExposureRecord>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  dropped = 0;

  constructor(private readonly producer: ExposureProducer) {}

  add(record: ExposureRecord): void {
    const key = `${record.experimentId}\u0000${record.phase}\u0000${record.unitId}`;
    const existing = this.pending.get(key);
    if (existing) {
      existing.count = (existing.count ?? 1) + 1;
      return;
    }
    if (this.pending.size >= MAX_PENDING) {
      this.dropped += 1;
      return;
    }
    this.pending.set(key, record);
    if (this.pending.size >= FLUSH_AT) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_EVERY_MS);
      this.timer.unref();
    }
  }

  /** Enqueues everything pending; failures are retried on the next flush. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      if (this.pending.size === 0) return;
      const batch = this.pending;
      this.pending = new Map();
      try {
        await this.producer.enqueue([...batch.values()]);
      } catch (error) {
        this.logger.warn({ err: error, count: batch.size }, 'exposures not enqueued; will retry');
        for (const [key, record] of batch) if (!this.pending.has(key)) this.pending.set(key, record);
        if (!this.timer) {
          this.timer = setTimeout(() => void this.flush(), 1000);
          this.timer.unref();
        }
      }
    });
    return this.flushing;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flush();
  }
}
