import { Injectable, type OnModuleInit } from '@nestjs/common';
import { QueueRegistry } from '../queue/queue.module';
import { QUEUES, type QueueName } from '../queue/queues';
import { OperatorMetrics, type MetricSample } from './operator-metrics';

const STATES = ['waiting', 'active', 'delayed', 'failed'] as const;
/** A scrape never waits longer than this on the queue backend (Redis or Postgres away: the samples are left out). */
const READ_TIMEOUT_MS = 2000;
/** The queues whose waiting jobs are ingestion not yet written. */
const INGEST_QUEUES: readonly QueueName[] = [QUEUES.exposures, QUEUES.outcomes];

interface QueueState {
  queue: QueueName;
  counts: Record<(typeof STATES)[number], number>;
  /** Age of the oldest waiting job (s); 0 when none waits. */
  oldestWaitingSeconds: number;
}

/**
 * Queue depths and ingestion lag for GET /metrics (docs/adr/0033), read at scrape time through
 * BullMQ's own getters, so they work on either backend (docs/adr/0023): per queue, one count
 * of its jobs by state and one look at its oldest waiting job. Bounded: a fixed number of
 * queues, two calls each, in parallel, cut off after READ_TIMEOUT_MS.
 */
@Injectable()
export class QueueMetrics implements OnModuleInit {
  private last: { scrape: number; read: Promise<QueueState[]> } | null = null;

  constructor(
    private readonly queues: QueueRegistry,
    private readonly metrics: OperatorMetrics,
  ) {}

  onModuleInit(): void {
    this.metrics.sampled({
      name: 'verdict_queue_jobs',
      help: 'Jobs per queue and state (waiting, active, delayed, failed), on the configured queue backend.',
      type: 'gauge',
      labelNames: ['queue', 'state'],
      read: async () => (await this.read()).flatMap((q) => STATES.map((state): MetricSample => ({ labels: { queue: q.queue, state }, value: q.counts[state] }))),
    });
    this.metrics.sampled({
      name: 'verdict_queue_oldest_waiting_seconds',
      help: 'Age of the oldest waiting job per queue (0 when none waits).',
      type: 'gauge',
      labelNames: ['queue'],
      read: async () => (await this.read()).map((q) => ({ labels: { queue: q.queue }, value: q.oldestWaitingSeconds })),
    });
    this.metrics.sampled({
      name: 'verdict_ingest_lag_seconds',
      help: 'Ingestion lag: age of the oldest accepted exposure or outcome batch not yet picked up by a worker (0 when none waits).',
      type: 'gauge',
      read: async () => {
        const states = (await this.read()).filter((q) => INGEST_QUEUES.includes(q.queue));
        return [{ value: Math.max(0, ...states.map((q) => q.oldestWaitingSeconds)) }];
      },
    });
  }

  /** One read per scrape, shared by its three gauges. */
  private read(): Promise<QueueState[]> {
    const scrape = this.metrics.scrapeId;
    if (this.last?.scrape === scrape) return this.last.read;
    const now = Date.now();
    const read = withTimeout(Promise.all(this.queues.all().map((name) => this.readQueue(name, now))), READ_TIMEOUT_MS);
    this.last = { scrape, read };
    return read;
  }

  private async readQueue(name: QueueName, now: number): Promise<QueueState> {
    if (!this.queues.isConnected()) throw new Error('the queue backend is not connected');
    const queue = this.queues.get(name);
    const [counts, oldest] = await Promise.all([queue.getJobCounts(...STATES), queue.getJobs(['waiting'], 0, 0, true)]);
    const timestamp = oldest[0]?.timestamp;
    return {
      queue: name,
      counts: { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0 },
      oldestWaitingSeconds: typeof timestamp === 'number' ? Math.max(0, (now - timestamp) / 1000) : 0,
    };
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the queue backend did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
