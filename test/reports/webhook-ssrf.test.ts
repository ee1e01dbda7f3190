import type { INestApplicationContext } from '@nestjs/common';
import { ReportScheduler } from '../../libs/reports/report-scheduler';
import { client } from '../support/http-client';
import { startLoopbackListener, type LoopbackListener } from '../support/loopback-listener';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { BASE_ARM, ReportsFixture } from './support/reports-fixture';

jest.setTimeout(90_000);

// The default policy (https only, no allowlist), with listeners on loopback that must
// never see a connection: every spelling below is refused when it is configured, and a
// URL that got into the table some other way (stored before this check existed, or a name
// whose DNS answer changed) is refused when it is called.
const SECRET = 'whsec-0123456789abcdef';
let t: TestApp;
let worker: INestApplicationContext | null = null;
let f: ReportsFixture;
let v4: LoopbackListener;
let v6: LoopbackListener;

beforeAll(async () => {
  t = await startTestApp();
  f = new ReportsFixture(t);
  v4 = await startLoopbackListener('127.0.0.1');
  v6 = await startLoopbackListener('::1');
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([v4?.close(), v6?.close()]);
});

/** A new project (its own webhook, deliveries and test-ping window) and its admin client. */
async function project(name: string): Promise<{ id: string; admin: ReturnType<typeof client> }> {
  const created = await f.admin.post('/v1/projects', { name });
  expect(created.status).toBe(201);
  return { id: created.body.id, admin: client(t.url, created.body.adminKey.key) };
}

/** Writes the webhook row directly, as one stored before the outbound policy existed. */
async function storeUnchecked(projectId: string, url: string): Promise<void> {
  await t.db.query('INSERT INTO project_webhook (project_id, url, secret) VALUES ($1, $2, $3) ON CONFLICT (project_id) DO UPDATE SET url = $2', [projectId, url, SECRET]);
}

it('refuses internal destinations at PUT /v1/webhook, naming url and the reason', async () => {
  const p = v4.port;
  const cases: Array<[string, string]> = [
    [`http://127.0.0.1:${p}/hook`, 'must use https'],
    [`https://127.0.0.1:${p}/hook`, 'points to 127.0.0.1, a loopback address'],
    [`https://[::1]:${v6.port}/hook`, 'points to ::1, a loopback address'],
    [`https://localhost:${p}/hook`, 'localhost resolves to 127.0.0.1, a loopback address'],
    [`https://0.0.0.0:${p}/hook`, 'points to 0.0.0.0, an unspecified address'],
    [`https://2130706433:${p}/hook`, 'points to 127.0.0.1, a loopback address'],
    [`https://0x7f.1:${p}/hook`, 'points to 127.0.0.1, a loopback address'],
    [`https://127.1:${p}/hook`, 'points to 127.0.0.1, a loopback address'],
    [`https://[::ffff:7f00:1]:${p}/hook`, 'points to 127.0.0.1, a loopback address'],
    ['https://127.0.0.1:5432/', 'points to 127.0.0.1, a loopback address'],
    ['https://127.0.0.1:6379/', 'points to 127.0.0.1, a loopback address'],
    ['https://169.254.169.254/latest/meta-data/', 'points to 169.254.169.254, a link-local address'],
    ['https://10.0.0.1/hook', 'points to 10.0.0.1, a private address'],
    ['https://[fd00::1]/hook', 'points to fd00::1, a unique local address'],
    ['https://verdict:hunter2@hooks.example.com/hook', 'must not contain credentials (user:password@)'],
    ['https://hooks.example.com:99999/hook', 'must be an absolute URL'],
  ];
  for (const [url, message] of cases) {
    const res = await f.admin.call('PUT', '/v1/webhook', { url, secret: SECRET });
    expect({ url, status: res.status, errors: res.body.errors }).toEqual({ url, status: 400, errors: [{ field: 'url', message }] });
    expect(JSON.stringify(res.body)).not.toContain('hunter2');
  }
  expect((await f.admin.get('/v1/webhook')).status).toBe(404);
  expect(await t.db.query(`SELECT 1 FROM audit_entry WHERE action = 'webhook.updated'`)).toEqual([]);
  expect([v4.connections, v6.connections]).toEqual([0, 0]);
});

it('refuses at send time what the table holds from before, records it, and rate-limits test pings', async () => {
  const p = v4.port;
  const cases: Array<[string, string, string]> = [
    // A name resolved when it is called: the check sits in the connect path.
    [`https://localhost:${p}/hook`, 'localhost resolves to 127.0.0.1, a loopback address', `https://localhost:${p}/hook`],
    [`http://127.0.0.1:${p}/hook`, 'the URL must use https', `http://127.0.0.1:${p}/hook`],
    [`https://[::1]:${v6.port}/hook`, 'the URL points to ::1, a loopback address', `https://[::1]:${v6.port}/hook`],
    [`https://0x7f.1:${p}/hook`, 'the URL points to 127.0.0.1, a loopback address', `https://127.0.0.1:${p}/hook`],
    // The record keeps neither credentials nor the query.
    [`https://u:hunter2@127.0.0.1:${p}/hook?token=abc`, 'the URL must not contain credentials (user:password@)', `https://127.0.0.1:${p}/hook`],
  ];
  for (const [i, [url, reason, recorded]] of cases.entries()) {
    const { id, admin } = await project(`legacy ${i}`);
    await storeUnchecked(id, url);
    const ping = await admin.post('/v1/webhook/test');
    expect({ url, status: ping.status, body: ping.body }).toEqual({
      url,
      status: 200,
      body: { id: expect.any(String), trigger: 'test', alertId: null, url: recorded, outcome: 'refused', statusCode: null, reason, durationMs: expect.any(Number), createdAt: expect.any(String) },
    });
    const listed = await admin.get('/v1/webhook/deliveries');
    expect(listed.body).toEqual({ items: [ping.body], total: 1 });
    expect(JSON.stringify(listed.body)).not.toMatch(/hunter2|token=abc/);

    // One ping per project every 10 s, across replicas (Redis).
    const again = await admin.post('/v1/webhook/test');
    expect(again.status).toBe(429);
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(again.headers.get('retry-after'))).toBeLessThanOrEqual(10);
  }
  const bare = await project('no webhook');
  expect((await bare.admin.post('/v1/webhook/test')).status).toBe(404);
  expect((await bare.admin.get('/v1/webhook/deliveries')).body).toEqual({ items: [], total: 0 });
  expect([v4.connections, v6.connections]).toEqual([0, 0]);
});

it('a stop alert aimed at loopback is refused and recorded by the worker, never sent', async () => {
  const [home] = await t.db.query(`SELECT id FROM project WHERE name = 'default'`);
  await storeUnchecked(home.id, `https://localhost:${v4.port}/alerts`);
  worker = await startTestWorker(t.config);
  const exp = await f.seeded({ units: 1200, seed: 31, arms: { control: BASE_ARM, treatment: { ...BASE_ARM, latencyMedian: 1400 } } });
  await worker.get(ReportScheduler).scheduleDecisionWatch(500);
  let deliveries: any[] = [];
  await eventually(async () => {
    deliveries = (await f.admin.get('/v1/webhook/deliveries')).body.items;
    return deliveries.length >= 1;
  }, 30_000, 100);
  const [alert] = await t.db.query('SELECT id, webhook_status, error FROM report_alert WHERE experiment_id = $1', [exp.id]);
  expect(deliveries[deliveries.length - 1]).toMatchObject({
    trigger: 'alert',
    alertId: alert.id,
    outcome: 'refused',
    statusCode: null,
    reason: 'localhost resolves to 127.0.0.1, a loopback address',
  });
  await eventually(async () => (await t.db.query('SELECT error FROM report_alert WHERE id = $1', [alert.id]))[0].error !== null, 10_000, 100);
  const [after] = await t.db.query('SELECT webhook_status, error FROM report_alert WHERE id = $1', [alert.id]);
  // Retried with backoff like a failed email ('failed' after the last attempt).
  expect(['pending', 'failed']).toContain(after.webhook_status);
  expect(after.error).toBe('webhook: refused: localhost resolves to 127.0.0.1, a loopback address');
  expect([v4.connections, v6.connections]).toEqual([0, 0]);
});
