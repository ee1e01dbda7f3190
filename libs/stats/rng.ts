/**
 * Seeded random streams (MT19937 from @stdlib) so that every simulation and Monte-Carlo
 * estimate is reproducible from its seed.
 */
import mt19937 from '@stdlib/random-base-mt19937';
import normal from '@stdlib/random-base-normal';
import beta from '@stdlib/random-base-beta';
import gamma from '@stdlib/random-base-gamma';
import binomial from '@stdlib/random-base-binomial';

export interface Rng {
  /** Uniform on [0, 1). */
  uniform(): number;
  normal(mu: number, sigma: number): number;
  beta(a: number, b: number): number;
  /** Gamma with shape k and RATE r (mean k/r). */
  gamma(k: number, r: number): number;
  binomial(n: number, p: number): number;
}

export function seededRng(seed: number): Rng {
  const base = mt19937.factory({ seed });
  // The factory's generator carries `.normalized` (53-bit uniform on [0, 1)) at run time;
  // @stdlib's type declarations omit it on factory results.
  const prng = (base as unknown as { normalized: () => number }).normalized;
  const n = normal.factory({ prng });
  const b = beta.factory({ prng });
  const g = gamma.factory({ prng });
  const bin = binomial.factory({ prng });
  return {
    uniform: () => prng(),
    normal: (mu, sigma) => n(mu, sigma),
    beta: (a, bb) => b(a, bb),
    gamma: (k, r) => g(k, r),
    binomial: (nn, p) => bin(nn, p),
  };
}
