import type { SnapshotIndex } from '../assignment/core/assign';
import type { FieldError } from '../errors/domain-error';
import { checkBatch } from '../errors/body-checks';
import type { FeedbackRecord, OutcomeRecord } from '../queue/queues';
import { computeCost, type ExperimentOutcomeRules } from './outcome-rules';
import {
  BASELINE_EXPERIMENT_ID,
  BASELINE_VARIANT,
  checkFeedbackItem,
  checkOutcomeEvent,
  costIssue,
  defaultWindow,
  experimentWindow,
  isPlainRecord,
  type StorableOutcomeEvent,
} from '../storable/storable';

/** What validating one event needs from the project: the snapshot (assignment) and the rules (ranges, prices, creation time). */
export interface ValidationContext {
  index: SnapshotIndex;
  ids: ReadonlyMap<string, string>;
  rules: (experimentKey: string) => ExperimentOutcomeRules | undefined;
  now: number;
}

/**
 * The assignment under which the gateway itself served a call (issue 17): its outcome keeps
 * that variant and phase even when a ramp step, a reallocation or a rollback moved the unit
 * while the call was in flight. Never taken from a client's body.
 */
export interface ServedAs {
  variant: string;
  phase: number;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

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
 * Checks one outcome event: first what can be stored (libs/storable/storable.ts, the
 * definition the worker and the SDK share), then against the project's snapshot and rules
 * (experiment running, the unit's variant, declared metrics, score range, not before the
 * experiment was created), and resolves its variant, phase and cost. Every problem is
 * reported, so a client can fix them at once.
 */
export function validateOutcome(input: unknown, ctx: ValidationContext, servedAs?: ServedAs): Checked<OutcomeRecord> {
  if (!isPlainRecord(input)) return { ok: false, errors: [{ field: '', message: 'must be an object' }] };
  const errors: FieldError[] = [];
  // The experiment first: its creation time bounds the timestamp, its declarations the metrics.
  const key = input.experiment;
  const experimentId = typeof key === 'string' ? ctx.ids.get(key) : undefined;
  const rules = experimentId !== undefined ? ctx.rules(key as string) : undefined;
  const window = rules ? experimentWindow(rules.createdAt, ctx.now) : defaultWindow(ctx.now);
  const event = checkOutcomeEvent(input, window, errors, rules?.customMetrics ?? null)!;
  if (event.experiment === null) return baselineOutcome(event, errors, ctx.now);
  if (event.experiment !== null && (!experimentId || !rules)) {
    errors.push({ field: 'experiment', message: `no experiment "${event.experiment}" in this project` });
  }
  if (!experimentId || !rules) return { ok: false, errors };

  let variant: string | null = null;
  let phase = 0;
  const snapshot = ctx.index.get(key as string)!;
  if (snapshot.state !== 'running') {
    errors.push({ field: 'experiment', message: `is ${snapshot.state}: outcomes are recorded only while it runs` });
  } else if (event.unitId !== null) {
    const given = event.variant;
    const assignment = ctx.index.assign(snapshot.key, event.unitId);
    phase = assignment.phase;
    if (event.shadowOf !== null) {
      // A shadow outcome (docs/adr/0031): the shadow variant answered a copy of a call served to a unit of the experiment.
      if (rules.shadowVariant === null) errors.push({ field: 'shadowOf', message: 'the experiment has no shadow variant' });
      else if (given !== rules.shadowVariant) errors.push({ field: 'variant', message: `must be the experiment's shadow variant "${rules.shadowVariant}" for a shadow outcome` });
      else if (!assignment.inExperiment && assignment.reason !== 'forced') errors.push({ field: 'unitId', message: `is not in the experiment (${assignment.reason})` });
      else variant = given;
    } else if (servedAs !== undefined) {
      // Served by the gateway under `servedAs`: a call in flight finishes, and is measured, where it started.
      if (given !== servedAs.variant || !snapshot.variants.some((v) => v.key === given)) {
        errors.push({ field: 'variant', message: `is "${String(given)}" but the call was served by "${servedAs.variant}"` });
      } else {
        variant = given;
        phase = servedAs.phase;
      }
    } else if (assignment.reason === 'forced') {
      // A QA override: the unit may report the variant it was made to see, or any variant of the experiment.
      variant = given ?? assignment.variant;
      if (!snapshot.variants.some((v) => v.key === variant)) {
        errors.push({ field: 'variant', message: `"${String(given)}" is not a variant of the experiment` });
      }
    } else if (!assignment.inExperiment) {
      errors.push({ field: 'unitId', message: `is not in the experiment (${assignment.reason})` });
    } else if (given !== null && given !== assignment.variant) {
      errors.push({ field: 'variant', message: `is "${given}" but the unit is assigned "${assignment.variant}"` });
    } else {
      variant = assignment.variant;
    }
  }
  const range = rules.scoreRange;
  if (event.score !== null && (event.score < range.min || event.score > range.max)) {
    errors.push({ field: 'score', message: `must lie in the experiment's scoreRange [${range.min}, ${range.max}]` });
  }
  const computed = event.costUsd === null && variant !== null ? computeCost(rules.pricing.get(variant), event.inputTokens, event.outputTokens) : null;
  const computedIssue = computed === null ? null : costIssue(computed);
  if (computedIssue) errors.push({ field: 'costUsd', message: computedIssue });

  if (errors.length > 0 || variant === null) {
    return { ok: false, errors: errors.length ? errors : [{ field: 'experiment', message: 'could not be resolved' }] };
  }
  return {
    ok: true,
    value: {
      experimentId,
      eventId: event.id!,
      phase,
      unitId: event.unitId!,
      variant,
      at: new Date(event.at ?? ctx.now).toISOString(),
      latencyMs: event.latencyMs,
      ttftMs: event.ttftMs,
      inputTokens: event.inputTokens,
      outputTokens: event.outputTokens,
      costUsd: event.costUsd ?? computed,
      costComputed: event.costUsd === null && computed !== null,
      success: event.success,
      score: event.score,
      error: event.error,
      metrics: event.metrics,
      ...(event.shadowOf !== null ? { shadowOf: event.shadowOf, exactMatch: event.exactMatch, jsonMatch: event.jsonMatch } : {}),
    },
  };
}

/**
 * An outcome with no experiment: baseline traffic logged before (or beside) any test, kept as
 * pre-exposure data for CUPED (docs/cuped.md). It has no variant and is priced by no variant.
 */
function baselineOutcome(event: StorableOutcomeEvent, errors: FieldError[], now: number): Checked<OutcomeRecord> {
  if (event.variant !== null) errors.push({ field: 'variant', message: 'needs an experiment: an outcome without one is baseline logging' });
  if (event.shadowOf !== null) errors.push({ field: 'shadowOf', message: 'needs an experiment with a shadow variant' });
  if (errors.length) return { ok: false, errors };
  return {
    ok: true,
    value: {
      experimentId: BASELINE_EXPERIMENT_ID,
      eventId: event.id!,
      phase: 0,
      unitId: event.unitId!,
      variant: BASELINE_VARIANT,
      at: new Date(event.at ?? now).toISOString(),
      latencyMs: event.latencyMs,
      ttftMs: event.ttftMs,
      inputTokens: event.inputTokens,
      outputTokens: event.outputTokens,
      costUsd: event.costUsd,
      costComputed: false,
      success: event.success,
      score: event.score,
      error: event.error,
      metrics: event.metrics,
    },
  };
}

/** Checks one late-feedback item (the storable definition); ranges are checked per experiment by the worker, which knows the event. */
export function validateFeedback(input: unknown): Checked<FeedbackRecord> {
  const checked = checkFeedbackItem(input);
  return checked.ok ? { ok: true, value: checked.item } : { ok: false, errors: checked.issues };
}
