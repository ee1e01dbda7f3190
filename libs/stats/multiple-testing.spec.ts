import { scipyCase } from './reference-cases';
import { holm, benjaminiHochberg, bonferroni, rejections } from './multiple-testing';
import fc from 'fast-check';

describe('multiple testing', () => {
  it('Holm and Bonferroni reproduce scipy (holm_adjustment)', () => {
    const c = scipyCase('holm_adjustment');
    const adj = holm(c.inputs.p_values);
    adj.forEach((p, i) => expect(Math.abs(p - c.expected.adjusted[i])).toBeLessThanOrEqual(c.tolerance.abs));
    expect(rejections(adj, c.inputs.alpha)).toEqual(c.expected.reject);
    bonferroni(c.inputs.p_values).forEach((p, i) => expect(Math.abs(p - c.expected.bonferroni_adjusted[i])).toBeLessThanOrEqual(c.tolerance.abs));
  });

  it('Benjamini-Hochberg reproduces scipy (benjamini_hochberg_adjustment)', () => {
    const c = scipyCase('benjamini_hochberg_adjustment');
    const adj = benjaminiHochberg(c.inputs.p_values);
    adj.forEach((p, i) => expect(Math.abs(p - c.expected.adjusted[i])).toBeLessThanOrEqual(c.tolerance.abs));
    expect(rejections(adj, c.inputs.q)).toEqual(c.expected.reject);
  });

  it('adjusted p-values are >= raw, <= 1, and BH <= Holm (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 30 }), (p) => {
        const h = holm(p);
        const b = benjaminiHochberg(p);
        return p.every((x, i) => h[i] >= x - 1e-15 && b[i] >= x - 1e-15 && h[i] <= 1 && b[i] <= h[i] + 1e-15);
      }),
    );
  });
});
