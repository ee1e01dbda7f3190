import { Injectable } from '@nestjs/common';
import { UnavailableError } from '../errors/domain-error';
import { QueueRegistry } from '../queue/queue.module';
import { JOBS, QUEUES, type ExposureBatchJob, type ExposureRecord } from '../queue/queues';

/** The one way exposures enter the queue: one job per project, never two projects' exposures in one job. */
@Injectable()
export class ExposureProducer {
  constructor(private readonly queues: QueueRegistry) {}

  async enqueue(projectId: string, exposures: ExposureRecord[]): Promise<void> {
    if (exposures.length === 0) return;
    const job: ExposureBatchJob = { projectId, exposures };
    // Like outcomes: a queue backend that fails (Redis away, Postgres out of connections) is a 503
    // with nothing acknowledged, never a 500.
    try {
      await this.queues.get(QUEUES.exposures).add(JOBS.exposureBatch, job);
    } catch (error) {
      if (error instanceof UnavailableError) throw error;
      throw new UnavailableError('Exposures cannot be enqueued right now; nothing in this request was accepted. Retry later.', 5);
    }
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
