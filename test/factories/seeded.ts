import { seededRng } from '../../libs/stats/rng';

/** Seeded draws for synthetic traffic, on the statistics library's MT19937 stream. */
export function rng(seed: number) {
  const r = seededRng(seed);
  const next = () => r.uniform();
  const normal = () => r.normal(0, 1);
  return { next, normal, lognormal: (median: number, sigma: number) => median * Math.exp(sigma * normal()) };
}
