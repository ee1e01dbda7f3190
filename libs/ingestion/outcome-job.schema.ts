import { z } from 'zod';
import type { FeedbackBatchJob, FeedbackRecord, OutcomeBatchJob, OutcomeRecord } from '../queue/queues';
import { checkFeedbackItem, checkOutcomeRecord, defaultWindow, describeIssues } from '../storable/storable';

/** An item of a job that the storable definition refuses: dead-lettered with its reason, never written. */
export interface UnstorableItem {
  item: unknown;
  reason: string;
}

export type ParsedJob<J> = { ok: true; job: J; unstorable: UnstorableItem[] } | { ok: false; error: string };

const base = { projectId: z.uuid(), receivedAt: z.iso.datetime({ offset: true }) };
const outcomeEnvelope = z.object({ ...base, events: z.array(z.unknown()) });
const feedbackEnvelope = z.object({ ...base, items: z.array(z.unknown()) });

const envelopeError = (error: z.ZodError) => z.prettifyError(error).slice(0, 500);

/**
 * Payloads are checked in the worker too, item by item with the storable definition the
 * API used (libs/storable/storable.ts): a job from an older API, or one written to the queue
 * by hand, cannot make a write fail. Items that fail are returned to be dead-lettered; the
 * others are written. Only a job whose envelope (project, receipt time, list) does not parse
 * fails as a whole: it names no project whose dead letters could hold it.
 */
export function parseOutcomeBatch(data: unknown): ParsedJob<OutcomeBatchJob> {
  const parsed = outcomeEnvelope.safeParse(data);
  if (!parsed.success) return { ok: false, error: envelopeError(parsed.error) };
  const { projectId, receivedAt } = parsed.data;
  const window = defaultWindow(Date.parse(receivedAt));
  const events: OutcomeRecord[] = [];
  const unstorable: UnstorableItem[] = [];
  for (const item of parsed.data.events) {
    const checked = checkOutcomeRecord(item, window);
    if (checked.ok) events.push(checked.record);
    else unstorable.push({ item, reason: describeIssues(checked.issues) });
  }
  return { ok: true, job: { projectId, receivedAt, events }, unstorable };
}

export function parseFeedbackBatch(data: unknown): ParsedJob<FeedbackBatchJob> {
  const parsed = feedbackEnvelope.safeParse(data);
  if (!parsed.success) return { ok: false, error: envelopeError(parsed.error) };
  const items: FeedbackRecord[] = [];
  const unstorable: UnstorableItem[] = [];
  for (const item of parsed.data.items) {
    const checked = checkFeedbackItem(item);
    if (checked.ok) items.push(checked.item);
    else unstorable.push({ item, reason: describeIssues(checked.issues) });
  }
  return { ok: true, job: { projectId: parsed.data.projectId, receivedAt: parsed.data.receivedAt, items }, unstorable };
}
