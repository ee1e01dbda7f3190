import { seededRng, type CupedIndicatorStats, type RatioStats, type Rng } from '../stats';
import { calculateResults, type ArmAggregates, type CalculatorInput } from './results-calculator';
import type { CupedMode } from '../experiments/experiment.types';

/**
 * CUPED in the calculator: A/A runs with users whose level persists from the pre-period into the
 * experiment (a quarter of them without pre-period data) must flag each adjusted metric at about
 * alpha, while the adjustment removes a good share of the variance. Arms are built the way
 * analysis-store.ts's SQL sums them: per-unit (numerator, denominator) in and before the experiment.
 */
const RUNS = 400;
const ALPHA = 0.05;
const band = (p: number, runs: number) => {
  const se = Math.sqrt((p * (1 - p)) / runs);
  return { lo: p - 3.5 * se, hi: p + 3.5 * se };
};

type Unit = Record<string, [number, number, number, number]>;
const METRICS = ['score', 'success_rate', 'latency_ms', 'cost_per_success'];

/** One unit: per metric (numerator, denominator) in the experiment and before it. */
function unit(rng: Rng, withPre: boolean): Unit {
  const level = rng.normal(0, 1);
  const sums = (k: number) => {
    const s = { score: [0, 0], success_rate: [0, 0], latency_ms: [0, 0], cost_per_success: [0, 0] } as Record<string, [number, number]>;
    for (let j = 0; j < k; j++) {
      const score = 0.6 + 0.1 * level + 0.08 * rng.normal(0, 1);
      const success = rng.uniform() < 0.6 + 0.15 * Math.tanh(level) ? 1 : 0;
      const latency = 700 * Math.exp(0.3 * level + 0.2 * rng.normal(0, 1));
      const cost = 0.01 * Math.exp(0.2 * level) * (0.8 + 0.4 * rng.uniform());
      s.score[0] += score;
      s.score[1] += 1;
      s.success_rate[0] += success;
      s.success_rate[1] += 1;
      s.latency_ms[0] += latency;
      s.latency_ms[1] += 1;
      s.cost_per_success[0] += cost;
      s.cost_per_success[1] += success;
    }
    return s;
  };
  const post = sums(1 + Math.floor(rng.uniform() * 4));
  const pre = withPre ? sums(1 + Math.floor(rng.uniform() * 5)) : sums(0);
  return Object.fromEntries(METRICS.map((m) => [m, [post[m][0], post[m][1], pre[m][0], pre[m][1]]]));
}

function arm(variant: string, units: Unit[]): ArmAggregates {
  const ratios: Record<string, RatioStats> = {};
  const cuped: NonNullable<ArmAggregates['cuped']> = {};
  for (const m of METRICS) {
    const post: RatioStats = { n: 0, sumNum: 0, sumNumSquares: 0, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 };
    const s: CupedIndicatorStats = {
      post,
      pre: { n: 0, sumNum: 0, sumNumSquares: 0, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 },
      sumNumPostNumPre: 0, sumDenPostDenPre: 0, sumNumPostDenPre: 0, sumNumPreDenPost: 0, withPre: 0, sumNumPostWithPre: 0, sumDenPostWithPre: 0,
    };
    let withPre = 0;
    for (const u of units) {
      const [y, z, p, q] = u[m];
      post.n += 1; post.sumNum += y; post.sumNumSquares += y * y; post.sumDen += z; post.sumDenSquares += z * z; post.sumNumDen += y * z;
      s.pre.n += 1; s.pre.sumNum += p; s.pre.sumNumSquares += p * p; s.pre.sumDen += q; s.pre.sumDenSquares += q * q; s.pre.sumNumDen += p * q;
      s.sumNumPostNumPre += y * p; s.sumDenPostDenPre += z * q; s.sumNumPostDenPre += y * q; s.sumNumPreDenPost += p * z;
      if (q !== 0) withPre += 1;
      if (p !== 0 || q !== 0) {
        s.withPre += 1;
        s.sumNumPostWithPre += y;
        s.sumDenPostWithPre += z;
      }
    }
    ratios[m] = post;
    cuped[m] = { source: 'pre-period', withCovariate: withPre, stats: s };
  }
  return { variant, units: units.length, events: 0, costSum: 0, costUnknown: 0, ratios, moments: {}, histograms: {}, cuped };
}

function experiment(sequential: boolean, mode: CupedMode, unitType: 'user' | 'request' = 'user'): CalculatorInput['experiment'] {
  return {
    key: 'aa',
    unitType,
    variants: [
      { key: 'control', name: 'control', weight: 0.5, isControl: true, rolledBack: false, config: null, pricing: null },
      { key: 'treatment', name: 'treatment', weight: 0.5, isControl: false, rolledBack: false, config: null, pricing: null },
    ],
    metrics: { primary: { name: 'score', goal: 'increase' }, secondary: [], guardrails: [{ name: 'latency_ms', maxRelativeIncrease: 0.05 }], custom: [], scoreRange: { min: 0, max: 2 } },
    stats: { alpha: ALPHA, sequential, plannedUnits: null, cuped: { mode, lookbackDays: 14 } },
  };
}

const srm = { phase: 1, pValue: 1, ok: true, tested: false, counts: {}, weights: {} };

function run(rng: Rng, units: number, preShare = 0.75): ArmAggregates[] {
  return ['control', 'treatment'].map((v) => arm(v, Array.from({ length: units }, () => unit(rng, rng.uniform() < preShare))));
}

describe('CUPED in the calculator', () => {
  it(`flags each adjusted metric at about alpha in A/A runs (fixed horizon, ${RUNS} runs) and removes variance`, () => {
    const rng = seededRng(20);
    const flagged: Record<string, number> = {};
    const reduction: Record<string, number> = {};
    for (let r = 0; r < RUNS; r++) {
      const results = calculateResults({ experiment: experiment(false, 'on'), phase: 1, arms: run(rng, 200), srm });
      for (const m of METRICS) {
        const c = results.comparisons.find((x) => x.metric === m)!;
        expect(c.cuped).not.toBeNull();
        flagged[m] = (flagged[m] ?? 0) + (c.cuped!.pValue < ALPHA ? 1 : 0);
        reduction[m] = (reduction[m] ?? 0) + c.cuped!.varianceReduction / RUNS;
      }
    }
    const { lo, hi } = band(ALPHA, RUNS);
    for (const m of METRICS) {
      const rate = flagged[m] / RUNS;
      expect({ m, rate, within: rate >= lo && rate <= hi }).toEqual({ m, rate, within: true });
    }
    // The level explains most of score and latency, little of success and cost per success.
    expect(reduction.score).toBeGreaterThan(0.3);
    expect(reduction.latency_ms).toBeGreaterThan(0.3);
    for (const m of METRICS) expect(reduction[m]).toBeGreaterThan(0);
  });

  it('flags no adjusted metric above alpha with the always-valid sequential test (100 runs)', () => {
    const rng = seededRng(21);
    const flagged: Record<string, number> = {};
    for (let r = 0; r < 100; r++) {
      const results = calculateResults({ experiment: experiment(true, 'on'), phase: 1, arms: run(rng, 200), srm });
      for (const m of METRICS) flagged[m] = (flagged[m] ?? 0) + (results.comparisons.find((x) => x.metric === m)!.cuped!.pValue < ALPHA ? 1 : 0);
    }
    for (const m of METRICS) expect({ m, ok: flagged[m] / 100 <= band(ALPHA, 100).hi }).toEqual({ m, ok: true });
  });

  it('decides on the adjusted figures as the setting says (off: none computed)', () => {
    const arms = run(seededRng(22), 300);
    const on = calculateResults({ experiment: experiment(true, 'on'), phase: 1, arms, srm });
    const off = calculateResults({ experiment: experiment(true, 'off'), phase: 1, arms, srm });
    const auto = calculateResults({ experiment: experiment(true, 'auto'), phase: 1, arms, srm });
    const score = (r: typeof on) => r.comparisons.find((c) => c.metric === 'score')!;
    expect(score(on).cuped!.used).toBe(true);
    expect(score(auto).cuped!.used).toBe(true);
    expect(off.comparisons.every((c) => c.cuped === null)).toBe(true);
    // The unadjusted numbers are the same either way; only what the rule reads changes.
    expect(score(off).ci).toEqual(score(on).ci);
    expect(on.guardrails[0].ci).toEqual(on.comparisons.find((c) => c.metric === 'latency_ms')!.cuped!.ci);
    expect(off.guardrails[0].ci).toEqual(off.comparisons.find((c) => c.metric === 'latency_ms')!.ci);
    expect(on.planning[0].additionalUnits!).toBeLessThan(on.planning[0].additionalUnitsUnadjusted!);
    expect(off.planning[0]).toMatchObject({ varianceReduction: null, additionalUnits: off.planning[0].additionalUnitsUnadjusted });
    expect([on.cuped.used, off.cuped.used]).toEqual([true, false]);
  });

  it('under auto, waits until enough units have a covariate', () => {
    const few = run(seededRng(23), 300, 0.05);
    const auto = calculateResults({ experiment: experiment(true, 'auto'), phase: 1, arms: few, srm });
    const c = auto.comparisons.find((x) => x.metric === 'score')!.cuped!;
    expect(c.unitsWithCovariate / c.units).toBeLessThan(0.1);
    expect(c.used).toBe(false);
    expect(calculateResults({ experiment: experiment(true, 'on'), phase: 1, arms: few, srm }).comparisons.find((x) => x.metric === 'score')!.cuped!.used).toBe(true);
  });

  it('gives no CUPED figures without pre-period data in an arm, nor for request units', () => {
    const none = run(seededRng(24), 100, 0);
    expect(calculateResults({ experiment: experiment(true, 'on'), phase: 1, arms: none, srm }).comparisons.every((c) => c.cuped === null)).toBe(true);
    const arms = run(seededRng(25), 100);
    expect(calculateResults({ experiment: experiment(true, 'on', 'request'), phase: 1, arms, srm }).comparisons.every((c) => c.cuped === null)).toBe(true);
  });
});
