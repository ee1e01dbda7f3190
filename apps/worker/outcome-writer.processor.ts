import { Inject, Injectable } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { VERDICT_CONFIG, type VerdictConfig } from '../../libs/config/config';
import { parseFeedbackBatch, parseOutcomeBatch } from '../../libs/ingestion/outcome-job.schema';
import { OutcomeWriter } from '../../libs/ingestion/outcome-writer';
import { WriteGroup } from '../../libs/ingestion/write-group';
import { JOBS, QUEUES, type OutcomeBatchJob } from '../../libs/queue/queues';
import type { Processor } from './processor';

/** Jobs held per write lane: what arrives while a transaction runs is written by the next one. */
const JOBS_PER_LANE = 8;
/** Events per transaction at most (two full jobs from the API's coalescing). */
const MAX_EVENTS_PER_WRITE = 4000;
/** A smaller write waits this long for more jobs: events become visible a little later, requests are not answered later. */
const WRITE_LINGER_MS = 25;

/**
 * Writes outcome and feedback batches. Outcome jobs in hand are written together (group
 * commit, WriteGroup) on `WORKER_CONCURRENCY` transactions at a time. Failures are retried
 * with backoff (the queue's defaults); a payload that does not parse is unrecoverable and
 * goes straight to the failed set, where it can be inspected and replayed (docs/ingestion.md).
 */
@Injectable()
export class OutcomeWriterProcessor implements Processor {
  readonly queue = QUEUES.outcomes;
  readonly concurrency: number;
  private readonly group: WriteGroup<OutcomeBatchJob>;

  constructor(
    private readonly writer: OutcomeWriter,
    @Inject(VERDICT_CONFIG) config: VerdictConfig,
  ) {
    const lanes = config.ingest.workerConcurrency;
    this.concurrency = lanes * JOBS_PER_LANE;
    this.group = new WriteGroup((jobs) => this.writer.writeBatches(jobs), lanes, MAX_EVENTS_PER_WRITE, WRITE_LINGER_MS);
  }

  async process(job: Job): Promise<unknown> {
    if (job.name === JOBS.outcomeBatch) {
      const parsed = parseOutcomeBatch(job.data);
      if (!parsed.ok) throw new UnrecoverableError(`unparseable outcome batch: ${parsed.error}`);
      await this.group.submit(parsed.job, parsed.job.events.length);
      return { events: parsed.job.events.length };
    }
    if (job.name === JOBS.feedbackBatch) {
      const parsed = parseFeedbackBatch(job.data);
      if (!parsed.ok) throw new UnrecoverableError(`unparseable feedback batch: ${parsed.error}`);
      return this.writer.writeFeedback(parsed.job);
    }
    throw new UnrecoverableError(`unknown job name "${job.name}" on the outcomes queue`);
  }
}
