import type { Comparison, ExperimentResults, Interval, VariantResult } from '../analysis/results.types';
import { builtInMetric, type MetricDefinition, type MetricFormat } from '../metrics/metric-registry';
import type { OfflineView } from './offline-section';

/** The metrics of the per-variant table, in order (a view choice); label and format come from the metric registry. */
const TABLE_METRIC_NAMES = ['success_rate', 'score', 'latency_p95', 'cost_per_success'] as const;
export interface TableMetric {
  key: string;
  label: string;
  /** The comparison the lift column shows (the metric itself). */
  comparison: string;
  format: MetricFormat;
}
export const TABLE_METRICS: readonly TableMetric[] = TABLE_METRIC_NAMES.map((name) => {
  const m = builtInMetric(name)!;
  return { key: m.name, label: m.label, comparison: m.name, format: m.format };
});

export interface Cell {
  metric: string;
  value: number | null;
  ci: Interval | null;
  /** Relative lift against the control and its interval (treatments only). */
  lift: number | null;
  liftCi: Interval | null;
  significant: boolean;
}

export interface VariantRow {
  key: string;
  isControl: boolean;
  units: number;
  cells: Cell[];
}

/** What both the email and the results page show for one experiment. */
export interface ExperimentView {
  key: string;
  name: string;
  status: string;
  results: ExperimentResults;
  rows: VariantRow[];
  /** The latest finished offline evaluation run, when there is one (issue #19). */
  offline?: OfflineView | null;
}

/** The value of a table metric for a variant, read from the results exactly as the API returns them. */
export function metricValue(variant: VariantResult, metric: string): { value: number | null; ci: Interval | null } {
  const definition: MetricDefinition | undefined = builtInMetric(metric);
  if (definition?.kind === 'quantile') {
    const q = variant.metrics[definition.of]?.[definition.levelKey as `p${number}`];
    return { value: q?.value ?? null, ci: q?.ci ?? null };
  }
  const estimate = variant.metrics[metric];
  return { value: estimate?.mean ?? null, ci: estimate?.ci ?? null };
}

export function buildView(experiment: { key: string; name: string; status: string }, results: ExperimentResults): ExperimentView {
  const find = (variant: string, metric: string): Comparison | undefined =>
    results.comparisons.find((c) => c.variant === variant && c.metric === metric);
  const rows = results.variants.map((v) => ({
    key: v.key,
    isControl: v.isControl,
    units: v.units,
    cells: TABLE_METRICS.map((m) => {
      const c = v.isControl ? undefined : find(v.key, m.comparison);
      return {
        metric: m.key,
        ...metricValue(v, m.key),
        lift: c?.relativeLift ?? null,
        liftCi: c?.ci ?? null,
        significant: c?.significant ?? false,
      };
    }),
  }));
  return { key: experiment.key, name: experiment.name, status: experiment.status, results, rows };
}

/** What CUPED did for one treatment's primary metric: the share of variance removed and its effect on the time to a decision. */
export interface CupedLine {
  variant: string;
  varianceReduction: number;
  used: boolean;
  text: string;
}

/**
 * One sentence per treatment whose primary metric has a CUPED comparison (docs/cuped.md), for the
 * page and the email: how much variance it removed, from which covariate, and what that does to the
 * sample a decision needs (the same precision from 1 - reduction of the units; the units still needed).
 */
export function cupedLines(results: ExperimentResults): CupedLine[] {
  const primary = results.primaryMetric.name;
  const lines: CupedLine[] = [];
  for (const c of results.comparisons) {
    if (c.metric !== primary || !c.cuped) continue;
    const r = c.cuped.varianceReduction;
    const plan = results.planning.find((p) => p.variant === c.variant);
    const covariate = c.cuped.covariate === 'client' ? 'client-supplied covariates' : `the ${results.cuped.lookbackDays} days before exposure`;
    const parts = [
      `${c.variant}: CUPED removed ${(100 * r).toFixed(0)} % of the variance of ${primary} (from ${covariate}, ${c.cuped.unitsWithCovariate} of ${c.cuped.units} units with pre-exposure data),`,
      r > 0 ? `so a decision needs about ${(100 * (1 - r)).toFixed(0)} % of the units it would without it` : 'so it does not shorten the time to a decision',
    ];
    if (c.cuped.used && plan?.additionalUnits != null && plan.additionalUnitsUnadjusted != null && Number.isFinite(plan.additionalUnitsUnadjusted)) {
      parts.push(`(${Math.ceil(plan.additionalUnits)} more units instead of ${Math.ceil(plan.additionalUnitsUnadjusted)}).`);
    } else parts[1] += '.';
    if (!c.cuped.used) parts.push(results.cuped.mode === 'auto' ? 'Too few units have a covariate yet: the decision uses the unadjusted figures.' : 'The decision uses the unadjusted figures.');
    lines.push({ variant: c.variant, varianceReduction: r, used: c.cuped.used, text: parts.join(' ') });
  }
  return lines;
}

const ACTION_TEXT: Record<string, string> = {
  ship: 'Ship',
  keep_control: 'Keep the control',
  continue: 'Keep running',
  stop: 'Stop now',
};

/** "Ship treatment", "Keep the control", "Keep running", "Stop now". */
export function verdictText(results: ExperimentResults): string {
  const { action, winner } = results.decision;
  if (action === 'ship' && winner) return `Ship ${winner}`;
  return ACTION_TEXT[action] ?? action;
}

export function formatValue(value: number | null, format: MetricFormat): string {
  if (value === null || !Number.isFinite(value)) return '–';
  switch (format) {
    case 'percent':
      return `${(value * 100).toFixed(1)} %`;
    case 'decimal':
      return value.toFixed(3);
    case 'ms':
      return `${Math.round(value)} ms`;
    case 'usd':
      return `$${value.toPrecision(3)}`;
    case 'tokens':
      return value.toFixed(1);
  }
}

export function formatInterval(ci: Interval | null, format: MetricFormat): string {
  return ci ? `[${formatValue(ci[0], format)}, ${formatValue(ci[1], format)}]` : '';
}

/** "+4.2 % [+1.0 %, +7.5 %]" for a relative lift. */
export function formatLift(lift: number | null, ci: Interval | null): string {
  if (lift === null || !Number.isFinite(lift)) return '–';
  const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  return ci ? `${pct(lift)} [${pct(ci[0])}, ${pct(ci[1])}]` : pct(lift);
}

export function formatMetricOf(metric: string): MetricFormat {
  return builtInMetric(metric)?.format ?? 'decimal';
}
