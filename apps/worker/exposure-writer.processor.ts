import { Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import { ExposureWriter } from '../../libs/assignment/exposure-writer';
import { QUEUES, type ExposureBatchJob } from '../../libs/queue/queues';
import type { Processor } from './processor';

/** Writes exposure batches; idempotent per unit, so a retried job never adds a unit twice. */
@Injectable()
export class ExposureWriterProcessor implements Processor<ExposureBatchJob> {
  readonly queue = QUEUES.exposures;
  constructor(private readonly writer: ExposureWriter) {}

  async process(job: Job<ExposureBatchJob>): Promise<void> {
    await this.writer.write(job.data.exposures);
  }
}
