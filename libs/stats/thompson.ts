/**
 * Thompson-sampling allocation: each arm's traffic share is its posterior probability
 * of being best, floored so that every arm keeps learning, and logged with each
 * assignment. Bernoulli rewards use Beta posteriors; Gaussian rewards use normal
 * posteriors N(mean, sd^2) (pass lowerIsBetter for cost or latency).
 *
 * 'exact' (default): P_k = int f_k(x) prod_{j != k} F_j(x) dx by quadrature (1-D, cheap).
 * 'monte-carlo': `draws` joint posterior draws from a seeded MT19937 stream.
 * Floor: allocation_k = floor + (1 - K floor) P_k, so every arm gets at least `floor` and
 * the order of the arms is kept (GrowthBook floors at 1%).
 */
import { betaCdf, betaPdf, betaQuantile, normalCdfAt, normalPdfAt, normalQuantileAt } from './distributions';
import { integrate } from './integrate';
import { seededRng } from './rng';
import { StatsInputError } from './stats-input.error';

export type BanditArm = { kind: 'bernoulli'; successes: number; n: number } | { kind: 'gaussian'; mean: number; sd: number };

export interface ThompsonOptions {
  /** Minimum share per arm. Default 0.01. */
  floor?: number;
  method?: 'exact' | 'monte-carlo';
  /** Monte-Carlo draws. Default 10000. */
  draws?: number;
  /** Seed of the Monte-Carlo stream. Default 1. */
  seed?: number;
  /** Beta prior for Bernoulli arms. Default [1, 1]. */
  prior?: [number, number];
  lowerIsBetter?: boolean;
}

export interface ThompsonResult {
  /** Posterior probability that each arm is best. */
  probabilityBest: number[];
  /** Floored allocation weights (sum to 1), to log with each assignment. */
  allocation: number[];
}

interface Posterior {
  pdf(x: number): number;
  cdf(x: number): number;
  q(p: number): number;
  draw(rng: ReturnType<typeof seededRng>): number;
}

function posterior(arm: BanditArm, prior: [number, number]): Posterior {
  if (arm.kind === 'bernoulli') {
    const a = prior[0] + arm.successes;
    const b = prior[1] + arm.n - arm.successes;
    return { pdf: (x) => betaPdf(x, a, b), cdf: (x) => betaCdf(x, a, b), q: (p) => betaQuantile(p, a, b), draw: (r) => r.beta(a, b) };
  }
  if (!(arm.sd > 0)) throw new StatsInputError('gaussian arm needs sd > 0');
  return {
    pdf: (x) => normalPdfAt(x, arm.mean, arm.sd),
    cdf: (x) => normalCdfAt(x, arm.mean, arm.sd),
    q: (p) => normalQuantileAt(p, arm.mean, arm.sd),
    draw: (r) => r.normal(arm.mean, arm.sd),
  };
}

export function thompsonAllocation(arms: readonly BanditArm[], options: ThompsonOptions = {}): ThompsonResult {
  const k = arms.length;
  const floor = options.floor ?? 0.01;
  if (k < 1) throw new StatsInputError('need at least one arm');
  if (!(floor >= 0 && floor * k <= 1)) throw new StatsInputError('floor x arms must be <= 1');
  const post = arms.map((a) => posterior(a, options.prior ?? [1, 1]));
  const lower = options.lowerIsBetter ?? false;
  let p: number[];
  if (options.method === 'monte-carlo') {
    const rng = seededRng(options.seed ?? 1);
    const draws = options.draws ?? 10000;
    const wins = new Array<number>(k).fill(0);
    for (let d = 0; d < draws; d++) {
      let best = 0;
      let bestValue = lower ? Infinity : -Infinity;
      for (let i = 0; i < k; i++) {
        const x = post[i].draw(rng);
        if (lower ? x < bestValue : x > bestValue) {
          bestValue = x;
          best = i;
        }
      }
      wins[best] += 1;
    }
    p = wins.map((w) => w / draws);
  } else {
    p = post.map((pk, i) => {
      const others = post.filter((_, j) => j !== i);
      const f = (x: number): number => pk.pdf(x) * others.reduce((acc, o) => acc * (lower ? 1 - o.cdf(x) : o.cdf(x)), 1);
      return integrate(f, pk.q(1e-12), pk.q(1 - 1e-12), 200);
    });
    // quadrature over the central 1 - 2e-12 of each density: renormalise the ~1e-12 lost mass
    const total = p.reduce((s, x) => s + x, 0);
    p = p.map((x) => x / total);
  }
  const allocation = p.map((x) => floor + (1 - k * floor) * x);
  return { probabilityBest: p, allocation };
}
