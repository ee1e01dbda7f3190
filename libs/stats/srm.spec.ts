import { growthbookCase, scipyCase, expectClose } from './reference-cases';
import { srm } from './srm';

describe('srm', () => {
  it('reproduces every GrowthBook checkSrm vector (TS behaviour: zero-weight arms dropped)', () => {
    const c = growthbookCase('srm_chi_square');
    expect(c.vectors.length).toBe(10);
    for (const v of c.vectors) {
      const r = srm(v.users, v.weights);
      // expected values are rounded to 9 decimals in the source test
      expectClose(r.pValue, v.expected_p_value_9dp, 0, 5e-10 + 1e-4 * v.expected_p_value_9dp);
      if (typeof v.gbstats_python_check_srm === 'number' && !v.weights.includes(0)) {
        expectClose(r.pValue, v.gbstats_python_check_srm, 1e-6, 1e-12);
      }
    }
  });

  it('reports why a vector was not tested', () => {
    expect(srm([1000], [0.5, 0.5])).toMatchObject({ tested: false, reason: 'length-mismatch', pValue: 1 });
    expect(srm([1000, 900, 800], [1, 0, 0])).toMatchObject({ tested: false, reason: 'fewer-than-two-arms' });
    expect(srm([0, 0, 0], [0.34, 0.33, 0.33])).toMatchObject({ tested: false, reason: 'no-units' });
    expect(srm([1000, 1200, 900], [0.5, 0.5, 0])).toMatchObject({ tested: true, dof: 1, ok: false });
  });

  it.each(['srm_chisquare_two_arms_flagged', 'srm_chisquare_three_arms_ok'])('reproduces scipy %s', (name) => {
    const c = scipyCase(name);
    const r = srm(c.inputs.observed, c.inputs.expected_weights, c.inputs.threshold);
    expectClose(r.chiSquare, c.expected.chi2, c.tolerance.rel, c.tolerance.abs);
    expect(r.dof).toBe(c.expected.df);
    expectClose(r.pValue, c.expected.p_value, c.tolerance.rel, c.tolerance.abs);
    expect(r.ok).toBe(!c.expected.srm_flag);
  });
});
