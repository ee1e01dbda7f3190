import { LogHistogram, type MomentStats, quantileDifference, quantileSummary, ratioFromValues, seededRng, type Rng } from '../stats';
import { type ArmAggregates, quantileDesignEffect } from './results-calculator';

/**
 * The results serve latency quantile intervals for user units with a design effect taken from
 * the aggregates (quantileDesignEffect: the per-unit mean's variance inflation), an
 * approximation of the exact indicator design effect, which would need per-unit counts below
 * the quantile (docs/adr/0006). No reference values exist for it, so this checks by simulation,
 * through the same code path the results use (log histogram + quantileSummary), that A/A
 * intervals for p50/p90/p95 keep their 95 % coverage under within-user correlation, where
 * intervals that treat requests as independent do not.
 */

const band = (p: number, runs: number): [number, number] => {
  const se = Math.sqrt((p * (1 - p)) / runs);
  return [p - 3.5 * se, p + 3.5 * se];
};

type UserModel = (rng: Rng) => number[];

/** Users with a shared latency level: strong within-user correlation, 1 to 9 requests. */
const sharedLevel: UserModel = (rng) => {
  const level = Math.exp(rng.normal(6, 0.8));
  const k = 1 + Math.floor(rng.uniform() * 9);
  return Array.from({ length: k }, () => level * Math.exp(rng.normal(0, 0.3)));
};

/** Users that differ in spread, not only in level: a fifth are erratic, and heavy users make more requests. */
const mixedSpread: UserModel = (rng) => {
  const erratic = rng.uniform() < 0.2;
  const level = Math.exp(rng.normal(6, 0.3));
  const k = erratic ? 5 + Math.floor(rng.uniform() * 15) : 1 + Math.floor(rng.uniform() * 5);
  return Array.from({ length: k }, () => level * Math.exp(rng.normal(0, erratic ? 0.9 : 0.15)));
};

/** What the aggregates hold for one arm's latency: per-unit ratio sums, per-event moments, the histogram. */
function arm(users: number[][]): { aggregates: ArmAggregates; histogram: LogHistogram } {
  const histogram = new LogHistogram();
  const moments: MomentStats = { n: 0, sum: 0, sumSquares: 0 };
  for (const u of users) {
    for (const x of u) {
      histogram.add(x);
      moments.n += 1;
      moments.sum += x;
      moments.sumSquares += x * x;
    }
  }
  const ratios = { latency_ms: ratioFromValues(users.map((u) => [u.reduce((s, x) => s + x, 0), u.length] as const)) };
  const aggregates: ArmAggregates = { variant: 'x', units: users.length, events: moments.n, costSum: 0, costUnknown: 0, ratios, moments: { latency_ms: moments }, histograms: {} };
  return { aggregates, histogram };
}

describe.each([
  ['shared level per user', sharedLevel],
  ['users differing in spread', mixedSpread],
])('A/A latency quantile intervals for user units (%s)', (_name, model) => {
  it.each([0.5, 0.9, 0.95])('p%s: the design-effect interval covers a zero difference at about 95 %%; the iid one does not', (q) => {
    const rng = seededRng(Math.round(q * 1000) + (model === sharedLevel ? 0 : 7));
    const runs = 400;
    let covered = 0;
    let coveredIid = 0;
    for (let r = 0; r < runs; r++) {
      const a = arm(Array.from({ length: 300 }, () => model(rng)));
      const b = arm(Array.from({ length: 300 }, () => model(rng)));
      const summary = (x: typeof a, deff: boolean) =>
        quantileSummary(x.histogram, q, { designEffect: deff ? quantileDesignEffect('user', x.aggregates, 'latency_ms') : 1 });
      const d = quantileDifference(summary(a, true), summary(b, true));
      if (d.ci[0] <= 0 && 0 <= d.ci[1]) covered++;
      const iid = quantileDifference(summary(a, false), summary(b, false));
      if (iid.ci[0] <= 0 && 0 <= iid.ci[1]) coveredIid++;
    }
    const [lo] = band(0.95, runs);
    expect(covered / runs).toBeGreaterThanOrEqual(lo);
    expect(coveredIid / runs).toBeLessThan(lo);
  });
});
