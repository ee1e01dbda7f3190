import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { GatewayService } from '../../libs/gateway/gateway.service';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually } from '../support/test-worker';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, unitIn } from './support/gateway-fixture';

jest.setTimeout(120_000);

let t: TestApp;
let big: FakeUpstream;
let small: FakeUpstream;
let exp: Awaited<ReturnType<typeof gatewayExperiment>>;

beforeAll(async () => {
  [t, big, small] = await Promise.all([
    startTestApp({ ...GATEWAY_TEST_SETTINGS, GATEWAY_BODY_LIMIT_BYTES: String(64 * 1024), RATE_LIMIT_PER_SECOND: '100000' }),
    startFakeUpstream('70B'),
    startFakeUpstream('8B'),
  ]);
  exp = await gatewayExperiment(t.url, t.adminKey, big, small);
});
afterAll(async () => {
  await t?.close();
  await Promise.all([big?.close(), small?.close()]);
});

const say = (text: string) => [{ role: 'user' as const, content: text }];

async function call(body: string | Record<string, unknown>, headers: Record<string, string> = {}, key: string | null = exp.sdkKey) {
  const response = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: response.status, headers: response.headers, body: json };
}

describe('bad input gets a clear OpenAI-shaped error', () => {

  it.each([
    ['no key', () => call({ model: 'x', messages: say('hello') }, {}, null), 401, 'authentication_error'],
    ['an admin key', () => call({ model: exp.key, messages: say('hello') }, {}, t.adminKey), 403, 'permission_error'],
    ['malformed JSON', () => call('{"model": "x", "messages": [', { 'x-verdict-unit': 'u' }), 400, 'invalid_request_error'],
    ['a body that is not an object', () => call('[1, 2]', { 'x-verdict-unit': 'u' }), 400, 'invalid_request_error'],
    ['no model', () => call({ messages: say('hello') }, { 'x-verdict-unit': 'u' }), 400, 'invalid_request_error'],
    ['an unknown model', () => call({ model: 'gpt-4o', messages: say('hello') }, { 'x-verdict-unit': 'u' }), 404, 'invalid_request_error'],
    ['an oversized body', () => call({ model: exp.key, messages: say('x'.repeat(70 * 1024)) }, { 'x-verdict-unit': 'u' }), 413, 'invalid_request_error'],
    ['an XML body', () => call('<model>x</model>', { 'content-type': 'application/xml' }), 415, 'invalid_request_error'],
  ])('%s', async (_name, send, status, type) => {
    const res = await send();
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(res.body)).toEqual(['error']);
    expect(Object.keys(res.body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(res.body.error.message).toEqual(expect.any(String));
    expect(res.body.error.type).toBe(type);
  });

  it('names the unknown model and says how non-experiment names are answered', async () => {
    const res = await call({ model: 'gpt-4o', messages: say('hello') }, { 'x-verdict-unit': 'u' });
    expect(res.body.error).toMatchObject({ code: 'model_not_found', param: 'model', message: expect.stringMatching(/`gpt-4o` is not an experiment/) });
  });

  it('needs a unit for a user-unit experiment, naming both places it may come from', async () => {
    const res = await call({ model: exp.key, messages: say('hello') });
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({ code: 'missing_unit', message: expect.stringMatching(/x-verdict-unit header or the body's user field/) });
    const viaUser = await call({ model: exp.key, messages: say('hello'), user: 'u-1' });
    expect(viaUser.status).toBe(200);
  });

  it('needs no unit for a request-unit experiment', async () => {
    const request = await gatewayExperiment(t.url, t.adminKey, big, small, { unitType: 'request' });
    const res = await call({ model: request.key, messages: say('hello') });
    expect(res.status).toBe(200);
    expect(['big', 'small']).toContain(res.headers.get('x-verdict-variant'));
  });
});

describe('upstreams are configuration, checked, and never served to SDKs', () => {
  const admin = () => client(t.url, t.adminKey);
  const withUpstream = (upstream: Record<string, unknown>, config: Record<string, unknown> = { model: 'm' }) =>
    experimentBody({
      variants: [
        { key: 'a', weight: 1, isControl: true, config, upstream },
        { key: 'b', weight: 1 },
      ],
    });

  it.each([
    ['a key in the config', { baseUrl: 'http://127.0.0.1:9/v1', model: 'm' }, { model: 'm', apiKey: 'sk-proj-0123456789abcdefghij' }, 'variants.0.config.apiKey'],
    ['an Authorization header', { baseUrl: 'http://127.0.0.1:9/v1', model: 'm', headers: { Authorization: 'Bearer abcdefghijkl' } }, undefined, 'variants.0.upstream.headers.Authorization'],
    ['a credential env outside the allowlist', { baseUrl: 'http://127.0.0.1:9/v1', model: 'm', apiKeyEnv: 'DATABASE_URL' }, undefined, 'variants.0.upstream.apiKeyEnv'],
    ['an internal address the operator did not allow', { baseUrl: 'http://10.1.2.3/v1', model: 'm' }, undefined, 'variants.0.upstream.baseUrl'],
    ['a key in the URL', { baseUrl: 'http://127.0.0.1:9/v1?api_key=abc', model: 'm' }, undefined, 'variants.0.upstream.baseUrl'],
  ])('refuses %s', async (_name, upstream, config, field) => {
    const res = await admin().post('/v1/experiments', withUpstream(upstream, config));
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
  });

  it('keeps upstreams out of the SDK config snapshot', async () => {
    const config = await exp.sdk.get('/v1/sdk/config');
    expect(config.status).toBe(200);
    const text = JSON.stringify(config.body);
    expect(text).toContain(exp.key);
    expect(text).not.toContain('upstream');
    expect(text).not.toContain(big.url);
    expect(text).not.toContain('FAKE_UPSTREAM_API_KEY');
    const assigned = await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: 'u-1' });
    expect(JSON.stringify(assigned.body)).not.toContain('upstream');
  });
});

describe('decisions act on the next request', () => {
  it('follows pause, resume, rollback and conclusion without a restart', async () => {
    const decided = await gatewayExperiment(t.url, t.adminKey, big, small);
    const smallUnit = await unitIn(decided.sdk, decided.key, 'small');
    const variantOf = async () => (await call({ model: decided.key, messages: say('hello') }, { 'x-verdict-unit': smallUnit })).headers.get('x-verdict-variant');
    expect(await variantOf()).toBe('small');

    await decided.admin.post(`/v1/experiments/${decided.key}/pause`);
    expect(await variantOf()).toBe('big');
    await decided.admin.post(`/v1/experiments/${decided.key}/resume`);
    expect(await variantOf()).toBe('small');

    const rolledBack = await decided.admin.post(`/v1/experiments/${decided.key}/variants/small/rollback`);
    expect(rolledBack.status).toBe(200);
    expect(await variantOf()).toBe('big');

    const concluded = await decided.admin.post(`/v1/experiments/${decided.key}/conclude`, { winner: 'small' });
    expect(concluded.status).toBe(200);
    expect(await variantOf()).toBe('small');
    // The upstream that answered is the one the decision names.
    expect(small.requests[small.requests.length - 1].body.model).toBe('llama-8b');
  });
});

describe('memory', () => {
  it('stays flat over 10,000 bad requests and upstream faults, with nothing left in flight', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const gateway = t.app.get(GatewayService);
    const bad: Array<() => Promise<unknown>> = [
      () => call('{"model": ', { 'x-verdict-unit': 'u' }),
      () => call({ model: 'no-such-model', messages: say('hello') }, { 'x-verdict-unit': 'u' }),
      () => call({ model: exp.key, messages: say('hello') }),
      () => call({ model: exp.key, messages: say('not-json') }, { 'x-verdict-unit': 'u-fault' }),
      () => call({ model: exp.key, messages: say('reset-before') }, { 'x-verdict-unit': 'u-fault' }),
    ];
    const run = async (n: number) => {
      for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => bad[(i + j) % bad.length]()));
    };
    const settledHeap = async () => {
      await eventually(async () => gateway.active === 0, 5_000);
      gc();
      return process.memoryUsage().heapUsed;
    };
    // Warm-up fills what is allowed to grow once (module caches, JIT, connection pools, per-instance
    // health state); a leak grows with every request, so the second 5,000 cost as much as the first.
    await run(1_000);
    const start = await settledHeap();
    await run(5_000);
    const middle = await settledHeap();
    await run(5_000);
    const end = await settledHeap();
    console.log(`gateway memory: +${((middle - start) / 1048576).toFixed(1)} MB, then +${((end - middle) / 1048576).toFixed(1)} MB over 5,000 requests each`);
    // 1 KB kept per request would be 4.9 MB per half.
    expect(end - middle).toBeLessThan(4 * 1024 * 1024);
    expect(end - start).toBeLessThan(24 * 1024 * 1024);
  });
});
