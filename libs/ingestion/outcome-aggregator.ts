import { bucketIndex } from '../stats/log-histogram';
import type { OutcomeRecord } from '../queue/queues';
import { DailyDeltas, type DailyKey, type DailySums, SUM, zeroSums } from './daily-aggregate';

/**
 * Per-unit sums, the unit of analysis: columns of outcome_unit. The metric registry
 * (libs/metrics) names which of them make each metric's numerator and denominator;
 * outcome-aggregator.spec.ts checks that this file fills them as the registry defines.
 */
export const UNIT_COLUMNS = [
  'events', 'success_n', 'successes', 'score_n', 'score_sum', 'score_sumsq', 'latency_n', 'latency_sum', 'latency_sumsq',
  'ttft_n', 'ttft_sum', 'ttft_sumsq', 'cost_n', 'cost_sum', 'cost_sumsq', 'cost_unknown', 'input_tokens', 'output_tokens', 'errors',
  'input_tokens_n', 'output_tokens_n',
] as const;
export type UnitColumn = (typeof UNIT_COLUMNS)[number];
export const INTEGER_UNIT_COLUMNS = new Set<UnitColumn>([
  'events', 'success_n', 'successes', 'score_n', 'latency_n', 'ttft_n', 'cost_n', 'cost_unknown', 'input_tokens', 'output_tokens', 'errors',
  'input_tokens_n', 'output_tokens_n',
]);

/** Bookkeeping rows of outcome_moment; '$' keeps them apart from custom metric names ([a-z0-9_]). */
export const EVENTS_METRIC = '$events';
export const COST_UNKNOWN_METRIC = '$cost_unknown';
export const HISTOGRAM_METRICS = ['latency_ms', 'ttft_ms'] as const;

export interface UnitKey {
  experimentId: string;
  phase: number;
  variant: string;
  unitId: string;
}

/** The values late feedback may change: success, score and custom metrics. */
export interface Quality {
  success: boolean | null;
  score: number | null;
  metrics: Record<string, number> | null;
}

type VariantMoment = { experimentId: string; phase: number; variant: string; metric: string; m: Moment };

export interface Moment {
  n: number;
  sum: number;
  sumsq: number;
}

const SEP = '\u0000';
/** The UTC date of an ISO time; the API writes UTC ("...Z"), other offsets are converted. */
export const utcDay = (iso: string): string => (iso.length === 24 && iso.endsWith('Z') ? iso.slice(0, 10) : new Date(iso).toISOString().slice(0, 10));
export const unitKeyOf = (key: UnitKey): string => `${key.experimentId}${SEP}${key.phase}${SEP}${key.variant}${SEP}${key.unitId}`;

/** The daily-metric sums of one event with the given quality values (latency and error as sent; they never change). */
export function eventSums(e: { latencyMs: number | null; costUsd: number | null; error: boolean }, q: Quality): DailySums {
  const sums = zeroSums();
  sums[SUM.events] = 1;
  if (q.success !== null) {
    sums[SUM.success_n] = 1;
    sums[SUM.successes] = q.success ? 1 : 0;
  }
  if (q.score !== null) {
    sums[SUM.score_n] = 1;
    sums[SUM.score_sum] = q.score;
  }
  if (e.latencyMs !== null) {
    sums[SUM.latency_n] = 1;
    sums[SUM.latency_sum] = e.latencyMs;
  }
  if (e.costUsd !== null) {
    sums[SUM.cost_n] = 1;
    sums[SUM.cost_sum] = e.costUsd;
  }
  sums[SUM.errors] = e.error ? 1 : 0;
  return sums;
}

/** A literal (not Object.fromEntries): one is made per unit per batch, on the worker's hot path. */
const zeroUnit = (): Record<UnitColumn, number> => ({
  events: 0, success_n: 0, successes: 0, score_n: 0, score_sum: 0, score_sumsq: 0, latency_n: 0, latency_sum: 0, latency_sumsq: 0,
  ttft_n: 0, ttft_sum: 0, ttft_sumsq: 0, cost_n: 0, cost_sum: 0, cost_sumsq: 0, cost_unknown: 0, input_tokens: 0, output_tokens: 0, errors: 0,
  input_tokens_n: 0, output_tokens_n: 0,
});

/**
 * Deltas to the aggregates, built in memory from the events a batch actually inserted
 * (or from the change late feedback makes), then written with one upsert per table.
 * Adding in memory first means each aggregate row is touched once per batch.
 */
export class AggregateDeltas {
  readonly units = new Map<string, { key: UnitKey; v: Record<UnitColumn, number> }>();
  readonly unitMetrics = new Map<string, { key: UnitKey; metric: string; m: Moment }>();
  readonly moments = new Map<string, VariantMoment>();
  readonly histograms = new Map<string, { experimentId: string; phase: number; variant: string; metric: string; bucket: number; count: number }>();
  readonly daily = new DailyDeltas();
  /** Per unit, the time of its earliest new event: where its CUPED lookback window ends when no exposure is stored (docs/cuped.md). */
  readonly firstAt = new Map<string, string>();

  private unit(key: UnitKey, k = unitKeyOf(key)): Record<UnitColumn, number> {
    let found = this.units.get(k);
    if (!found) this.units.set(k, (found = { key, v: zeroUnit() }));
    return found.v;
  }

  /** Per variant (experiment, phase, variant), its moments by metric: looked up once per event, not once per metric. */
  private readonly variantMoments = new Map<string, Map<string, VariantMoment>>();

  private lastKey: UnitKey | null = null;
  private lastVariant: { vk: string; byMetric: Map<string, VariantMoment> } | null = null;

  private moment(key: UnitKey, metric: string, n: number, x: number, sign: number): void {
    if (key !== this.lastKey || !this.lastVariant) {
      const vk = `${key.experimentId}${SEP}${key.phase}${SEP}${key.variant}`;
      let found = this.variantMoments.get(vk);
      if (!found) this.variantMoments.set(vk, (found = new Map()));
      this.lastKey = key;
      this.lastVariant = { vk, byMetric: found };
    }
    const { vk, byMetric } = this.lastVariant;
    let m = byMetric.get(metric);
    if (!m) {
      m = { experimentId: key.experimentId, phase: key.phase, variant: key.variant, metric, m: { n: 0, sum: 0, sumsq: 0 } };
      byMetric.set(metric, m);
      this.moments.set(`${vk}${SEP}${metric}`, m);
    }
    m.m.n += sign * n;
    m.m.sum += sign * x;
    m.m.sumsq += sign * x * x;
  }

  private unitMetric(key: UnitKey, metric: string, x: number, sign: number): void {
    const k = `${key.experimentId}${SEP}${key.phase}${SEP}${key.variant}${SEP}${key.unitId}${SEP}${metric}`;
    let u = this.unitMetrics.get(k);
    if (!u) this.unitMetrics.set(k, (u = { key, metric, m: { n: 0, sum: 0, sumsq: 0 } }));
    u.m.n += sign;
    u.m.sum += sign * x;
    u.m.sumsq += sign * x * x;
  }

  private histogram(key: UnitKey, metric: string, value: number): void {
    const bucket = bucketIndex(value);
    const k = `${key.experimentId}${SEP}${key.phase}${SEP}${key.variant}${SEP}${metric}${SEP}${bucket}`;
    const h = this.histograms.get(k);
    if (h) h.count += 1;
    else this.histograms.set(k, { experimentId: key.experimentId, phase: key.phase, variant: key.variant, metric, bucket, count: 1 });
  }

  /** Adds (sign 1) or removes (sign -1) an event's feedback-changeable values. */
  private addQuality(key: UnitKey, q: Quality, sign: 1 | -1, u = this.unit(key)): void {
    if (q.success !== null) {
      const s = q.success ? 1 : 0;
      u.success_n += sign;
      u.successes += sign * s;
      this.moment(key, 'success_rate', 1, s, sign);
    }
    if (q.score !== null) {
      u.score_n += sign;
      u.score_sum += sign * q.score;
      u.score_sumsq += sign * q.score * q.score;
      this.moment(key, 'score', 1, q.score, sign);
    }
    for (const [name, x] of Object.entries(q.metrics ?? {})) {
      this.unitMetric(key, name, x, sign);
      this.moment(key, name, 1, x, sign);
    }
  }

  /**
   * Late feedback on one event: its quality goes from `before` to `after` (both effective
   * values). `event` is what the daily aggregate needs of the event itself.
   */
  changeQuality(key: UnitKey, event: { day: string; costUsd: number | null; requestUnits: boolean }, before: Quality, after: Quality): void {
    const k = unitKeyOf(key);
    const u = this.unit(key, k);
    this.addQuality(key, before, -1, u);
    this.addQuality(key, after, 1, u);
    const dayKey: DailyKey = { experimentId: key.experimentId, phase: key.phase, variant: key.variant, day: event.day };
    // Latency and error never change with feedback, so they are left out of both sides.
    const e = { latencyMs: null, costUsd: event.costUsd, error: false };
    if (event.requestUnits) this.daily.addEventChange(dayKey, eventSums(e, before), eventSums(e, after));
    else {
      this.daily.addUnitDay(k, dayKey, eventSums(e, before), -1);
      this.daily.addUnitDay(k, dayKey, eventSums(e, after), 1);
    }
  }

  /** A newly inserted event: everything it measures, once. Request units: each event is its own unit of the daily aggregate. */
  addEvent(e: OutcomeRecord, requestUnits: boolean): void {
    const key: UnitKey = { experimentId: e.experimentId, phase: e.phase, variant: e.variant, unitId: e.unitId };
    const dayKey: DailyKey = { experimentId: e.experimentId, phase: e.phase, variant: e.variant, day: utcDay(e.at) };
    const sums = eventSums({ latencyMs: e.latencyMs, costUsd: e.costUsd, error: e.error !== null }, e);
    // The unit's key string is built once per event, for the unit sums and the daily aggregate.
    const k = unitKeyOf(key);
    if (requestUnits) this.daily.addEventChange(dayKey, null, sums);
    else this.daily.addUnitDay(k, dayKey, sums, 1);
    const u = this.unit(key, k);
    const first = this.firstAt.get(k);
    if (first === undefined || e.at < first) this.firstAt.set(k, e.at);
    u.events += 1;
    this.moment(key, EVENTS_METRIC, 1, 0, 1);
    if (e.latencyMs !== null) {
      u.latency_n += 1;
      u.latency_sum += e.latencyMs;
      u.latency_sumsq += e.latencyMs * e.latencyMs;
      this.moment(key, 'latency_ms', 1, e.latencyMs, 1);
      this.histogram(key, 'latency_ms', e.latencyMs);
    }
    if (e.ttftMs !== null) {
      u.ttft_n += 1;
      u.ttft_sum += e.ttftMs;
      u.ttft_sumsq += e.ttftMs * e.ttftMs;
      this.moment(key, 'ttft_ms', 1, e.ttftMs, 1);
      this.histogram(key, 'ttft_ms', e.ttftMs);
    }
    if (e.costUsd !== null) {
      u.cost_n += 1;
      u.cost_sum += e.costUsd;
      u.cost_sumsq += e.costUsd * e.costUsd;
      this.moment(key, 'cost_usd', 1, e.costUsd, 1);
    } else {
      u.cost_unknown += 1;
      this.moment(key, COST_UNKNOWN_METRIC, 1, 0, 1);
    }
    // Token means divide by the events that reported tokens (failed calls often report none).
    if (e.inputTokens !== null) {
      u.input_tokens += e.inputTokens;
      u.input_tokens_n += 1;
      this.moment(key, 'input_tokens', 1, e.inputTokens, 1);
    }
    if (e.outputTokens !== null) {
      u.output_tokens += e.outputTokens;
      u.output_tokens_n += 1;
      this.moment(key, 'output_tokens', 1, e.outputTokens, 1);
    }
    const err = e.error !== null ? 1 : 0;
    u.errors += err;
    this.moment(key, 'error_rate', 1, err, 1);
    this.addQuality(key, e, 1, u);
  }

  get empty(): boolean {
    return this.units.size === 0 && this.moments.size === 0;
  }
}

/** Effective values of an event: the feedback's where given, else the event's own; metrics merge by name. */
export function effectiveQuality(original: Quality, feedback: Partial<Quality> | null): Quality {
  if (!feedback) return original;
  const merged = original.metrics || feedback.metrics ? { ...(original.metrics ?? {}), ...(feedback.metrics ?? {}) } : null;
  return {
    success: feedback.success ?? original.success,
    score: feedback.score ?? original.score,
    metrics: merged && Object.keys(merged).length ? merged : null,
  };
}

/**
 * The first aggregate delta that is not a finite number, named, or null. Bounded inputs
 * (libs/storable/storable.ts) cannot produce one; this catches what slipped past them
 * before float8 would store Infinity and poison every later result (docs/adr/0015).
 */
export function nonFiniteDelta(deltas: AggregateDeltas): string | null {
  for (const { v } of deltas.units.values()) for (const c of UNIT_COLUMNS) if (!Number.isFinite(v[c])) return `outcome_unit.${c}`;
  for (const { metric, m } of deltas.moments.values()) if (!Number.isFinite(m.sum) || !Number.isFinite(m.sumsq)) return `outcome_moment (${metric})`;
  for (const { metric, m } of deltas.unitMetrics.values()) if (!Number.isFinite(m.sum) || !Number.isFinite(m.sumsq)) return `outcome_unit_metric (${metric})`;
  return null;
}
