import { Inject, Injectable } from '@nestjs/common';
import { type Job, UnrecoverableError } from 'bullmq';
import { VERDICT_CONFIG, type VerdictConfig } from '../../libs/config/config';
import { DeadLetterStore } from '../../libs/ingestion/dead-letter-store';
import { parseFeedbackBatch, parseOutcomeBatch } from '../../libs/ingestion/outcome-job.schema';
import { OutcomeWriter } from '../../libs/ingestion/outcome-writer';
import { dataErrorReason, isolatePoison } from '../../libs/ingestion/poison-isolation';
import { WriteGroup } from '../../libs/ingestion/write-group';
import { JOBS, QUEUES, type FeedbackBatchJob, type OutcomeBatchJob } from '../../libs/queue/queues';
import type { Processor } from './processor';

/** Jobs held per write lane: what arrives while a transaction runs is written by the next one. */
const JOBS_PER_LANE = 8;
/** Events per transaction at most (two full jobs from the API's coalescing). */
const MAX_EVENTS_PER_WRITE = 4000;
/** A smaller write waits this long for more jobs: events become visible a little later, requests are not answered later. */
const WRITE_LINGER_MS = 25;

/**
 * Writes outcome and feedback batches. Outcome jobs in hand are written together (group
 * commit, WriteGroup) on `WORKER_CONCURRENCY` transactions at a time. Every acknowledged item
 * ends stored or dead-lettered with its reason (docs/adr/0015): items the storable definition
 * refuses are dead-lettered before the write; a write that fails on data is split until the
 * items that fail alone are found, and only those are dead-lettered. Transient failures are
 * retried with backoff (the queue's defaults). A job whose envelope does not parse names no
 * project to dead-letter into: it goes straight to the failed set (docs/ingestion.md).
 */
@Injectable()
export class OutcomeWriterProcessor implements Processor {
  readonly queue = QUEUES.outcomes;
  readonly concurrency: number;
  private readonly group: WriteGroup<OutcomeBatchJob>;

  constructor(
    private readonly writer: OutcomeWriter,
    private readonly deadLetters: DeadLetterStore,
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
      const batch = parsed.job;
      let deadLettered = await this.deadLetter(batch, 'outcome', parsed.unstorable);
      if (batch.events.length > 0) {
        try {
          await this.group.submit(batch, batch.events.length);
        } catch (error) {
          // The error of writing this job alone (WriteGroup): split it when the data caused it, else retry it whole.
          if (dataErrorReason(error) === null) throw error;
          const poison = await isolatePoison(batch.events, (events) => this.writer.writeBatches([{ ...batch, events }]), error);
          deadLettered += await this.deadLetter(batch, 'outcome', poison);
        }
      }
      return { events: batch.events.length, deadLettered };
    }
    if (job.name === JOBS.feedbackBatch) {
      const parsed = parseFeedbackBatch(job.data);
      if (!parsed.ok) throw new UnrecoverableError(`unparseable feedback batch: ${parsed.error}`);
      const batch = parsed.job;
      let deadLettered = await this.deadLetter(batch, 'feedback', parsed.unstorable);
      const poison = await isolatePoison(batch.items, (items) => this.writer.writeFeedback({ ...batch, items }));
      if (poison.length > 0) {
        // Stored but not applicable: forget that version, so that no later event batch tries to apply it.
        await this.writer.discardFeedback(batch.projectId, poison.map((p) => p.item));
        deadLettered += await this.deadLetter(batch, 'feedback', poison);
      }
      return { items: batch.items.length, deadLettered };
    }
    throw new UnrecoverableError(`unknown job name "${job.name}" on the outcomes queue`);
  }

  private deadLetter(batch: OutcomeBatchJob | FeedbackBatchJob, kind: 'outcome' | 'feedback', items: Array<{ item: unknown; reason: string }>): Promise<number> {
    if (items.length === 0) return Promise.resolve(0);
    return this.deadLetters.add(items.map(({ item, reason }) => ({ projectId: batch.projectId, kind, payload: item, reason, receivedAt: batch.receivedAt })));
  }
}
