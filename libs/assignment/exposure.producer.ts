import { Injectable } from '@nestjs/common';
import { QueueRegistry } from '../queue/queue.module';
import { JOBS, QUEUES, type ExposureRecord } from '../queue/queues';

/** The one way exposures enter the queue. */
@Injectable()
export class ExposureProducer {
  constructor(private readonly queues: QueueRegistry) {}

  async enqueue(exposures: ExposureRecord[]): Promise<void> {
    if (exposures.length === 0) return;
    await this.queues.get(QUEUES.exposures).add(JOBS.exposureBatch, { exposures });
  }
}
