import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { boundedQueueCall } from '../queue/bounded-call';
import { QueueRegistry } from '../queue/queue.module';
import { JOBS, QUEUES, type FeedbackBatchJob, type OutcomeBatchJob } from '../queue/queues';
import { IngestionBackloggedError, IngestionUnavailableError } from './ingestion.errors';

/** An enqueue not confirmed by the queue backend (Redis or Postgres) within this time is answered 503 (the client retries; ids make that safe). */
export const ENQUEUE_TIMEOUT_MS = 3000;
/** The queue depth is read at most this often per replica. */
const DEPTH_TTL_MS = 250;
/**
 * Exponential from 0.5 s: about 34 minutes of retries before a job lands in the failed set, so a database restart never needs a replay.
 * A completed batch is kept only briefly (its rows are in Postgres): up to 2,000 events a job, keeping the queue's default
 * 1,000 completed jobs would hold hundreds of megabytes in Redis and its append-only file.
 */
const JOB_OPTIONS = { attempts: 12, removeOnComplete: { count: 50 } };

/** A queue call bounded in time; failing or silent, it is a 503 naming why (nothing acknowledged). */
function withTimeout<T>(promise: Promise<T>, ms: number, reason: string): Promise<T> {
  return boundedQueueCall(promise, ms, {
    timedOut: () => new IngestionUnavailableError(reason),
    failed: (code) => new IngestionUnavailableError(`the queue backend failed: ${code}`),
  });
}

/**
 * The one way outcomes and feedback enter the queue. It refuses rather than waits:
 * with Redis away the shared connection would hold commands in ioredis' offline
 * queue, so the connection state is checked first and every call is bounded.
 */
@Injectable()
export class OutcomeProducer {
  private depth = 0;
  private depthAt = 0;
  private depthPending: Promise<number> | null = null;

  constructor(
    private readonly queues: QueueRegistry,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  private get queue() {
    return this.queues.get(QUEUES.outcomes);
  }

  /** Throws 503 when the queue backend is unreachable and 429 when the queue is deeper than the limit. */
  async checkAccepting(): Promise<void> {
    this.checkConnected();
    const depth = await this.queueDepth();
    if (depth > this.config.ingest.maxQueueDepth) throw new IngestionBackloggedError(depth, this.config.ingest.maxQueueDepth);
  }

  async enqueueOutcomes(job: OutcomeBatchJob): Promise<void> {
    this.checkConnected();
    await withTimeout(this.queue.add(JOBS.outcomeBatch, job, JOB_OPTIONS), ENQUEUE_TIMEOUT_MS, 'the queue did not confirm the enqueue');
  }

  async enqueueFeedback(job: FeedbackBatchJob): Promise<void> {
    this.checkConnected();
    await withTimeout(this.queue.add(JOBS.feedbackBatch, job, JOB_OPTIONS), ENQUEUE_TIMEOUT_MS, 'the queue did not confirm the enqueue');
  }

  /** Jobs that exhausted their attempts (or could not be parsed), oldest first. */
  async failed(limit = 1000): Promise<Job[]> {
    this.checkConnected();
    return withTimeout(this.queue.getFailed(0, limit - 1), ENQUEUE_TIMEOUT_MS, 'the queue did not answer') as Promise<Job[]>;
  }

  private checkConnected(): void {
    if (!this.queues.isConnected()) throw new IngestionUnavailableError('the queue backend is unreachable');
  }

  private async queueDepth(): Promise<number> {
    if (Date.now() - this.depthAt < DEPTH_TTL_MS) return this.depth;
    this.depthPending ??= withTimeout(
      this.queue.getJobCounts('waiting', 'prioritized', 'delayed'),
      ENQUEUE_TIMEOUT_MS,
      'the queue did not answer',
    )
      .then((counts) => {
        this.depth = Object.values(counts).reduce((sum, n) => sum + n, 0);
        this.depthAt = Date.now();
        return this.depth;
      })
      .finally(() => {
        this.depthPending = null;
      });
    return this.depthPending;
  }
}
