import { Injectable } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { parseFeedbackBatch, parseOutcomeBatch } from '../../libs/ingestion/outcome-job.schema';
import { OutcomeWriter } from '../../libs/ingestion/outcome-writer';
import { JOBS, QUEUES } from '../../libs/queue/queues';
import type { Processor } from './processor';

/**
 * Writes outcome and feedback batches. Failures are retried with backoff (the queue's
 * defaults); a payload that does not parse is unrecoverable and goes straight to the
 * failed set, where it can be inspected and replayed (docs/ingestion.md).
 */
@Injectable()
export class OutcomeWriterProcessor implements Processor {
  readonly queue = QUEUES.outcomes;
  constructor(private readonly writer: OutcomeWriter) {}

  async process(job: Job): Promise<unknown> {
    if (job.name === JOBS.outcomeBatch) {
      const parsed = parseOutcomeBatch(job.data);
      if (!parsed.ok) throw new UnrecoverableError(`unparseable outcome batch: ${parsed.error}`);
      return this.writer.writeEvents(parsed.job);
    }
    if (job.name === JOBS.feedbackBatch) {
      const parsed = parseFeedbackBatch(job.data);
      if (!parsed.ok) throw new UnrecoverableError(`unparseable feedback batch: ${parsed.error}`);
      return this.writer.writeFeedback(parsed.job);
    }
    throw new UnrecoverableError(`unknown job name "${job.name}" on the outcomes queue`);
  }
}
