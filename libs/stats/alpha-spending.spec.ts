import { scipyCase } from './reference-cases';
import { groupSequentialBounds } from './alpha-spending';

describe('group-sequential alpha spending (scipy gst_alpha_spending_obf_and_power)', () => {
  const c = scipyCase('gst_alpha_spending_obf_and_power');
  const t = c.inputs.information_fractions;
  const cases: [string, 'obrien-fleming' | 'obrien-fleming-alt' | 'power', string, string][] = [
    ['OBF (gsDesign)', 'obrien-fleming', 'cum_alpha_obrien_fleming_type', 'z_bounds_obrien_fleming_type'],
    ['OBF alternative convention', 'obrien-fleming-alt', 'cum_alpha_obf_alt_convention', 'z_bounds_obf_alt_convention'],
    ['power rho = 2 (Spotify)', 'power', 'cum_alpha_power_rho2_spotify', 'z_bounds_power_rho2_spotify'],
  ];
  it.each(cases)('%s: cumulative alpha and boundaries', (_label, fn, alphaKey, boundKey) => {
    const r = groupSequentialBounds(t, c.inputs.alpha, fn);
    r.cumulativeAlpha.forEach((a, i) => expect(Math.abs(a - c.expected[alphaKey][i])).toBeLessThanOrEqual(c.tolerance.alpha_abs));
    r.bounds.forEach((b, i) => expect(Math.abs(b - c.expected[boundKey][i])).toBeLessThanOrEqual(c.tolerance.bound_abs));
  });
});
