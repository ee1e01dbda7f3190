import { mcnemarExact, pairedTTest, wilsonInterval } from '../stats';
import { SHADOW_METRICS, shadowResults, type PairSums, type ShadowRow } from './shadow-results';

function sums(served: number[], shadow: number[]): PairSums {
  const d = shadow.map((y, i) => y - served[i]);
  return { n: d.length, served: served.reduce((s, v) => s + v, 0), shadow: shadow.reduce((s, v) => s + v, 0), d: d.reduce((s, v) => s + v, 0), dd: d.reduce((s, v) => s + v * v, 0) };
}

const served = [120, 95, 130, 110, 101, 99];
const shadow = [100, 90, 128, 95, 99, 80];
const servedErrors = [0, 0, 1, 0, 0, 1];
const shadowErrors = [1, 0, 0, 1, 0, 1];

function row(variant = 'cand'): ShadowRow {
  const metrics = Object.fromEntries(SHADOW_METRICS.map((m) => [m, sums(served, shadow)])) as ShadowRow['metrics'];
  metrics.error_rate = sums(servedErrors, shadowErrors);
  return { variant, shadows: 7, pairs: 6, metrics, onlyServedFailed: 1, onlyShadowFailed: 2, exact: { n: 6, matches: 4 }, json: { n: 2, matches: 1 } };
}

describe('shadowResults', () => {
  it('pairs: the paired t-test of shadow - served, McNemar for errors, Wilson for agreement', () => {
    const [r] = shadowResults([row()], { variant: 'cand', sampleRate: 0.2 }, 0.05);
    expect(r).toMatchObject({ variant: 'cand', active: true, sampleRate: 0.2, shadows: 7, pairs: 6, dropped: null });
    const latency = r.comparisons.find((c) => c.metric === 'latency_ms')!;
    const t = pairedTTest(served, shadow);
    expect(latency.difference).toBeCloseTo(t.meanDifference, 10);
    expect(latency.pValue).toBeCloseTo(t.pValue, 10);
    expect(latency.ci![0]).toBeCloseTo(t.ci[0], 8);
    expect(latency.relativeDifference).toBeCloseTo(t.meanDifference / (served.reduce((s, v) => s + v, 0) / 6), 10);
    const errors = r.comparisons.find((c) => c.metric === 'error_rate')!;
    expect(errors).toMatchObject({ method: 'mcnemar_exact', difference: 1 / 6, pValue: mcnemarExact(1, 2).pValue });
    expect(r.agreement.exact).toEqual({ n: 6, rate: 4 / 6, ci: wilsonInterval(4, 6) });
    expect(r.agreement.json).toEqual({ n: 2, rate: 0.5, ci: wilsonInterval(1, 2) });
  });

  it('a shadow with no pairs yet is listed, empty; a former shadow keeps its evidence, after the active one', () => {
    const results = shadowResults([row('old')], { variant: 'cand', sampleRate: 1 }, 0.05);
    expect(results.map((r) => [r.variant, r.active])).toEqual([['cand', true], ['old', false]]);
    expect(results[0].comparisons.every((c) => c.n === 0 && c.difference === null && c.ci === null)).toBe(true);
    expect(results[0].agreement.exact).toEqual({ n: 0, rate: null, ci: null });
    expect(results[1].sampleRate).toBeNull();
    expect(shadowResults([], null, 0.05)).toEqual([]);
  });

  it('identical pairs: a zero difference with a degenerate interval, no p-value', () => {
    const same = row();
    same.metrics.latency_ms = sums([10, 20, 30], [10, 20, 30]);
    const latency = shadowResults([same], null, 0.05)[0].comparisons.find((c) => c.metric === 'latency_ms')!;
    expect(latency).toMatchObject({ n: 3, difference: 0, ci: [0, 0], pValue: null });
  });
});
