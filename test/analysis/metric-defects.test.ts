import type { INestApplicationContext } from '@nestjs/common';
import * as ss from 'simple-statistics';
import { bucketIndex } from '../../libs/stats/log-histogram';
import { experimentBody } from '../factories/experiment.factory';
import { rng } from '../factories/seeded';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { AnalysisFixture } from './support/analysis-fixture';

/**
 * The wrong answers of issue 15, each through the API and the worker: latencies clustered in
 * one or two histogram buckets, token means biased by failures, stale results after feedback
 * that cancels in the sums, and a quantile level that validation accepted but nothing computed.
 */
jest.setTimeout(180_000);

let t: TestApp;
let worker: INestApplicationContext;
let f: AnalysisFixture;

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  f = new AnalysisFixture(t);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

const latencyGuardrail = { name: 'latency_p95', maxRelativeIncrease: 0.1 };

/** Starts a user-unit experiment, exposes `units` users, sends `perUnit` events each with the latency `latency(variant, i)`. */
async function clustered(latency: (variant: string, i: number) => number, units = 300, perUnit = 2) {
  const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails: [latencyGuardrail] } });
  const assigned = Array.from({ length: units }, (_, u) => ({ unitId: `${exp.key}-u${u}`, variant: exp.index.assign(exp.key, `${exp.key}-u${u}`).variant! }));
  await f.expose(exp.key, assigned);
  const events = assigned.flatMap(({ unitId, variant }, u) =>
    Array.from({ length: perUnit }, (_, j) => ({ id: `${unitId}-e${j}`, unitId, latencyMs: latency(variant, u * perUnit + j), success: (u + j) % 3 !== 0 })),
  );
  await f.sendOutcomes(exp, events, events.length);
  return { exp, results: await f.results(exp.key) };
}

describe('latencies clustered in the histogram', () => {
  it('all in one bucket: a 4x faster treatment gets an interval, a comparison and an ok guardrail', async () => {
    const { results } = await clustered((variant) => (variant === 'control' ? 80 : 20));
    for (const v of results.variants) {
      const p95 = v.metrics.latency_ms.p95;
      expect(p95.ci[1] - p95.ci[0]).toBeGreaterThanOrEqual(0.0195 * p95.value);
      expect(p95.se).toBeGreaterThan(0);
    }
    const c = results.comparisons.find((x: any) => x.metric === 'latency_p95');
    expect(c.note).toBeUndefined();
    expect(c.relativeLift).toBeCloseTo(-0.75, 2);
    expect(c.ci[1]).toBeLessThan(-0.5);
    expect(results.guardrails).toEqual([expect.objectContaining({ metric: 'latency_p95', status: 'ok' })]);
  });

  it('all in one bucket: a 4x slower treatment breaches the guardrail and the decision is stop', async () => {
    const { results } = await clustered((variant) => (variant === 'control' ? 20 : 80));
    const g = results.guardrails.find((x: any) => x.metric === 'latency_p95');
    expect(g.status).toBe('breached');
    expect(g.ci[0]).toBeGreaterThan(0.1);
    expect(results.decision.action).toBe('stop');
  });

  it('in two adjacent buckets: a 4x faster treatment is ok, and a 30 % slower one breaches', async () => {
    expect(bucketIndex(80.5)).toBe(bucketIndex(79) + 1);
    expect(bucketIndex(80.5 / 4)).toBe(bucketIndex(79 / 4) + 1);
    const twoBuckets = (scale: number) => (_variant: string, i: number) => (i % 10 === 0 ? 80.5 : 79) * scale;
    const faster = await clustered((variant, i) => twoBuckets(variant === 'control' ? 1 : 0.25)(variant, i));
    expect(faster.results.guardrails[0]).toMatchObject({ status: 'ok' });
    expect(faster.results.comparisons.find((x: any) => x.metric === 'latency_p95').relativeLift).toBeCloseTo(-0.75, 2);
    const slower = await clustered((variant, i) => twoBuckets(variant === 'control' ? 1 : 1.3)(variant, i));
    expect(slower.results.guardrails[0]).toMatchObject({ status: 'breached' });
  });
});

describe('token means', () => {
  it('divide by the events that reported tokens, so failures without token counts do not make an arm look cheaper', async () => {
    const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'increase' } } });
    const r = rng(15);
    const assigned = Array.from({ length: 400 }, (_, u) => ({ unitId: `${exp.key}-u${u}`, variant: exp.index.assign(exp.key, `${exp.key}-u${u}`).variant! }));
    await f.expose(exp.key, assigned);
    const events = assigned.flatMap(({ unitId, variant }) =>
      Array.from({ length: 3 }, (_, j) => {
        // Identical prompts in both arms; the treatment fails more, and a failed call reports no tokens.
        const failed = r.next() < (variant === 'control' ? 0.02 : 0.3);
        const tokens = failed ? {} : { inputTokens: 300 + Math.floor(r.next() * 400), outputTokens: 100 + Math.floor(r.next() * 200) };
        return { id: `${unitId}-e${j}`, unitId, variant, success: !failed, ...(failed ? { error: 'overloaded' } : {}), ...tokens };
      }),
    );
    await f.sendOutcomes(exp, events.map(({ variant: _v, ...e }) => e), events.length);
    const res = await f.results(exp.key);
    for (const metric of ['inputTokens', 'outputTokens'] as const) {
      const name = metric === 'inputTokens' ? 'input_tokens' : 'output_tokens';
      for (const v of res.variants) {
        const reporting = events.filter((e: any) => e.variant === v.key && e[metric] !== undefined);
        expect(v.metrics[name].mean).toBeCloseTo(ss.sum(reporting.map((e: any) => e[metric])) / reporting.length, 9);
      }
    }
  });
});

describe('the results cache', () => {
  it('serves new results after two feedback corrections that cancel in the sums', async () => {
    const exp = await f.start({ unitType: 'request', metrics: { primary: { name: 'success_rate', goal: 'increase' } } });
    const assigned = Array.from({ length: 200 }, (_, u) => ({ unitId: `${exp.key}-r${u}`, variant: exp.index.assign(exp.key, `${exp.key}-r${u}`).variant! }));
    const events = assigned.map(({ unitId, variant }, i) => ({ id: `${unitId}-e`, unitId, variant, success: i % 2 === 0, latencyMs: 100 + i }));
    await f.sendOutcomes(exp, events.map(({ variant: _v, ...e }) => e), events.length);
    const before = await f.results(exp.key);
    expect((await f.results(exp.key)).computedAt).toBe(before.computedAt);

    // One control success turned into a failure, one treatment failure into a success.
    const flipControl = events.find((e) => e.variant === 'control' && e.success)!;
    const flipTreatment = events.find((e) => e.variant === 'treatment' && !e.success)!;
    const sdk = await f.sdk();
    const sent = await sdk.post('/v1/feedback', { items: [{ eventId: flipControl.id, success: false }, { eventId: flipTreatment.id, success: true }] });
    expect(sent.status).toBe(202);
    await eventually(async () => {
      const [row] = await t.db.query('SELECT count(*)::int AS n FROM outcome_event_key WHERE experiment_id = $1 AND feedback_hash IS NOT NULL', [exp.id]);
      return row.n === 2;
    });
    flipControl.success = false;
    flipTreatment.success = true;
    const after = await f.results(exp.key);
    expect(after.dataVersion).not.toBe(before.dataVersion);
    for (const v of after.variants) {
      const mine = events.filter((e) => e.variant === v.key);
      expect(v.metrics.success_rate.mean).toBeCloseTo(mine.filter((e) => e.success).length / mine.length, 12);
    }
  });
});

describe('quantile levels', () => {
  it('refuses latency_p75, which no quantile list computes, with a 400 naming the field', async () => {
    const body = experimentBody({ metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails: [{ name: 'latency_p75', maxRelativeIncrease: 0.1 }] } });
    const res = await f.admin.post('/v1/experiments', body);
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'metrics.guardrails.0.name' })]);
    const custom = experimentBody({ metrics: { primary: { name: 'success_rate', goal: 'increase' }, custom: [{ name: 'ttft_p75' }] } });
    expect((await f.admin.post('/v1/experiments', custom)).body.errors).toEqual([expect.objectContaining({ field: 'metrics.custom.0.name' })]);
  });
});
