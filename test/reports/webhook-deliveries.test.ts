import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { client } from '../support/http-client';
import { startLoopbackListener } from '../support/loopback-listener';
import { startTestApp, type TestApp } from '../support/test-app';

jest.setTimeout(60_000);

// A deployment whose receivers are internal: http allowed and 127.0.0.1 allowlisted,
// nothing else. Each test uses its own project (test pings: one per project every 10 s).
const SECRET = 'whsec-0123456789abcdef';
let t: TestApp;
let n = 0;

beforeAll(async () => {
  t = await startTestApp({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32', WEBHOOK_TIMEOUT_MS: '1000' });
});
afterAll(async () => {
  await t?.close();
});

async function projectWithHook(url: string): Promise<{ id: string; admin: ReturnType<typeof client> }> {
  const created = await client(t.url, t.adminKey).post('/v1/projects', { name: `project ${n++}` });
  const admin = client(t.url, created.body.adminKey.key);
  const put = await admin.call('PUT', '/v1/webhook', { url, secret: SECRET });
  expect(put.status).toBe(200);
  return { id: created.body.id, admin };
}

type Verify = (secret: string, headers: IncomingHttpHeaders, rawBody: string) => boolean;

/** The receiver's check exactly as docs/reports.md shows it (the js block, evaluated), so the documentation is tested. */
function documentedVerify(): Verify {
  const doc = readFileSync(join(__dirname, '../../docs/reports.md'), 'utf8');
  const code = /```js\n([\s\S]*?)```/.exec(doc)![1].replace(/^import .*$/m, '').replace(/^export /m, '');
  return new Function('createHmac', 'timingSafeEqual', `${code}\nreturn verifyVerdictWebhook;`)(createHmac, timingSafeEqual) as Verify;
}

/** Runs `check` as if the clock said `seconds` (unix). */
function at<T>(seconds: number, check: () => T): T {
  const spy = jest.spyOn(Date, 'now').mockReturnValue(seconds * 1000);
  try {
    return check();
  } finally {
    spy.mockRestore();
  }
}

it('sends a signed test ping and answers with its record', async () => {
  const receiver = await startLoopbackListener('127.0.0.1', (_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('thanks'));
  try {
    const { admin } = await projectWithHook(`http://127.0.0.1:${receiver.port}/hook?token=abc`);
    const ping = await admin.post('/v1/webhook/test');
    expect(ping.status).toBe(200);
    expect(ping.body).toMatchObject({ trigger: 'test', alertId: null, url: `http://127.0.0.1:${receiver.port}/hook`, outcome: 'delivered', statusCode: 200, reason: null });

    expect(receiver.requests).toHaveLength(1);
    const [request] = receiver.requests;
    expect(request).toMatchObject({ method: 'POST', url: '/hook?token=abc' });
    expect(request.headers).toMatchObject({ 'content-type': 'application/json', 'user-agent': 'Verdict-Webhook/1', 'x-verdict-delivery': ping.body.id });
    expect(JSON.parse(request.body)).toEqual({ type: 'webhook.test', at: expect.any(String) });
    const verify = documentedVerify();
    const sentAt = Number(request.headers['x-verdict-timestamp']);
    expect(verify(SECRET, request.headers, request.body)).toBe(true);
    expect(at(sentAt + 299, () => verify(SECRET, request.headers, request.body))).toBe(true);
    // The same bytes replayed after the tolerance, or a changed body, timestamp or secret, fail.
    expect(at(sentAt + 301, () => verify(SECRET, request.headers, request.body))).toBe(false);
    expect(verify(SECRET, request.headers, request.body.replace('webhook.test', 'webhook.tesT'))).toBe(false);
    expect(verify(SECRET, { ...request.headers, 'x-verdict-timestamp': String(sentAt + 1) }, request.body)).toBe(false);
    expect(verify('another-secret-0123456789', request.headers, request.body)).toBe(false);

    expect((await admin.get('/v1/webhook/deliveries')).body).toEqual({ items: [ping.body], total: 1 });
  } finally {
    await receiver.close();
  }
});

it('opens only the allowlisted addresses', async () => {
  const admin = client(t.url, t.adminKey);
  const res = await admin.call('PUT', '/v1/webhook', { url: 'http://127.0.0.2:8080/hook', secret: SECRET });
  expect(res.body.errors).toEqual([{ field: 'url', message: 'points to 127.0.0.2, a loopback address' }]);
  expect((await admin.call('PUT', '/v1/webhook', { url: 'http://localhost:8080/hook', secret: SECRET })).status).toBe(200);
  expect((await admin.call('PUT', '/v1/webhook', { url: 'ftp://127.0.0.1/hook', secret: SECRET })).body.errors).toEqual([{ field: 'url', message: 'must be an http(s) URL' }]);
});

it('does not follow a redirect, even to an allowlisted listener: the 302 is a failed delivery', async () => {
  const target = await startLoopbackListener('127.0.0.1');
  const redirecting = await startLoopbackListener('127.0.0.1', (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${target.port}/elsewhere` }).end());
  try {
    const { admin } = await projectWithHook(`http://127.0.0.1:${redirecting.port}/hook`);
    const ping = await admin.post('/v1/webhook/test');
    expect(ping.body).toMatchObject({ outcome: 'failed', statusCode: 302, reason: 'answered 302: redirects are not followed' });
    expect(redirecting.requests).toHaveLength(1);
    expect(target.connections).toBe(0);
  } finally {
    await Promise.all([target.close(), redirecting.close()]);
  }
});

it('cuts off a receiver that never answers, and one that answers with an endless body', async () => {
  const silent = await startLoopbackListener('127.0.0.1', () => undefined);
  const endless = await startLoopbackListener('127.0.0.1', (_req, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const more = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', more);
    };
    more();
  });
  try {
    const first = await projectWithHook(`http://127.0.0.1:${silent.port}/hook`);
    const ping = await first.admin.post('/v1/webhook/test');
    expect(ping.body).toMatchObject({ outcome: 'timed_out', statusCode: null, reason: 'no complete answer within 1000 ms' });
    await silent.allClosed();

    // The 200 counts (the receiver took the call); the rest of its answer is not read.
    const second = await projectWithHook(`http://127.0.0.1:${endless.port}/hook`);
    const flood = await second.admin.post('/v1/webhook/test');
    expect(flood.body).toMatchObject({ outcome: 'delivered', statusCode: 200 });
    await endless.allClosed();
  } finally {
    await Promise.all([silent.close(), endless.close()]);
  }
});

it('keeps the last 1,000 deliveries per project, newest first, paginated', async () => {
  const receiver = await startLoopbackListener('127.0.0.1', (_req, res) => res.writeHead(503).end());
  try {
    const { id, admin } = await projectWithHook(`http://127.0.0.1:${receiver.port}/hook`);
    await t.db.query(
      `INSERT INTO webhook_delivery (project_id, trigger, url, outcome, status_code, reason, duration_ms, created_at)
       SELECT $1, 'test', 'http://old/', 'failed', 500, 'answered 500', 1, '2026-01-01T00:00:00Z'::timestamptz - make_interval(mins => i) FROM generate_series(1, 1000) i`,
      [id],
    );
    const ping = await admin.post('/v1/webhook/test');
    expect(ping.body).toMatchObject({ outcome: 'failed', statusCode: 503, reason: 'answered 503' });
    const page = await admin.get('/v1/webhook/deliveries?limit=2');
    expect(page.body.total).toBe(1000);
    expect(page.body.items.map((d: any) => d.id)[0]).toBe(ping.body.id);
    const [{ oldest }] = await t.db.query('SELECT min(created_at) AS oldest FROM webhook_delivery WHERE project_id = $1', [id]);
    // The oldest seeded row (1,000 minutes before the base) made room.
    expect(new Date(oldest).toISOString()).toBe(new Date(Date.parse('2026-01-01T00:00:00Z') - 999 * 60_000).toISOString());
    const last = await admin.get('/v1/webhook/deliveries?limit=1&offset=999');
    expect(last.body.items).toHaveLength(1);
    expect((await admin.get('/v1/webhook/deliveries?limit=501')).status).toBe(400);
  } finally {
    await receiver.close();
  }
});
