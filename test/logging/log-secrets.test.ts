import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createConnection } from 'node:net';
import type { INestApplicationContext } from '@nestjs/common';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource, QueryFailedError } from 'typeorm';
import { createApiApp } from '../../apps/api/create-api-app';
import { createWorkerApp } from '../../apps/worker/create-worker-app';
import { SYSTEM_ACTOR } from '../../libs/audit/audit.service';
import { hashApiKey } from '../../libs/auth/api-key';
import type { VerdictConfig } from '../../libs/config/config';
import { dataSourceOptions } from '../../libs/database/data-source';
import { createLogger } from '../../libs/logging/logger';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { JOBS, QUEUES } from '../../libs/queue/queues';
import { PageLinkSigner } from '../../libs/reports/page-link';
import { ReportScheduler } from '../../libs/reports/report-scheduler';
import { WebhookService } from '../../libs/reports/webhook.service';
import { experimentBody } from '../factories/experiment.factory';
import { SmtpCatcher } from '../reports/support/smtp-catcher';
import { cloneTemplate } from '../support/databases';
import { client } from '../support/http-client';
import { testConfig } from '../support/test-app';
import { eventually } from '../support/test-worker';

/**
 * A full API + worker session with every log line captured at the most verbose level
 * (trace), exercising everything that handles a secret: the bootstrap key, admin and SDK
 * keys (created, used, revoked, unknown, sent in a query string), a webhook secret (set,
 * used to sign a delivery, sent with a NUL Postgres rejects), results-page tokens (valid,
 * tampered, on a 404, on a 500), failing queries, an authenticated SMTP relay, failed
 * jobs, a malformed HTTP request carrying a key. Then every captured line, the audit log,
 * stored failure reasons and problem bodies are searched for every secret used.
 */
jest.setTimeout(120_000);

const hex = () => randomBytes(12).toString('hex');
const SMTP_USER = 'verdict-reports';
const SMTP_PASSWORD = `smtp-pw-${hex()}`;
const WEBHOOK_SECRET = `whsec-live-${hex()}`;
const NUL_SECRET = `whsec-nul-${hex()}`;
const DIRECT_SECRET = `whsec-direct-${hex()}`;
const HOOK_URL_TOKEN = `hooktoken${hex()}`;
const POISON_PROJECT = `poison-project-${hex()}`;
const POISON_REPORT = `poison-report-${hex()}`;
const UNKNOWN_KEY = `vk_admin_${randomBytes(32).toString('base64url')}`;

const lines: string[] = [];
const capture = { write: (line: string) => void lines.push(line) };
/** Every secret the session used, by what it is (for the failure message). */
const secrets = new Map<string, string>();
const problems: Array<{ path: string; body: any }> = [];

let config: VerdictConfig;
let api: NestFastifyApplication;
let worker: INestApplicationContext;
let db: DataSource;
let dropDatabase: () => Promise<void>;
let smtp: SmtpCatcher;
let hook: Server;
let hookUrl: string;
let url: string;
let projectId: string;
let experiment: { key: string; id: string };
const hookCalls: Array<{ signature?: string }> = [];

function secret(what: string, value: string): string {
  secrets.set(what, value);
  return value;
}

/** The forms a secret could take in a line: as is, URL-encoded, base64, the bytes of a logged Buffer. */
function forms(value: string): string[] {
  return [value, encodeURIComponent(value), Buffer.from(value).toString('base64'), Buffer.from(value).join(',')];
}

async function call(method: string, path: string, key: string | undefined, body?: unknown) {
  const res = await client(url, key).call(method, path, body);
  if (res.status >= 400 && res.headers.get('content-type')?.includes('problem+json')) problems.push({ path, body: res.body });
  return res;
}

beforeAll(async () => {
  smtp = new SmtpCatcher({ auth: { user: SMTP_USER, pass: SMTP_PASSWORD } });
  const smtpUrl = (await smtp.start()).replace('smtp://', `smtp://${SMTP_USER}:${SMTP_PASSWORD}@`);
  hook = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hookCalls.push({ signature: req.headers['x-verdict-signature'] as string | undefined });
      // The first delivery fails, so that a failed attempt is logged too.
      res.writeHead(hookCalls.length === 1 ? 503 : 204).end();
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/verdict`;

  const database = await cloneTemplate();
  dropDatabase = database.drop;
  // The webhook receiver is on loopback: the outbound guard lets it through only when told to.
  config = testConfig(database.url, { LOG_LEVEL: 'trace', SMTP_URL: smtpUrl, OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
  secret('bootstrap admin key', config.auth.bootstrapAdminKey);
  secret('SMTP password', SMTP_PASSWORD);
  api = await createApiApp(config, createLogger('trace', 'api', capture));
  await api.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${(api.getHttpServer().address() as AddressInfo).port}`;
  worker = await createWorkerApp(config, createLogger('trace', 'worker', capture));
  db = new DataSource({ ...dataSourceOptions(database.url), extra: { max: 2 } });
  await db.initialize();
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await db?.destroy();
  await dropDatabase?.();
  await smtp?.stop();
  await new Promise((resolve) => hook?.close(resolve));
});

describe('a full session', () => {
  const admin = () => secrets.get('bootstrap admin key')!;

  it('creates, uses and revokes keys', async () => {
    const created = await call('POST', '/v1/api-keys', admin(), { name: 'ops', scope: 'admin' });
    expect(created.status).toBe(201);
    const ops = secret('created admin key', created.body.key);
    const sdkCreated = await call('POST', '/v1/api-keys', ops, { name: 'backend', scope: 'sdk' });
    expect(sdkCreated.status).toBe(201);
    const sdk = secret('sdk key', sdkCreated.body.key);
    secret('unknown key', UNKNOWN_KEY);
    for (const [what, key] of [...secrets]) if (key.startsWith('vk_') || what === 'bootstrap admin key') secret(`hash of ${what}`, hashApiKey(key));

    const body = experimentBody();
    const exp = await call('POST', '/v1/experiments', ops, body);
    expect(exp.status).toBe(201);
    experiment = { key: body.key, id: exp.body.id };
    expect((await call('POST', `/v1/experiments/${body.key}/start`, ops)).status).toBe(200);
    [{ project_id: projectId }] = await db.query('SELECT project_id FROM experiment WHERE id = $1', [experiment.id]);

    const listed = await call('GET', '/v1/api-keys', ops);
    expect(listed.status).toBe(200);
    // Listings show a sliver of a key: a quarter at most of the operator's, never half.
    const bootstrap = listed.body.find((k: any) => k.name.startsWith('bootstrap'));
    expect(bootstrap.prefix.length).toBeLessThanOrEqual(4);
    expect((await call('POST', '/v1/assign', sdk, { experiment: body.key, unitId: 'user-1' })).status).toBe(200);
    const outcomes = await call('POST', '/v1/outcomes', sdk, { events: [{ id: 'e1', experiment: body.key, unitId: 'user-1', latencyMs: 100, success: true }] });
    expect(outcomes.status).toBe(202);
    expect((await call('GET', '/v1/sdk/config', sdk)).status).toBe(200);
    // A key where it does not belong: in a query string, and unknown.
    expect((await call('GET', `/v1/experiments?limit=5&apiKey=${sdk}`, undefined)).status).toBe(401);
    expect((await call('GET', '/v1/experiments', UNKNOWN_KEY)).status).toBe(401);

    const revoked = await call('DELETE', `/v1/api-keys/${sdkCreated.body.id}`, ops);
    expect(revoked.status).toBe(200);
    expect((await call('POST', '/v1/assign', sdk, { experiment: body.key, unitId: 'user-2' })).status).toBe(401);
  });

  it('sets a webhook secret and delivers a signed alert', async () => {
    secret('webhook secret', WEBHOOK_SECRET);
    secret('webhook URL token', HOOK_URL_TOKEN);
    expect((await call('PUT', '/v1/webhook', admin(), { url: `${hookUrl}?token=${HOOK_URL_TOKEN}`, secret: WEBHOOK_SECRET })).status).toBe(200);

    // A stop alert as the decision watch raises it, delivered by the worker's retried job.
    const [{ id: alertId }] = await db.query(
      `INSERT INTO report_alert (project_id, experiment_id, audit_entry_id, action, reasons, email_status, webhook_status)
       VALUES ($1, $2, 1, 'stop', '["Guardrail latency_p95 broken"]', 'pending', 'pending') RETURNING id`,
      [projectId, experiment.id],
    );
    await api.get(ReportScheduler).enqueueAlert(alertId);
    await eventually(async () => {
      const [row] = await db.query('SELECT webhook_status FROM report_alert WHERE id = $1', [alertId]);
      return row.webhook_status === 'sent';
    }, 60_000, 200);
    expect(hookCalls).toHaveLength(2);
    expect((await call('GET', '/v1/webhook/deliveries', admin())).status).toBe(200);
    for (const [i, c] of hookCalls.entries()) if (c.signature) secret(`webhook signature ${i}`, c.signature);
  });

  it('answers a webhook secret Postgres rejects without logging it', async () => {
    secret('NUL webhook secret', NUL_SECRET);
    const res = await call('PUT', '/v1/webhook', admin(), { url: hookUrl, secret: `${NUL_SECRET}\u0000` });
    // 500 until NUL bytes are refused at the door, 400 after: never stored.
    expect([400, 500]).toContain(res.status);

    // The same failed query reached directly, logged as the problem filter logs a 500.
    secret('directly rejected webhook secret', DIRECT_SECRET);
    const error = await api
      .get(WebhookService)
      .put(projectId, SYSTEM_ACTOR, { url: hookUrl, secret: `${DIRECT_SECRET}\u0000` })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect(JSON.stringify((error as QueryFailedError).parameters)).toContain(DIRECT_SECRET);
    new Logger('ProblemFilter').error({ err: error, requestId: 'direct', url: '/v1/webhook' }, 'request failed');
  });

  it('opens the results page with its token, a tampered one, and on a 404 and a 500', async () => {
    const link = await call('GET', `/v1/experiments/${experiment.key}/page-link`, admin());
    expect(link.status).toBe(200);
    const token = secret('page token', new URL(link.body.url).searchParams.get('token')!);
    secret('page token signature', token.split('.')[1]);
    const anonymous = client(url);
    const page = await anonymous.get(`/experiments/${experiment.key}?token=${token}`);
    expect(page.status).toBe(200);

    const tampered = secret('tampered page token', `${token.slice(0, -4)}AAAA`);
    expect((await call('GET', `/experiments/${experiment.key}?token=${tampered}`, undefined)).status).toBe(401);
    expect((await call('GET', `/no-such-page?token=${token}`, undefined)).status).toBe(404);

    // A validly signed token whose project id Postgres rejects: a failed query, a 500.
    const poisoned = secret('poisoned page token', api.get(PageLinkSigner).sign(secret('poisoned project id', POISON_PROJECT), experiment.key).token);
    const failed = await call('GET', `/experiments/${experiment.key}?token=${poisoned}`, undefined);
    expect(failed.status).toBe(500);
  });

  it('sends reports through an SMTP relay that needs the password, and retries a refused one', async () => {
    const report = await call('POST', '/v1/reports', admin(), { name: 'Weekly', recipients: ['ops@example.com'], cron: '0 9 * * 1', timezone: 'UTC', experiments: [experiment.key] });
    expect(report.status).toBe(201);
    smtp.refuse('flaky@example.com', 1);
    const flaky = await call('POST', '/v1/reports', admin(), { name: 'Flaky', recipients: ['flaky@example.com'], cron: '0 9 * * 1', timezone: 'UTC' });
    for (const id of [report.body.id, flaky.body.id]) expect((await call('POST', `/v1/reports/${id}/send`, admin())).status).toBe(202);
    await eventually(async () => {
      const sends = await Promise.all([report.body.id, flaky.body.id].map((id) => call('GET', `/v1/reports/${id}/sends`, admin())));
      return sends.every((s) => s.body.items[0]?.status === 'sent');
    }, 60_000, 200);
    expect(smtp.logins).toBeGreaterThan(0);
    expect(smtp.refused).toBe(1);
  });

  it('fails a job on a query Postgres rejects', async () => {
    secret('poisoned report id', POISON_REPORT);
    const queue = api.get(QueueRegistry).get(QUEUES.reports);
    await queue.add(JOBS.reportSend, { projectId, reportId: POISON_REPORT }, { jobId: 'poisoned-send', attempts: 1 });
    await eventually(async () => (await queue.getJob('poisoned-send'))?.failedReason !== undefined, 30_000, 100);
    const job = (await queue.getJob('poisoned-send'))!;
    expect(job.failedReason).toMatch(/invalid input syntax for type uuid/);
    lines.push(JSON.stringify({ stored: 'failedReason', failedReason: job.failedReason, stacktrace: job.stacktrace }) + '\n');
  });

  it('logs a malformed request carrying a key without its bytes', async () => {
    const { port } = api.getHttpServer().address() as AddressInfo;
    const socket = createConnection(port, '127.0.0.1');
    socket.write(`GET /v1/experiments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin()}\r\nContent-Length: nope\r\n\r\n`);
    await new Promise<void>((resolve) => {
      socket.on('data', () => undefined);
      socket.on('close', () => resolve());
      socket.on('error', () => resolve());
    });
  });

  it('wrote no secret to any log line, the audit log, a stored failure or an error body', async () => {
    // What else keeps text a person reads: the audit log, stored send, alert and webhook delivery errors.
    const audit = await db.query('SELECT action, before, after FROM audit_entry');
    const stored = await db.query(
      'SELECT error FROM report_send UNION ALL SELECT error FROM report_alert UNION ALL SELECT url || \' \' || coalesce(reason, \'\') FROM webhook_delivery',
    );
    const records = [...lines, JSON.stringify(audit), JSON.stringify(stored), JSON.stringify(problems.map((p) => p.body))];
    const leaks: string[] = [];
    for (const [what, value] of secrets) {
      for (const form of forms(value)) {
        const hit = records.find((record) => record.includes(form));
        if (hit) leaks.push(`${what} in: ${hit.slice(0, 400)}`);
      }
    }
    // The SMTP credentials as AUTH PLAIN sends them.
    const authPlain = Buffer.from(`\u0000${SMTP_USER}\u0000${SMTP_PASSWORD}`).toString('base64');
    if (records.some((r) => r.includes(authPlain))) leaks.push('SMTP AUTH PLAIN credentials');
    expect(leaks).toEqual([]);

    // The session did reach every path it was meant to (so the search above means something).
    const parsed = lines.filter((l) => l.startsWith('{"level"')).map((l) => JSON.parse(l) as Record<string, any>);
    expect(parsed.length).toBeGreaterThan(50);
    expect(parsed.some((l) => l.msg === 'request' && l.url === `/experiments/${experiment.key}?token=[redacted]` && l.status === 200)).toBe(true);
    expect(parsed.some((l) => l.msg === 'request' && l.url === '/v1/experiments?limit=5&apiKey=[redacted]')).toBe(true);
    expect(parsed.filter((l) => l.err?.type === 'QueryFailedError' && l.err.parameterCount > 0 && l.err.code).length).toBeGreaterThanOrEqual(3);
    expect(parsed.some((l) => l.msg === 'job failed' && l.queue === QUEUES.reports)).toBe(true);
    expect(parsed.some((l) => l.msg === 'report send failed' && l.err?.responseCode === 451)).toBe(true);
    expect(parsed.some((l) => typeof l.msg === 'string' && l.msg.startsWith('client error'))).toBe(true);
    expect(audit.some((a: any) => a.action === 'webhook.updated' && a.after.url.endsWith('/verdict?token=[redacted]'))).toBe(true);
    // Error bodies name the path, never the query string.
    expect(problems.length).toBeGreaterThanOrEqual(5);
    for (const { path, body } of problems) expect(body.instance).toBe(path.split('?')[0]);
  });
});
