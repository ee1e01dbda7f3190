import { Injectable } from '@nestjs/common';
import { SnapshotService } from '../assignment/snapshot.service';
import { type FieldError, ValidationFailedError } from '../errors/domain-error';
import type { FeedbackRecord, OutcomeRecord } from '../queue/queues';
import { OutcomeBuffer } from './outcome-buffer';
import { OutcomeProducer } from './outcome.producer';
import { OutcomeRulesService } from './outcome-rules.service';
import { type ServedAs, validateFeedback, validateOutcome, validateOutcomeBatch } from './outcome-validator';

export interface IngestResult {
  accepted: number;
  rejected: Array<{ index: number; errors: FieldError[] }>;
}

export interface FailedJobSummary {
  id: string;
  name: string;
  items: number;
  attemptsMade: number;
  failedReason: string;
  finishedOn: string | null;
}

/**
 * Outcome and feedback intake: each item is validated on its own against the in-memory
 * snapshot (no database round trip), the valid ones are enqueued, and only once the
 * job holding them is in Redis is the request answered.
 */
@Injectable()
export class IngestionService {
  constructor(
    private readonly snapshots: SnapshotService,
    private readonly rules: OutcomeRulesService,
    private readonly producer: OutcomeProducer,
    private readonly buffer: OutcomeBuffer,
  ) {}

  /**
   * `body` is the raw request body: `{events: [...]}`, checked here rather than by the global pipe (it is the hot path).
   * `servedAs` (the gateway only, index by index): the assignment each call was served under.
   */
  async recordOutcomes(projectId: string, body: unknown, servedAs?: ReadonlyArray<ServedAs | undefined>): Promise<IngestResult> {
    const batch = validateOutcomeBatch(body);
    if (!batch.ok) throw new ValidationFailedError(batch.errors);
    const events = batch.value;
    // Refuse before any work when nothing could be enqueued.
    await this.producer.checkAccepting();
    const project = this.snapshots.get(projectId);
    const served = new Set<string>();
    for (const e of events) {
      const key = (e as { experiment?: unknown } | null)?.experiment;
      if (typeof key === 'string' && project.ids.has(key)) served.add(key);
    }
    const rules = await this.rules.get(projectId, served);
    const ctx = { index: project.index, ids: project.ids, rules: (key: string) => rules.get(key), now: Date.now() };
    const records: OutcomeRecord[] = [];
    const rejected: IngestResult['rejected'] = [];
    events.forEach((event, index) => {
      const checked = validateOutcome(event, ctx, servedAs?.[index]);
      if (checked.ok) records.push(checked.value);
      else rejected.push({ index, errors: checked.errors });
    });
    if (records.length) await this.buffer.addOutcomes(projectId, records);
    return { accepted: records.length, rejected };
  }

  async recordFeedback(projectId: string, items: unknown[]): Promise<IngestResult> {
    await this.producer.checkAccepting();
    const records: FeedbackRecord[] = [];
    const rejected: IngestResult['rejected'] = [];
    items.forEach((item, index) => {
      const checked = validateFeedback(item);
      if (checked.ok) records.push(checked.value);
      else rejected.push({ index, errors: checked.errors });
    });
    if (records.length) await this.buffer.addFeedback(projectId, records);
    return { accepted: records.length, rejected };
  }

  /** The project's failed ingestion jobs (attempts exhausted or unparseable payload). */
  async failedJobs(projectId: string): Promise<FailedJobSummary[]> {
    const jobs = await this.producer.failed();
    return jobs
      .filter((job) => (job.data as { projectId?: unknown } | undefined)?.projectId === projectId)
      .map((job) => {
        const data = job.data as { events?: unknown[]; items?: unknown[] };
        return {
          id: String(job.id),
          name: job.name,
          items: (Array.isArray(data.events) ? data.events.length : 0) + (Array.isArray(data.items) ? data.items.length : 0),
          attemptsMade: job.attemptsMade,
          failedReason: job.failedReason,
          finishedOn: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
        };
      });
  }

  /** Moves the project's failed jobs back to waiting; safe because writes are idempotent per event id. */
  async replayFailed(projectId: string): Promise<{ replayed: number }> {
    const jobs = (await this.producer.failed()).filter(
      (job) => (job.data as { projectId?: unknown } | undefined)?.projectId === projectId,
    );
    for (const job of jobs) await job.retry('failed');
    return { replayed: jobs.length };
  }
}
