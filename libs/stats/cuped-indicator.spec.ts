import { cupedIndicatorEffect, cupedIndicatorThetas, type CupedIndicatorStats } from './cuped-indicator';
import { cupedRatioEffect } from './cuped-test';
import { seededRng } from './rng';

/** Per-unit (y, z, p, q) into the sums; units with q = 0 and p = 0 have no history. */
function stats(units: number[][]): CupedIndicatorStats {
  const s: CupedIndicatorStats = {
    post: { n: 0, sumNum: 0, sumNumSquares: 0, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 },
    pre: { n: 0, sumNum: 0, sumNumSquares: 0, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 },
    sumNumPostNumPre: 0, sumDenPostDenPre: 0, sumNumPostDenPre: 0, sumNumPreDenPost: 0, withPre: 0, sumNumPostWithPre: 0, sumDenPostWithPre: 0,
  };
  for (const [y, z, p, q] of units) {
    s.post.n++; s.post.sumNum += y; s.post.sumNumSquares += y * y; s.post.sumDen += z; s.post.sumDenSquares += z * z; s.post.sumNumDen += y * z;
    s.pre.n++; s.pre.sumNum += p; s.pre.sumNumSquares += p * p; s.pre.sumDen += q; s.pre.sumDenSquares += q * q; s.pre.sumNumDen += p * q;
    s.sumNumPostNumPre += y * p; s.sumDenPostDenPre += z * q; s.sumNumPostDenPre += y * q; s.sumNumPreDenPost += p * z;
    if (q !== 0 || p !== 0) { s.withPre++; s.sumNumPostWithPre += y; s.sumDenPostWithPre += z; }
  }
  return s;
}

function arm(seed: number, n: number, preShare: number, newcomerShift: number): number[][] {
  const r = seededRng(seed);
  return Array.from({ length: n }, () => {
    const level = r.normal(0, 1);
    const k = 1 + Math.floor(r.uniform() * 3);
    const has = r.uniform() < preShare;
    const y = k * (5 + level + (has ? 0 : newcomerShift)) + r.normal(0, 1);
    const q = has ? 1 + Math.floor(r.uniform() * 4) : 0;
    const p = has ? q * (5 + level) + r.normal(0, 1) : 0;
    return [y, k, p, q];
  });
}

/** Least squares of the pooled, per-arm-centred linearised values on (P, I), solved directly. */
function regression(arms: number[][][]): [number, number] {
  let sPP = 0, sII = 0, sPI = 0, sLP = 0, sLI = 0;
  for (const units of arms) {
    const n = units.length;
    const sum = (i: number) => units.reduce((a, u) => a + u[i], 0);
    const [Y, Z, P, Q] = [sum(0), sum(1), sum(2), sum(3)];
    const L = units.map((u) => (u[0] - (Y / Z) * u[1]) / (Z / n));
    const Pl = units.map((u) => (u[2] - (P / Q) * u[3]) / (Q / n));
    const I = units.map((u) => (u[3] !== 0 || u[2] !== 0 ? 1 : 0));
    const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / n;
    const [mL, mP, mI] = [mean(L), mean(Pl), mean(I)];
    for (let i = 0; i < n; i++) {
      const [l, p, d] = [L[i] - mL, Pl[i] - mP, I[i] - mI];
      sPP += (p * p) / (n - 1); sII += (d * d) / (n - 1); sPI += (p * d) / (n - 1); sLP += (l * p) / (n - 1); sLI += (l * d) / (n - 1);
    }
  }
  const det = sPP * sII - sPI * sPI;
  return [(sLP * sII - sLI * sPI) / det, (sLI * sPP - sLP * sPI) / det];
}

describe('CUPED with a missing-data indicator', () => {
  it('is the one-covariate ratio CUPED when every unit has history', () => {
    const c = stats(arm(1, 400, 1, 0));
    const t = stats(arm(2, 400, 1, 0));
    for (const difference of ['absolute', 'relative'] as const) {
      const a = cupedIndicatorEffect(c, t, { difference });
      const b = cupedRatioEffect(c, t, { difference });
      expect(a.estimate).toBeCloseTo(b.estimate, 12);
      expect(a.se).toBeCloseTo(b.se, 12);
    }
  });

  it('takes its two coefficients from the pooled least squares of the linearised values', () => {
    const cu = arm(3, 500, 0.6, 2);
    const tu = arm(4, 500, 0.6, 2);
    const [t1, t2] = cupedIndicatorThetas(stats(cu), stats(tu));
    const [r1, r2] = regression([cu, tu]);
    expect(t1).toBeCloseTo(r1, 9);
    expect(t2).toBeCloseTo(r2, 9);
    expect(Math.abs(t2)).toBeGreaterThan(0.1);
  });

  it('removes more variance than a covariate of zero alone when newcomers differ', () => {
    const c = stats(arm(5, 500, 0.5, 3));
    const t = stats(arm(6, 500, 0.5, 3));
    expect(cupedIndicatorEffect(c, t).se).toBeLessThan(cupedRatioEffect(c, t).se);
  });
});
