/**
 * CUPED (Deng, Xu, Kohavi & Walker 2013): regression adjustment on a pre-exposure
 * covariate, following GrowthBook's RegressionAdjustedStatistic and
 * RegressionAdjustedRatioStatistic exactly (theta pooled over arms, relative lift taken
 * against the UNADJUSTED control mean with a dedicated delta-method variance).
 */
import { Effect, TestOptions, TestResult, fixedHorizonResult, welchDof } from './effect';
import { MomentStats, RatioStats, covarianceOf, meanOf, varianceOf } from './moments';
import { StatsInputError } from './stats-input.error';

/** One arm: the metric during the experiment (post) and before exposure (pre). */
export interface CupedStats {
  n: number;
  post: Omit<MomentStats, 'n'>;
  pre: Omit<MomentStats, 'n'>;
  /** RAW sum of post_i * pre_i. */
  sumPostPre: number;
}

export interface CupedOptions extends TestOptions {
  /**
   * 'mean' (default): n - 1 variances/covariances. 'proportion': 0/1 metric, variance
   * p(1 - p) and covariance sum(xy)/n - sum(x) sum(y)/n^2 (GrowthBook ProportionStatistic).
   */
  kind?: 'mean' | 'proportion';
  /**
   * 'joint' (default, GrowthBook): cov/var of both arms taken as one sample.
   * 'within': pooled within-arm cov/var (arm means removed first).
   * A number: a fixed theta (for example from a previous phase).
   */
  theta?: 'joint' | 'within' | number;
}

export function mergeCuped(...parts: CupedStats[]): CupedStats {
  return parts.reduce(
    (a, b) => ({
      n: a.n + b.n,
      post: { sum: a.post.sum + b.post.sum, sumSquares: a.post.sumSquares + b.post.sumSquares },
      pre: { sum: a.pre.sum + b.pre.sum, sumSquares: a.pre.sumSquares + b.pre.sumSquares },
      sumPostPre: a.sumPostPre + b.sumPostPre,
    }),
    { n: 0, post: { sum: 0, sumSquares: 0 }, pre: { sum: 0, sumSquares: 0 }, sumPostPre: 0 },
  );
}

interface ArmMoments {
  n: number;
  meanPost: number;
  meanPre: number;
  varPost: number;
  varPre: number;
  cov: number;
}

function armMoments(s: CupedStats, kind: 'mean' | 'proportion'): ArmMoments {
  const meanPost = meanOf({ n: s.n, ...s.post });
  const meanPre = meanOf({ n: s.n, ...s.pre });
  if (kind === 'proportion') {
    return {
      n: s.n,
      meanPost,
      meanPre,
      varPost: meanPost * (1 - meanPost),
      varPre: meanPre * (1 - meanPre),
      cov: s.n <= 1 ? 0 : s.sumPostPre / s.n - (s.post.sum * s.pre.sum) / s.n ** 2,
    };
  }
  return {
    n: s.n,
    meanPost,
    meanPre,
    varPost: varianceOf({ n: s.n, ...s.post }),
    varPre: varianceOf({ n: s.n, ...s.pre }),
    cov: covarianceOf(s.n, s.post.sum, s.pre.sum, s.sumPostPre),
  };
}

/** theta = cov(post, pre)/var(pre), see CupedOptions.theta. */
export function cupedTheta(control: CupedStats, treatment: CupedStats, options: Pick<CupedOptions, 'kind' | 'theta'> = {}): number {
  const kind = options.kind ?? 'mean';
  const method = options.theta ?? 'joint';
  if (typeof method === 'number') return method;
  if (method === 'within') {
    const c = armMoments(control, kind);
    const t = armMoments(treatment, kind);
    const dc = kind === 'mean' ? control.n - 1 : control.n;
    const dt = kind === 'mean' ? treatment.n - 1 : treatment.n;
    const varPre = c.varPre * dc + t.varPre * dt;
    return varPre === 0 ? 0 : (c.cov * dc + t.cov * dt) / varPre;
  }
  const joint = armMoments(mergeCuped(control, treatment), kind);
  if (joint.varPre === 0 || joint.varPost === 0) return 0;
  return joint.cov / joint.varPre;
}

/**
 * CUPED effect. Per arm: adjusted mean m_post - theta m_pre, per-unit variance
 * v_post + theta^2 v_pre - 2 theta cov. Absolute: difference of adjusted means.
 * Relative: (adj_t - adj_c)/|m_post,c| with GrowthBook's frequentist_variance_relative_cuped.
 * Welch dof from the adjusted variances.
 */
export function cupedEffect(control: CupedStats, treatment: CupedStats, options: Pick<CupedOptions, 'kind' | 'theta' | 'difference'> = {}): Effect {
  const kind = options.kind ?? 'mean';
  const difference = options.difference ?? 'relative';
  const theta = cupedTheta(control, treatment, options);
  const c = armMoments(control, kind);
  const t = armMoments(treatment, kind);
  const adjVar = (m: ArmMoments): number => m.varPost + theta * theta * m.varPre - 2 * theta * m.cov;
  const vc = adjVar(c);
  const vt = adjVar(t);
  if (control.n < 2 || treatment.n < 2) throw new StatsInputError('CUPED: need at least 2 units per arm');
  if (!(vc > 0 && vt > 0)) throw new StatsInputError('CUPED: adjusted variance must be positive');
  const adjC = c.meanPost - theta * c.meanPre;
  const adjT = t.meanPost - theta * t.meanPre;
  const dof = welchDof({ n: c.n, mean: adjC, variance: vc }, { n: t.n, mean: adjT, variance: vt });
  const n = c.n + t.n;
  if (difference === 'absolute') {
    return { estimate: adjT - adjC, se: Math.sqrt(vt / t.n + vc / c.n), dof, n, difference, baseline: c.meanPost };
  }
  const m = c.meanPost;
  if (m === 0) throw new StatsInputError('relative lift needs a non-zero control mean');
  const vTrt = vt / (t.n * m * m);
  const k = -t.meanPost;
  const vCtrl = ((c.varPost * k * k) / (m * m) + (2 * theta * c.cov * k) / m + theta * theta * c.varPre) / (c.n * m * m);
  return { estimate: (adjT - adjC) / Math.abs(m), se: Math.sqrt(vTrt + vCtrl), dof, n, difference, baseline: m };
}

/** Fixed-horizon CUPED test (see `cupedEffect`; use `sequentialResult(cupedEffect(...))` to monitor). */
export function cupedTest(control: CupedStats, treatment: CupedStats, options: CupedOptions = {}): TestResult {
  return fixedHorizonResult(cupedEffect(control, treatment, options), options);
}

/** One arm of a regression-adjusted ratio metric: numerator m, denominator d, post and pre. */
export interface CupedRatioStats {
  post: RatioStats;
  pre: RatioStats;
  /** RAW cross-product sums between periods (all over the same n units). */
  sumNumPostNumPre: number;
  sumDenPostDenPre: number;
  sumNumPostDenPre: number;
  sumNumPreDenPost: number;
}

interface RatioArm {
  n: number;
  beta: [number, number, number, number];
  lambda: number[][];
}

function ratioArm(s: CupedRatioStats): RatioArm {
  const n = s.post.n;
  if (s.pre.n !== n) throw new StatsInputError('CUPED ratio: post and pre must cover the same units');
  const v = (sum: number, sumSquares: number): number => varianceOf({ n, sum, sumSquares });
  const c = (a: number, b: number, ab: number): number => covarianceOf(n, a, b, ab);
  const mPost = s.post.sumNum;
  const dPost = s.post.sumDen;
  const mPre = s.pre.sumNum;
  const dPre = s.pre.sumDen;
  const vmPost = v(mPost, s.post.sumNumSquares);
  const vdPost = v(dPost, s.post.sumDenSquares);
  const vmPre = v(mPre, s.pre.sumNumSquares);
  const vdPre = v(dPre, s.pre.sumDenSquares);
  const cMpDp = c(mPost, dPost, s.post.sumNumDen);
  const cMpMq = c(mPost, mPre, s.sumNumPostNumPre);
  const cMpDq = c(mPost, dPre, s.sumNumPostDenPre);
  const cDpMq = c(dPost, mPre, s.sumNumPreDenPost);
  const cDpDq = c(dPost, dPre, s.sumDenPostDenPre);
  const cMqDq = c(mPre, dPre, s.pre.sumNumDen);
  return {
    n,
    beta: [mPost / n, dPost / n, mPre / n, dPre / n],
    lambda: [
      [vmPost, cMpDp, cMpMq, cMpDq],
      [cMpDp, vdPost, cDpMq, cDpDq],
      [cMpMq, cDpMq, vmPre, cMqDq],
      [cMpDq, cDpDq, cMqDq, vdPre],
    ],
  };
}

function nabla(arm: RatioArm, theta: number): number[] {
  const [b0, b1, b2, b3] = arm.beta;
  return [1 / b1, -b0 / b1 ** 2, -theta / b3, (theta * b2) / b3 ** 2];
}

function quad(g: number[], m: number[][], rows: number[], cols: number[]): number {
  let s = 0;
  for (const i of rows) for (const j of cols) s += g[i] * m[i][j] * g[j];
  return s;
}

/**
 * Regression-adjusted ratio effect (GrowthBook RegressionAdjustedRatioStatistic):
 * 4-vector (m_post, d_post, m_pre, d_pre) with its 4x4 covariance Lambda; adjusted
 * ratio R_post - theta R_pre; per-unit variance nabla' Lambda nabla; theta pooled over
 * arms as -(sum of post/pre covariance terms)/(sum of pre variance terms) at theta = 1.
 */
export function cupedRatioEffect(control: CupedRatioStats, treatment: CupedRatioStats, options: Pick<CupedOptions, 'difference'> & { theta?: number } = {}): Effect {
  const difference = options.difference ?? 'relative';
  const a = ratioArm(control);
  const b = ratioArm(treatment);
  const pre = [2, 3];
  const post = [0, 1];
  const cross = (arm: RatioArm): number => {
    const g = nabla(arm, 1);
    let s = 0;
    for (const i of pre) for (const j of post) s += g[i] * arm.lambda[i][j] * g[j];
    return s;
  };
  let theta = options.theta;
  if (theta === undefined) {
    const varPre = quad(nabla(a, 1), a.lambda, pre, pre) + quad(nabla(b, 1), b.lambda, pre, pre);
    theta = varPre === 0 ? 0 : -(cross(a) + cross(b)) / varPre;
  }
  const all = [0, 1, 2, 3];
  const ratio = (arm: RatioArm, i: number, j: number): number => arm.beta[i] / arm.beta[j];
  const adj = (arm: RatioArm): number => ratio(arm, 0, 1) - theta! * ratio(arm, 2, 3);
  const va = quad(nabla(a, theta), a.lambda, all, all);
  const vb = quad(nabla(b, theta), b.lambda, all, all);
  if (!(va > 0 && vb > 0)) throw new StatsInputError('CUPED ratio: variance must be positive');
  const dof = welchDof({ n: a.n, mean: adj(a), variance: va }, { n: b.n, mean: adj(b), variance: vb });
  const n = a.n + b.n;
  const gAbs = adj(b) - adj(a);
  const unadj = ratio(a, 0, 1);
  if (difference === 'absolute') {
    return { estimate: gAbs, se: Math.sqrt(va / a.n + vb / b.n), dof, n, difference, baseline: unadj };
  }
  const den = Math.abs(unadj);
  const dPost = a.beta[1];
  const mPost = a.beta[0];
  const na = nabla(a, theta);
  const gradA = [
    -(den + gAbs) / dPost / den ** 2,
    ((mPost * den) / dPost ** 2 + (mPost * gAbs) / dPost ** 2) / den ** 2,
    -na[2] / den,
    -na[3] / den,
  ];
  const gradB = nabla(b, theta).map((x) => x / den);
  const variance = quad(gradA, a.lambda, all, all) / a.n + quad(gradB, b.lambda, all, all) / b.n;
  return { estimate: gAbs / den, se: Math.sqrt(variance), dof, n, difference, baseline: unadj };
}
