import { Injectable } from '@nestjs/common';
import { ExposureProducer } from '../assignment/exposure.producer';
import { NotFoundError } from '../errors/domain-error';
import type { ExposureRecord, FeedbackRecord, OutcomeRecord } from '../queue/queues';
import { DeadLetterStore, type DeadLetterRow } from './dead-letter-store';
import type { IngestKind } from '../observability/ingest-counter-sql';
import { OutcomeProducer } from './outcome.producer';
import { checkExposureRecord, checkFeedbackItem, checkOutcomeRecord, defaultWindow, describeIssues } from '../storable/storable';

/** Dead letters re-driven per call at most: "all" is answered with what remains. */
export const REDRIVE_LIMIT = 1000;
/** Items per re-driven job at most (the API's own coalescing limit). */
const JOB_ITEMS = 2000;

export interface RedriveResult {
  /** Dead letters put back on the queue (and removed from the table). */
  redriven: number;
  /** Those the current definition still refuses: they stay, with the new reason. */
  stillDead: Array<{ id: string; reason: string }>;
  /** Dead letters of the project left after this call. */
  remaining: number;
}

class DeadLetterNotFoundError extends NotFoundError {
  constructor(id: string) {
    super(`No dead letter ${id.length > 40 ? `${id.slice(0, 40)}…` : id} in this project.`);
  }
}

const ID = /^[1-9][0-9]{0,17}$/;

type Group = { kind: IngestKind; receivedAt: string; ids: string[]; items: unknown[] };

/**
 * The admin side of the dead letters (docs/adr/0015): list, delete, and re-drive after a fix.
 * A re-drive checks each item again with the current storable definition: what passes is
 * enqueued again like any ingestion job (writes are idempotent) and only then removed from
 * the table; what still fails stays, with the new reason. If the write still fails on the
 * data, the worker dead-letters the item again.
 */
@Injectable()
export class DeadLetterService {
  constructor(
    private readonly store: DeadLetterStore,
    private readonly outcomes: OutcomeProducer,
    private readonly exposures: ExposureProducer,
  ) {}

  list(projectId: string, query: { kind?: IngestKind; limit?: number; offset?: number }): Promise<{ total: number; items: DeadLetterRow[] }> {
    return this.store.list(projectId, { kind: query.kind, limit: query.limit ?? 100, offset: query.offset ?? 0 });
  }

  async remove(projectId: string, id: string): Promise<void> {
    if (!ID.test(id) || (await this.store.remove(projectId, [id])) === 0) throw new DeadLetterNotFoundError(id);
  }

  async removeAll(projectId: string): Promise<{ deleted: number }> {
    return { deleted: await this.store.remove(projectId, null) };
  }

  /** Re-drives one dead letter (`id`) or the project's oldest REDRIVE_LIMIT. */
  async redrive(projectId: string, id: string | null): Promise<RedriveResult> {
    if (id !== null && !ID.test(id)) throw new DeadLetterNotFoundError(id);
    const rows = await this.store.take(projectId, id, REDRIVE_LIMIT);
    if (id !== null && rows.length === 0) throw new DeadLetterNotFoundError(id);
    const now = Date.now();
    const nowIso = new Date(now).toISOString();
    const stillDead: RedriveResult['stillDead'] = [];
    // One job per kind and receipt time, at most JOB_ITEMS items each.
    const open = new Map<string, Group>();
    const groups: Group[] = [];
    for (const row of rows) {
      const checked = this.recheck(projectId, row, now);
      if (!checked.ok) {
        await this.store.setReason(projectId, row.id, checked.reason);
        stillDead.push({ id: row.id, reason: checked.reason });
        continue;
      }
      const receivedAt = row.receivedAt ?? nowIso;
      const key = `${row.kind}\n${receivedAt}`;
      let group = open.get(key);
      if (!group || group.items.length >= JOB_ITEMS) {
        open.set(key, (group = { kind: row.kind, receivedAt, ids: [], items: [] }));
        groups.push(group);
      }
      group.ids.push(row.id);
      group.items.push(checked.item);
    }
    let redriven = 0;
    for (const group of groups) {
      await this.enqueue(projectId, group);
      redriven += await this.store.remove(projectId, group.ids);
    }
    const { total } = await this.store.list(projectId, { limit: 1, offset: 0 });
    return { redriven, stillDead, remaining: total };
  }

  private recheck(projectId: string, row: DeadLetterRow, now: number): { ok: true; item: unknown } | { ok: false; reason: string } {
    let payload: unknown;
    try {
      payload = JSON.parse(row.payload);
    } catch {
      return { ok: false, reason: 'payload: is not JSON' };
    }
    const window = defaultWindow(now);
    if (row.kind === 'outcome') {
      const checked = checkOutcomeRecord(payload, window);
      return checked.ok ? { ok: true, item: checked.record } : { ok: false, reason: describeIssues(checked.issues) };
    }
    if (row.kind === 'feedback') {
      const checked = checkFeedbackItem(payload);
      return checked.ok ? { ok: true, item: checked.item } : { ok: false, reason: describeIssues(checked.issues) };
    }
    const checked = checkExposureRecord(payload, window);
    if (!checked.ok) return { ok: false, reason: describeIssues(checked.issues) };
    if (checked.record.projectId !== projectId) return { ok: false, reason: 'projectId: is not this project' };
    return { ok: true, item: checked.record };
  }

  private async enqueue(projectId: string, group: Group): Promise<void> {
    if (group.kind === 'outcome') {
      await this.outcomes.enqueueOutcomes({ projectId, receivedAt: group.receivedAt, events: group.items as OutcomeRecord[] });
    } else if (group.kind === 'feedback') {
      await this.outcomes.enqueueFeedback({ projectId, receivedAt: group.receivedAt, items: group.items as FeedbackRecord[] });
    } else {
      await this.exposures.enqueue(projectId, group.items as ExposureRecord[]);
    }
  }
}
