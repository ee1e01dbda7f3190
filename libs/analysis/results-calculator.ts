/**
 * From aggregates to results: pure (plain data in, plain objects out), so that the
 * numbers can be checked without a database. Estimators and conventions: docs/adr/0006
 * (units of analysis and phases) and docs/adr/0007 (comparisons, multiple testing, decision).
 */
import type { UnitType } from '../assignment/core/snapshot';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import type { MetricGoal } from '../experiments/experiment.types';
import {
  type ArmSummary,
  type BucketRow,
  type Effect,
  type MomentStats,
  type RatioStats,
  type TestResult,
  LogHistogram,
  StatsInputError,
  bayesGaussian,
  effectFromSummaries,
  fixedHorizonResult,
  holm,
  meanSummary,
  normalCdf,
  normalQuantile,
  quantileEffect,
  quantileSummary,
  type QuantileSummary,
  ratioSummary,
  remainingUnits,
  sequentialMultiplier,
  sequentialResult,
  varianceOf,
} from '../stats';
import { decide, type TreatmentEvidence } from './decision-rule';
import type {
  Comparison,
  Decision,
  GuardrailResult,
  Interval,
  MetricEstimate,
  MetricRole,
  PlanningResult,
  QuantileEstimate,
  SrmSummary,
  VariantResult,
} from './results.types';

/** Sums of one variant in the analysed phase, as read from the aggregates. */
export interface ArmAggregates {
  variant: string;
  /** Units with at least one event (outcome_unit rows). */
  units: number;
  events: number;
  costSum: number;
  costUnknown: number;
  /** Per-unit (numerator, denominator) sums and cross-products of every built-in and custom metric. */
  ratios: Record<string, RatioStats>;
  /** Per-event moments (outcome_moment). */
  moments: Record<string, MomentStats>;
  /** Log-histogram rows of latency_ms and ttft_ms. */
  histograms: Record<string, BucketRow[]>;
}

export const MEAN_METRICS = ['success_rate', 'score', 'error_rate', 'latency_ms', 'ttft_ms', 'input_tokens', 'output_tokens', 'cost_usd'] as const;
export const QUANTILES = [
  ['p50', 0.5],
  ['p90', 0.9],
  ['p95', 0.95],
  ['p99', 0.99],
] as const;
const LOWER_IS_BETTER = new Set(['error_rate', 'latency_ms', 'ttft_ms', 'cost_usd', 'cost_per_success', 'input_tokens', 'output_tokens']);
const QUANTILE_NAME = /^(latency|ttft)_p(\d\d)$/;

export interface CalculatorInput {
  experiment: Pick<ExperimentEntity, 'key' | 'unitType' | 'variants' | 'metrics' | 'stats'>;
  phase: number;
  arms: ArmAggregates[];
  srm: SrmSummary;
}

export interface CalculatedResults {
  variants: VariantResult[];
  comparisons: Comparison[];
  guardrails: GuardrailResult[];
  planning: PlanningResult[];
  decision: Decision;
}

/** A metric of one arm, ready for the two-arm tests: the per-unit summary, or a quantile summary. */
type ArmMetric = { kind: 'mean'; summary: ArmSummary } | { kind: 'quantile'; summary: QuantileSummary };

function safe<T>(fn: () => T): T | null {
  try {
    const value = fn();
    return value;
  } catch (error) {
    if (error instanceof StatsInputError) return null;
    throw error;
  }
}

export function lowerIsBetter(name: string, experiment: CalculatorInput['experiment']): boolean {
  const custom = experiment.metrics.custom?.find((c) => c.name === name);
  if (custom) return custom.lowerIsBetter === true;
  const q = QUANTILE_NAME.exec(name);
  return LOWER_IS_BETTER.has(q ? `${q[1]}_ms` : name);
}

/**
 * Per-unit summary of a mean or ratio metric. Users and sessions: ratio of per-unit sums
 * (delta method). Requests: each event is a unit, so per-event moments (cost_per_success
 * is still a ratio of sums, over request-units).
 */
export function armSummary(unitType: UnitType, arm: ArmAggregates, metric: string): ArmSummary | null {
  if (unitType === 'request' && metric !== 'cost_per_success') {
    const m = arm.moments[metric];
    return m && m.n > 0 ? meanSummary(m) : null;
  }
  const r = arm.ratios[metric];
  return r && r.n > 0 && r.sumDen !== 0 ? safe(() => ratioSummary(r)) : null;
}

/**
 * Design effect of latency/ttft quantiles for user- or session-randomised data: the
 * variance of the per-unit ratio mean over its value if events were independent
 * (never below 1). An approximation of the indicator design effect of Deng, Knoblich
 * & Lu (2018), whose exact form needs a second pass over per-unit values (docs/adr/0006).
 */
export function quantileDesignEffect(unitType: UnitType, arm: ArmAggregates, base: 'latency_ms' | 'ttft_ms'): number {
  if (unitType === 'request') return 1;
  const unit = armSummary(unitType, arm, base);
  const ev = arm.moments[base];
  if (!unit || !ev || ev.n < 2) return 1;
  const iid = varianceOf(ev) / ev.n;
  if (!(iid > 0)) return 1;
  return Math.max(1, unit.variance / unit.n / iid);
}

function quantileOf(unitType: UnitType, arm: ArmAggregates, name: string, alpha: number): QuantileSummary | null {
  const m = QUANTILE_NAME.exec(name);
  if (!m) return null;
  const base = `${m[1]}_ms` as 'latency_ms' | 'ttft_ms';
  const rows = arm.histograms[base];
  if (!rows || rows.length === 0) return null;
  const h = LogHistogram.fromRows(rows);
  return safe(() => quantileSummary(h, Number(m[2]) / 100, { alpha, designEffect: quantileDesignEffect(unitType, arm, base) }));
}

function armMetric(unitType: UnitType, arm: ArmAggregates, name: string, alpha: number): ArmMetric | null {
  if (QUANTILE_NAME.test(name)) {
    const q = quantileOf(unitType, arm, name, alpha);
    return q ? { kind: 'quantile', summary: q } : null;
  }
  const s = armSummary(unitType, arm, name);
  return s ? { kind: 'mean', summary: s } : null;
}

function estimate(unitType: UnitType, arm: ArmAggregates, name: string, alpha: number): MetricEstimate {
  const s = armSummary(unitType, arm, name);
  const z = normalQuantile(1 - alpha / 2);
  const out: MetricEstimate = {
    mean: s ? s.mean : null,
    ci: s && s.n >= 2 && s.variance >= 0 ? [s.mean - z * Math.sqrt(s.variance / s.n), s.mean + z * Math.sqrt(s.variance / s.n)] : null,
    n: s ? s.n : 0,
  };
  if (name === 'latency_ms' || name === 'ttft_ms') {
    const prefix = name.slice(0, -3);
    for (const [label] of QUANTILES) {
      const qs = quantileOf(unitType, arm, `${prefix}_${label}`, alpha);
      const value: QuantileEstimate | null = qs ? { value: qs.estimate, ci: [qs.lower, qs.upper] } : null;
      out[label] = value;
    }
  }
  return out;
}

function effects(c: ArmMetric, t: ArmMetric): { rel: Effect | null; abs: Effect | null } {
  if (c.kind === 'quantile' && t.kind === 'quantile') {
    return { rel: safe(() => quantileEffect(c.summary, t.summary, 'relative')), abs: safe(() => quantileEffect(c.summary, t.summary, 'absolute')) };
  }
  if (c.kind === 'mean' && t.kind === 'mean') {
    return { rel: safe(() => effectFromSummaries(c.summary, t.summary, 'relative')), abs: safe(() => effectFromSummaries(c.summary, t.summary, 'absolute')) };
  }
  return { rel: null, abs: null };
}

/** The metrics compared, in order: declared goal metrics first, then the rest of the built-ins, quantiles and custom metrics. */
export function comparedMetrics(experiment: CalculatorInput['experiment']): Array<{ name: string; role: MetricRole }> {
  const out: Array<{ name: string; role: MetricRole }> = [];
  const seen = new Set<string>();
  const add = (name: string, role: MetricRole) => {
    if (seen.has(name)) return;
    seen.add(name);
    out.push({ name, role });
  };
  add(experiment.metrics.primary.name, 'primary');
  for (const m of experiment.metrics.secondary ?? []) add(m.name, 'secondary');
  for (const g of experiment.metrics.guardrails ?? []) add(g.name, 'guardrail');
  for (const name of [...MEAN_METRICS, 'cost_per_success', 'latency_p50', 'latency_p90', 'latency_p95', 'latency_p99']) add(name, 'other');
  for (const c of experiment.metrics.custom ?? []) add(c.name, 'other');
  return out;
}

export function calculateResults(input: CalculatorInput): CalculatedResults {
  const { experiment, arms, srm } = input;
  const unitType = experiment.unitType;
  const alpha = experiment.stats.alpha ?? 0.05;
  const sequential = experiment.stats.sequential;
  const planned = experiment.stats.plannedUnits ?? null;
  // N*: the total sample where the confidence sequence is tightest; the plan when there is one.
  const tuning = planned ?? 5000;
  const control = experiment.variants.find((v) => v.isControl)!;
  const byKey = new Map(arms.map((a) => [a.variant, a]));
  const empty = (variant: string): ArmAggregates => ({ variant, units: 0, events: 0, costSum: 0, costUnknown: 0, ratios: {}, moments: {}, histograms: {} });
  const armOf = (key: string) => byKey.get(key) ?? empty(key);
  const customNames = (experiment.metrics.custom ?? []).map((c) => c.name);
  const estimateNames = [...MEAN_METRICS, 'cost_per_success', ...customNames];

  const variants: VariantResult[] = experiment.variants.map((v) => {
    const arm = armOf(v.key);
    return {
      key: v.key,
      isControl: v.isControl,
      units: unitType === 'request' ? arm.events : arm.units,
      events: arm.events,
      totalCostUsd: arm.costSum,
      costUnknown: arm.costUnknown,
      metrics: Object.fromEntries(estimateNames.map((name) => [name, estimate(unitType, arm, name, alpha)])),
    };
  });

  const metrics = comparedMetrics(experiment);
  const treatments = experiment.variants.filter((v) => !v.isControl);
  const comparisons: Comparison[] = [];
  const effectsByKey = new Map<string, Effect>();
  for (const t of treatments) {
    for (const { name, role } of metrics) {
      const lower = lowerIsBetter(name, experiment);
      const c = armMetric(unitType, armOf(control.key), name, alpha);
      const tr = armMetric(unitType, armOf(t.key), name, alpha);
      const base: Comparison = {
        variant: t.key, metric: name, role, lowerIsBetter: lower, absoluteLift: null, absoluteCi: null, relativeLift: null, ci: null,
        pValue: null, adjustedPValue: null, chanceToBeatControl: null, significant: false, method: sequential ? 'sequential' : 'fixed',
      };
      const { rel, abs } = c && tr ? effects(c, tr) : { rel: null, abs: null };
      const test = (e: Effect): TestResult | null => safe(() => (sequential ? sequentialResult(e, { alpha, tuning }) : fixedHorizonResult(e, { alpha })));
      const relTest = rel ? test(rel) : null;
      const absTest = abs ? test(abs) : null;
      if (!relTest || !rel) {
        comparisons.push({ ...base, absoluteLift: abs?.estimate ?? null, absoluteCi: absTest?.ci ?? null, note: 'not enough data: each arm needs at least 2 units, some variance and a non-zero control value' });
        continue;
      }
      effectsByKey.set(`${t.key}\u0000${name}`, rel);
      comparisons.push({
        ...base,
        absoluteLift: abs?.estimate ?? null,
        absoluteCi: absTest?.ci ?? null,
        relativeLift: relTest.estimate,
        ci: relTest.ci,
        pValue: relTest.pValue,
        chanceToBeatControl: bayesGaussian(rel, { inverse: lower }).chanceToBeatControl,
      });
    }
  }
  // Holm within two families: the goal metrics (primary, secondary) that the decision rests on, and all the others.
  for (const family of [(r: MetricRole) => r === 'primary' || r === 'secondary', (r: MetricRole) => r === 'guardrail' || r === 'other']) {
    const members = comparisons.filter((c) => family(c.role) && c.pValue !== null);
    const adjusted = holm(members.map((c) => c.pValue!));
    members.forEach((c, i) => {
      c.adjustedPValue = adjusted[i];
      c.significant = adjusted[i] < alpha;
    });
  }
  const find = (variant: string, metric: string) => comparisons.find((c) => c.variant === variant && c.metric === metric);

  const guardrails: GuardrailResult[] = [];
  for (const t of treatments) {
    for (const g of experiment.metrics.guardrails ?? []) {
      const c = find(t.key, g.name);
      const direction = g.maxRelativeIncrease !== undefined ? 'increase' : 'decrease';
      const margin = (direction === 'increase' ? g.maxRelativeIncrease : g.maxRelativeDecrease) ?? 0;
      let status: GuardrailResult['status'] = 'inconclusive';
      if (c?.ci) {
        // Breached: the whole interval is beyond the margin; ok: the whole interval is within it.
        if (direction === 'increase') status = c.ci[0] > margin ? 'breached' : c.ci[1] < margin ? 'ok' : 'inconclusive';
        else status = c.ci[1] < -margin ? 'breached' : c.ci[0] > -margin ? 'ok' : 'inconclusive';
      }
      guardrails.push({ variant: t.key, metric: g.name, direction, margin, relativeLift: c?.relativeLift ?? null, ci: c?.ci ?? null, status });
    }
  }

  const primary = experiment.metrics.primary;
  const primaryLower = primary.goal === 'decrease' || (primary.goal !== 'increase' && lowerIsBetter(primary.name, experiment));
  const planning: PlanningResult[] = treatments.map((t) => {
    const c = find(t.key, primary.name);
    const effect = effectsByKey.get(`${t.key}\u0000${primary.name}`);
    const units = variants.find((v) => v.key === t.key)!.units + variants.find((v) => v.key === control.key)!.units;
    if (!c || !effect || c.relativeLift === null) return { variant: t.key, units, plannedUnits: planned, targetMde: null, power: null, additionalUnits: null };
    const targetMde = primary.goal === 'non_inferior' ? (primary.margin ?? 0.01) : Math.max(0.01, Math.abs(c.relativeLift));
    return {
      variant: t.key,
      units,
      plannedUnits: planned,
      targetMde,
      power: powerAt(effect, targetMde, alpha, sequential ? tuning : null),
      additionalUnits: safe(() => remainingUnits(effect, { targetMde, alpha, sequentialTuning: sequential ? tuning : undefined }).additionalUnits),
    };
  });

  const significantlyLower = (variant: string, metric: string) => {
    const c = find(variant, metric);
    return !!c?.ci && c.ci[1] < 0;
  };
  const evidence: TreatmentEvidence[] = treatments.map((t) => {
    const c = find(t.key, primary.name);
    return {
      variant: t.key,
      lift: c?.relativeLift ?? null,
      ci: c?.ci ?? null,
      adjustedPValue: c?.adjustedPValue ?? null,
      guardrails: guardrails
        .filter((g) => g.variant === t.key)
        .map((g) => ({ metric: g.metric, status: g.status, ci: g.ci, margin: g.margin, direction: g.direction })),
      cheaper: significantlyLower(t.key, 'cost_usd'),
      faster: significantlyLower(t.key, 'latency_ms') || significantlyLower(t.key, 'latency_p95'),
      additionalUnits: planning.find((p) => p.variant === t.key)?.additionalUnits ?? null,
    };
  });
  const decision = decide({
    alpha,
    control: control.key,
    primary: { metric: primary.name, goal: primary.goal as MetricGoal, margin: primary.margin ?? null, lowerIsBetter: primaryLower },
    srm,
    treatments: evidence,
    units: variants.reduce((s, v) => s + v.units, 0),
    plannedUnits: planned,
  });
  return { variants, comparisons, guardrails, planning, decision };
}

/**
 * Power reached at the current size to detect a relative lift of `mde` (two-sided):
 * 1 - Phi((h - mde)/se) + Phi(-(h + mde)/se), h the half-width (z se, or the
 * confidence-sequence half-width when sequential).
 */
export function powerAt(effect: Effect, mde: number, alpha: number, tuning: number | null): number {
  const half = tuning !== null ? effect.se * sequentialMultiplier(effect.n, alpha, tuning) : normalQuantile(1 - alpha / 2) * effect.se;
  return 1 - normalCdf((half - mde) / effect.se) + normalCdf(-(half + mde) / effect.se);
}

export type { Interval };
