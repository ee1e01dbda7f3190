/**
 * What GET /v1/experiments/{key}/results must say, computed from the events a test sent.
 *
 * Written apart from the production code on purpose: nothing here imports libs/analysis,
 * libs/metrics or libs/stats. The metric definitions are the design's (docs/adr/0006),
 * the statistics are simple-statistics over per-unit sums with the formulas written out,
 * and only the t and normal distribution functions come from @stdlib. Quantiles are checked
 * against the exact order statistics of the values sent, within the sketch's documented
 * relative error (1 %) and one bucket (2 %) of interval widening.
 */
import normal from '@stdlib/stats-base-dists-normal';
import studentT from '@stdlib/stats-base-dists-t';
import * as ss from 'simple-statistics';

export interface SentOutcome {
  id: string;
  unitId: string;
  variant: string;
  latencyMs?: number;
  ttftMs?: number;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  success?: boolean;
  score?: number;
  error?: string;
  metrics?: Record<string, number>;
}

export interface ReferenceExperiment {
  unitType: 'user' | 'session' | 'request';
  variants: Array<{ key: string; isControl?: boolean }>;
  metrics: {
    primary: { name: string; goal: 'increase' | 'decrease' | 'non_inferior'; margin?: number };
    secondary?: Array<{ name: string; goal: 'increase' | 'decrease' | 'non_inferior' }>;
    guardrails?: Array<{ name: string; maxRelativeIncrease?: number; maxRelativeDecrease?: number }>;
    custom?: Array<{ name: string; lowerIsBetter?: boolean; denominator?: 'reported' | 'events' }>;
  };
  stats: { alpha: number; sequential: boolean; plannedUnits?: number };
}

type Pair = [number, number];
const has = (x: unknown) => x !== undefined && x !== null;

/** Per event (numerator, denominator) of each built-in mean or ratio metric, from the design. */
const BUILT_IN: Record<string, (e: SentOutcome) => Pair> = {
  success_rate: (e) => [e.success === true ? 1 : 0, has(e.success) ? 1 : 0],
  score: (e) => [e.score ?? 0, has(e.score) ? 1 : 0],
  error_rate: (e) => [has(e.error) ? 1 : 0, 1],
  latency_ms: (e) => [e.latencyMs ?? 0, has(e.latencyMs) ? 1 : 0],
  ttft_ms: (e) => [e.ttftMs ?? 0, has(e.ttftMs) ? 1 : 0],
  input_tokens: (e) => [e.inputTokens ?? 0, has(e.inputTokens) ? 1 : 0],
  output_tokens: (e) => [e.outputTokens ?? 0, has(e.outputTokens) ? 1 : 0],
  cost_usd: (e) => [e.costUsd ?? 0, has(e.costUsd) ? 1 : 0],
  cost_per_success: (e) => [e.costUsd ?? 0, e.success === true ? 1 : 0],
};
const LOWER_IS_BETTER = new Set(['error_rate', 'latency_ms', 'ttft_ms', 'input_tokens', 'output_tokens', 'cost_usd', 'cost_per_success']);
/** Compared whether declared or not, in the results' order (docs/adr/0007). */
const DEFAULT_COMPARED = [...Object.keys(BUILT_IN), 'latency_p50', 'latency_p90', 'latency_p95', 'latency_p99'];

export interface Summary {
  n: number;
  mean: number;
  variance: number;
}

/** Delta-method ratio sum(y)/sum(z) over units, per-unit variance with n - 1 moments (Deng et al. 2018). */
function ratio(units: Pair[]): Summary | null {
  const n = units.length;
  const zs = units.map((u) => u[1]);
  if (n === 0 || ss.sum(zs) === 0) return null;
  const ys = units.map((u) => u[0]);
  const mean = ss.sum(ys) / ss.sum(zs);
  if (n < 2) return { n, mean, variance: NaN };
  const my = ss.mean(ys);
  const mz = ss.mean(zs);
  const variance = ss.sampleVariance(ys) / mz ** 2 - (2 * ss.sampleCovariance(ys, zs) * my) / mz ** 3 + (ss.sampleVariance(zs) * my ** 2) / mz ** 4;
  return { n, mean, variance };
}

/** Plain mean of values (each a unit): sample variance. */
function plain(values: number[]): Summary | null {
  if (values.length === 0) return null;
  return { n: values.length, mean: ss.mean(values), variance: values.length < 2 ? NaN : ss.sampleVariance(values) };
}

export class Reference {
  readonly alpha: number;
  readonly z: number;
  readonly control: string;
  private readonly custom: Map<string, { lowerIsBetter: boolean; denominator: 'reported' | 'events' }>;

  constructor(
    readonly experiment: ReferenceExperiment,
    readonly events: SentOutcome[],
    readonly exposed: Record<string, number>,
  ) {
    this.alpha = experiment.stats.alpha;
    this.z = normal.quantile(1 - this.alpha / 2, 0, 1);
    this.control = experiment.variants.find((v) => v.isControl)!.key;
    this.custom = new Map((experiment.metrics.custom ?? []).map((c) => [c.name, { lowerIsBetter: c.lowerIsBetter === true, denominator: c.denominator ?? 'reported' }]));
  }

  of(variant: string): SentOutcome[] {
    return this.events.filter((e) => e.variant === variant);
  }

  private units(variant: string): Map<string, SentOutcome[]> {
    const byUnit = new Map<string, SentOutcome[]>();
    for (const e of this.of(variant)) byUnit.set(e.unitId, [...(byUnit.get(e.unitId) ?? []), e]);
    return byUnit;
  }

  estimatedMetrics(): string[] {
    return [...Object.keys(BUILT_IN), ...this.custom.keys()];
  }

  /** The arm's summary of a mean, ratio or custom metric, as the unit of analysis requires. */
  summary(variant: string, metric: string): Summary | null {
    const custom = this.custom.get(metric);
    const perEvent: (e: SentOutcome) => Pair = custom
      ? custom.denominator === 'reported'
        ? (e) => [e.metrics?.[metric] ?? 0, has(e.metrics?.[metric]) ? 1 : 0]
        : (e) => [e.metrics?.[metric] ?? 0, 1]
      : BUILT_IN[metric];
    if (this.experiment.unitType === 'request') {
      // Each event is a unit: the mean of the values reported (a ratio of two sums stays a ratio over request-units).
      if (metric === 'cost_per_success') return ratio(this.of(variant).map(perEvent));
      return plain(this.of(variant).map(perEvent).filter(([, z]) => z === 1).map(([y]) => y));
    }
    let sums = [...this.units(variant).values()].map((events) => events.map(perEvent).reduce((a, b): Pair => [a[0] + b[0], a[1] + b[1]], [0, 0]));
    // Custom metrics over the events that reported them: the units that reported the metric.
    if (custom?.denominator === 'reported') sums = sums.filter(([, z]) => z > 0);
    return ratio(sums);
  }

  estimate(variant: string, metric: string): { mean: number | null; se: number | null; ci: Pair | null; n: number } {
    const s = this.summary(variant, metric);
    if (!s) return { mean: null, se: null, ci: null, n: 0 };
    const se = s.n >= 2 && s.variance >= 0 ? Math.sqrt(s.variance / s.n) : null;
    return { mean: s.mean, se, ci: se === null ? null : [s.mean - this.z * se, s.mean + this.z * se], n: s.n };
  }

  /** Sorted values of a latency field in an arm. */
  values(variant: string, field: 'latencyMs' | 'ttftMs'): number[] {
    return this.of(variant).flatMap((e) => (has(e[field]) ? [e[field]!] : [])).sort((a, b) => a - b);
  }

  /** Design effect of latency quantiles for user units: per-unit ratio variance over the iid one, at least 1. */
  designEffect(variant: string, metric: 'latency_ms' | 'ttft_ms'): number {
    if (this.experiment.unitType === 'request') return 1;
    const unit = this.summary(variant, metric);
    const values = this.values(variant, metric === 'latency_ms' ? 'latencyMs' : 'ttftMs');
    if (!unit || values.length < 2) return 1;
    const iid = ss.sampleVariance(values) / values.length;
    if (!(iid > 0)) return 1;
    return Math.max(1, unit.variance / unit.n / iid);
  }

  /** The order statistics the interval of quantile q stands for: x_(floor(level (n - 1))) at q and its outer levels. */
  quantileRanks(variant: string, metric: 'latency_ms' | 'ttft_ms', q: number): { exact: number; lower: number; upper: number } {
    const values = this.values(variant, metric === 'latency_ms' ? 'latencyMs' : 'ttftMs');
    const n = values.length;
    const s = Math.sqrt((q * (1 - q) * this.designEffect(variant, metric)) / n);
    const at = (level: number) => values[Math.floor(Math.min(1, Math.max(0, level)) * (n - 1))];
    return { exact: at(q), lower: at(q - this.z * s), upper: at(q + this.z * s) };
  }

  /**
   * The quantile as a log-bucket sketch with 1 % relative accuracy reports it (DDSketch, Masson et al.
   * 2019, written out: bucket i = ceil(log_gamma x) holds (gamma^(i-1), gamma^i], gamma = 1.01/0.99):
   * the value is the representative 2 gamma^i/(gamma + 1) of the exact order statistic's bucket, the
   * interval runs from the lower edge of the lower order statistic's bucket to the upper edge of the
   * upper one's, and se = width/(2 z).
   */
  quantile(variant: string, metric: 'latency_ms' | 'ttft_ms', q: number): { value: number; ci: Pair; se: number; n: number } {
    const r = this.quantileRanks(variant, metric, q);
    const g = 1.01 / 0.99;
    const bucket = (x: number) => Math.ceil(Math.log(x) / Math.log(g));
    const ci: Pair = [g ** (bucket(r.lower) - 1), g ** bucket(r.upper)];
    return {
      value: (2 * g ** bucket(r.exact)) / (g + 1),
      ci,
      se: (ci[1] - ci[0]) / (2 * this.z),
      n: this.values(variant, metric === 'latency_ms' ? 'latencyMs' : 'ttftMs').length,
    };
  }

  comparedMetrics(): Array<{ name: string; role: string }> {
    const out: Array<{ name: string; role: string }> = [];
    const add = (name: string, role: string) => {
      if (!out.some((m) => m.name === name)) out.push({ name, role });
    };
    const m = this.experiment.metrics;
    add(m.primary.name, 'primary');
    for (const s of m.secondary ?? []) add(s.name, 'secondary');
    for (const g of m.guardrails ?? []) add(g.name, 'guardrail');
    for (const name of DEFAULT_COMPARED) add(name, 'other');
    for (const name of this.custom.keys()) add(name, 'other');
    return out;
  }

  lowerIsBetter(name: string, role: string): boolean {
    const own = this.custom.get(name)?.lowerIsBetter ?? LOWER_IS_BETTER.has(name.replace(/_p\d+$/, '_ms'));
    const goal = role === 'primary' ? this.experiment.metrics.primary.goal : (this.experiment.metrics.secondary ?? []).find((s) => s.name === name)?.goal;
    if (goal === 'increase') return false;
    if (goal === 'decrease') return true;
    return own;
  }

  /** Interval and p-value of an effect, sequential (GrowthBook's confidence sequence) or fixed (Welch t, or normal). */
  test(d: number, se: number, n: number, dof: number): { ci: Pair; pValue: number } {
    const { alpha } = this;
    if (this.experiment.stats.sequential) {
      const tuning = this.experiment.stats.plannedUnits ?? 5000;
      const l = -2 * Math.log(alpha);
      const rho2 = (l + Math.log(l + 1)) / tuning;
      const a = n * rho2 + 1;
      const half = se * Math.sqrt(n) * Math.sqrt((2 * a * Math.log(Math.sqrt(a) / alpha)) / (n * n * rho2));
      const z2 = (d * d * n) / (se * se);
      return { ci: [d - half, d + half], pValue: Math.min(1, Math.sqrt(a) * Math.exp((-rho2 * z2) / (2 * a))) };
    }
    const cdf = (x: number) => (Number.isFinite(dof) ? studentT.cdf(x, dof) : normal.cdf(x, 0, 1));
    const q = Number.isFinite(dof) ? studentT.quantile(1 - alpha / 2, dof) : normal.quantile(1 - alpha / 2, 0, 1);
    return { ci: [d - q * se, d + q * se], pValue: Math.min(1, 2 * cdf(-Math.abs(d / se))) };
  }

  /** Relative and absolute effects of a mean metric (delta method), or null when the statistics refuse them. */
  meanEffect(variant: string, metric: string) {
    const c = this.summary(this.control, metric);
    const t = this.summary(variant, metric);
    if (!c || !t || c.n < 2 || t.n < 2 || !(c.variance > 0) || !(t.variance > 0) || c.mean === 0) return null;
    const a = t.variance / t.n;
    const b = c.variance / c.n;
    const dof = (a + b) ** 2 / (a ** 2 / (t.n - 1) + b ** 2 / (c.n - 1));
    const rel = (t.mean - c.mean) / Math.abs(c.mean);
    const relSe = Math.sqrt(t.variance / (t.n * c.mean ** 2) + (c.variance * t.mean ** 2) / (c.n * c.mean ** 4));
    return { rel, relSe, abs: t.mean - c.mean, absSe: Math.sqrt(a + b), n: c.n + t.n, dof };
  }

  srm(): { counts: Record<string, number>; pValue: number } {
    const keys = this.experiment.variants.map((v) => v.key);
    const total = ss.sum(keys.map((k) => this.exposed[k] ?? 0));
    const chi2 = ss.sum(keys.map((k) => ((this.exposed[k] ?? 0) - total / keys.length) ** 2 / (total / keys.length)));
    // Two arms, one degree of freedom: chi-square(1) survival = 2 (1 - Phi(sqrt(chi2))).
    return { counts: Object.fromEntries(keys.map((k) => [k, this.exposed[k] ?? 0])), pValue: 2 * (1 - normal.cdf(Math.sqrt(chi2), 0, 1)) };
  }
}

/** Holm's step-down adjustment, input order kept. */
export function holm(ps: number[]): number[] {
  const order = ps.map((_, i) => i).sort((i, j) => ps[i] - ps[j]);
  const out: number[] = [];
  let running = 0;
  order.forEach((i, rank) => {
    running = Math.max(running, Math.min(1, (ps.length - rank) * ps[i]));
    out[i] = running;
  });
  return out;
}

export const normalCdf = (x: number) => normal.cdf(x, 0, 1);
