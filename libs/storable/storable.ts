/**
 * What Postgres and the aggregates can hold, one definition per ingested shape (outcome
 * event, feedback item, exposure), used by the HTTP validators, the worker's job schemas,
 * dead-letter re-drives and the SDK (docs/adr/0015). Accepted means storable:
 * - strings: well-formed UTF-16 (no lone surrogate: node-pg would write U+FFFD instead, and
 *   jsonb refuses the escape) and no NUL (text and jsonb refuse it), within a length;
 * - numbers: finite, within their column, and either 0 or of a magnitude whose square and
 *   sums of squares over billions of events stay finite and non-zero in float8 (Postgres
 *   raises an error on a product that overflows or underflows to 0);
 * - times: in a window that has a partition, from before the experiment existed (less
 *   clock skew) to 5 minutes ahead.
 *
 * Pure: no imports at all, because the SDK ships this file (libs/sdk/tsconfig.json).
 */

/** A problem with one field; the same shape as the API's FieldError. */
export interface StorableIssue {
  field: string;
  message: string;
}

/** The documented limits (README, "Limits"). */
export const STORABLE_LIMITS = {
  eventIdLength: 128,
  unitIdLength: 256,
  /** Experiment and variant keys (apps/api/http/keys.ts allows 64). */
  keyLength: 64,
  errorLength: 256,
  metricNameLength: 64,
  metricsPerItem: 64,
  timestampLength: 64,
  /** Latency and time to first token: one day in ms. Squares 7.5e15, sums over 1e12 events 7.5e27. */
  maxDurationMs: 86_400_000,
  /** Per event: far beyond any model's context; a unit's int8 sum holds 9.2e9 such events. */
  maxTokens: 1_000_000_000,
  /** Per event. */
  maxCostUsd: 1_000_000,
  /** Scores and custom metrics, either sign. */
  maxMagnitude: 1e12,
  /** Below this (other than 0), a product of two sums underflows to 0 and Postgres raises an error. */
  minMagnitude: 1e-100,
  /** Exposures of one unit counted in one record (the API coalesces repeats for 200 ms). */
  maxExposureCount: 1_000_000_000,
  maxPhase: 2_147_483_647,
  /** Clock skew tolerated on both ends of the time window. */
  clockSkewMs: 5 * 60_000,
  /** No event predates this, whatever the experiment: the floor where no creation time is known (SDK, worker). */
  earliestTime: Date.UTC(2000, 0, 1),
} as const;

const L = STORABLE_LIMITS;

/** A cheap first pass (one precompiled scan); the pairing check runs only when it hits. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what it looks for
const SUSPECT = /[\u0000\ud800-\udfff]/;

/** Why a string cannot be stored as text or a jsonb string, or null when it can. */
export function textIssue(s: string): string | null {
  if (!SUSPECT.test(s)) return null;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0) return `must not contain NUL (U+0000, at index ${i})`;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return `must be well-formed Unicode (lone surrogate at index ${i})`;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return `must be well-formed Unicode (lone surrogate at index ${i})`;
    }
  }
  return null;
}

export function isStorableText(s: string): boolean {
  return textIssue(s) === null;
}

/** A field name built from client input (a metric name) kept short and printable in messages. */
export function fieldName(prefix: string, key: string): string {
  const shown = key.length > L.metricNameLength ? `${key.slice(0, L.metricNameLength)}…` : key;
  return `${prefix}.${isStorableText(shown) ? shown : JSON.stringify(shown).slice(1, -1)}`;
}

type Raw = Record<string, unknown>;
const absent = (v: unknown) => v === undefined || v === null;

export function isPlainRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string of `min`-`max` characters that text columns hold. */
export function checkText(value: unknown, field: string, min: number, max: number, issues: StorableIssue[], what = 'is required: a string'): string | null {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    issues.push({ field, message: `${what} of ${min}-${max} characters` });
    return null;
  }
  const issue = textIssue(value);
  if (issue) {
    issues.push({ field, message: issue });
    return null;
  }
  return value;
}

function magnitudeIssue(v: number): string | null {
  if (v !== 0 && Math.abs(v) < L.minMagnitude) return `must be 0 or of magnitude at least ${L.minMagnitude}`;
  return null;
}

/** Latency or time to first token in ms: null when absent. */
export function checkDuration(value: unknown, field: string, issues: StorableIssue[]): number | null {
  if (absent(value)) return null;
  if (typeof value !== 'number' || !(value >= 0 && value <= L.maxDurationMs)) {
    issues.push({ field, message: `must be a number from 0 to ${L.maxDurationMs} (one day in ms)` });
    return null;
  }
  const issue = magnitudeIssue(value);
  if (issue) issues.push({ field, message: issue });
  return issue ? null : value;
}

export function checkTokens(value: unknown, field: string, issues: StorableIssue[]): number | null {
  if (absent(value)) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > L.maxTokens) {
    issues.push({ field, message: `must be an integer from 0 to ${L.maxTokens}` });
    return null;
  }
  return value;
}

export function checkCost(value: unknown, field: string, issues: StorableIssue[]): number | null {
  if (absent(value)) return null;
  if (typeof value !== 'number' || !(value >= 0 && value <= L.maxCostUsd)) {
    issues.push({ field, message: `must be a number from 0 to ${L.maxCostUsd} (USD per event)` });
    return null;
  }
  const issue = magnitudeIssue(value);
  if (issue) issues.push({ field, message: issue });
  return issue ? null : value;
}

/** A cost the service computes (from a variant's prices): the same bounds as one a client sends. */
export function costIssue(value: number): string | null {
  if (!(value >= 0 && value <= L.maxCostUsd)) return `computed from the variant's pricing is ${value}, beyond ${L.maxCostUsd} USD per event`;
  return magnitudeIssue(value);
}

/** A score or a custom metric value: any sign, bounded magnitude. */
export function checkMeasure(value: unknown, field: string, issues: StorableIssue[]): number | null {
  if (absent(value)) return null;
  if (typeof value !== 'number' || !(Math.abs(value) <= L.maxMagnitude)) {
    issues.push({ field, message: `must be a finite number of magnitude at most ${L.maxMagnitude}` });
    return null;
  }
  const issue = magnitudeIssue(value);
  if (issue) issues.push({ field, message: issue });
  return issue ? null : value;
}

export function checkBoolean(value: unknown, field: string, issues: StorableIssue[]): boolean | null {
  if (absent(value)) return null;
  if (typeof value !== 'boolean') {
    issues.push({ field, message: 'must be a boolean' });
    return null;
  }
  return value;
}

/**
 * Custom metrics, name -> number: names are storable strings of 1-64 characters (jsonb
 * keys and outcome_unit_metric.metric), at most 64 per item. `declared` (the API, which
 * knows the experiment) refuses names the experiment does not declare. Null when absent or empty.
 */
export function checkMetrics(value: unknown, field: string, issues: StorableIssue[], declared: ReadonlySet<string> | null = null): Record<string, number> | null {
  if (absent(value)) return null;
  if (!isPlainRecord(value)) {
    issues.push({ field, message: 'must be an object of metric name -> number' });
    return null;
  }
  const names = Object.keys(value);
  if (names.length > L.metricsPerItem) {
    issues.push({ field, message: `must hold at most ${L.metricsPerItem} metrics` });
    return null;
  }
  const before = issues.length;
  const out: Record<string, number> = {};
  for (const name of names) {
    const mark = issues.length;
    const at = fieldName(field, name);
    if (declared) {
      if (!declared.has(name)) {
        issues.push({ field: at, message: `is not declared in the experiment's metrics.custom` });
        continue;
      }
    } else if (name.length < 1 || name.length > L.metricNameLength) {
      issues.push({ field: at, message: `is not a metric name: 1-${L.metricNameLength} characters` });
      continue;
    } else {
      const issue = textIssue(name);
      if (issue) {
        issues.push({ field: at, message: `is not a metric name: ${issue}` });
        continue;
      }
    }
    const x = checkMeasure(value[name], at, issues);
    if (x === null && issues.length === mark) issues.push({ field: at, message: 'must be a finite number' });
    if (x !== null) out[name] = x;
  }
  return issues.length === before && names.length > 0 ? out : null;
}

/** Times an item may carry: from `notBefore` to `notAfter` (epoch ms). */
export interface TimeWindow {
  notBefore: number;
  notAfter: number;
}

/** The window where nothing but the clock is known (the SDK, the worker): 2000-01-01 to 5 minutes after `now`. */
export function defaultWindow(now: number): TimeWindow {
  return { notBefore: L.earliestTime, notAfter: now + L.clockSkewMs };
}

/** The window of an experiment created at `createdAt` (less clock skew), as the API checks it. */
export function experimentWindow(createdAt: number, now: number): TimeWindow {
  return { notBefore: Math.max(L.earliestTime, createdAt - L.clockSkewMs), notAfter: now + L.clockSkewMs };
}

/** An ISO-8601 time within the window, as epoch ms; null when absent (or bad: then an issue names it). */
export function checkTime(value: unknown, field: string, window: TimeWindow, issues: StorableIssue[]): number | null {
  if (absent(value)) return null;
  const ms = typeof value === 'string' && value.length <= L.timestampLength ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) {
    issues.push({ field, message: 'must be an ISO-8601 date-time' });
    return null;
  }
  if (ms > window.notAfter) {
    issues.push({ field, message: `is more than ${L.clockSkewMs / 60_000} minutes in the future` });
    return null;
  }
  if (ms < window.notBefore) {
    const what = window.notBefore > L.earliestTime ? 'before the experiment was created' : 'before 2000-01-01';
    issues.push({ field, message: `is ${what} (earliest ${new Date(window.notBefore).toISOString()})` });
    return null;
  }
  return ms;
}

function unknownFields(raw: Raw, allowed: ReadonlySet<string>, issues: StorableIssue[], prefix = ''): void {
  for (const key of Object.keys(raw)) if (!allowed.has(key)) issues.push({ field: prefix + key, message: 'is not a known field' });
}

// ---------------------------------------------------------------- outcome events

const OUTCOME_FIELDS: ReadonlySet<string> = new Set([
  'id', 'experiment', 'unitId', 'variant', 'timestamp', 'latencyMs', 'ttftMs', 'inputTokens', 'outputTokens',
  'costUsd', 'success', 'score', 'error', 'metrics', 'shadowOf', 'exactMatch', 'jsonMatch',
]);

/** An outcome event as a client sends it, its storable values normalised. */
export interface StorableOutcomeEvent {
  id: string | null;
  experiment: string | null;
  unitId: string | null;
  variant: string | null;
  /** Epoch ms, or null when the client sent none (the receipt time is used). */
  at: number | null;
  latencyMs: number | null;
  ttftMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  costUsd: number | null;
  success: boolean | null;
  score: number | null;
  error: string | null;
  metrics: Record<string, number> | null;
  /** A shadow outcome (docs/adr/0031): the event id of the served call it copies; null for an ordinary outcome. */
  shadowOf: string | null;
  /** Shadow outcomes only: the final texts of both answers are equal; null when unknown. */
  exactMatch: boolean | null;
  /** Shadow outcomes only: both answers are JSON and equal once parsed; null when either is not JSON or unknown. */
  jsonMatch: boolean | null;
}

/** The shadow fields of an outcome (event or record): `shadowOf` an event id; the two match flags only with it. */
function checkShadowFields(input: Raw, issues: StorableIssue[]): { shadowOf: string | null; exactMatch: boolean | null; jsonMatch: boolean | null } {
  const shadowOf = absent(input.shadowOf) ? null : checkText(input.shadowOf, 'shadowOf', 1, L.eventIdLength, issues, 'must be the event id of the served call');
  const exactMatch = checkBoolean(input.exactMatch, 'exactMatch', issues);
  const jsonMatch = checkBoolean(input.jsonMatch, 'jsonMatch', issues);
  if (absent(input.shadowOf)) {
    if (exactMatch !== null) issues.push({ field: 'exactMatch', message: 'is for shadow outcomes only (with shadowOf)' });
    if (jsonMatch !== null) issues.push({ field: 'jsonMatch', message: 'is for shadow outcomes only (with shadowOf)' });
  }
  return { shadowOf, exactMatch, jsonMatch };
}

/**
 * The outcome event of POST /v1/outcomes (and of the SDK's track()): every field a client
 * may send, checked for what can be stored. The API adds what needs the experiment
 * (running, the unit's variant, declared metrics, score range); the SDK sends what passes.
 * Pushes one issue per bad field and returns the values, null where a field is absent or
 * bad: the event is storable only when no issue was pushed (null for a non-object).
 */
export function checkOutcomeEvent(
  input: unknown,
  window: TimeWindow,
  issues: StorableIssue[],
  declaredMetrics: ReadonlySet<string> | null = null,
): StorableOutcomeEvent | null {
  if (!isPlainRecord(input)) {
    issues.push({ field: '', message: 'must be an object' });
    return null;
  }
  unknownFields(input, OUTCOME_FIELDS, issues);
  const id = checkText(input.id, 'id', 1, L.eventIdLength, issues, 'is required: an idempotency id');
  // No experiment: a baseline outcome, kept only as pre-exposure data for CUPED (docs/cuped.md).
  const experiment = absent(input.experiment) ? null : checkText(input.experiment, 'experiment', 1, L.keyLength, issues, 'must be a string');
  const unitId = checkText(input.unitId, 'unitId', 1, L.unitIdLength, issues);
  const variant = absent(input.variant) ? null : checkText(input.variant, 'variant', 1, L.keyLength, issues, 'must be a string');
  const at = checkTime(input.timestamp, 'timestamp', window, issues);
  const latencyMs = checkDuration(input.latencyMs, 'latencyMs', issues);
  const ttftMs = checkDuration(input.ttftMs, 'ttftMs', issues);
  const inputTokens = checkTokens(input.inputTokens, 'inputTokens', issues);
  const outputTokens = checkTokens(input.outputTokens, 'outputTokens', issues);
  const costUsd = checkCost(input.costUsd, 'costUsd', issues);
  const success = checkBoolean(input.success, 'success', issues);
  const score = checkMeasure(input.score, 'score', issues);
  let error: string | null = null;
  if (!absent(input.error)) {
    const text = checkText(input.error, 'error', 0, L.errorLength, issues, 'must be a string');
    if (text) error = text;
  }
  const metrics = checkMetrics(input.metrics, 'metrics', issues, declaredMetrics);
  const shadow = checkShadowFields(input, issues);
  return { id, experiment, unitId, variant, at, latencyMs, ttftMs, inputTokens, outputTokens, costUsd, success, score, error, metrics, ...shadow };
}

/** An outcome event as the API enqueues it (libs/queue/queues.ts OutcomeRecord), checked again by the worker. */
export interface StorableOutcomeRecord {
  experimentId: string;
  /** The client's idempotency id: unique per experiment. */
  eventId: string;
  phase: number;
  unitId: string;
  variant: string;
  /** ISO-8601 time of the event (the partition key). */
  at: string;
  latencyMs: number | null;
  ttftMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  /** Null when neither given nor computable from the variant's pricing: unknown, never zero. */
  costUsd: number | null;
  costComputed: boolean;
  success: boolean | null;
  score: number | null;
  error: string | null;
  metrics: Record<string, number> | null;
  /** Present on shadow outcomes only (docs/adr/0031): the served call's event id; stored in shadow_outcome, not outcome_event. */
  shadowOf?: string;
  exactMatch?: boolean | null;
  jsonMatch?: boolean | null;
}

/**
 * Outcomes sent with no experiment (baseline logging, docs/cuped.md) are stored under this
 * experiment id, phase 0 and this variant: the same idempotency and raw storage as every event,
 * but no experiment's aggregates; only the per-unit daily baseline sums CUPED reads.
 */
export const BASELINE_EXPERIMENT_ID = '00000000-0000-0000-0000-000000000000';
export const BASELINE_VARIANT = '-';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function checkUuid(value: unknown, field: string, issues: StorableIssue[]): string | null {
  if (typeof value !== 'string' || !UUID.test(value)) {
    issues.push({ field, message: 'must be a UUID' });
    return null;
  }
  return value;
}

function checkPhase(value: unknown, field: string, issues: StorableIssue[]): number | null {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > L.maxPhase) {
    issues.push({ field, message: `must be an integer from 0 to ${L.maxPhase}` });
    return null;
  }
  return value;
}

/** A record's time: required, within the window, normalised to UTC ISO-8601. */
function checkRecordTime(value: unknown, field: string, window: TimeWindow, issues: StorableIssue[]): string | null {
  if (absent(value)) {
    issues.push({ field, message: 'is required: an ISO-8601 date-time' });
    return null;
  }
  const ms = checkTime(value, field, window, issues);
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * An outcome record of a queued job: what the worker writes (and a dead letter re-drive
 * sends again). The same field rules as checkOutcomeEvent; the window is the one where no
 * experiment is known: 2000-01-01 to 5 minutes after the job was received.
 */
export function checkOutcomeRecord(input: unknown, window: TimeWindow): { ok: true; record: StorableOutcomeRecord } | { ok: false; issues: StorableIssue[] } {
  const issues: StorableIssue[] = [];
  if (!isPlainRecord(input)) return { ok: false, issues: [{ field: '', message: 'must be an object' }] };
  const experimentId = checkUuid(input.experimentId, 'experimentId', issues);
  const eventId = checkText(input.eventId, 'eventId', 1, L.eventIdLength, issues);
  const phase = checkPhase(input.phase, 'phase', issues);
  const unitId = checkText(input.unitId, 'unitId', 1, L.unitIdLength, issues);
  const variant = checkText(input.variant, 'variant', 1, L.keyLength, issues);
  const at = checkRecordTime(input.at, 'at', window, issues);
  const latencyMs = checkDuration(input.latencyMs, 'latencyMs', issues);
  const ttftMs = checkDuration(input.ttftMs, 'ttftMs', issues);
  const inputTokens = checkTokens(input.inputTokens, 'inputTokens', issues);
  const outputTokens = checkTokens(input.outputTokens, 'outputTokens', issues);
  const costUsd = checkCost(input.costUsd, 'costUsd', issues);
  const costComputed = input.costComputed === true;
  if (typeof input.costComputed !== 'boolean') issues.push({ field: 'costComputed', message: 'must be a boolean' });
  const success = checkBoolean(input.success, 'success', issues);
  const score = checkMeasure(input.score, 'score', issues);
  const error = absent(input.error) ? null : checkText(input.error, 'error', 0, L.errorLength, issues, 'must be a string');
  const metrics = checkMetrics(input.metrics, 'metrics', issues);
  const shadow = checkShadowFields(input, issues);
  if (issues.length) return { ok: false, issues };
  const record: StorableOutcomeRecord = {
    experimentId: experimentId!, eventId: eventId!, phase: phase!, unitId: unitId!, variant: variant!, at: at!, latencyMs, ttftMs,
    inputTokens, outputTokens, costUsd, costComputed, success, score, error: error || null, metrics,
  };
  if (shadow.shadowOf !== null) Object.assign(record, shadow);
  return { ok: true, record };
}

// ---------------------------------------------------------------- feedback

const FEEDBACK_FIELDS: ReadonlySet<string> = new Set(['eventId', 'success', 'score', 'metrics']);

/** Late feedback, the same shape from the client to the worker. */
export interface StorableFeedback {
  eventId: string;
  success?: boolean;
  score?: number;
  metrics?: Record<string, number>;
}

/**
 * A feedback item of POST /v1/feedback, of a queued job and of a re-drive. Score ranges and
 * declared metrics are the worker's business (it knows the event's experiment).
 */
export function checkFeedbackItem(input: unknown): { ok: true; item: StorableFeedback } | { ok: false; issues: StorableIssue[] } {
  if (!isPlainRecord(input)) return { ok: false, issues: [{ field: '', message: 'must be an object' }] };
  const issues: StorableIssue[] = [];
  unknownFields(input, FEEDBACK_FIELDS, issues);
  const eventId = checkText(input.eventId, 'eventId', 1, L.eventIdLength, issues, 'is required: the id of an event');
  const item: StorableFeedback = { eventId: eventId! };
  const success = checkBoolean(input.success, 'success', issues);
  if (success !== null) item.success = success;
  const score = checkMeasure(input.score, 'score', issues);
  if (score !== null) item.score = score;
  const metrics = checkMetrics(input.metrics, 'metrics', issues);
  if (metrics) item.metrics = metrics;
  if (issues.length === 0 && item.success === undefined && item.score === undefined && !item.metrics) {
    issues.push({ field: 'eventId', message: 'carries no feedback: send success, score or metrics' });
  }
  return issues.length ? { ok: false, issues } : { ok: true, item };
}

// ---------------------------------------------------------------- covariates

/** A client-supplied CUPED covariate (POST /v1/covariates): one value per unit and metric, for example a historical score. */
export interface StorableCovariate {
  unitId: string;
  metric: string;
  value: number;
}

const COVARIATE_FIELDS: ReadonlySet<string> = new Set(['unitId', 'metric', 'value']);

/** `metrics`: the names a covariate may be given for (the registry's built-in sum metrics). */
export function checkCovariateItem(input: unknown, metrics: ReadonlySet<string>): { ok: true; item: StorableCovariate } | { ok: false; issues: StorableIssue[] } {
  const issues: StorableIssue[] = [];
  if (!isPlainRecord(input)) return { ok: false, issues: [{ field: '', message: 'must be an object' }] };
  unknownFields(input, COVARIATE_FIELDS, issues);
  const unitId = checkText(input.unitId, 'unitId', 1, L.unitIdLength, issues);
  const metric = checkText(input.metric, 'metric', 1, L.metricNameLength, issues);
  if (metric !== null && !metrics.has(metric)) issues.push({ field: 'metric', message: `must be one of ${[...metrics].join(', ')}` });
  const value = absent(input.value) ? (issues.push({ field: 'value', message: 'is required: a number' }), null) : checkMeasure(input.value, 'value', issues);
  return issues.length ? { ok: false, issues } : { ok: true, item: { unitId: unitId!, metric: metric!, value: value! } };
}

// ---------------------------------------------------------------- exposures

/** An exposure as a client reports it (POST /v1/exposures, the SDK); phase and variant are checked against the snapshot by the API. */
export interface StorableExposureEvent {
  experiment: string;
  unitId: string;
  variant: string;
  /** Epoch ms, or null: the receipt time. */
  at: number | null;
}

const EXPOSURE_FIELDS: ReadonlySet<string> = new Set(['experiment', 'unitId', 'variant', 'phase', 'timestamp']);

export function checkExposureEvent(input: unknown, window: TimeWindow, issues: StorableIssue[]): StorableExposureEvent | null {
  if (!isPlainRecord(input)) {
    issues.push({ field: '', message: 'must be an object' });
    return null;
  }
  const before = issues.length;
  unknownFields(input, EXPOSURE_FIELDS, issues);
  const experiment = checkText(input.experiment, 'experiment', 1, L.keyLength, issues);
  const unitId = checkText(input.unitId, 'unitId', 1, L.unitIdLength, issues);
  const variant = checkText(input.variant, 'variant', 1, L.keyLength, issues);
  if (!absent(input.phase)) checkPhase(input.phase, 'phase', issues);
  const at = checkTime(input.timestamp, 'timestamp', window, issues);
  return issues.length > before ? null : { experiment: experiment!, unitId: unitId!, variant: variant!, at };
}

/** A unit id of /v1/assign, /v1/assign/batch and the SDK's assign(): what the exposure it logs will store. */
export function unitIdIssue(unitId: string): string | null {
  if (unitId.length < 1 || unitId.length > L.unitIdLength) return `must be longer than or equal to 1 and shorter than or equal to ${L.unitIdLength} characters`;
  return textIssue(unitId);
}

/** An exposure record of a queued job (libs/queue/queues.ts ExposureRecord). */
export interface StorableExposureRecord {
  projectId: string;
  experimentId: string;
  unitId: string;
  variant: string;
  phase: number;
  /** ISO-8601 time of the exposure. */
  at: string;
  /** How many times this unit was seen in the batch window (repeats are counted, never new units). */
  count?: number;
}

export function checkExposureRecord(input: unknown, window: TimeWindow): { ok: true; record: StorableExposureRecord } | { ok: false; issues: StorableIssue[] } {
  if (!isPlainRecord(input)) return { ok: false, issues: [{ field: '', message: 'must be an object' }] };
  const issues: StorableIssue[] = [];
  const projectId = checkUuid(input.projectId, 'projectId', issues);
  const experimentId = checkUuid(input.experimentId, 'experimentId', issues);
  const unitId = checkText(input.unitId, 'unitId', 1, L.unitIdLength, issues);
  const variant = checkText(input.variant, 'variant', 1, L.keyLength, issues);
  const phase = checkPhase(input.phase, 'phase', issues);
  const at = checkRecordTime(input.at, 'at', window, issues);
  const count = input.count;
  if (!absent(count) && (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > L.maxExposureCount)) {
    issues.push({ field: 'count', message: `must be an integer from 1 to ${L.maxExposureCount}` });
  }
  if (issues.length) return { ok: false, issues };
  const record: StorableExposureRecord = { projectId: projectId!, experimentId: experimentId!, unitId: unitId!, variant: variant!, phase: phase!, at: at! };
  if (typeof count === 'number') record.count = count;
  return { ok: true, record };
}

/** Issues as one line, for a dead letter's reason or an SDK error. */
export function describeIssues(issues: readonly StorableIssue[]): string {
  return issues.map((i) => (i.field ? `${i.field}: ${i.message}` : i.message)).join('; ');
}
