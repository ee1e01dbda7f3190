import type { INestApplicationContext } from '@nestjs/common';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS } from './support/gateway-fixture';

/**
 * The blue/green recipe of docs/gateway.md, step by step on one running API and worker (no
 * restart): v2 is shadowed, then ramped by a PATCH, then concluded; after each step the
 * traffic goes where the step says and the results carry its evidence.
 */
jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;
let v1a: FakeUpstream;
let v1b: FakeUpstream;
let v2: FakeUpstream;

beforeAll(async () => {
  [t, v1a, v1b, v2] = await Promise.all([startTestApp(GATEWAY_TEST_SETTINGS), startFakeUpstream('v1a'), startFakeUpstream('v1b'), startFakeUpstream('v2')]);
  worker = await startTestWorker(t.config);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([v1a, v1b, v2].map((f) => f?.close()));
});

async function call(exp: { sdkKey: string; key: string }, unit: string) {
  const response = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': unit },
    body: JSON.stringify({ model: exp.key, messages: [{ role: 'user', content: 'hello' }] }),
  });
  await response.text();
  return { status: response.status, variant: response.headers.get('x-verdict-variant') };
}

it('shadows v2, ramps it, concludes it, with no restart and the evidence of each step in the results', async () => {
  const variants = (v2Weight: number) => [
    { key: 'v1', weight: 1, isControl: true, pricing: { inputPer1M: 1, outputPer1M: 2 }, upstream: { instances: [{ baseUrl: v1a.url }, { baseUrl: v1b.url }], model: 'llama-70b' } },
    { key: 'v2', weight: v2Weight, pricing: { inputPer1M: 0.5, outputPer1M: 1 }, upstream: { baseUrl: v2.url, model: 'llama-70b-awq' } },
  ];
  const exp = await gatewayExperiment(t.url, t.adminKey, v1a, v2, {
    variants: variants(0),
    shadow: { variant: 'v2', sampleRate: 1 },
    metrics: { primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.02 }, guardrails: [{ name: 'error_rate', maxRelativeIncrease: 0.2 }] },
  });
  const results = async () => (await exp.admin.get(`/v1/experiments/${exp.key}/results`)).body;

  // 1. Shadow: every call served by v1 (over its two instances), a copy of each to v2, paired in the results.
  const v2Before = v2.requests.length;
  const shadowed = await Promise.all(Array.from({ length: 20 }, (_, i) => call(exp, `shadow-${i}`)));
  expect(shadowed.map((r) => [r.status, r.variant])).toEqual(Array(20).fill([200, 'v1']));
  await eventually(async () => v2.requests.length - v2Before === 20);
  await eventually(async () => (await results()).shadow?.[0]?.pairs === 20, 30_000, 200);
  const shadowSection = (await results()).shadow[0];
  expect(shadowSection).toMatchObject({ variant: 'v2', pairs: 20 });
  expect(v1a.requests.length).toBeGreaterThan(0);
  expect(v1b.requests.length).toBeGreaterThan(0);

  // 2. Ramp: copies stop, v2 serves its share of real units (a new phase); the results compare it.
  const ramped = await exp.admin.patch(`/v1/experiments/${exp.key}`, { shadow: null, variants: variants(1).map(({ key, weight, isControl }) => ({ key, weight, ...(isControl ? { isControl } : {}) })) });
  expect(ramped.status).toBe(200);
  expect(ramped.body.shadow).toBeNull();
  // The new weights reach the gateway through the change bus.
  let probe = 0;
  await eventually(async () => (await call(exp, `ramp-wait-${probe++}`)).variant === 'v2', 10_000, 20);
  const served = await Promise.all(Array.from({ length: 60 }, (_, i) => call(exp, `ramp-${i}`)));
  expect(served.every((r) => r.status === 200)).toBe(true);
  const onV2 = served.filter((r) => r.variant === 'v2').length;
  expect(onV2).toBeGreaterThan(10);
  expect(onV2).toBeLessThan(50);
  await eventually(async () => {
    const r = await results();
    return r.phase === ramped.body.phase && r.comparisons.some((c: any) => c.variant === 'v2' && c.metric === 'cost_usd' && c.ci !== null);
  }, 30_000, 200);
  // v2 is priced at half of v1 for the same tokens: the ramp's evidence says so.
  const cost = (await results()).comparisons.find((c: any) => c.variant === 'v2' && c.metric === 'cost_usd');
  expect(cost.relativeLift).toBeCloseTo(-0.5, 6);

  // 3. Conclude on v2: every unit, v1's included, is served by v2's pool at once.
  const concluded = await exp.admin.post(`/v1/experiments/${exp.key}/conclude`, { winner: 'v2' });
  expect(concluded.status).toBe(200);
  const v1Units = served.map((r, i) => (r.variant === 'v1' ? `ramp-${i}` : null)).filter((u): u is string => u !== null);
  await eventually(async () => (await call(exp, v1Units[0])).variant === 'v2', 10_000, 100);
  const v1Calls = v1a.requests.length + v1b.requests.length;
  const after = await Promise.all(v1Units.slice(0, 20).map((u) => call(exp, u)));
  expect(after.map((r) => [r.status, r.variant])).toEqual(Array(after.length).fill([200, 'v2']));
  expect(v1a.requests.length + v1b.requests.length).toBe(v1Calls);
  const final = await exp.admin.get(`/v1/experiments/${exp.key}`);
  expect(final.body).toMatchObject({ status: 'concluded', winner: 'v2' });
  // The shadow phase's evidence stays readable after the conclusion.
  expect((await results()).shadow[0]).toMatchObject({ variant: 'v2', pairs: 20 });
});
