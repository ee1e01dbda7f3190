import type { SnapshotIndex } from '../assignment/core/assign';
import type { FieldError } from '../errors/domain-error';
import { checkBatch, isPlainObject } from '../errors/body-checks';
import type { FeedbackRecord, OutcomeRecord } from '../queue/queues';
import { computeCost, type ExperimentOutcomeRules } from './outcome-rules';

/** Clock skew tolerated on client timestamps. */
export const MAX_FUTURE_MS = 5 * 60_000;
export const MAX_ERROR_LENGTH = 256;

const EVENT_FIELDS = new Set([
  'id', 'experiment', 'unitId', 'variant', 'timestamp', 'latencyMs', 'ttftMs', 'inputTokens', 'outputTokens',
  'costUsd', 'success', 'score', 'error', 'metrics',
]);
const FEEDBACK_FIELDS = new Set(['eventId', 'success', 'score', 'metrics']);

/** What validating one event needs from the project: the snapshot (assignment) and the rules (ranges, prices). */
export interface ValidationContext {
  index: SnapshotIndex;
  ids: ReadonlyMap<string, string>;
  rules: (experimentKey: string) => ExperimentOutcomeRules | undefined;
  now: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

type Raw = Record<string, unknown>;

const absent = (v: unknown) => v === undefined || v === null;

function nonNegative(raw: Raw, field: string, errors: FieldError[], integer = false): number | null {
  const v = raw[field];
  if (absent(v)) return null;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
    errors.push({ field, message: integer ? 'must be a non-negative integer' : 'must be a finite number >= 0' });
    return null;
  }
  return v;
}

function checkMetrics(raw: Raw, declared: ReadonlySet<string> | null, errors: FieldError[]): Record<string, number> | null {
  const v = raw.metrics;
  if (absent(v)) return null;
  if (!isPlainObject(v)) {
    errors.push({ field: 'metrics', message: 'must be an object of metric name -> number' });
    return null;
  }
  const out: Record<string, number> = {};
  let count = 0;
  for (const [name, value] of Object.entries(v)) {
    if (declared && !declared.has(name)) {
      errors.push({ field: `metrics.${name}`, message: `is not declared in the experiment's metrics.custom` });
    } else if (typeof value !== 'number' || !Number.isFinite(value)) {
      errors.push({ field: `metrics.${name}`, message: 'must be a finite number' });
    } else {
      out[name] = value;
      count++;
    }
  }
  return count > 0 ? out : null;
}

function checkScore(raw: Raw, range: { min: number; max: number } | null, errors: FieldError[]): number | null {
  const v = raw.score;
  if (absent(v)) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    errors.push({ field: 'score', message: 'must be a finite number' });
    return null;
  }
  if (range && (v < range.min || v > range.max)) {
    errors.push({ field: 'score', message: `must lie in the experiment's scoreRange [${range.min}, ${range.max}]` });
    return null;
  }
  return v;
}

function unknownFields(raw: Raw, allowed: Set<string>, errors: FieldError[]): void {
  for (const key of Object.keys(raw)) if (!allowed.has(key)) errors.push({ field: key, message: 'is not a known field' });
}

/** Events per request at most. */
export const MAX_BATCH_EVENTS = 1000;

/**
 * The shape of a `POST /v1/outcomes` body, `{events: [...]}` with at most 1,000 items and
 * no other field; the messages are those the global validation pipe gives for the DTO.
 */
export function validateOutcomeBatch(body: unknown): Checked<unknown[]> {
  const { items, errors } = checkBatch(body, 'events', 0, MAX_BATCH_EVENTS);
  return errors.length ? { ok: false, errors } : { ok: true, value: items };
}

/**
 * Checks one outcome event against the project's snapshot and rules and resolves its
 * variant, phase and cost. Every problem is reported, so a client can fix them at once.
 */
export function validateOutcome(input: unknown, ctx: ValidationContext): Checked<OutcomeRecord> {
  if (!isPlainObject(input)) return { ok: false, errors: [{ field: '', message: 'must be an object' }] };
  const errors: FieldError[] = [];
  unknownFields(input, EVENT_FIELDS, errors);

  const id = input.id;
  if (typeof id !== 'string' || id.length < 1 || id.length > 128) {
    errors.push({ field: 'id', message: 'is required: an idempotency id of 1-128 characters' });
  }
  const unitId = input.unitId;
  const unitOk = typeof unitId === 'string' && unitId.length >= 1 && unitId.length <= 256;
  if (!unitOk) errors.push({ field: 'unitId', message: 'is required: a string of 1-256 characters' });

  let experimentId: string | undefined;
  let rules: ExperimentOutcomeRules | undefined;
  let variant: string | null = null;
  let phase = 0;
  const experiment = input.experiment;
  if (typeof experiment !== 'string' || experiment.length === 0) {
    errors.push({ field: 'experiment', message: 'is required' });
  } else if (!(experimentId = ctx.ids.get(experiment)) || !(rules = ctx.rules(experiment))) {
    errors.push({ field: 'experiment', message: `no experiment "${experiment}" in this project` });
    experimentId = undefined;
  } else {
    const snapshot = ctx.index.get(experiment)!;
    if (snapshot.state !== 'running') {
      errors.push({ field: 'experiment', message: `is ${snapshot.state}: outcomes are recorded only while it runs` });
    } else if (unitOk) {
      const given = input.variant;
      const assignment = ctx.index.assign(experiment, unitId as string);
      phase = assignment.phase;
      if (!absent(given) && typeof given !== 'string') {
        errors.push({ field: 'variant', message: 'must be a string' });
      } else if (assignment.reason === 'forced') {
        // A QA override: the unit may report the variant it was made to see, or any variant of the experiment.
        variant = (given as string | undefined) ?? assignment.variant;
        if (!snapshot.variants.some((v) => v.key === variant)) {
          errors.push({ field: 'variant', message: `"${String(given)}" is not a variant of the experiment` });
        }
      } else if (!assignment.inExperiment) {
        errors.push({ field: 'unitId', message: `is not in the experiment (${assignment.reason})` });
      } else if (!absent(given) && given !== assignment.variant) {
        errors.push({ field: 'variant', message: `is "${String(given)}" but the unit is assigned "${assignment.variant}"` });
      } else {
        variant = assignment.variant;
      }
    }
  }

  let at = ctx.now;
  if (!absent(input.timestamp)) {
    const parsed = typeof input.timestamp === 'string' ? Date.parse(input.timestamp) : Number.NaN;
    if (Number.isNaN(parsed)) errors.push({ field: 'timestamp', message: 'must be an ISO-8601 date-time' });
    else if (parsed > ctx.now + MAX_FUTURE_MS) errors.push({ field: 'timestamp', message: 'is more than 5 minutes in the future' });
    else at = parsed;
  }
  const latencyMs = nonNegative(input, 'latencyMs', errors);
  const ttftMs = nonNegative(input, 'ttftMs', errors);
  const inputTokens = nonNegative(input, 'inputTokens', errors, true);
  const outputTokens = nonNegative(input, 'outputTokens', errors, true);
  const givenCost = nonNegative(input, 'costUsd', errors);
  let success: boolean | null = null;
  if (!absent(input.success)) {
    if (typeof input.success !== 'boolean') errors.push({ field: 'success', message: 'must be a boolean' });
    else success = input.success;
  }
  const score = checkScore(input, rules?.scoreRange ?? null, errors);
  let error: string | null = null;
  if (!absent(input.error)) {
    if (typeof input.error !== 'string' || input.error.length > MAX_ERROR_LENGTH) {
      errors.push({ field: 'error', message: `must be a string of at most ${MAX_ERROR_LENGTH} characters` });
    } else if (input.error.length > 0) error = input.error;
  }
  const metrics = checkMetrics(input, rules?.customMetrics ?? null, errors);

  if (errors.length > 0 || !experimentId || variant === null) {
    return { ok: false, errors: errors.length ? errors : [{ field: 'experiment', message: 'could not be resolved' }] };
  }
  const computed = givenCost === null ? computeCost(rules!.pricing.get(variant), inputTokens, outputTokens) : null;
  return {
    ok: true,
    value: {
      experimentId,
      eventId: id as string,
      phase,
      unitId: unitId as string,
      variant,
      at: new Date(at).toISOString(),
      latencyMs,
      ttftMs,
      inputTokens,
      outputTokens,
      costUsd: givenCost ?? computed,
      costComputed: givenCost === null && computed !== null,
      success,
      score,
      error,
      metrics,
    },
  };
}

/** Checks one late-feedback item; ranges are checked per experiment by the worker, which knows the event. */
export function validateFeedback(input: unknown): Checked<FeedbackRecord> {
  if (!isPlainObject(input)) return { ok: false, errors: [{ field: '', message: 'must be an object' }] };
  const errors: FieldError[] = [];
  unknownFields(input, FEEDBACK_FIELDS, errors);
  const eventId = input.eventId;
  if (typeof eventId !== 'string' || eventId.length < 1 || eventId.length > 128) {
    errors.push({ field: 'eventId', message: 'is required: the id of an event of 1-128 characters' });
  }
  const record: FeedbackRecord = { eventId: eventId as string };
  if (!absent(input.success)) {
    if (typeof input.success !== 'boolean') errors.push({ field: 'success', message: 'must be a boolean' });
    else record.success = input.success;
  }
  const score = checkScore(input, null, errors);
  if (score !== null) record.score = score;
  const metrics = checkMetrics(input, null, errors);
  if (metrics) record.metrics = metrics;
  if (errors.length === 0 && record.success === undefined && record.score === undefined && !record.metrics) {
    errors.push({ field: 'eventId', message: 'carries no feedback: send success, score or metrics' });
  }
  return errors.length ? { ok: false, errors } : { ok: true, value: record };
}
