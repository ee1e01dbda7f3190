import type { Job } from 'bullmq';
import type { QueueName } from '../../libs/queue/queues';

/** One processor per queue: parse the payload, call a service, return. */
export interface Processor<T = unknown> {
  readonly queue: QueueName;
  /** Jobs taken at once by this worker process (default: the configured worker concurrency). */
  readonly concurrency?: number;
  process(job: Job<T>): Promise<unknown>;
}

export const PROCESSORS = Symbol('PROCESSORS');
