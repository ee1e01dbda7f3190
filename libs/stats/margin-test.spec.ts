import { scipyCase, expectClose } from './reference-cases';
import { nonInferiorityTest, superiorityTest } from './margin-test';

describe('non-inferiority (scipy non_inferiority_guardrails)', () => {
  const c = scipyCase('non_inferiority_guardrails');
  const tol = c.tolerance.abs;
  // The reference prints 10 significant figures, so a 25.2 bound carries 5e-9 of rounding:
  // allow abs 1e-9 or 1e-9 relative, whichever is larger.
  const REL = 1e-9;

  it('latency guardrail, lower is better, 5% relative margin', () => {
    const i = c.inputs.latency_guardrail;
    const e = c.expected.latency;
    const r = nonInferiorityTest(
      { estimate: i.diff, se: i.se },
      { margin: i.relative_margin, marginType: 'relative', baseline: i.control_mean, lowerIsBetter: true, alpha: i.alpha },
    );
    expectClose(r.marginAbs, e.margin_abs, 0, tol);
    expectClose(r.statistic, e.z, 0, tol);
    expectClose(r.pValue, e.p_value, 0, tol);
    expectClose(r.bound, e.upper_95_one_sided, REL, tol);
    expect(r.passed).toBe(e.non_inferior);
  });

  it('success-rate guardrail, higher is better, absolute margin', () => {
    const i = c.inputs.success_rate_guardrail;
    const e = c.expected.success_rate;
    const r = nonInferiorityTest({ estimate: i.diff, se: i.se }, { margin: i.abs_margin, alpha: i.alpha });
    expectClose(r.statistic, e.z, 0, tol);
    expectClose(r.pValue, e.p_value, 0, tol);
    expectClose(r.bound, e.lower_95_one_sided, 0, tol);
    expect(r.passed).toBe(e.non_inferior);
  });
});

describe('superiority by a margin', () => {
  it('cost must fall by more than the margin: passes only when the upper bound is below -m', () => {
    const cheaper = superiorityTest({ estimate: -0.004, se: 0.001 }, { margin: 0.001, lowerIsBetter: true });
    expect(cheaper.passed).toBe(true);
    expect(cheaper.bound).toBeLessThan(-0.001);
    const notEnough = superiorityTest({ estimate: -0.002, se: 0.001 }, { margin: 0.001, lowerIsBetter: true });
    expect(notEnough.passed).toBe(false);
    expect(notEnough.bound).toBeGreaterThan(-0.001);
  });

  it('margin 0 is the one-sided z-test', () => {
    const r = superiorityTest({ estimate: 1.6448536269514722, se: 1 }, { margin: 0 });
    expectClose(r.pValue, 0.05, 1e-9);
  });
});
