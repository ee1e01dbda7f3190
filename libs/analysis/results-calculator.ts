/**
 * From aggregates to results: pure (plain data in, plain objects out), so that the
 * numbers can be checked without a database. Estimators and conventions: docs/adr/0006
 * (units of analysis and phases) and docs/adr/0007 (comparisons, multiple testing, decision);
 * which metrics exist, how each is made and which way is better: libs/metrics (docs/adr/0019).
 */
import type { UnitType } from '../assignment/core/snapshot';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { DEFAULT_CUPED } from '../experiments/experiment-definition';
import type { CupedMode } from '../experiments/experiment.types';
import { EVENTS_METRIC } from '../ingestion/outcome-aggregator';
import {
  BUILT_IN_METRICS,
  MetricCatalog,
  builtInMetric,
  lowerIsBetterForGoal,
  quantileMetricsOf,
  type CustomMetric,
  type MetricDefinition,
  type QuantileMetric,
  type SumMetric,
} from '../metrics/metric-registry';
import {
  type ArmSummary,
  type BucketRow,
  type CupedIndicatorStats,
  type Effect,
  type MomentStats,
  type RatioStats,
  type TestResult,
  LogHistogram,
  StatsInputError,
  bayesGaussian,
  cupedIndicatorEffect,
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
  CovariateSource,
  CupedComparison,
  Decision,
  OfflineCandidateStage,
  GuardrailResult,
  Interval,
  MetricEstimate,
  MetricRole,
  PlanningResult,
  QuantileEstimate,
  SrmSummary,
  VariantResult,
  ExperimentResults,
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
  /** CUPED statistics of the metrics with a covariate (user and session units): docs/adr/0026. */
  cuped?: Record<string, ArmCovariate>;
}

/** One arm's CUPED statistics for one metric. */
export interface ArmCovariate {
  /** 'pre-period': the same metric over the lookback window before exposure; 'client': a value the client supplied per unit. */
  source: CovariateSource;
  /** Units with pre-exposure data (the others count a covariate of zero). */
  withCovariate: number;
  stats: CupedIndicatorStats;
}

export interface CalculatorInput {
  experiment: Pick<ExperimentEntity, 'key' | 'unitType' | 'variants' | 'metrics' | 'stats'> & { shadow?: ExperimentEntity['shadow'] };
  phase: number;
  arms: ArmAggregates[];
  srm: SrmSummary;
  /** What the latest complete offline runs say per treatment (docs/adr/0035); none: every treatment not_evaluated. */
  offline?: readonly OfflineCandidateStage[];
}

export interface CalculatedResults {
  variants: VariantResult[];
  comparisons: Comparison[];
  guardrails: GuardrailResult[];
  planning: PlanningResult[];
  decision: Decision;
  cuped: ExperimentResults['cuped'];
}

/**
 * Under `auto`, the decision uses CUPED once at least this share of the compared units has a
 * covariate: below it the adjustment removes little variance, and an unadjusted verdict is the
 * one people can check by hand (docs/adr/0027).
 */
export const MIN_COVARIATE_SHARE = 0.1;

/** A metric of one arm, ready for the two-arm tests: the per-unit summary, or a quantile summary. */
type ArmMetric = { kind: 'mean'; summary: ArmSummary } | { kind: 'quantile'; summary: QuantileSummary };

/** The value, or why the statistics refused the input (too few units, no variance, a zero baseline). */
function attempt<T>(fn: () => T): { value: T; why?: undefined } | { value: null; why: string } {
  try {
    return { value: fn() };
  } catch (error) {
    if (error instanceof StatsInputError) return { value: null, why: error.message };
    throw error;
  }
}
const safe = <T>(fn: () => T): T | null => attempt(fn).value;

/** The metrics of an experiment: the registry's built-ins and the experiment's declared custom metrics. */
export function catalogOf(experiment: Pick<CalculatorInput['experiment'], 'metrics'>): MetricCatalog {
  return new MetricCatalog(experiment.metrics.custom ?? []);
}

/** The metric's own direction; unknown names (never accepted by validation) count as higher-is-better. */
export function lowerIsBetter(name: string, experiment: CalculatorInput['experiment']): boolean {
  return catalogOf(experiment).get(name)?.lowerIsBetter === true;
}

/**
 * Per-unit summary of a sum or custom metric. Users and sessions: ratio of per-unit sums
 * (delta method). Requests: each event is a unit, so the per-event moments the registry
 * names; a ratio of two different sums (cost_per_success) is still a ratio over request-units.
 */
export function armSummary(unitType: UnitType, arm: ArmAggregates, metric: SumMetric | CustomMetric): ArmSummary | null {
  if (unitType === 'request') {
    const moment = momentOf(arm, metric);
    if (moment !== undefined) return moment && moment.n > 0 ? meanSummary(moment) : null;
  }
  const r = arm.ratios[metric.name];
  return r && r.n > 0 && r.sumDen !== 0 ? safe(() => ratioSummary(r)) : null;
}

/** Per-event moments of a metric for request units; undefined when the metric is a ratio of two sums. */
function momentOf(arm: ArmAggregates, metric: SumMetric | CustomMetric): MomentStats | null | undefined {
  if (metric.source === 'built-in') return metric.moment === null ? undefined : (arm.moments[metric.moment] ?? null);
  const m = arm.moments[metric.name];
  if (metric.denominator === 'reported') return m ?? null;
  // Over all events: the events that did not report the metric count 0.
  const events = arm.moments[EVENTS_METRIC]?.n ?? 0;
  return { n: events, sum: m?.sum ?? 0, sumSquares: m?.sumSquares ?? 0 };
}

/**
 * Design effect of latency/ttft quantiles for user- or session-randomised data: the
 * variance of the per-unit ratio mean over its value if events were independent
 * (never below 1). An approximation of the indicator design effect of Deng, Knoblich
 * & Lu (2018), whose exact form needs a second pass over per-unit values (docs/adr/0006).
 */
export function quantileDesignEffect(unitType: UnitType, arm: ArmAggregates, base: string): number {
  if (unitType === 'request') return 1;
  const metric = builtInMetric(base);
  if (!metric || metric.kind === 'quantile') return 1;
  const unit = armSummary(unitType, arm, metric);
  const ev = arm.moments[base];
  if (!unit || !ev || ev.n < 2) return 1;
  const iid = varianceOf(ev) / ev.n;
  if (!(iid > 0)) return 1;
  return Math.max(1, unit.variance / unit.n / iid);
}

function quantileOf(unitType: UnitType, arm: ArmAggregates, metric: QuantileMetric, alpha: number): { value: QuantileSummary | null; why?: string } {
  const rows = arm.histograms[metric.of];
  if (!rows || rows.length === 0) return { value: null, why: 'no values in this arm' };
  const h = LogHistogram.fromRows(rows);
  return attempt(() => quantileSummary(h, metric.level, { alpha, designEffect: quantileDesignEffect(unitType, arm, metric.of) }));
}

function armMetric(unitType: UnitType, arm: ArmAggregates, metric: MetricDefinition, alpha: number): { value: ArmMetric | null; why?: string } {
  if (metric.kind === 'quantile') {
    const q = quantileOf(unitType, arm, metric, alpha);
    return q.value ? { value: { kind: 'quantile', summary: q.value } } : { value: null, why: q.why };
  }
  const s = armSummary(unitType, arm, metric);
  return s ? { value: { kind: 'mean', summary: s } } : { value: null, why: 'no values in this arm' };
}

function estimate(unitType: UnitType, arm: ArmAggregates, metric: SumMetric | CustomMetric, alpha: number): MetricEstimate {
  const s = armSummary(unitType, arm, metric);
  const z = normalQuantile(1 - alpha / 2);
  const se = s && s.n >= 2 && s.variance >= 0 ? Math.sqrt(s.variance / s.n) : null;
  const out: MetricEstimate = {
    mean: s ? s.mean : null,
    se,
    ci: s && se !== null ? [s.mean - z * se, s.mean + z * se] : null,
    n: s ? s.n : 0,
  };
  if (metric.source === 'built-in') {
    for (const q of quantileMetricsOf(metric.name)) {
      const qs = quantileOf(unitType, arm, q, alpha).value;
      const value: QuantileEstimate | null = qs ? { value: qs.estimate, se: qs.se, ci: [qs.lower, qs.upper] } : null;
      out[q.levelKey as `p${number}`] = value;
    }
  }
  return out;
}

function effects(c: ArmMetric, t: ArmMetric): { rel: Effect | null; abs: Effect | null; why?: string } {
  if (c.kind === 'quantile' && t.kind === 'quantile') {
    const rel = attempt(() => quantileEffect(c.summary, t.summary, 'relative'));
    return { rel: rel.value, abs: safe(() => quantileEffect(c.summary, t.summary, 'absolute')), why: rel.why };
  }
  if (c.kind === 'mean' && t.kind === 'mean') {
    const rel = attempt(() => effectFromSummaries(c.summary, t.summary, 'relative'));
    return { rel: rel.value, abs: safe(() => effectFromSummaries(c.summary, t.summary, 'absolute')), why: rel.why };
  }
  return { rel: null, abs: null, why: 'the arms hold different kinds of statistics' };
}

/**
 * The CUPED-adjusted comparison of one metric (ratio form, GrowthBook's regression-adjusted ratio
 * statistic, theta pooled over both arms, with a missing-data indicator as second covariate: libs/stats cuped-indicator): null when an arm has no covariate sums or the statistics
 * refuse the input. `unadjusted` is the relative effect without CUPED, for the variance reduction.
 */
function cupedComparison(
  c: ArmCovariate | undefined,
  t: ArmCovariate | undefined,
  unadjusted: Effect,
  test: (e: Effect) => TestResult | null,
  mode: CupedMode,
): { comparison: CupedComparison; effect: Effect } | null {
  if (mode === 'off' || !c || !t || c.source !== t.source) return null;
  // The arm's pre-exposure ratio needs a non-zero denominator: some unit of each arm with pre-data.
  if (c.withCovariate < 1 || t.withCovariate < 1 || c.stats.pre.sumDen === 0 || t.stats.pre.sumDen === 0) return null;
  const rel = safe(() => cupedIndicatorEffect(c.stats, t.stats, { difference: 'relative' }));
  if (!rel || !Number.isFinite(rel.estimate) || !(rel.se > 0)) return null;
  const result = test(rel);
  if (!result) return null;
  const abs = safe(() => cupedIndicatorEffect(c.stats, t.stats, { difference: 'absolute' }));
  const absTest = abs ? test(abs) : null;
  const units = c.stats.post.n + t.stats.post.n;
  const unitsWithCovariate = c.withCovariate + t.withCovariate;
  const used = mode === 'on' || (mode === 'auto' && unitsWithCovariate >= MIN_COVARIATE_SHARE * units);
  return {
    effect: rel,
    comparison: {
      covariate: c.source,
      unitsWithCovariate,
      units,
      absoluteLift: abs?.estimate ?? null,
      absoluteCi: absTest?.ci ?? null,
      relativeLift: result.estimate,
      se: rel.se,
      ci: result.ci,
      pValue: result.pValue,
      adjustedPValue: null,
      significant: false,
      varianceReduction: 1 - (rel.se * rel.se) / (unadjusted.se * unadjusted.se),
      used,
    },
  };
}

/** The metrics compared, in order: declared goal metrics first, then the registry's defaults and the custom metrics. */
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
  for (const m of catalogOf(experiment).comparedByDefault()) add(m.name, 'other');
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
  const empty = (variant: string): ArmAggregates => ({ variant, units: 0, events: 0, costSum: 0, costUnknown: 0, ratios: {}, moments: {}, histograms: {}, cuped: {} });
  const armOf = (key: string) => byKey.get(key) ?? empty(key);
  const catalog = catalogOf(experiment);
  const goals = new Map([experiment.metrics.primary, ...(experiment.metrics.secondary ?? [])].reverse().map((m) => [m.name, m.goal]));
  const cupedSettings = { ...DEFAULT_CUPED, ...experiment.stats.cuped };

  const variants: VariantResult[] = experiment.variants.map((v) => {
    const arm = armOf(v.key);
    return {
      key: v.key,
      isControl: v.isControl,
      units: unitType === 'request' ? arm.events : arm.units,
      events: arm.events,
      totalCostUsd: arm.costSum,
      costUnknown: arm.costUnknown,
      metrics: Object.fromEntries(catalog.estimated().map((m) => [m.name, estimate(unitType, arm, m, alpha)])),
    };
  });

  const metrics = comparedMetrics(experiment);
  // The shadow variant is never served (weight 0): it has no place in the served comparisons or the decision (docs/adr/0031).
  const treatments = experiment.variants.filter((v) => !v.isControl && v.key !== experiment.shadow?.variant);
  const comparisons: Comparison[] = [];
  const effectsByKey = new Map<string, Effect>();
  /** The unadjusted effect of comparisons whose decision figures are CUPED's (effectsByKey then holds the adjusted one). */
  const unadjustedByKey = new Map<string, Effect>();
  for (const t of treatments) {
    for (const { name, role } of metrics) {
      const definition = catalog.get(name);
      // Goal metrics are better in their goal's direction; the others in the metric's own (the registry's).
      const goal = role === 'primary' || role === 'secondary' ? goals.get(name) : undefined;
      const lower = goal ? lowerIsBetterForGoal(goal, definition) : definition?.lowerIsBetter === true;
      const base: Comparison = {
        variant: t.key, metric: name, role, lowerIsBetter: lower, absoluteLift: null, absoluteCi: null, relativeLift: null, se: null, ci: null,
        pValue: null, adjustedPValue: null, chanceToBeatControl: null, significant: false, method: sequential ? 'sequential' : 'fixed', cuped: null,
      };
      if (!definition) {
        comparisons.push({ ...base, note: `"${name}" is not a metric of this experiment (libs/metrics registry or metrics.custom)` });
        continue;
      }
      const c = armMetric(unitType, armOf(control.key), definition, alpha);
      const tr = armMetric(unitType, armOf(t.key), definition, alpha);
      const { rel, abs, why } = c.value && tr.value ? effects(c.value, tr.value) : { rel: null, abs: null, why: c.why ? `control: ${c.why}` : `treatment: ${tr.why}` };
      const test = (e: Effect) => attempt((): TestResult => (sequential ? sequentialResult(e, { alpha, tuning }) : fixedHorizonResult(e, { alpha })));
      const relTest = rel ? test(rel) : null;
      const absTest = abs ? test(abs).value : null;
      if (!rel || !relTest?.value) {
        comparisons.push({ ...base, absoluteLift: abs?.estimate ?? null, absoluteCi: absTest?.ci ?? null, note: `not enough data: ${why ?? relTest?.why}` });
        continue;
      }
      const adjusted = definition.kind === 'quantile' || unitType === 'request'
        ? null
        : cupedComparison(armOf(control.key).cuped?.[name], armOf(t.key).cuped?.[name], rel, (e) => test(e).value, cupedSettings.mode);
      effectsByKey.set(`${t.key}\u0000${name}`, adjusted?.comparison.used ? adjusted.effect : rel);
      if (adjusted?.comparison.used) unadjustedByKey.set(`${t.key}\u0000${name}`, rel);
      comparisons.push({
        ...base,
        absoluteLift: abs?.estimate ?? null,
        absoluteCi: absTest?.ci ?? null,
        relativeLift: relTest.value.estimate,
        se: rel.se,
        ci: relTest.value.ci,
        pValue: relTest.value.pValue,
        chanceToBeatControl: bayesGaussian(rel, { inverse: lower }).chanceToBeatControl,
        cuped: adjusted?.comparison ?? null,
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
    // The CUPED p-values, Holm-adjusted beside the decision figures of the other members (theirs when used, else the unadjusted).
    const withCuped = members.filter((c) => c.cuped);
    for (const c of withCuped) {
      const ps = members.map((m) => (m === c ? c.cuped!.pValue : m.cuped?.used ? m.cuped.pValue : m.pValue!));
      c.cuped!.adjustedPValue = holm(ps)[members.indexOf(c)];
      c.cuped!.significant = c.cuped!.adjustedPValue < alpha;
    }
  }
  /** The figures the decision uses: CUPED's when used. */
  const decisive = (c: Comparison | undefined) =>
    c?.cuped?.used ? { lift: c.cuped.relativeLift, ci: c.cuped.ci, adjustedPValue: c.cuped.adjustedPValue } : { lift: c?.relativeLift ?? null, ci: c?.ci ?? null, adjustedPValue: c?.adjustedPValue ?? null };
  const find = (variant: string, metric: string) => comparisons.find((c) => c.variant === variant && c.metric === metric);

  const guardrails: GuardrailResult[] = [];
  for (const t of treatments) {
    for (const g of experiment.metrics.guardrails ?? []) {
      const c = find(t.key, g.name);
      const direction = g.maxRelativeIncrease !== undefined ? 'increase' : 'decrease';
      const margin = (direction === 'increase' ? g.maxRelativeIncrease : g.maxRelativeDecrease) ?? 0;
      let status: GuardrailResult['status'] = 'inconclusive';
      const { lift, ci } = decisive(c);
      if (ci) {
        // Breached: the whole interval is beyond the margin; ok: the whole interval is within it.
        if (direction === 'increase') status = ci[0] > margin ? 'breached' : ci[1] < margin ? 'ok' : 'inconclusive';
        else status = ci[1] < -margin ? 'breached' : ci[0] > -margin ? 'ok' : 'inconclusive';
      }
      guardrails.push({ variant: t.key, metric: g.name, direction, margin, relativeLift: lift, ci, status });
    }
  }

  const primary = experiment.metrics.primary;
  const primaryLower = lowerIsBetterForGoal(primary.goal, catalog.get(primary.name));
  const planning: PlanningResult[] = treatments.map((t) => {
    const c = find(t.key, primary.name);
    const effect = effectsByKey.get(`${t.key}\u0000${primary.name}`);
    const units = variants.find((v) => v.key === t.key)!.units + variants.find((v) => v.key === control.key)!.units;
    const lift = decisive(c).lift;
    if (!c || !effect || lift === null) {
      return { variant: t.key, units, plannedUnits: planned, targetMde: null, power: null, additionalUnits: null, additionalUnitsUnadjusted: null, varianceReduction: null };
    }
    const targetMde = primary.goal === 'non_inferior' ? (primary.margin ?? 0.01) : Math.max(0.01, Math.abs(lift));
    const remaining = (e: Effect) => safe(() => remainingUnits(e, { targetMde, alpha, sequentialTuning: sequential ? tuning : undefined }).additionalUnits);
    const unadjusted = unadjustedByKey.get(`${t.key}\u0000${primary.name}`);
    const additionalUnits = remaining(effect);
    return {
      variant: t.key,
      units,
      plannedUnits: planned,
      targetMde,
      power: powerAt(effect, targetMde, alpha, sequential ? tuning : null),
      additionalUnits,
      additionalUnitsUnadjusted: unadjusted ? remaining(unadjusted) : additionalUnits,
      varianceReduction: unadjusted ? c.cuped!.varianceReduction : null,
    };
  });

  // "Cheaper" and "faster" for a non-inferior ship: a metric the registry marks with that benefit is significantly lower.
  const significantlyLower = (variant: string, benefit: 'cost' | 'speed') =>
    BUILT_IN_METRICS.some((m) => {
      if (m.benefit !== benefit) return false;
      const { ci } = decisive(find(variant, m.name));
      return !!ci && ci[1] < 0;
    });
  const evidence: TreatmentEvidence[] = treatments.map((t) => {
    const { lift, ci, adjustedPValue } = decisive(find(t.key, primary.name));
    return {
      variant: t.key,
      lift,
      ci,
      adjustedPValue,
      guardrails: guardrails
        .filter((g) => g.variant === t.key)
        .map((g) => ({ metric: g.metric, status: g.status, ci: g.ci, margin: g.margin, direction: g.direction })),
      cheaper: significantlyLower(t.key, 'cost'),
      faster: significantlyLower(t.key, 'speed'),
      additionalUnits: planning.find((p) => p.variant === t.key)?.additionalUnits ?? null,
    };
  });
  const decision = decide({
    alpha,
    control: control.key,
    primary: { metric: primary.name, goal: primary.goal, margin: primary.margin ?? null, lowerIsBetter: primaryLower },
    srm,
    treatments: evidence,
    units: variants.reduce((s, v) => s + v.units, 0),
    plannedUnits: planned,
    offline: input.offline,
  });
  const cuped = { ...cupedSettings, minCovariateShare: MIN_COVARIATE_SHARE, used: comparisons.some((c) => c.role === 'primary' && c.cuped?.used) };
  return { variants, comparisons, guardrails, planning, decision, cuped };
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
