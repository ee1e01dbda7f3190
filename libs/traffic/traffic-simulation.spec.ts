import { calculateResults, type ArmAggregates } from '../analysis/results-calculator';
import type { SrmSummary } from '../analysis/results.types';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import type { Variant } from '../experiments/experiment.types';
import { seededRng, type Rng } from '../stats/rng';
import { thompsonAllocation } from '../stats/thompson';
import { decideTrafficActions } from './traffic-policy';

/**
 * Simulations of the monitor's rule through the real statistics and results code
 * (the full service would take hours for this many repetitions): request-randomised
 * error rates, checked after every batch like a monitor running every minute.
 */
const variants: Variant[] = [
  { key: 'control', name: 'control', weight: 0.5, isControl: true, rolledBack: false, config: null, pricing: null },
  { key: 'b', name: 'b', weight: 0.5, isControl: false, rolledBack: false, config: null, pricing: null },
];
const experiment = (sequential: boolean, margin: number): Pick<ExperimentEntity, 'key' | 'unitType' | 'variants' | 'metrics' | 'stats'> => ({
  key: 'sim',
  unitType: 'request',
  variants,
  metrics: {
    primary: { name: 'success_rate', goal: 'increase' },
    secondary: [],
    guardrails: [{ name: 'error_rate', maxRelativeIncrease: margin }],
    custom: [],
    scoreRange: { min: 0, max: 1 },
  },
  stats: { alpha: 0.05, sequential, plannedUnits: 40_000 },
});
const okSrm: SrmSummary = { phase: 1, pValue: 1, ok: true, tested: true, counts: {}, weights: {} };

function arm(variant: string, events: number, errors: number): ArmAggregates {
  return {
    variant,
    units: events,
    events,
    costSum: 0,
    costUnknown: 0,
    ratios: {},
    moments: {
      error_rate: { n: events, sum: errors, sumSquares: errors },
      success_rate: { n: events, sum: events - errors, sumSquares: events - errors },
    },
    histograms: {},
  };
}

/** Runs `checks` monitor checks of `batch` events per arm; returns the check that rolled back, or null. */
function monitor(rng: Rng, rates: [number, number], checks: number, batch: number, sequential: boolean, margin: number): number | null {
  const errors = [0, 0];
  let events = 0;
  const spec = experiment(sequential, margin);
  for (let check = 1; check <= checks; check++) {
    events += batch;
    errors[0] += rng.binomial(batch, rates[0]);
    errors[1] += rng.binomial(batch, rates[1]);
    const results = calculateResults({ experiment: spec, phase: 1, arms: [arm('control', events, errors[0]), arm('b', events, errors[1])], srm: okSrm });
    const actions = decideTrafficActions({
      variants,
      ramp: null,
      bandit: null,
      guardrails: results.guardrails,
      srm: okSrm,
      phaseUnits: 2 * events,
      primary: { name: 'success_rate', rate: true, lowerIsBetter: false },
      arms: [],
      now: new Date(),
      seed: 1,
    });
    if (actions.some((a) => a.kind === 'rollback')) return check;
  }
  return null;
}

describe('guardrail monitor by simulation', () => {
  const repetitions = 100;
  const checks = 200;

  it('an A/A pair through 200 always-valid checks triggers no rollback in at least 95 % of seeded repetitions', () => {
    // Margin 0: any significant increase counts, the strictest setting for false alarms.
    let rolledBack = 0;
    for (let r = 0; r < repetitions; r++) {
      if (monitor(seededRng(1000 + r), [0.05, 0.05], checks, 50, true, 0) !== null) rolledBack += 1;
    }
    expect(rolledBack / repetitions).toBeLessThanOrEqual(0.05);
  });

  it('while a fixed-horizon test peeked at the same 200 times raises far more false alarms', () => {
    let rolledBack = 0;
    for (let r = 0; r < 40; r++) {
      if (monitor(seededRng(1000 + r), [0.05, 0.05], checks, 50, false, 0) !== null) rolledBack += 1;
    }
    expect(rolledBack / 40).toBeGreaterThan(0.05);
  });

  it('rolls back a variant with three times the control error rate within a bounded number of checks', () => {
    const when: number[] = [];
    for (let r = 0; r < 20; r++) {
      const check = monitor(seededRng(5000 + r), [0.05, 0.15], checks, 50, true, 0.2);
      expect(check).not.toBeNull();
      when.push(check!);
    }
    // 50 requests per arm per check: the breach is caught within 40 checks every time.
    expect(Math.max(...when)).toBeLessThanOrEqual(40);
  });
});

describe('bandit by simulation', () => {
  it('gives most traffic to the best of 0.60/0.65/0.70, keeps every floor, and its lift interval covers the truth', () => {
    const truth = [0.6, 0.65, 0.7];
    const floor = 0.05;
    const rounds = 30;
    const perRound = 600;
    let covered = 0;
    const seeds = 20;
    let bestShareAtEnd = 0;
    for (let s = 0; s < seeds; s++) {
      const rng = seededRng(7000 + s);
      let weights = [1 / 3, 1 / 3, 1 / 3];
      const successes = [0, 0, 0];
      const n = [0, 0, 0];
      // Per-phase absolute lift of arm 2 over arm 0 and its variance, combined by inverse variance:
      // within a phase the weights are fixed, so each phase's estimate is unbiased (docs/adr/0011-traffic-monitor.md).
      let precision = 0;
      let weightedLift = 0;
      for (let round = 0; round < rounds; round++) {
        const phaseS = [0, 0, 0];
        const phaseN = weights.map((w) => Math.round(w * perRound));
        phaseN.forEach((count, i) => (phaseS[i] = rng.binomial(count, truth[i])));
        phaseN.forEach((count, i) => {
          n[i] += count;
          successes[i] += phaseS[i];
        });
        if (phaseN[0] > 1 && phaseN[2] > 1) {
          const p0 = phaseS[0] / phaseN[0];
          const p2 = phaseS[2] / phaseN[2];
          const v = (p0 * (1 - p0)) / phaseN[0] + (p2 * (1 - p2)) / phaseN[2];
          if (v > 0) {
            precision += 1 / v;
            weightedLift += (p2 - p0) / v;
          }
        }
        const allocation = thompsonAllocation(
          successes.map((x, i) => ({ kind: 'bernoulli' as const, successes: x, n: n[i] })),
          { floor, method: 'monte-carlo', draws: 2000, seed: 1 + 100 * s + round },
        ).allocation;
        expect(Math.min(...allocation)).toBeGreaterThanOrEqual(floor - 1e-12);
        weights = allocation;
      }
      bestShareAtEnd += weights[2] / seeds;
      const lift = weightedLift / precision;
      const half = 1.96 / Math.sqrt(precision);
      if (lift - half <= 0.1 && 0.1 <= lift + half) covered += 1;
    }
    expect(bestShareAtEnd).toBeGreaterThan(0.5);
    // 95 % intervals over 20 seeds: at least 16 cover (P(X <= 15) < 2 % for Binomial(20, 0.95)).
    expect(covered).toBeGreaterThanOrEqual(16);
  });
});
