import { z } from 'zod';
import type { FeedbackBatchJob, OutcomeBatchJob } from '../queue/queues';

const num = z.number().finite().nullable();
const metrics = z.record(z.string(), z.number().finite()).nullable();

const outcomeRecord = z.object({
  experimentId: z.uuid(),
  eventId: z.string().min(1).max(128),
  phase: z.number().int(),
  unitId: z.string().min(1),
  variant: z.string().min(1),
  at: z.iso.datetime({ offset: true }),
  latencyMs: num,
  ttftMs: num,
  inputTokens: num,
  outputTokens: num,
  costUsd: num,
  costComputed: z.boolean(),
  success: z.boolean().nullable(),
  score: num,
  error: z.string().nullable(),
  metrics,
});

const outcomeBatch = z.object({ projectId: z.uuid(), receivedAt: z.iso.datetime({ offset: true }), events: z.array(outcomeRecord) });

const feedbackBatch = z.object({
  projectId: z.uuid(),
  receivedAt: z.iso.datetime({ offset: true }),
  items: z.array(
    z.object({
      eventId: z.string().min(1).max(128),
      success: z.boolean().optional(),
      score: z.number().finite().optional(),
      metrics: z.record(z.string(), z.number().finite()).optional(),
    }),
  ),
});

/** Payloads are checked in the worker too: a job that does not parse fails at once, never half-written. */
export function parseOutcomeBatch(data: unknown): { ok: true; job: OutcomeBatchJob } | { ok: false; error: string } {
  const parsed = outcomeBatch.safeParse(data);
  return parsed.success ? { ok: true, job: parsed.data } : { ok: false, error: z.prettifyError(parsed.error).slice(0, 500) };
}

export function parseFeedbackBatch(data: unknown): { ok: true; job: FeedbackBatchJob } | { ok: false; error: string } {
  const parsed = feedbackBatch.safeParse(data);
  return parsed.success ? { ok: true, job: parsed.data } : { ok: false, error: z.prettifyError(parsed.error).slice(0, 500) };
}
