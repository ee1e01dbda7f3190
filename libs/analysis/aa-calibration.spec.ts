import { AggregateDeltas } from '../ingestion/outcome-aggregator';
import { sumMetrics } from '../metrics/metric-registry';
import type { OutcomeRecord } from '../queue/queues';
import { seededRng, type RatioStats, type Rng } from '../stats';
import { calculateResults, type ArmAggregates, type CalculatorInput } from './results-calculator';

/**
 * A/A calibration across the metrics, through the code path of the results: events go through
 * the ingestion aggregator (AggregateDeltas), its per-unit sums are summed per variant the way
 * analysis-store.ts's SQL does, and calculateResults tests every metric. Over many seeded A/A
 * runs, each metric must be flagged significant (unadjusted p < alpha, fixed horizon) at about
 * alpha: within 3.5 binomial standard errors of it. Quantile intervals are outer order-statistic
 * intervals widened to whole sketch buckets, valid but conservative, so they are held to the
 * upper side only; so are the always-valid sequential p-values. test/analysis/sweep.test.ts
 * checks the same numbers through HTTP against an independent computation.
 */
const RUNS = 300;
const ALPHA = 0.05;
const band = (p: number, runs: number) => {
  const se = Math.sqrt((p * (1 - p)) / runs);
  return { lo: p - 3.5 * se, hi: p + 3.5 * se };
};

/** One arm of A/A traffic: users with a shared latency level, failures without tokens or cost, two custom metrics. */
function events(rng: Rng, variant: string, units: number, perUnit: [number, number], run: number): OutcomeRecord[] {
  const out: OutcomeRecord[] = [];
  for (let u = 0; u < units; u++) {
    const level = Math.exp(0.3 * rng.normal(0, 1));
    const k = perUnit[0] + Math.floor(rng.uniform() * (perUnit[1] - perUnit[0] + 1));
    for (let j = 0; j < k; j++) {
      const failed = rng.uniform() < 0.05;
      const latencyMs = Math.round(700 * level * Math.exp(0.3 * rng.normal(0, 1)) * 10) / 10;
      const metrics: Record<string, number> = {};
      if (rng.uniform() < 0.4) metrics.thumbs_up = rng.uniform() < 0.7 ? 1 : 0;
      if (rng.uniform() < 0.2) metrics.retries = 1 + Math.floor(rng.uniform() * 3);
      out.push({
        experimentId: 'x', eventId: `${run}-${variant}-${u}-${j}`, phase: 1, unitId: `${variant}-${u}`, variant, at: '2026-11-01T00:00:00.000Z',
        latencyMs,
        ttftMs: failed ? null : Math.round(latencyMs * 0.2 * 10) / 10,
        inputTokens: failed ? null : 300 + Math.floor(rng.uniform() * 400),
        outputTokens: failed ? null : 100 + Math.floor(rng.uniform() * 200),
        costUsd: failed ? null : Math.round(0.01 * (0.5 + rng.uniform()) * 1e6) / 1e6,
        costComputed: false,
        success: failed ? false : rng.uniform() < 0.7,
        score: failed ? null : Math.min(1, Math.max(0, 0.7 + 0.15 * rng.normal(0, 1))),
        error: failed ? 'timeout' : null,
        metrics: Object.keys(metrics).length ? metrics : null,
      });
    }
  }
  return out;
}

const ratioOf = (pairs: Array<[number, number]>): RatioStats => {
  const s: RatioStats = { n: 0, sumNum: 0, sumNumSquares: 0, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 };
  for (const [y, z] of pairs) {
    s.n += 1;
    s.sumNum += y;
    s.sumNumSquares += y * y;
    s.sumDen += z;
    s.sumDenSquares += z * z;
    s.sumNumDen += y * z;
  }
  return s;
};

/** What analysis-store.ts reads from the aggregates, summed here from the aggregator's deltas. */
function armsOf(deltas: AggregateDeltas): ArmAggregates[] {
  const arms = new Map<string, ArmAggregates>();
  const arm = (variant: string) => {
    let a = arms.get(variant);
    if (!a) arms.set(variant, (a = { variant, units: 0, events: 0, costSum: 0, costUnknown: 0, ratios: {}, moments: {}, histograms: {} }));
    return a;
  };
  const units = [...deltas.units.values()];
  for (const variant of new Set(units.map((u) => u.key.variant))) {
    const mine = units.filter((u) => u.key.variant === variant && u.v.events > 0);
    const a = arm(variant);
    a.units = mine.length;
    a.events = mine.reduce((s, u) => s + u.v.events, 0);
    a.costSum = mine.reduce((s, u) => s + u.v.cost_sum, 0);
    a.costUnknown = mine.reduce((s, u) => s + u.v.cost_unknown, 0);
    for (const m of sumMetrics()) {
      a.ratios[m.name] = ratioOf(mine.map((u) => [u.v[m.numerator.column as keyof typeof u.v], u.v[m.denominator.column as keyof typeof u.v]]));
    }
    const byUnit = new Map([...deltas.unitMetrics.values()].map((x) => [`${x.key.unitId}\u0000${x.metric}`, x]));
    const metricOf = (unitId: string, metric: string) => byUnit.get(`${unitId}\u0000${metric}`);
    a.ratios.thumbs_up = ratioOf(mine.flatMap((u) => {
      const m = metricOf(u.key.unitId, 'thumbs_up');
      return m && m.m.n > 0 ? [[m.m.sum, m.m.n] as [number, number]] : [];
    }));
    a.ratios.retries = ratioOf(mine.map((u) => [metricOf(u.key.unitId, 'retries')?.m.sum ?? 0, u.v.events]));
  }
  for (const m of deltas.moments.values()) arm(m.variant).moments[m.metric] = { n: m.m.n, sum: m.m.sum, sumSquares: m.m.sumsq };
  for (const h of deltas.histograms.values()) (arm(h.variant).histograms[h.metric] ??= []).push({ index: h.bucket, count: h.count });
  return [...arms.values()];
}

function experiment(unitType: 'user' | 'request', sequential: boolean): CalculatorInput['experiment'] {
  return {
    key: 'aa',
    unitType,
    variants: [
      { key: 'control', name: 'control', weight: 0.5, isControl: true, rolledBack: false, config: null, pricing: null },
      { key: 'treatment', name: 'treatment', weight: 0.5, isControl: false, rolledBack: false, config: null, pricing: null },
    ],
    metrics: {
      primary: { name: 'success_rate', goal: 'increase' },
      secondary: [],
      guardrails: [],
      custom: [
        { name: 'thumbs_up', lowerIsBetter: false, denominator: 'reported', label: 'thumbs_up', format: 'decimal' },
        { name: 'retries', lowerIsBetter: true, denominator: 'events', label: 'retries', format: 'decimal' },
      ],
      scoreRange: { min: 0, max: 1 },
    },
    stats: { alpha: ALPHA, sequential, plannedUnits: null },
  };
}

/** Share of runs flagging each metric. */
function flagRates(unitType: 'user' | 'request', sequential: boolean, seed: number, runs = RUNS): Record<string, number> {
  const rng = seededRng(seed);
  const flagged: Record<string, number> = {};
  const spec = experiment(unitType, sequential);
  const perUnit: [number, number] = unitType === 'user' ? [1, 4] : [1, 1];
  const units = unitType === 'user' ? 250 : 500;
  const untested = new Set<string>();
  for (let run = 0; run < runs; run++) {
    const deltas = new AggregateDeltas();
    for (const variant of ['control', 'treatment']) for (const e of events(rng, variant, units, perUnit, run)) deltas.addEvent(e, unitType === 'request');
    const results = calculateResults({ experiment: spec, phase: 1, arms: armsOf(deltas), srm: { phase: 1, pValue: 1, ok: true, tested: false, counts: {}, weights: {} } });
    for (const c of results.comparisons) {
      if (c.pValue === null) untested.add(c.metric);
      flagged[c.metric] = (flagged[c.metric] ?? 0) + (c.pValue !== null && c.pValue < ALPHA ? 1 : 0);
    }
  }
  expect([...untested]).toEqual([]);
  return Object.fromEntries(Object.entries(flagged).map(([m, k]) => [m, k / runs]));
}

describe.each([['user' as const, 11], ['request' as const, 12]])('A/A through the aggregator and the calculator, %s units', (unitType, seed) => {
  const { lo, hi } = band(ALPHA, RUNS);

  it(`flags each mean, rate and ratio metric at about alpha (fixed horizon, ${RUNS} runs), quantiles at most at alpha`, () => {
    const rates = flagRates(unitType, false, seed);
    expect(Object.keys(rates).length).toBe(15);
    for (const [metric, rate] of Object.entries(rates)) {
      const quantile = /_p\d+$/.test(metric);
      expect({ metric, rate, within: rate <= hi && (quantile || rate >= lo) }).toEqual({ metric, rate, within: true });
    }
  });

  it('flags no metric above alpha with the always-valid sequential test (100 runs)', () => {
    const upper = band(ALPHA, 100).hi;
    for (const [metric, rate] of Object.entries(flagRates(unitType, true, seed + 100, 100))) expect({ metric, ok: rate <= upper }).toEqual({ metric, ok: true });
  });
});
