import type { INestApplicationContext } from '@nestjs/common';
import { backendSettings, testBackends } from '../support/backends';
import { client } from '../support/http-client';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { outcomeEvent, runningExperiment } from '../ingestion/support/ingestion-fixture';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, unitIn } from './support/gateway-fixture';

jest.setTimeout(90_000);

const METRICS_TOKEN = 'scraper-token-for-tests-0123456789';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text format 0.0.4, parsed: one entry per sample line. */
function parse(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    out.push({ name: match[1], labels, value: match[3] === '+Inf' ? Infinity : match[3] === 'NaN' ? Number.NaN : Number(match[3]) });
  }
  return out;
}

/** The samples of `name` whose labels include `labels`. */
function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
const one = (samples: Sample[], name: string, labels: Record<string, string> = {}) => {
  const found = find(samples, name, labels);
  if (found.length !== 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0].value;
};

async function scrape(url: string, credential: string): Promise<Sample[]> {
  const res = await client(url, credential).get('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(res.body as string);
}

describe('GET /metrics after traffic through the API and the gateway', () => {
  let t: TestApp;
  let control: FakeUpstream;
  let a: FakeUpstream;
  let b: FakeUpstream;

  beforeAll(async () => {
    [t, control, a, b] = await Promise.all([startTestApp({ ...GATEWAY_TEST_SETTINGS, METRICS_TOKEN }), startFakeUpstream('ctl'), startFakeUpstream('A'), startFakeUpstream('B')]);
  });
  afterAll(async () => {
    await t?.close();
    await Promise.all([control, a, b].map((f) => f?.close()));
  });

  it('admits the bootstrap admin key or the token, and no one else', async () => {
    expect((await client(t.url).get('/metrics')).status).toBe(401);
    expect((await client(t.url, 'not-the-token-but-as-long-as-it').get('/metrics')).status).toBe(401);
    expect((await client(t.url, `${METRICS_TOKEN}x`).get('/metrics')).status).toBe(401);
    const sdk = await client(t.url, t.adminKey).post('/v1/api-keys', { name: 'sdk-metrics', scope: 'sdk' });
    expect((await client(t.url, sdk.body.key).get('/metrics')).status).toBe(403);
    expect((await client(t.url, t.adminKey).get('/metrics')).status).toBe(200);
    expect((await client(t.url, METRICS_TOKEN).get('/metrics')).status).toBe(200);
  });

  it('counts HTTP requests by route pattern with a duration histogram, and gateway calls per variant and instance', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, control, a, {}, { small: { baseUrl: undefined, instances: [{ baseUrl: a.url }, { baseUrl: b.url }] } });
    // API traffic: three reads of experiments by key, one unknown path.
    const keys = [exp.key, exp.key, 'no-such-experiment'];
    for (const key of keys) await exp.admin.get(`/v1/experiments/${key}`);
    expect((await exp.admin.get(`/no/such/path/${exp.key}`)).status).toBe(404);

    // Gateway traffic: 12 units, each answered by its variant's pool.
    const served: Record<string, number> = {};
    for (let i = 0; i < 12; i++) {
      const res = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': `metrics-unit-${i}` },
        body: JSON.stringify({ model: exp.key, messages: [{ role: 'user', content: 'hello' }] }),
      });
      expect(res.status).toBe(200);
      await res.text();
      const variant = res.headers.get('x-verdict-variant')!;
      served[variant] = (served[variant] ?? 0) + 1;
    }
    expect(Object.keys(served).sort()).toEqual(['big', 'small']);

    const samples = await scrape(t.url, METRICS_TOKEN);

    // HTTP: route patterns only, never a raw key; counts match the requests made.
    const routes = new Set(find(samples, 'verdict_http_requests_total').map((s) => s.labels.route));
    expect(routes).toContain('/v1/experiments/:key');
    expect(routes).toContain('/v1/chat/completions');
    expect(routes).toContain('unmatched');
    expect([...routes].filter((r) => r.includes(exp.key) || r.includes('no-such'))).toEqual([]);
    expect(one(samples, 'verdict_http_requests_total', { route: '/v1/experiments/:key', method: 'GET', status: '200' })).toBe(2);
    expect(one(samples, 'verdict_http_requests_total', { route: '/v1/experiments/:key', method: 'GET', status: '404' })).toBe(1);
    expect(one(samples, 'verdict_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(1);
    const get200 = { route: '/v1/experiments/:key', method: 'GET', status: '200' };
    expect(one(samples, 'verdict_http_request_duration_seconds_count', get200)).toBe(2);
    const buckets = find(samples, 'verdict_http_request_duration_seconds_bucket', get200);
    expect(buckets.length).toBeGreaterThan(5);
    expect(buckets.map((s) => s.value)).toEqual([...buckets.map((s) => s.value)].sort((x, y) => x - y));
    expect(buckets.find((s) => s.labels.le === '+Inf')!.value).toBe(2);
    expect(one(samples, 'verdict_http_request_duration_seconds_count', { route: '/v1/chat/completions', method: 'POST', status: '200' })).toBe(12);

    // Gateway: per experiment, assigned variant and status class.
    for (const [variant, n] of Object.entries(served)) {
      const labels = { experiment: exp.key, variant, status_class: '2xx' };
      expect(one(samples, 'verdict_gateway_requests_total', labels)).toBe(n);
      expect(one(samples, 'verdict_gateway_request_duration_seconds_count', labels)).toBe(n);
      expect(one(samples, 'verdict_gateway_request_duration_seconds_bucket', { ...labels, le: '+Inf' })).toBe(n);
    }
    expect(one(samples, 'verdict_gateway_calls_total', { result: 'ok' })).toBe(12);
    // Per instance: the latency histogram counts the calls each fake upstream answered; in flight is back to 0.
    for (const [variant, fake] of [['big', control], ['small', a], ['small', b]] as const) {
      const labels = { experiment: exp.key, variant, instance: fake.url };
      // Ties go at random: an instance may have had no call (then it has no series yet).
      const count = find(samples, 'verdict_gateway_upstream_latency_seconds_count', labels).reduce((sum, s) => sum + s.value, 0);
      expect(count).toBe(fake.requests.length);
      if (fake.requests.length > 0) expect(one(samples, 'verdict_gateway_upstream_in_flight', labels)).toBe(0);
    }
    expect(a.requests.length + b.requests.length).toBe(served.small);
    // Default process metrics are there too.
    expect(find(samples, 'process_resident_memory_bytes').length).toBe(1);

    // A failing pool: the client's 5xx and its error class.
    for (const f of [a, b]) f.options.fail = '500';
    const unit = await unitIn(exp.sdk, exp.key, 'small');
    const failed = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': unit },
      body: JSON.stringify({ model: exp.key, messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(failed.status).toBe(500);
    await failed.text();
    for (const f of [a, b]) f.options.fail = undefined;
    const after = await scrape(t.url, t.adminKey);
    expect(one(after, 'verdict_gateway_requests_total', { experiment: exp.key, variant: 'small', status_class: '5xx' })).toBe(1);
    expect(one(after, 'verdict_gateway_errors_total', { experiment: exp.key, variant: 'small', class: 'upstream_5xx' })).toBe(1);
    expect(one(after, 'verdict_gateway_failovers_total')).toBe(1);
  });
});

describe.each(testBackends())('queue depths and ingestion lag on %s', (backend) => {
  let t: TestApp;
  let worker: INestApplicationContext | undefined;

  beforeAll(async () => {
    t = await startTestApp(backendSettings(backend));
  });
  afterAll(async () => {
    await worker?.close();
    await t?.close();
  });

  it('shows waiting outcome jobs and their age until a worker takes them', async () => {
    const exp = await runningExperiment(t.url, t.adminKey);
    const res = await exp.sdk.post('/v1/outcomes', { events: [outcomeEvent(exp.key, 1), outcomeEvent(exp.key, 2)] });
    expect(res.status).toBe(202);
    // No worker yet: the batch waits, and ages.
    await eventually(async () => {
      const samples = await scrape(t.url, t.adminKey);
      return one(samples, 'verdict_queue_jobs', { queue: 'outcomes', state: 'waiting' }) >= 1 && one(samples, 'verdict_ingest_lag_seconds') > 0.2;
    });
    const waiting = await scrape(t.url, t.adminKey);
    expect(one(waiting, 'verdict_queue_oldest_waiting_seconds', { queue: 'outcomes' })).toBeGreaterThan(0.2);
    // Every queue and state is shown.
    expect(find(waiting, 'verdict_queue_jobs').length).toBe(6 * 4);

    worker = await startTestWorker(t.config);
    await eventually(async () => {
      const samples = await scrape(t.url, t.adminKey);
      return one(samples, 'verdict_queue_jobs', { queue: 'outcomes', state: 'waiting' }) === 0 && one(samples, 'verdict_ingest_lag_seconds') === 0;
    }, 30_000);
  });
});
