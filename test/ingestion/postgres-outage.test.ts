import type { ChildProcess } from 'node:child_process';
import { databaseUrl } from '../support/databases';
import { eventually } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { aggregatesVsRaw, count, runningExperiment } from './support/ingestion-fixture';
import { exited, freePort, spawnWorker, TcpProxy } from './support/processes';
import { sendAll } from './support/senders';

jest.setTimeout(150_000);

let t: TestApp;
let proxy: TcpProxy;
let worker: ChildProcess | null = null;

beforeAll(async () => {
  t = await startTestApp();
  proxy = new TcpProxy(await freePort());
  await proxy.start();
});
afterAll(async () => {
  worker?.kill('SIGKILL');
  await proxy?.stop();
  await t?.close();
});

it('lands every event after Postgres was unreachable for 30 s during ingestion', async () => {
  const exp = await runningExperiment(t.url, t.adminKey);
  const rows = () => count(t.db, `SELECT count(*) FROM outcome_event WHERE experiment_id = $1`, [exp.id]);
  // The worker reaches Postgres only through the proxy.
  const url = new URL(databaseUrl(new URL(t.config.database.url).pathname.slice(1)));
  url.host = `127.0.0.1:${proxy.port}`;
  worker = spawnWorker(t.config, url.toString());

  const first = sendAll(exp.sdk, exp.key, 0, 10_000, 500, 2);
  await eventually(async () => (await rows()) >= 1_000, 60_000, 20);
  proxy.block();
  const blockedAt = await rows();
  // Ingestion keeps acknowledging while the database is away: the queue holds the events.
  const during = await sendAll(exp.sdk, exp.key, 10_000, 20_000, 500, 2);
  await first;
  await new Promise((resolve) => setTimeout(resolve, 30_000));
  expect(await rows()).toBe(blockedAt);
  proxy.unblock();

  expect(during.acknowledged.size).toBe(10_000);
  // Retries back off exponentially (0.5 s doubling): the last ones come back within about 30 s.
  await eventually(async () => (await rows()) >= 20_000, 90_000, 250);
  worker.kill('SIGTERM');
  await exited(worker);
  worker = null;
  expect(await rows()).toBe(20_000);
  expect(await count(t.db, `SELECT sum(events) FROM outcome_unit WHERE experiment_id = $1`, [exp.id])).toBe(20_000);
  const { stored, recomputed } = await aggregatesVsRaw(t.db, exp.id);
  expect(stored).toEqual(recomputed);
  // Transient failures are retried, never taken for bad data (docs/adr/0015).
  expect(await count(t.db, `SELECT count(*) FROM ingest_dead_letter`)).toBe(0);
});
