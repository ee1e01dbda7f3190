import { scipyCase, expectClose } from './reference-cases';
import { thompsonAllocation, BanditArm } from './thompson';

describe('thompsonAllocation (scipy thompson_sampling_probability_best)', () => {
  const c = scipyCase('thompson_sampling_probability_best');
  const names = ['A', 'B', 'C'];
  const bernoulli: BanditArm[] = names.map((k) => ({ kind: 'bernoulli', ...c.inputs.bernoulli_success[k] }));
  const gaussian: BanditArm[] = names.map((k) => ({ kind: 'gaussian', mean: c.inputs.gaussian_cost_lower_is_better[k].posterior_mean, sd: c.inputs.gaussian_cost_lower_is_better[k].posterior_sd }));

  it('exact probability of being best, Bernoulli and lower-is-better Gaussian', () => {
    const b = thompsonAllocation(bernoulli, { prior: c.inputs.bernoulli_prior });
    names.forEach((k, i) => expectClose(b.probabilityBest[i], c.expected.bernoulli_p_best[k], 0, c.tolerance.abs));
    const g = thompsonAllocation(gaussian, { lowerIsBetter: true });
    names.forEach((k, i) => expectClose(g.probabilityBest[i], c.expected.gaussian_p_best[k], 0, c.tolerance.abs));
  });

  it('Monte-Carlo with a seed is reproducible and within 4 binomial s.e. of exact (20,000 draws)', () => {
    const draws = 20000;
    const a = thompsonAllocation(bernoulli, { method: 'monte-carlo', draws, seed: 7 });
    const b = thompsonAllocation(bernoulli, { method: 'monte-carlo', draws, seed: 7 });
    expect(a).toEqual(b);
    names.forEach((k, i) => {
      const p = c.expected.bernoulli_p_best[k];
      expect(Math.abs(a.probabilityBest[i] - p)).toBeLessThanOrEqual(4 * Math.sqrt((p * (1 - p)) / draws));
    });
    const g = thompsonAllocation(gaussian, { method: 'monte-carlo', draws, seed: 11, lowerIsBetter: true });
    names.forEach((k, i) => {
      const p = c.expected.gaussian_p_best[k];
      expect(Math.abs(g.probabilityBest[i] - p)).toBeLessThanOrEqual(4 * Math.sqrt((p * (1 - p)) / draws));
    });
  });

  it('floors every arm and sums to one', () => {
    const r = thompsonAllocation(bernoulli, { floor: 0.05 });
    expect(Math.min(...r.allocation)).toBeGreaterThanOrEqual(0.05);
    expectClose(r.allocation.reduce((s, x) => s + x, 0), 1, 1e-12);
    expect(r.allocation[1]).toBeGreaterThan(r.allocation[2]);
    expect(() => thompsonAllocation(bernoulli, { floor: 0.4 })).toThrow('floor');
  });
});
