/**
 * CUPED with a missing-data indicator: the ratio form of `cupedRatioEffect` with a second
 * covariate, I = 1 for the units that have pre-exposure data (their pre sums p, q) and 0 for
 * those that do not (p = q = 0). Units without history are kept; the indicator absorbs the level
 * difference between units with and without history, so their zeros neither bias nor dilute the
 * adjustment. Per arm, on the linearised values L = (y - R z)/mean(z) and P = (p - Rp q)/mean(q):
 * adjusted value R - theta1 Rp - theta2 mean(I), per-unit variance var(L - theta1 P - theta2 I),
 * theta solving the 2x2 normal equations of covariances summed over both arms (GrowthBook's
 * pooling for one covariate). When every unit or none has history the indicator is constant and
 * this is exactly `cupedRatioEffect`.
 */
import { type Effect, welchDof } from './effect';
import { type CupedRatioStats } from './cuped-test';
import { covarianceOf, varianceOf } from './moments';
import { StatsInputError } from './stats-input.error';

/** One arm: the ratio CUPED sums plus the indicator's: units with history and their in-experiment sums. */
export interface CupedIndicatorStats extends CupedRatioStats {
  /** Units with pre-exposure data (I = 1). */
  withPre: number;
  /** Sums of the in-experiment numerator and denominator over those units. */
  sumNumPostWithPre: number;
  sumDenPostWithPre: number;
}

interface Arm {
  n: number;
  R: number;
  Rp: number;
  meanI: number;
  vL: number;
  vP: number;
  vI: number;
  cLP: number;
  cLI: number;
  cPI: number;
}

function arm(s: CupedIndicatorStats): Arm {
  const n = s.post.n;
  if (s.pre.n !== n) throw new StatsInputError('CUPED: post and pre must cover the same units');
  if (n < 2) throw new StatsInputError('CUPED: need at least 2 units per arm');
  const { sumNum: y, sumDen: z } = s.post;
  const { sumNum: p, sumDen: q } = s.pre;
  if (z === 0 || q === 0) throw new StatsInputError('CUPED: a ratio needs a non-zero denominator');
  const zBar = z / n;
  const qBar = q / n;
  const R = y / z;
  const Rp = p / q;
  const c = covarianceOf;
  const vy = varianceOf({ n, sum: y, sumSquares: s.post.sumNumSquares });
  const vz = varianceOf({ n, sum: z, sumSquares: s.post.sumDenSquares });
  const vp = varianceOf({ n, sum: p, sumSquares: s.pre.sumNumSquares });
  const vq = varianceOf({ n, sum: q, sumSquares: s.pre.sumDenSquares });
  const cyz = c(n, y, z, s.post.sumNumDen);
  const cpq = c(n, p, q, s.pre.sumNumDen);
  const cyp = c(n, y, p, s.sumNumPostNumPre);
  const cyq = c(n, y, q, s.sumNumPostDenPre);
  const czp = c(n, z, p, s.sumNumPreDenPost);
  const czq = c(n, z, q, s.sumDenPostDenPre);
  // I is 0/1 and p = q = 0 where I = 0: sum(I p) = sum(p), sum(I q) = sum(q), sum(I^2) = sum(I).
  const w = s.withPre;
  const vI = varianceOf({ n, sum: w, sumSquares: w });
  const cyI = c(n, y, w, s.sumNumPostWithPre);
  const czI = c(n, z, w, s.sumDenPostWithPre);
  const cpI = c(n, p, w, p);
  const cqI = c(n, q, w, q);
  return {
    n,
    R,
    Rp,
    meanI: w / n,
    vL: (vy - 2 * R * cyz + R * R * vz) / (zBar * zBar),
    vP: (vp - 2 * Rp * cpq + Rp * Rp * vq) / (qBar * qBar),
    vI,
    cLP: (cyp - Rp * cyq - R * czp + R * Rp * czq) / (zBar * qBar),
    cLI: (cyI - R * czI) / zBar,
    cPI: (cpI - Rp * cqI) / qBar,
  };
}

/** theta1 (pre-period ratio) and theta2 (indicator) from the covariances summed over both arms. */
export function cupedIndicatorThetas(control: CupedIndicatorStats, treatment: CupedIndicatorStats): [number, number] {
  const a = arm(control);
  const b = arm(treatment);
  const vP = a.vP + b.vP;
  const vI = a.vI + b.vI;
  const cPI = a.cPI + b.cPI;
  const cLP = a.cLP + b.cLP;
  const cLI = a.cLI + b.cLI;
  const det = vP * vI - cPI * cPI;
  // A constant indicator (every unit or none with history), or one collinear with P: one covariate.
  if (!(vI > 0) || !(Math.abs(det) > 1e-12 * Math.max(vP * vI, Number.MIN_VALUE))) return [vP > 0 ? cLP / vP : 0, 0];
  return [(cLP * vI - cLI * cPI) / det, (cLI * vP - cLP * cPI) / det];
}

/** The adjusted effect, absolute or relative (against the unadjusted control ratio, delta method). */
export function cupedIndicatorEffect(control: CupedIndicatorStats, treatment: CupedIndicatorStats, options: { difference?: 'absolute' | 'relative' } = {}): Effect {
  const difference = options.difference ?? 'relative';
  const [t1, t2] = cupedIndicatorThetas(control, treatment);
  const c = arm(control);
  const t = arm(treatment);
  // var(a L - b P - d I) for one arm.
  const v = (x: Arm, a: number, b: number, d: number) =>
    a * a * x.vL + b * b * x.vP + d * d * x.vI - 2 * a * b * x.cLP - 2 * a * d * x.cLI + 2 * b * d * x.cPI;
  const adj = (x: Arm) => x.R - t1 * x.Rp - t2 * x.meanI;
  const vc = v(c, 1, t1, t2);
  const vt = v(t, 1, t1, t2);
  if (!(vc > 0 && vt > 0)) throw new StatsInputError('CUPED: adjusted variance must be positive');
  const delta = adj(t) - adj(c);
  const dof = welchDof({ n: c.n, mean: adj(c), variance: vc }, { n: t.n, mean: adj(t), variance: vt });
  const n = c.n + t.n;
  if (difference === 'absolute') return { estimate: delta, se: Math.sqrt(vt / t.n + vc / c.n), dof, n, difference, baseline: c.R };
  const m = Math.abs(c.R);
  if (m === 0) throw new StatsInputError('relative lift needs a non-zero control mean');
  const variance = v(t, 1 / m, t1 / m, t2 / m) / t.n + v(c, (m + delta) / (m * m), t1 / m, t2 / m) / c.n;
  return { estimate: delta / m, se: Math.sqrt(variance), dof, n, difference, baseline: c.R };
}
