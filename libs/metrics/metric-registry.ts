/**
 * The one list of metrics (docs/adr/0019). Every context reads its metrics from here:
 * experiment validation and the OpenAPI document (names), ingestion (which per-unit sums a
 * metric is made of), the results (estimators, directions, quantile levels), the decision
 * rule and the traffic monitor (which way is better, what is a rate), reports and the results
 * page (label and format). Adding a metric made of sums ingestion already keeps is one entry.
 *
 * Pure: plain data and functions, no I/O (the architecture rules check it).
 */

export type MetricKind = 'proportion' | 'mean' | 'ratio' | 'quantile';
export type MetricFormat = 'percent' | 'decimal' | 'ms' | 'usd' | 'tokens';
export type MetricGoal = 'increase' | 'decrease' | 'non_inferior';
export const METRIC_FORMATS: readonly MetricFormat[] = ['percent', 'decimal', 'ms', 'usd', 'tokens'];
export const METRIC_GOALS: readonly MetricGoal[] = ['increase', 'decrease', 'non_inferior'];

/** What an outcome event reports, by the event's field name; `event` is the event itself. */
export type EventField = 'event' | 'success' | 'score' | 'error' | 'latencyMs' | 'ttftMs' | 'costUsd' | 'inputTokens' | 'outputTokens';

/**
 * One side of a ratio, per event, summed per unit into a column of outcome_unit:
 * `value` adds the field's value (true = 1, an error = 1, nothing reported = 0),
 * `reported` adds 1 for each event that reported the field.
 */
export interface SumTerm {
  column: string;
  of: EventField;
  take: 'value' | 'reported';
}

interface Common {
  name: string;
  label: string;
  format: MetricFormat;
  /** A decrease is an improvement (latency, cost, errors). */
  lowerIsBetter: boolean;
  description: string;
  /** Compared with the control even when the experiment does not declare it. */
  compareByDefault: boolean;
  /** Counts as "cheaper" or "faster" for a non-inferior treatment to ship (docs/adr/0007). */
  benefit?: 'cost' | 'speed';
}

/**
 * A metric estimated as sum(numerator) / sum(denominator) over units: per-unit sums with the
 * delta method for user and session units; for request units the per-event moments named by
 * `moment` (each event is its own unit), or, without one, the ratio over request-units.
 */
export interface SumMetric extends Common {
  kind: 'proportion' | 'mean' | 'ratio';
  source: 'built-in';
  numerator: SumTerm;
  denominator: SumTerm;
  /** outcome_moment metric holding the per-event values (request units); null for ratios of two different sums. */
  moment: string | null;
  /** Quantile levels kept for it (from outcome_histogram): each is also a metric, `${base}_pNN`. */
  quantiles: readonly number[];
  /** Kept per day in outcome_daily (docs/adr/0013); adding one needs that table's columns. */
  daily: boolean;
}

export interface QuantileMetric extends Common {
  kind: 'quantile';
  source: 'built-in';
  /** The metric whose distribution it is a quantile of (its histogram). */
  of: string;
  level: number;
  /** p50, p95, ...: the key under the base metric's estimate in the results. */
  levelKey: string;
}

/** How a custom metric is averaged: over the events that reported it, or over all events (missing = 0). */
export type CustomDenominator = 'reported' | 'events';
export const CUSTOM_DENOMINATORS: readonly CustomDenominator[] = ['reported', 'events'];

/** What an experiment declares for a custom metric (metrics.custom); every field but the name has a default. */
export interface CustomMetricDeclaration {
  name: string;
  /** Default false. */
  lowerIsBetter?: boolean;
  /** Default 'reported'. */
  denominator?: CustomDenominator;
  /** Default: the name. */
  label?: string;
  /** Default 'decimal'. */
  format?: MetricFormat;
}

export interface CustomMetric extends Common {
  kind: 'mean';
  source: 'custom';
  denominator: CustomDenominator;
}

export type MetricDefinition = SumMetric | QuantileMetric | CustomMetric;

const LEVELS = [0.5, 0.9, 0.95, 0.99] as const;

const value = (column: string, of: EventField): SumTerm => ({ column, of, take: 'value' });
const reported = (column: string, of: EventField): SumTerm => ({ column, of, take: 'reported' });

/** A mean over the events that reported the field: the only denominator that does not bias it (issue 15). */
function eventMean(
  name: string,
  of: EventField,
  columns: [string, string],
  rest: Pick<Common, 'label' | 'format' | 'lowerIsBetter' | 'description'> & Partial<Pick<SumMetric, 'quantiles' | 'daily' | 'benefit' | 'kind'>>,
): SumMetric {
  const { quantiles = [], daily = false, kind = 'mean', ...common } = rest;
  return {
    name,
    kind,
    source: 'built-in',
    numerator: value(columns[0], of),
    denominator: reported(columns[1], of),
    moment: name,
    quantiles,
    daily,
    compareByDefault: true,
    ...common,
  };
}

/** The built-in metrics, in the order the results list them. */
const SUM_METRICS: readonly SumMetric[] = [
  eventMean('success_rate', 'success', ['successes', 'success_n'], {
    kind: 'proportion', label: 'Success rate', format: 'percent', lowerIsBetter: false, daily: true,
    description: 'Share of the events that reported success which succeeded',
  }),
  eventMean('score', 'score', ['score_sum', 'score_n'], {
    label: 'Score', format: 'decimal', lowerIsBetter: false, daily: true, description: 'Mean quality score of the events that reported one',
  }),
  {
    name: 'error_rate',
    kind: 'proportion',
    source: 'built-in',
    // Every event reports whether it failed (no error code: it did not).
    numerator: value('errors', 'error'),
    denominator: value('events', 'event'),
    moment: 'error_rate',
    quantiles: [],
    daily: true,
    compareByDefault: true,
    label: 'Error rate',
    format: 'percent',
    lowerIsBetter: true,
    description: 'Share of events with an error code',
  },
  eventMean('latency_ms', 'latencyMs', ['latency_sum', 'latency_n'], {
    label: 'Mean latency', format: 'ms', lowerIsBetter: true, quantiles: LEVELS, daily: true, benefit: 'speed',
    description: 'Mean latency of the events that reported one (ms); quantiles latency_p50 to latency_p99',
  }),
  eventMean('ttft_ms', 'ttftMs', ['ttft_sum', 'ttft_n'], {
    label: 'Mean time to first token', format: 'ms', lowerIsBetter: true, quantiles: LEVELS,
    description: 'Mean time to first token of the events that reported one (ms); quantiles ttft_p50 to ttft_p99',
  }),
  eventMean('input_tokens', 'inputTokens', ['input_tokens', 'input_tokens_n'], {
    label: 'Input tokens', format: 'tokens', lowerIsBetter: true, description: 'Mean input tokens of the events that reported them',
  }),
  eventMean('output_tokens', 'outputTokens', ['output_tokens', 'output_tokens_n'], {
    label: 'Output tokens', format: 'tokens', lowerIsBetter: true, description: 'Mean output tokens of the events that reported them',
  }),
  eventMean('cost_usd', 'costUsd', ['cost_sum', 'cost_n'], {
    label: 'Cost per request', format: 'usd', lowerIsBetter: true, daily: true, benefit: 'cost',
    description: 'Mean cost (USD) of the events with a known cost',
  }),
  {
    name: 'cost_per_success',
    kind: 'ratio',
    source: 'built-in',
    numerator: value('cost_sum', 'costUsd'),
    denominator: value('successes', 'success'),
    moment: null,
    quantiles: [],
    daily: true,
    compareByDefault: true,
    label: 'Cost per success',
    format: 'usd',
    lowerIsBetter: true,
    description: 'Known cost (USD) divided by successes',
  },
];

export const levelKey = (level: number): string => `p${Math.round(level * 100)}`;

function quantilesOf(base: SumMetric): QuantileMetric[] {
  const short = base.label.replace(/^Mean /, '');
  return base.quantiles.map((level) => ({
    name: `${base.name.replace(/_ms$/, '')}_${levelKey(level)}`,
    kind: 'quantile',
    source: 'built-in',
    of: base.name,
    level,
    levelKey: levelKey(level),
    label: `${levelKey(level)} ${short.charAt(0).toLowerCase()}${short.slice(1)}`,
    format: base.format,
    lowerIsBetter: base.lowerIsBetter,
    // Latency quantiles are what SLOs are written against; ttft ones are compared when declared.
    compareByDefault: base.name === 'latency_ms',
    ...(base.name === 'latency_ms' && level === 0.95 ? { benefit: 'speed' as const } : {}),
    description: `${levelKey(level)} of ${base.name} (log histogram, 1 % relative error)`,
  }));
}

/** Every built-in metric: the sums first, then the quantiles, in a stable order. */
export const BUILT_IN_METRICS: readonly MetricDefinition[] = [...SUM_METRICS, ...SUM_METRICS.flatMap(quantilesOf)];
const BUILT_IN = new Map(BUILT_IN_METRICS.map((m) => [m.name, m]));
export const BUILT_IN_METRIC_NAMES: readonly string[] = BUILT_IN_METRICS.map((m) => m.name);

export function builtInMetric(name: string): MetricDefinition | undefined {
  return BUILT_IN.get(name);
}

export function isBuiltInMetric(name: string): boolean {
  return BUILT_IN.has(name);
}

/** Names a custom metric may not take: built-ins, and anything that reads as a quantile of one (latency_p75). */
export function reservedMetricName(name: string): boolean {
  if (BUILT_IN.has(name)) return true;
  const m = /^(.+)_p\d+$/.exec(name);
  return !!m && SUM_METRICS.some((s) => s.quantiles.length > 0 && (s.name === m[1] || s.name === `${m[1]}_ms`));
}

/** The sum metrics (not quantiles, not custom). */
export function sumMetrics(): readonly SumMetric[] {
  return SUM_METRICS;
}

/** The quantile metrics of a base metric (latency_ms -> latency_p50 ... latency_p99). */
export function quantileMetricsOf(base: string): QuantileMetric[] {
  return BUILT_IN_METRICS.filter((m): m is QuantileMetric => m.kind === 'quantile' && m.of === base);
}

/** The sum metrics kept per day, in outcome_daily's column order. */
export function dailyMetrics(): SumMetric[] {
  return SUM_METRICS.filter((m) => m.daily);
}

/** A declared custom metric with every default filled in: the shape an experiment stores. */
export function normaliseCustom(d: CustomMetricDeclaration): Required<CustomMetricDeclaration> {
  return { name: d.name, lowerIsBetter: d.lowerIsBetter === true, denominator: d.denominator ?? 'reported', label: d.label ?? d.name, format: d.format ?? 'decimal' };
}

export function customMetric(d: CustomMetricDeclaration): CustomMetric {
  const n = normaliseCustom(d);
  return {
    name: n.name,
    kind: 'mean',
    source: 'custom',
    denominator: n.denominator,
    label: n.label,
    format: n.format,
    lowerIsBetter: n.lowerIsBetter,
    compareByDefault: true,
    description: n.denominator === 'reported' ? `Mean of ${n.name} over the events that reported it` : `Sum of ${n.name} per event (events without it count 0)`,
  };
}

/** The metrics of one experiment: the built-ins and its declared custom metrics. */
export class MetricCatalog {
  private readonly custom: CustomMetric[];
  private readonly byName: Map<string, MetricDefinition>;

  constructor(custom: readonly CustomMetricDeclaration[] = []) {
    this.custom = custom.map(customMetric);
    this.byName = new Map<string, MetricDefinition>([...BUILT_IN, ...this.custom.map((c) => [c.name, c] as const)]);
  }

  get(name: string): MetricDefinition | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  customMetrics(): readonly CustomMetric[] {
    return this.custom;
  }

  /** Metrics that get a per-variant estimate: the sums and the custom metrics (quantiles ride on their base). */
  estimated(): Array<SumMetric | CustomMetric> {
    return [...SUM_METRICS, ...this.custom];
  }

  /** Metrics compared with the control whether declared or not. */
  comparedByDefault(): MetricDefinition[] {
    return [...BUILT_IN_METRICS.filter((m) => m.compareByDefault), ...this.custom];
  }
}

/**
 * Which way is better for a declared goal: `increase` wants higher, `decrease` lower, and
 * `non_inferior` (a cheaper or faster variant at equal quality) follows the metric's own
 * direction: non-inferior on cost means "not more expensive". One rule for the results,
 * the decision and the traffic monitor.
 */
export function lowerIsBetterForGoal(goal: MetricGoal, metric: Pick<MetricDefinition, 'lowerIsBetter'> | undefined): boolean {
  if (goal === 'increase') return false;
  if (goal === 'decrease') return true;
  return metric?.lowerIsBetter === true;
}
