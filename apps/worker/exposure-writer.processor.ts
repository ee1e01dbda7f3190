import { Injectable } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { parseExposureBatch } from '../../libs/assignment/exposure-job.schema';
import { ExposureWriter } from '../../libs/assignment/exposure-writer';
import { DeadLetterStore } from '../../libs/ingestion/dead-letter-store';
import { isolatePoison } from '../../libs/ingestion/poison-isolation';
import { QUEUES } from '../../libs/queue/queues';
import type { Processor } from './processor';

/**
 * Writes exposure batches; idempotent per unit, so a retried job never adds a unit twice.
 * Like outcomes (docs/adr/0015): records the storable definition refuses, and records a
 * write fails on alone, are dead-lettered in their project; transient failures retry the job.
 */
@Injectable()
export class ExposureWriterProcessor implements Processor {
  readonly queue = QUEUES.exposures;
  constructor(
    private readonly writer: ExposureWriter,
    private readonly deadLetters: DeadLetterStore,
  ) {}

  async process(job: Job): Promise<{ exposures: number; deadLettered: number }> {
    const parsed = parseExposureBatch(job.data);
    if (!parsed.ok) throw new UnrecoverableError(`unparseable exposure batch: ${parsed.error}`);
    let exposures = 0;
    let deadLettered = 0;
    for (const part of parsed.parts) {
      const poison = await isolatePoison(part.records, (records) => this.writer.write(records));
      const letters = [...part.unstorable, ...poison].map(({ item, reason }) => ({ projectId: part.projectId, kind: 'exposure' as const, payload: item, reason, receivedAt: null }));
      if (letters.length) deadLettered += await this.deadLetters.add(letters);
      exposures += part.records.length - poison.length;
    }
    return { exposures, deadLettered };
  }
}
