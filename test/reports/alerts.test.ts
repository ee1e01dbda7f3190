import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { ReportScheduler } from '../../libs/reports/report-scheduler';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { decodeHeader, flatten, parseMime } from './support/mime';
import { BASE_ARM, ReportsFixture } from './support/reports-fixture';
import { SmtpCatcher } from './support/smtp-catcher';

jest.setTimeout(90_000);

const SECRET = 'whsec-0123456789abcdef';
let smtp: SmtpCatcher;
let t: TestApp;
let workers: INestApplicationContext[] = [];
let f: ReportsFixture;
let hook: Server;
const calls: Array<{ body: string; signature: string | undefined; timestamp: string | undefined; delivery: string | undefined }> = [];
let failHook = 1;

beforeAll(async () => {
  smtp = new SmtpCatcher();
  // The receiver is on loopback: this deployment allows http and allowlists 127.0.0.1 (ADR 0016).
  t = await startTestApp({ SMTP_URL: await smtp.start(), OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
  workers = await Promise.all([startTestWorker(t.config), startTestWorker(t.config)]);
  f = new ReportsFixture(t);
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      // The first call fails: delivery is retried.
      if (failHook-- > 0) return res.writeHead(503).end();
      calls.push({
        body,
        signature: req.headers['x-verdict-signature'] as string | undefined,
        timestamp: req.headers['x-verdict-timestamp'] as string | undefined,
        delivery: req.headers['x-verdict-delivery'] as string | undefined,
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await t?.close();
  await smtp?.stop();
  await new Promise((resolve) => hook?.close(resolve));
});

it('alerts subscribers and the signed webhook once when a guardrail breaks', async () => {
  const { port } = hook.address() as AddressInfo;
  expect((await f.admin.call('PUT', '/v1/webhook', { url: `http://127.0.0.1:${port}/verdict`, secret: SECRET })).status).toBe(200);
  expect((await f.admin.call('PUT', '/v1/webhook', { url: 'not a url', secret: 'short' })).body.errors.map((e: any) => e.field).sort()).toEqual(['secret', 'url']);
  expect((await f.admin.get('/v1/webhook')).body).toEqual({ url: `http://127.0.0.1:${port}/verdict`, updatedAt: expect.any(String) });

  const exp = await f.seeded({ units: 1200, seed: 31, arms: { control: BASE_ARM, treatment: { ...BASE_ARM, latencyMedian: 1400 } } });
  expect((await f.results(exp.key)).decision.action).toBe('stop');
  await f.admin.post('/v1/reports', { name: 'All running', recipients: ['oncall@example.com'], cron: '0 9 * * 1', timezone: 'UTC' });
  await f.admin.post('/v1/reports', { name: 'Just this one', recipients: ['owner@example.com', 'oncall@example.com'], cron: '0 9 * * 1', timezone: 'UTC', experiments: [exp.key] });
  await f.admin.post('/v1/reports', { name: 'Another one', recipients: ['bystander@example.com'], cron: '0 9 * * 1', timezone: 'UTC', experiments: ['other'] });

  // The watch runs every minute in production; every 500 ms here, through the same job scheduler.
  await workers[0].get(ReportScheduler).scheduleDecisionWatch(500);
  await eventually(async () => calls.length >= 1 && smtp.messages.some((m) => m.raw.includes('Verdict alert')), 30_000, 100);
  // Several more watch ticks with two workers: still one alert.
  await new Promise((resolve) => setTimeout(resolve, 2500));

  const alerts = smtp.messages.filter((m) => decodeHeader(parseMime(m.raw).headers.subject).startsWith('Verdict alert'));
  expect(alerts).toHaveLength(1);
  expect(alerts[0].to.sort()).toEqual(['oncall@example.com', 'owner@example.com']);
  const text = flatten(parseMime(alerts[0].raw)).find((p) => p.contentType === 'text/plain')!.body.toString('utf8');
  expect(text).toMatch(/Guardrail latency_p95 broken by treatment/);

  expect(calls).toHaveLength(1);
  // The receiver's side of docs/reports.md: the signature covers "<timestamp>.<body>", and the timestamp is recent.
  const timestamp = Number(calls[0].timestamp);
  expect(Math.abs(Date.now() / 1000 - timestamp)).toBeLessThan(300);
  const expected = `v1=${createHmac('sha256', SECRET).update(`${calls[0].timestamp}.${calls[0].body}`).digest('hex')}`;
  expect(calls[0].signature).toBe(expected);
  const payload = JSON.parse(calls[0].body);
  expect(payload).toMatchObject({ type: 'experiment.decision.stop', experiment: { key: exp.key }, decision: { action: 'stop' } });
  expect(payload.decision.reasons.join(' ')).toMatch(/latency_p95/);

  const [row] = await t.db.query('SELECT id, email_status, webhook_status, attempts, error FROM report_alert WHERE experiment_id = $1', [exp.id]);
  expect(row).toEqual({ id: payload.alertId, email_status: 'sent', webhook_status: 'sent', attempts: 2, error: null });

  // Both attempts are visible through the API, newest first.
  const deliveries = await f.admin.get('/v1/webhook/deliveries');
  expect(deliveries.status).toBe(200);
  expect(deliveries.body.total).toBe(2);
  expect(deliveries.body.items).toEqual([
    expect.objectContaining({ id: calls[0].delivery, trigger: 'alert', alertId: row.id, url: `http://127.0.0.1:${port}/verdict`, outcome: 'delivered', statusCode: 204, reason: null }),
    expect.objectContaining({ trigger: 'alert', alertId: row.id, outcome: 'failed', statusCode: 503, reason: 'answered 503' }),
  ]);
  expect(deliveries.body.items[0].durationMs).toEqual(expect.any(Number));
  const audit = await t.db.query(`SELECT action FROM audit_entry WHERE target_type = 'project' ORDER BY id`);
  expect(audit.map((a: any) => a.action)).toEqual(['webhook.updated']);
});
