import fc from 'fast-check';
import { momentsFromValues, mergeMoments, ratioFromValues, mergeRatio } from './moments';
import { welchTest } from './welch-test';
import { ratioTest } from './ratio-test';
import { LogHistogram, bucketIndex, bucketValue, ZERO_BUCKET_INDEX } from './log-histogram';

// metric values at a realistic resolution (no denormals, where variances vanish in rounding)
const value = fc.integer({ min: -1_000_000, max: 1_000_000 }).map((x) => x / 1000);
const positive = fc.double({ min: 1e-6, max: 1e9, noNaN: true });

/** Splits an array into chunks at the given cut points. */
function split<T>(xs: T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (xs.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let prev = 0;
  for (const p of points) {
    out.push(xs.slice(prev, p));
    prev = p;
  }
  out.push(xs.slice(prev));
  return out;
}

describe('sufficient statistics merge in any order and split (property)', () => {
  it('moments: merged shards give the same Welch result as the whole', () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 3, maxLength: 60 }), fc.array(value, { minLength: 3, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 5 }), (a, b, cuts) => {
        fc.pre(new Set(a).size > 1 && new Set(b).size > 1);
        const whole = welchTest(momentsFromValues(a), momentsFromValues(b), { difference: 'absolute' });
        const shards = split(a, cuts).map(momentsFromValues).reverse();
        const merged = welchTest(mergeMoments(...shards), mergeMoments(...split(b, cuts).map(momentsFromValues)), { difference: 'absolute' });
        const near = (x: number, y: number): boolean => Math.abs(x - y) <= 1e-7 * Math.max(1, Math.abs(y));
        return near(merged.estimate, whole.estimate) && near(merged.se, whole.se) && near(merged.pValue, whole.pValue);
      }),
    );
  });

  it('ratio statistics: merged shards give the same ratio test', () => {
    const pair = fc.tuple(fc.double({ min: 0, max: 100, noNaN: true }), fc.double({ min: 0.5, max: 10, noNaN: true }));
    fc.assert(
      fc.property(fc.array(pair, { minLength: 4, maxLength: 50 }), fc.array(pair, { minLength: 4, maxLength: 50 }), fc.array(fc.nat(), { maxLength: 4 }), (a, b, cuts) => {
        let whole;
        try {
          whole = ratioTest(ratioFromValues(a), ratioFromValues(b), { difference: 'absolute' });
        } catch {
          return true; // degenerate draws (zero variance) are refused both ways
        }
        const merged = ratioTest(mergeRatio(...split(a, cuts).map(ratioFromValues).reverse()), mergeRatio(...split(b, cuts).map(ratioFromValues)), { difference: 'absolute' });
        return Math.abs(merged.estimate - whole.estimate) <= 1e-9 * Math.max(1, Math.abs(whole.estimate)) && Math.abs(merged.se - whole.se) <= 1e-6 * whole.se;
      }),
    );
  });
});

describe('LogHistogram (property)', () => {
  const sample = fc.array(fc.oneof(positive, fc.constant(0)), { minLength: 1, maxLength: 200 });

  it('merge is commutative and associative', () => {
    fc.assert(
      fc.property(sample, sample, sample, (a, b, c) => {
        const [ha, hb, hc] = [a, b, c].map((x) => LogHistogram.fromValues(x));
        const left = LogHistogram.merge(LogHistogram.merge(ha, hb), hc).rows();
        const right = LogHistogram.merge(ha, LogHistogram.merge(hb, hc)).rows();
        const swapped = LogHistogram.merge(hc, hb, ha).rows();
        const whole = LogHistogram.fromValues([...a, ...b, ...c]).rows();
        expect(left).toEqual(right);
        expect(left).toEqual(swapped);
        expect(left).toEqual(whole);
      }),
    );
  });

  it('round-trips through (index, count) rows', () => {
    fc.assert(
      fc.property(sample, (a) => {
        const h = LogHistogram.fromValues(a);
        expect(LogHistogram.fromRows(h.rows()).rows()).toEqual(h.rows());
      }),
    );
  });

  it('quantiles stay within the relative accuracy of the exact order statistic', () => {
    fc.assert(
      fc.property(fc.array(positive, { minLength: 1, maxLength: 300 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0.01, 0.02, 0.005), (xs, q, acc) => {
        const h = LogHistogram.fromValues(xs, acc);
        const sorted = [...xs].sort((x, y) => x - y);
        const exact = sorted[Math.floor(q * (xs.length - 1))];
        return Math.abs(h.quantile(q) - exact) <= (acc + 1e-12) * exact;
      }),
    );
  });

  it('bucket index and representative agree with the definition, zero and negatives handled', () => {
    fc.assert(
      fc.property(positive, (x) => {
        const i = bucketIndex(x);
        const g = 1.01 / 0.99;
        return Math.abs(bucketValue(i) - x) <= (0.01 + 1e-12) * x && x <= Math.pow(g, i) * (1 + 1e-12) && x >= Math.pow(g, i - 1) * (1 - 1e-12);
      }),
    );
    expect(bucketIndex(0)).toBe(ZERO_BUCKET_INDEX);
    expect(bucketValue(ZERO_BUCKET_INDEX)).toBe(0);
    expect(() => bucketIndex(-1)).toThrow(RangeError);
    expect(() => bucketIndex(NaN)).toThrow(RangeError);
    expect(() => LogHistogram.merge(new LogHistogram(0.01), new LogHistogram(0.02))).toThrow('relative accuracy');
  });
});
