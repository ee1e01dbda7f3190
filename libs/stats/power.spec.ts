import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { power, mde, sampleSizePerArm, proportionSampleSizePerArm, absoluteMde, remainingUnits } from './power';
import { meanEffect } from './welch-test';

describe('power and MDE against GrowthBook (power_and_mde)', () => {
  const c = growthbookCase('power_and_mde');
  const i = c.inputs;
  const base = { mean: i.metric.mean, variance: i.metric.variance, totalUnits: i.n, variations: i.nVariations, alpha: i.alpha };
  // expected values are rounded to 5 decimals in GrowthBook's test
  const R5 = 5e-6;

  it('fixed horizon', () => {
    const e = c.subcases[0].expected_in_test_rounded_5dp;
    expectClose(power({ ...base, relativeEffect: i.metric.effectSize }), e.power, 0, R5);
    expectClose(mde({ ...base, power: 0.8 }), e['mde_at_power_0.8'], 0, R5);
  });

  it('sequential (tuning 5000), GrowthBook variance-inflation convention', () => {
    const e = c.subcases[1].expected_in_test_rounded_5dp;
    const seq = { ...base, sequentialTuning: 5000, sequentialConvention: 'growthbook-variance' as const };
    expectClose(power({ ...seq, relativeEffect: i.metric.effectSize }), e.power, 0, R5);
    expectClose(mde({ ...seq, power: 0.8 }), e['mde_at_power_0.8'], 0, R5);
  });

  it('sequential default (threshold) convention: power below fixed, MDE above fixed, and mde/power consistent', () => {
    const seq = { ...base, sequentialTuning: 5000 };
    const fixedPower = power({ ...base, relativeEffect: i.metric.effectSize });
    const seqPower = power({ ...seq, relativeEffect: i.metric.effectSize });
    expect(seqPower).toBeLessThan(fixedPower);
    const seqMde = mde({ ...seq, power: 0.8 });
    expect(seqMde).toBeGreaterThan(mde({ ...base, power: 0.8 }));
    // at the MDE the power is 0.8 up to the neglected far tail
    expectClose(power({ ...seq, relativeEffect: seqMde }), 0.8, 1e-6);
  });

  it('mid-experiment remaining sample size: frequentist, sequential, Bayesian', () => {
    const sub = c.subcases[2];
    const cfg = sub.config;
    const effect = meanEffect(
      { n: cfg.control.n, sum: cfg.control.sum, sumSquares: cfg.control.sum_squares },
      { n: cfg.treatment.n, sum: cfg.treatment.sum, sumSquares: cfg.treatment.sum_squares },
    );
    const opts = { targetMde: cfg.target_mde, targetPower: cfg.target_power, alpha: cfg.alpha };
    const e = sub.expected_in_test_4dp;
    const R4 = 5e-5;
    const freq = remainingUnits(effect, opts);
    expectClose(freq.scalingFactor, sub.expected_full_precision.scaling_factor_frequentist, 1e-12);
    expect(freq.additionalUnits).toBeCloseTo(freq.scalingFactor * 1000, 9);
    expectClose(remainingUnits(effect, { ...opts, sequentialTuning: 5000 }).scalingFactor, e.scaling_factor_sequential_tuning_5000, 0, R4);
    expectClose(remainingUnits(effect, { ...opts, prior: { mean: 0.05, variance: 0.001 } }).scalingFactor, e['scaling_factor_bayesian_prior_mean_0.05_var_0.001'], 0, R4);
  });
});

describe('sample size and MDE against scipy (sample_size_and_mde)', () => {
  const c = scipyCase('sample_size_and_mde');
  const i = c.inputs;
  const e = c.expected;

  it('proportions, unpooled and pooled null variance', () => {
    const u = proportionSampleSizePerArm({ ...i.proportion, relativeMde: i.proportion.relative_mde });
    expectClose(u.pTreatment, e.p_treatment, 1e-12);
    expectClose(u.raw, e.n_per_arm_unpooled_raw, 0, c.tolerance.abs);
    expect(u.n).toBe(e.n_per_arm_unpooled);
    const p = proportionSampleSizePerArm({ ...i.proportion, relativeMde: i.proportion.relative_mde, variance: 'pooled' });
    expect(Math.abs(p.n - e.n_per_arm_pooled_null)).toBeLessThanOrEqual(c.tolerance.n_abs);
  });

  it('continuous metric and MDE given n', () => {
    const s = sampleSizePerArm({ varianceControl: i.continuous.sd ** 2, delta: i.continuous.abs_mde, alpha: i.continuous.alpha, power: i.continuous.power });
    expect(Math.abs(s.n - e.n_per_arm_continuous)).toBeLessThanOrEqual(c.tolerance.n_abs);
    expectClose(absoluteMde({ varianceControl: i.mde_given_n.sd ** 2, nPerArm: i.mde_given_n.n_per_arm }), e.mde_abs_given_n, 0, c.tolerance.abs);
  });

  it('a sequential design needs more units, and the answer is a fixed point of n = (m(2n) + z_b)^2 V / d^2', () => {
    const fixed = sampleSizePerArm({ varianceControl: 300 ** 2, delta: 20 });
    const seq = sampleSizePerArm({ varianceControl: 300 ** 2, delta: 20, sequentialTuning: 5000 });
    expect(seq.n).toBeGreaterThan(fixed.n * 1.3);
    const mdeAtSeq = absoluteMde({ varianceControl: 300 ** 2, nPerArm: seq.raw, sequentialTuning: 5000 });
    expectClose(mdeAtSeq, 20, 1e-5);
  });
});
