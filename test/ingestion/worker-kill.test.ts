import type { ChildProcess } from 'node:child_process';
import { eventually } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { aggregatesVsRaw, count, runningExperiment } from './support/ingestion-fixture';
import { exited, spawnWorker } from './support/processes';
import { sendAll } from './support/senders';

jest.setTimeout(180_000);

let t: TestApp;
let worker: ChildProcess | null = null;

beforeAll(async () => {
  t = await startTestApp();
});
afterAll(async () => {
  worker?.kill('SIGKILL');
  await t?.close();
});

it('loses and doubles nothing when the worker is SIGKILLed in the middle of 100,000 events', async () => {
  const exp = await runningExperiment(t.url, t.adminKey);
  const rows = () => count(t.db, `SELECT count(*) FROM outcome_event WHERE experiment_id = $1`, [exp.id]);
  worker = spawnWorker(t.config);
  const sending = sendAll(exp.sdk, exp.key, 0, 100_000, 1000, 4);
  // Kill it while it is writing: some rows in, far from all.
  await eventually(async () => (await rows()) >= 15_000, 120_000, 20);
  const atKill = await rows();
  worker.kill('SIGKILL');
  await exited(worker);
  expect(atKill).toBeLessThan(100_000);
  const { acknowledged } = await sending;
  expect(acknowledged.size).toBe(100_000);

  worker = spawnWorker(t.config);
  // Jobs the killed worker held come back once their lock expires (BullMQ's stalled-job check).
  await eventually(async () => (await rows()) >= 100_000, 150_000, 500);
  worker.kill('SIGTERM');
  await exited(worker);
  worker = null;

  expect(await rows()).toBe(100_000);
  expect(await count(t.db, `SELECT count(DISTINCT event_id) FROM outcome_event WHERE experiment_id = $1`, [exp.id])).toBe(100_000);
  expect(await count(t.db, `SELECT sum(events) FROM outcome_unit WHERE experiment_id = $1`, [exp.id])).toBe(100_000);
  expect(await count(t.db, `SELECT sum(n) FROM outcome_moment WHERE experiment_id = $1 AND metric = '$events'`, [exp.id])).toBe(100_000);
  const { stored, recomputed } = await aggregatesVsRaw(t.db, exp.id);
  expect(stored).toEqual(recomputed);
  // Transient failures are retried, never taken for bad data (docs/adr/0015).
  expect(await count(t.db, `SELECT count(*) FROM ingest_dead_letter`)).toBe(0);
});
