import { Injectable } from '@nestjs/common';
import { QueueRegistry } from '../queue/queue.module';
import { JOBS, QUEUES, type ExposureBatchJob, type ExposureRecord } from '../queue/queues';

/** The one way exposures enter the queue: one job per project, never two projects' exposures in one job. */
@Injectable()
export class ExposureProducer {
  constructor(private readonly queues: QueueRegistry) {}

  async enqueue(projectId: string, exposures: ExposureRecord[]): Promise<void> {
    if (exposures.length === 0) return;
    const job: ExposureBatchJob = { projectId, exposures };
    await this.queues.get(QUEUES.exposures).add(JOBS.exposureBatch, job);
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
