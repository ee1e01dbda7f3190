import type { INestApplicationContext } from '@nestjs/common';
import * as ss from 'simple-statistics';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { AnalysisFixture, type SentEvent } from './support/analysis-fixture';

jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;
let f: AnalysisFixture;
let exp: { key: string; id: string };
let events: SentEvent[];
let res: any;

const ALPHA = 0.05;
const Z975 = 1.959963984540054;
const TUNING = 5000; // no plannedUnits: the default N* of the confidence sequence
const phi = (x: number) => 0.5 * (1 + ss.errorFunction(x / Math.SQRT2));

/** Per-unit (numerator, denominator) of each metric, computed here from the events sent. */
const METRICS: Record<string, (e: SentEvent) => [number, number]> = {
  success_rate: (e) => [e.success ? 1 : 0, 1],
  score: (e) => [e.score, 1],
  error_rate: (e) => [e.error ? 1 : 0, 1],
  latency_ms: (e) => [e.latencyMs, 1],
  ttft_ms: (e) => [e.ttftMs, 1],
  input_tokens: (e) => [e.inputTokens, 1],
  output_tokens: (e) => [e.outputTokens, 1],
  cost_usd: (e) => [e.costUsd, 1],
  cost_per_success: (e) => [e.costUsd, e.success ? 1 : 0],
};
const LOWER_IS_BETTER = new Set(['error_rate', 'latency_ms', 'ttft_ms', 'input_tokens', 'output_tokens', 'cost_usd', 'cost_per_success']);

/** Delta-method ratio estimate of one arm from per-unit sums (Deng et al. 2018). */
function arm(variant: string, metric: string) {
  const units = new Map<string, [number, number]>();
  for (const e of events.filter((x) => x.variant === variant)) {
    const [y, z] = METRICS[metric](e);
    const u = units.get(e.unitId) ?? [0, 0];
    units.set(e.unitId, [u[0] + y, u[1] + z]);
  }
  const ys = [...units.values()].map((u) => u[0]);
  const zs = [...units.values()].map((u) => u[1]);
  const n = ys.length;
  const my = ss.mean(ys);
  const mz = ss.mean(zs);
  const vy = ss.sampleVariance(ys);
  const vz = ss.sampleVariance(zs);
  const cov = ss.sampleCovariance(ys, zs);
  const mean = ss.sum(ys) / ss.sum(zs);
  const variance = vy / mz ** 2 - (2 * cov * my) / mz ** 3 + (vz * my ** 2) / mz ** 4;
  return { n, mean, variance };
}

/** GrowthBook's asymptotic confidence sequence (Waudby-Smith et al. 2023), written out. */
function sequential(d: number, se: number, n: number) {
  const l = -2 * Math.log(ALPHA);
  const rho2 = (l + Math.log(l + 1)) / TUNING;
  const a = n * rho2 + 1;
  const half = se * Math.sqrt(n) * Math.sqrt((2 * a * Math.log(Math.sqrt(a) / ALPHA)) / (n * n * rho2));
  const z2 = (d * d * n) / (se * se);
  return { ci: [d - half, d + half], pValue: Math.min(1, Math.sqrt(a) * Math.exp((-rho2 * z2) / (2 * a))) };
}

function expectClose(actual: number, expected: number, rel = 1e-9) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected)));
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  f = new AnalysisFixture(t);
  const started = await f.start({
    metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }] },
  });
  exp = started;
  events = await f.run(started, {
    units: 800,
    seed: 42,
    eventsPerUnit: (r) => 1 + Math.floor(r.next() * 4),
    arms: { control: { success: 0.7, latencyMedian: 700, costUsd: 0.01 }, treatment: { success: 0.75, latencyMedian: 650, costUsd: 0.008 } },
  });
  res = await f.results(exp.key);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

describe('GET /v1/experiments/{key}/results against an independent computation from the events sent', () => {
  it('has the contract shape', () => {
    expect(res).toMatchObject({ experiment: exp.key, unitType: 'user', phase: 1, sequential: true, srm: { ok: true, tested: true } });
    expect(res.variants.map((v: any) => v.key)).toEqual(['control', 'treatment']);
    expect(['ship', 'keep_control', 'continue', 'stop']).toContain(res.decision.action);
    expect(res.decision.reasons.length).toBeGreaterThan(0);
  });

  it('counts units, events, exposures and costs', () => {
    for (const v of res.variants) {
      const mine = events.filter((e) => e.variant === v.key);
      expect(v.units).toBe(new Set(mine.map((e) => e.unitId)).size);
      expect(v.events).toBe(mine.length);
      expectClose(v.totalCostUsd, ss.sum(mine.map((e) => e.costUsd)), 1e-9);
      expect(v.costUnknown).toBe(0);
      expect(res.srm.counts[v.key]).toBe(v.units);
    }
  });

  it('estimates every per-variant metric as a ratio of per-unit sums with a delta-method interval', () => {
    for (const v of res.variants) {
      for (const metric of Object.keys(METRICS)) {
        const a = arm(v.key, metric);
        const half = Z975 * Math.sqrt(a.variance / a.n);
        expectClose(v.metrics[metric].mean, a.mean);
        expectClose(v.metrics[metric].ci[0], a.mean - half, 1e-7);
        expectClose(v.metrics[metric].ci[1], a.mean + half, 1e-7);
        expect(v.metrics[metric].n).toBe(a.n);
      }
    }
  });

  it('compares every metric with the control: lifts, always-valid intervals and p-values, chance to beat control, Holm', () => {
    const others: Array<{ metric: string; p: number }> = [];
    for (const metric of Object.keys(METRICS)) {
      const c = arm('control', metric);
      const tr = arm('treatment', metric);
      const d = (tr.mean - c.mean) / Math.abs(c.mean);
      const se = Math.sqrt(tr.variance / (tr.n * c.mean ** 2) + (c.variance * tr.mean ** 2) / (c.n * c.mean ** 4));
      const seq = sequential(d, se, c.n + tr.n);
      const got = res.comparisons.find((x: any) => x.variant === 'treatment' && x.metric === metric);
      expectClose(got.absoluteLift, tr.mean - c.mean);
      expectClose(got.relativeLift, d);
      expectClose(got.ci[0], seq.ci[0], 1e-7);
      expectClose(got.ci[1], seq.ci[1], 1e-7);
      expectClose(got.pValue, seq.pValue, 1e-7);
      const up = phi(d / se);
      expect(Math.abs(got.chanceToBeatControl - (LOWER_IS_BETTER.has(metric) ? 1 - up : up))).toBeLessThan(1e-6);
      if (metric !== 'success_rate') others.push({ metric, p: seq.pValue });
      else expectClose(got.adjustedPValue, seq.pValue, 1e-7); // the only goal metric: Holm of one is itself
    }
    // Holm over the non-goal family (these metrics plus the latency quantiles the response also tests).
    const family = res.comparisons.filter((x: any) => x.role !== 'primary' && x.role !== 'secondary' && x.pValue !== null);
    const ps = family.map((x: any) => x.pValue);
    const order = ps.map((_: number, i: number) => i).sort((i: number, j: number) => ps[i] - ps[j]);
    let running = 0;
    const holm: number[] = [];
    order.forEach((i: number, rank: number) => {
      running = Math.max(running, Math.min(1, (ps.length - rank) * ps[i]));
      holm[i] = running;
    });
    family.forEach((x: any, i: number) => {
      expectClose(x.adjustedPValue, holm[i], 1e-9);
      expect(x.significant).toBe(holm[i] < ALPHA);
    });
    expect(others.length).toBe(Object.keys(METRICS).length - 1);
  });

  it('reports latency percentiles within the histogram relative error (1 %) of the exact order statistic', () => {
    for (const v of res.variants) {
      const sorted = events.filter((e) => e.variant === v.key).map((e) => e.latencyMs).sort((a, b) => a - b);
      for (const [label, q] of [['p50', 0.5], ['p90', 0.9], ['p95', 0.95], ['p99', 0.99]] as const) {
        const exact = sorted[Math.floor(q * (sorted.length - 1))];
        const got = v.metrics.latency_ms[label];
        expect(Math.abs(got.value - exact) / exact).toBeLessThanOrEqual(0.01 + 1e-9);
        expect(got.ci[0]).toBeLessThanOrEqual(got.value);
        expect(got.ci[1]).toBeGreaterThanOrEqual(got.value);
      }
    }
  });

  it('equals a full recomputation from the raw outcome_event rows', async () => {
    const raw = await t.db.query(
      `WITH u AS (SELECT variant, unit_id, count(*) AS k, sum(success::int) AS s, sum(latency_ms) AS l, sum(cost_usd) AS c
                  FROM outcome_event WHERE experiment_id = $1 GROUP BY 1, 2)
       SELECT u.variant, count(*)::int AS units, sum(k)::int AS events, sum(s)::float8 / sum(k) AS success_rate,
              sum(l) / sum(k) AS latency_ms, sum(c) / sum(s) AS cost_per_success,
              (SELECT latency_ms FROM (
                 SELECT latency_ms, row_number() OVER (ORDER BY latency_ms) - 1 AS r, count(*) OVER () AS n
                 FROM outcome_event e WHERE e.experiment_id = $1 AND e.variant = u.variant) o
               WHERE r = floor(0.95 * (n - 1))) AS p95
       FROM u GROUP BY u.variant ORDER BY 1`,
      [exp.id],
    );
    for (const r of raw) {
      const v = res.variants.find((x: any) => x.key === r.variant);
      expect(v.units).toBe(r.units);
      expect(v.events).toBe(r.events);
      expectClose(v.metrics.success_rate.mean, r.success_rate);
      expectClose(v.metrics.latency_ms.mean, r.latency_ms);
      expectClose(v.metrics.cost_per_success.mean, r.cost_per_success);
      // The sketch's documented error: 1 % of the order statistic x_(floor(q (n - 1))), computed in SQL.
      expect(Math.abs(v.metrics.latency_ms.p95.value - r.p95) / r.p95).toBeLessThanOrEqual(0.01 + 1e-9);
    }
  });

  it('serves the cached results until new data land', async () => {
    const again = await f.results(exp.key);
    expect(again.computedAt).toBe(res.computedAt);
    expect(again.dataVersion).toBe(res.dataVersion);
    const sdk = await f.sdk();
    const unit = events[0];
    expect((await sdk.post('/v1/outcomes', { events: [{ id: 'late-1', experiment: exp.key, unitId: unit.unitId, success: true, latencyMs: 500 }] })).status).toBe(202);
    let fresh: any;
    await eventually(async () => {
      fresh = await f.results(exp.key);
      return fresh.dataVersion !== res.dataVersion;
    });
    const v = fresh.variants.find((x: any) => x.key === unit.variant);
    expect(v.events).toBe(events.filter((e) => e.variant === unit.variant).length + 1);
  });

  it('records decision.changed once per change of the recommended action', async () => {
    const audit = (await f.admin.get(`/v1/experiments/${exp.key}/audit`)).body.items.filter((i: any) => i.action === 'decision.changed');
    expect(audit.length).toBe(1);
    expect(audit[0].after).toMatchObject({ action: res.decision.action });
    expect(audit[0].actor).toBe('system');
  });

  it('gives cumulative daily series whose last day equals the results', async () => {
    const daily = await f.admin.get(`/v1/experiments/${exp.key}/results/daily`);
    expect(daily.status).toBe(200);
    const last = daily.body.days[daily.body.days.length - 1];
    const now = await f.results(exp.key);
    for (const v of now.variants) {
      const d = last.variants.find((x: any) => x.key === v.key);
      expect(d.units).toBe(v.units);
      expect(d.events).toBe(v.events);
      for (const metric of ['success_rate', 'latency_ms', 'cost_usd', 'cost_per_success']) {
        expectClose(d.metrics[metric].mean, v.metrics[metric].mean, 1e-9);
        expectClose(d.metrics[metric].ci[0], v.metrics[metric].ci[0], 1e-7);
      }
    }
    const primary = last.comparisons.find((c: any) => c.metric === 'success_rate');
    const full = now.comparisons.find((c: any) => c.metric === 'success_rate');
    expectClose(primary.relativeLift, full.relativeLift, 1e-9);
    expectClose(primary.pValue, full.pValue, 1e-7);
  });

  it('answers 404 for an unknown experiment or phase and 403 for an sdk key', async () => {
    expect((await f.admin.get('/v1/experiments/no-such/results')).status).toBe(404);
    expect((await f.admin.get(`/v1/experiments/${exp.key}/results?phase=7`)).status).toBe(404);
    expect((await (await f.sdk()).get(`/v1/experiments/${exp.key}/results`)).status).toBe(403);
  });
});
