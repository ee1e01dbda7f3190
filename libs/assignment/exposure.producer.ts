import { Injectable } from '@nestjs/common';
import { UnavailableError } from '../errors/domain-error';
import { boundedQueueCall } from '../queue/bounded-call';
import { QueueRegistry } from '../queue/queue.module';
import { JOBS, QUEUES, type ExposureBatchJob, type ExposureRecord } from '../queue/queues';

/** An enqueue not confirmed by the queue backend within this time is answered 503, as for outcomes. */
export const EXPOSURE_ENQUEUE_TIMEOUT_MS = 3000;
const RETRY_AFTER_SECONDS = 5;

/** The one way exposures enter the queue: one job per project, never two projects' exposures in one job. */
@Injectable()
export class ExposureProducer {
  constructor(private readonly queues: QueueRegistry) {}

  /**
   * Like outcomes: a queue backend that fails (Redis away, Postgres out of connections) is a 503
   * with Retry-After, never a 500. With Redis away it refuses at once rather than leave the job in
   * ioredis' offline queue (sent later, after the client was told to retry), and every call is bounded.
   */
  async enqueue(projectId: string, exposures: ExposureRecord[]): Promise<void> {
    if (exposures.length === 0) return;
    const job: ExposureBatchJob = { projectId, exposures };
    if (!this.queues.isConnected()) throw unavailable();
    await boundedQueueCall(this.queues.get(QUEUES.exposures).add(JOBS.exposureBatch, job), EXPOSURE_ENQUEUE_TIMEOUT_MS, {
      // Not confirmed in time: the backend may still run the command later (a retry then counts an exposure twice, never a unit).
      timedOut: () => new UnavailableError('The queue did not confirm the exposures in time. Retry later.', RETRY_AFTER_SECONDS),
      failed: unavailable,
    });
  }

  /** Several projects' exposures in one round trip, one job each. */
  async enqueueByProject(byProject: ReadonlyMap<string, ExposureRecord[]>): Promise<void> {
    const jobs = [...byProject].filter(([, exposures]) => exposures.length > 0);
    if (jobs.length === 0) return;
    await this.queues
      .get(QUEUES.exposures)
      .addBulk(jobs.map(([projectId, exposures]) => ({ name: JOBS.exposureBatch, data: { projectId, exposures } satisfies ExposureBatchJob })));
  }
}

function unavailable(): UnavailableError {
  return new UnavailableError('Exposures cannot be enqueued right now; nothing in this request was accepted. Retry later.', RETRY_AFTER_SECONDS);
}
