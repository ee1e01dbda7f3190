import { createApiApp } from '../../apps/api/create-api-app';
import { createLogger } from '../../libs/logging/logger';
import { experimentBody } from '../factories/experiment.factory';
import { freePort, TcpProxy } from '../ingestion/support/processes';
import { runningExperiment } from '../ingestion/support/ingestion-fixture';
import { client } from '../support/http-client';
import { eventually } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * An API replica whose Postgres goes away: what needs the database answers 503 with
 * Retry-After (a load balancer retries it elsewhere; a client knows to come back), never a
 * 500 and never a 401 for a key it could not check; what needs no database keeps working.
 */
jest.setTimeout(60_000);

let t: TestApp;
let proxy: TcpProxy;
let replica: Awaited<ReturnType<typeof createApiApp>>;
let url: string;

beforeAll(async () => {
  t = await startTestApp();
  proxy = new TcpProxy(await freePort());
  await proxy.start();
  const database = new URL(t.config.database.url);
  database.host = `127.0.0.1:${proxy.port}`;
  const config = { ...t.config, database: { ...t.config.database, url: database.toString() } };
  replica = await createApiApp(config, createLogger(config.logLevel, 'api-outage-test'));
  await replica.listen(0, '127.0.0.1');
  const address = replica.getHttpServer().address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  proxy?.unblock();
  await replica?.close();
  await proxy?.stop();
  await t?.close();
});

it('answers 503 with Retry-After for what needs Postgres while it is away, and serves the rest', async () => {
  const exp = await runningExperiment(url, t.adminKey);
  const admin = client(url, t.adminKey);
  expect((await admin.get('/v1/experiments')).status).toBe(200);
  const unknownKey = client(url, 'vk_live_this_key_was_never_issued_0000000000000000');

  proxy.block();

  const needDatabase = [
    ['list experiments', () => admin.get('/v1/experiments')],
    ['create an experiment', () => admin.post('/v1/experiments', experimentBody())],
    ['read an experiment', () => admin.get(`/v1/experiments/${exp.key}`)],
    ['pause an experiment', () => admin.post(`/v1/experiments/${exp.key}/pause`)],
    ['create a key', () => admin.post('/v1/api-keys', { name: 'during-outage', scope: 'sdk' })],
    ['a key never seen', () => unknownKey.get('/v1/experiments')],
    ['readiness', () => client(url).get('/ready')],
  ] as const;
  const answers: Record<string, { status: number; retryAfter: string | null; type: string | null }> = {};
  for (const [what, call] of needDatabase) {
    const res = await call();
    answers[what] = { status: res.status, retryAfter: res.headers.get('retry-after'), type: res.headers.get('content-type') };
  }
  const expected = Object.fromEntries(
    needDatabase.map(([what]) => [what, { status: 503, retryAfter: expect.stringMatching(/^[1-9]\d*$/), type: expect.stringContaining('application/problem+json') }]),
  );
  expect(answers).toEqual(expected);

  // Assignment reads the in-memory snapshot and ingestion the queue: neither needs Postgres.
  const assigned = await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: 'during-outage' });
  expect(assigned.status).toBe(200);
  expect(assigned.body.inExperiment).toBe(true);
  expect((await client(url).get('/health')).status).toBe(200);

  proxy.unblock();
  await eventually(async () => (await admin.get('/v1/experiments')).status === 200, 30_000, 200);
  expect((await client(url).get('/ready')).status).toBe(200);
});
