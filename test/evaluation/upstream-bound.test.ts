import type { INestApplicationContext } from '@nestjs/common';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { type FakeModel, startFakeModel } from './support/fake-models';

jest.setTimeout(60_000);

/** The worker's bound per upstream base URL (EVAL_UPSTREAM_MAX_IN_FLIGHT); each run alone stays within it (concurrency = BOUND). */
const BOUND = 4;
const CASES = 24;

let t: TestApp;
let worker: INestApplicationContext;
let shared: FakeModel;
let admin: ReturnType<typeof client>;
let key: string;
/** Moments when calls of both runs (datasets "alpha" and "beta") were in flight at the upstream together. */
let bothRunsAtOnce = 0;

beforeAll(async () => {
  // One model server behind both variants (two model names on one base URL), answering slowly enough to overlap.
  shared = await startFakeModel(
    'shared',
    (q) => {
      if (shared.current.some((m) => m.startsWith('alpha')) && shared.current.some((m) => m.startsWith('beta'))) bothRunsAtOnce++;
      return q.toUpperCase();
    },
    40,
  );
  t = await startTestApp({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32', EVAL_UPSTREAM_MAX_IN_FLIGHT: String(BOUND) });
  worker = await startTestWorker(t.config);
  admin = client(t.url, t.adminKey);
  const body = experimentBody({
    variants: [
      { key: 'big', weight: 1, isControl: true, upstream: { baseUrl: shared.url, model: 'llama-70b' } },
      // The same base URL spelled with a trailing slash: one upstream all the same.
      { key: 'small', weight: 1, upstream: { baseUrl: `${shared.url}/`, model: 'llama-8b' } },
    ],
  });
  expect((await admin.post('/v1/experiments', body)).status).toBe(201);
  key = body.key;
  for (const name of ['alpha', 'beta']) {
    const cases = Array.from({ length: CASES }, (_, i) => ({ id: `${name}-${i}`, prompt: `${name} question ${i}`, reference: `${name} question ${i}`.toUpperCase() }));
    expect((await admin.post('/v1/datasets', { name, cases })).status).toBe(201);
  }
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await shared?.close();
});

async function finished(id: string): Promise<any> {
  let run: any;
  await eventually(async () => {
    run = (await admin.get(`/v1/experiments/${key}/evaluations/${id}`)).body;
    return ['done', 'paused', 'failed', 'cancelled'].includes(run.status);
  }, 45_000, 100);
  return run;
}

describe('bounded concurrency per upstream (docs/adr/0040)', () => {
  it('two runs at once against one upstream never have more than EVAL_UPSTREAM_MAX_IN_FLIGHT calls in flight there', async () => {
    const started = await Promise.all(
      ['alpha', 'beta'].map((dataset) => admin.post(`/v1/experiments/${key}/evaluations`, { dataset, variants: ['big', 'small'], evaluators: [{ type: 'exact' }], concurrency: BOUND })),
    );
    expect(started.map((s) => s.status)).toEqual([202, 202]);
    const runs = await Promise.all(started.map((s) => finished(s.body.id)));
    for (const run of runs) {
      expect(run).toMatchObject({ status: 'done', progress: { done: 2 * CASES, total: 2 * CASES, failed: 0 } });
      expect(run.results.variants.map((v: any) => v.evaluators.exact.passRate)).toEqual([1, 1]);
    }
    // Every case answered once per variant; the two runs overlapped at the upstream, and the
    // calls in flight there, all runs and both variants together, stayed within the bound
    // (without it, 2 runs x concurrency 4 could reach 8), which they did reach.
    expect(shared.calls).toBe(2 * 2 * CASES);
    expect(bothRunsAtOnce).toBeGreaterThan(0);
    expect(shared.maxInFlight).toBeLessThanOrEqual(BOUND);
    expect(shared.maxInFlight).toBe(BOUND);
  });
});
