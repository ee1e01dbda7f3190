import { randomBytes } from 'node:crypto';
import { Agent, request } from 'node:http';
import { ApiKeysService } from '../../libs/auth/api-keys.service';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually } from '../support/test-worker';

/**
 * Floods of random keys (docs/adr/0017): a client address may look up only so many unknown
 * keys (UNKNOWN_KEY_LOOKUPS_PER_MINUTE, 30 here); past that it gets 429 without a database
 * query, real keys keep working from memory, and other addresses keep their own budget.
 */
jest.setTimeout(120_000);

let t: TestApp;
let sdkKey: string;
let experiment: string;

beforeAll(async () => {
  t = await startTestApp({ UNKNOWN_KEY_LOOKUPS_PER_MINUTE: '30' });
  const admin = client(t.url, t.adminKey);
  sdkKey = (await admin.post('/v1/api-keys', { name: 'backend', scope: 'sdk' })).body.key;
  const body = experimentBody();
  experiment = body.key;
  await admin.post('/v1/experiments', body);
  await admin.post(`/v1/experiments/${experiment}/start`);
});
afterAll(async () => {
  await t?.close();
});

/** One request from `localAddress` (any 127.0.0.0/8 address is this machine). */
function call(method: string, path: string, key: string, body: unknown, agent: Agent): Promise<{ status: number; retryAfter?: string }> {
  const url = new URL(t.url);
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path,
        method,
        headers: { authorization: `Bearer ${key}`, ...(text ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } : {}) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** Index and sequential scans of api_key, as Postgres counts them (every key lookup is one). */
async function apiKeyScans(): Promise<number> {
  await t.db.query('SELECT pg_stat_clear_snapshot()');
  const [row] = await t.db.query(`SELECT (seq_scan + coalesce(idx_scan, 0))::int AS scans FROM pg_stat_user_tables WHERE relname = 'api_key'`);
  return row.scans;
}

/**
 * The scans once every backend has reported: a backend that finished a transaction within a
 * second of its last report waits for its idle timeout (PGSTAT_IDLE_INTERVAL, 10 s) to report.
 */
async function settledScans(atLeast: number): Promise<number> {
  const deadline = Date.now() + 30_000;
  while ((await apiKeyScans()) < atLeast && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 250));
  await new Promise((resolve) => setTimeout(resolve, 11_000));
  return apiKeyScans();
}

it('answers 429 past the budget without querying, while a real key keeps working and other addresses keep theirs', async () => {
  const flooder = new Agent({ keepAlive: true, maxSockets: 50, localAddress: '127.0.0.1' } as never);
  const real = await call('GET', '/v1/sdk/config', sdkKey, undefined, flooder);
  expect(real.status).toBe(200);
  const keys = t.app.get(ApiKeysService);
  const scansBefore = await settledScans(0);
  const lookupsBefore = keys.databaseLookups;
  const startedAt = Date.now();

  const statuses: number[] = [];
  const realStatuses: number[] = [];
  let retryAfterMissing = 0;
  const routes: Array<[string, string, unknown]> = [
    ['GET', '/v1/sdk/config', undefined],
    ['POST', '/v1/assign', { experiment, unitId: 'u-1' }],
    ['GET', '/v1/experiments', undefined],
  ];
  for (let batch = 0; batch < 60; batch++) {
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        const [method, path, body] = routes[i % routes.length];
        return call(method, path, `vk_sdk_${randomBytes(32).toString('base64url')}`, body, flooder);
      }),
    );
    for (const r of results) {
      statuses.push(r.status);
      if (r.status === 429 && !r.retryAfter) retryAfterMissing++;
    }
    realStatuses.push((await call('POST', '/v1/assign', sdkKey, { experiment, unitId: `real-${batch}` }, flooder)).status);
  }
  const seconds = (Date.now() - startedAt) / 1000;
  // 30 at once, then half a lookup per second.
  const budget = 30 + Math.ceil(seconds / 2) + 1;

  expect(statuses).toHaveLength(3000);
  const unauthorized = statuses.filter((s) => s === 401).length;
  expect(unauthorized).toBeGreaterThanOrEqual(30);
  expect(unauthorized).toBeLessThanOrEqual(budget);
  expect(statuses.filter((s) => s === 429).length).toBe(3000 - unauthorized);
  expect(retryAfterMissing).toBe(0);
  expect(realStatuses.every((s) => s === 200)).toBe(true);

  // Only the budgeted lookups reached the database: the service's count, and Postgres's own. The real
  // key is looked up again each time its cache entry expires (every 30 s; a loaded run lasts longer).
  const realRefreshes = Math.floor((Date.now() - startedAt) / 30_000) + 1;
  const lookups = keys.databaseLookups - lookupsBefore;
  expect(lookups).toBeGreaterThanOrEqual(unauthorized);
  expect(lookups).toBeLessThanOrEqual(unauthorized + realRefreshes);
  const scans = (await settledScans(scansBefore + unauthorized)) - scansBefore;
  expect(scans).toBeGreaterThanOrEqual(unauthorized);
  expect(scans).toBeLessThanOrEqual(budget + realRefreshes);

  // Another address has its own budget: an unknown key is a plain 401 there.
  const elsewhere = new Agent({ localAddress: '127.0.0.2' } as never);
  expect((await call('GET', '/v1/sdk/config', 'vk_sdk_unknown-elsewhere', undefined, elsewhere)).status).toBe(401);
  // A key created now works at once from an address with budget left, and from the spent one
  // as soon as a token is back (the lookup of a valid key is refunded: it costs nothing).
  const fresh = (await client(t.url, t.adminKey).post('/v1/api-keys', { name: 'fresh', scope: 'sdk' })).body.key;
  expect((await call('GET', '/v1/sdk/config', fresh, undefined, elsewhere)).status).toBe(200);
  const another = (await client(t.url, t.adminKey).post('/v1/api-keys', { name: 'another', scope: 'sdk' })).body.key;
  await eventually(async () => (await call('GET', '/v1/sdk/config', another, undefined, flooder)).status === 200, 30_000, 500);
  flooder.destroy();
  elsewhere.destroy();
});
