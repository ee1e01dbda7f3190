import type { ChildProcess } from 'node:child_process';
import { experimentBody } from '../factories/experiment.factory';
import { exited, spawnWorker } from '../ingestion/support/processes';
import { client } from '../support/http-client';
import { eventually } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { type FakeModel, startFakeModel } from './support/fake-models';

jest.setTimeout(180_000);

let t: TestApp;
let worker: ChildProcess | null = null;
let big: FakeModel;
let small: FakeModel;

beforeAll(async () => {
  // The spawned workers read their settings from the environment.
  process.env.OUTBOUND_ALLOW_HTTP = 'true';
  process.env.OUTBOUND_ALLOWED_CIDRS = '127.0.0.1/32';
  // Both models answer right (the length of the question), 60 ms an answer, so the run lasts long enough to be killed.
  [big, small] = await Promise.all([startFakeModel('big', (q) => String(q.length), 60), startFakeModel('small', (q) => String(q.length), 60)]);
  t = await startTestApp({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
});
afterAll(async () => {
  worker?.kill('SIGKILL');
  await t?.close();
  await Promise.all([big?.close(), small?.close()]);
});

it('continues a run from where it stopped when its worker is SIGKILLed, asking no recorded case again', async () => {
  const admin = client(t.url, t.adminKey);
  const body = experimentBody({
    variants: [
      { key: 'big', weight: 1, isControl: true, pricing: { inputPer1M: 1, outputPer1M: 1 }, upstream: { baseUrl: big.url, model: 'big' } },
      { key: 'small', weight: 1, pricing: { inputPer1M: 1, outputPer1M: 1 }, upstream: { baseUrl: small.url, model: 'small' } },
    ],
  });
  expect((await admin.post('/v1/experiments', body)).status).toBe(201);
  const cases = Array.from({ length: 30 }, (_, i) => ({ id: `k${i}`, prompt: `question number ${'?'.repeat(i + 1)}`, reference: String(`question number ${'?'.repeat(i + 1)}`.length) }));
  expect((await admin.post('/v1/datasets', { name: 'kill', cases })).status).toBe(201);
  const started = await admin.post(`/v1/experiments/${body.key}/evaluations`, { dataset: 'kill', evaluators: [{ type: 'exact' }], concurrency: 1 });
  expect(started.status).toBe(202);
  const runId = started.body.id;
  const done = async () => Number((await t.db.query(`SELECT done FROM evaluation_run WHERE id = $1`, [runId]))[0].done);

  worker = spawnWorker(t.config);
  await eventually(async () => (await done()) >= 10, 90_000, 20);
  worker.kill('SIGKILL');
  await exited(worker);
  const atKill = await done();
  expect(atKill).toBeLessThan(60);

  worker = spawnWorker(t.config);
  // The killed worker's job comes back once its lock expires (BullMQ's stalled-job check).
  await eventually(async () => (await t.db.query(`SELECT status FROM evaluation_run WHERE id = $1`, [runId]))[0].status === 'done', 150_000, 200);
  worker.kill('SIGTERM');
  await exited(worker);
  worker = null;

  const run = (await admin.get(`/v1/experiments/${body.key}/evaluations/${runId}`)).body;
  expect(run).toMatchObject({ status: 'done', progress: { done: 60, total: 60, failed: 0 } });
  expect(run.results.variants.map((v: any) => v.evaluators.exact.passRate)).toEqual([1, 1]);
  const rows = await t.db.query(`SELECT count(*)::int AS n, count(DISTINCT (variant, position, repetition))::int AS distinct FROM evaluation_case_result WHERE run_id = $1`, [runId]);
  expect(rows[0]).toEqual({ n: 60, distinct: 60 });
  // Recorded answers were not asked again; only a call in flight at the kill (one lane) may have been repeated.
  const repeated = [...big.answered.values(), ...small.answered.values()].filter((n) => n > 1).length;
  expect(repeated).toBeLessThanOrEqual(1);
  expect(big.answered.size + small.answered.size).toBe(60);
});
