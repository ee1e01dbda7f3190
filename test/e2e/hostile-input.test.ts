import { request } from 'node:http';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';

/**
 * Hostile input on the admin routes (docs/adr/0017): NUL characters, lone surrogates (sent
 * as raw JSON text with "\ud800" escapes, which JSON.stringify would never write), deep
 * nesting, numbers that overflow, huge configs, hostile path segments and queries. Each
 * answers 4xx as problem+json naming the field, never 500; nothing of it is stored.
 */
let t: TestApp;
let admin: ReturnType<typeof client>;
let sdkKey: string;
let running: string;
let reportId: string;

/** Sends `text` as the body, verbatim. */
async function raw(method: string, path: string, text: string, key = t.adminKey) {
  return admin.call(method, path, text, { authorization: `Bearer ${key}` });
}

/** JSON text of `value` where every "<NUL>" and "<LONE>" marker becomes a \u0000 or \ud800 escape. */
function hostile(value: unknown): string {
  return JSON.stringify(value).replaceAll('<NUL>', '\\u0000').replaceAll('<LONE>', '\\ud800').replaceAll('<LOW>', '\\udfff');
}

function expectRefused(res: { status: number; headers: Headers; body: any }, field: string, message?: RegExp) {
  expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status: 400, type: expect.stringMatching(/problem\+json/) });
  const fields = (res.body.errors ?? []).map((e: any) => e.field);
  expect(fields).toContain(field);
  if (message) expect(res.body.errors.find((e: any) => e.field === field).message).toMatch(message);
}

beforeAll(async () => {
  t = await startTestApp();
  admin = client(t.url, t.adminKey);
  sdkKey = (await admin.post('/v1/api-keys', { name: 'sdk', scope: 'sdk' })).body.key;
  const body = experimentBody();
  running = body.key;
  expect((await admin.post('/v1/experiments', body)).status).toBe(201);
  await admin.post(`/v1/experiments/${running}/start`);
  reportId = (await admin.post('/v1/reports', { name: 'weekly', recipients: ['a@example.com'], cron: '0 9 * * 1', timezone: 'UTC' })).body.id;
});
afterAll(async () => {
  await t?.close();
});

describe('NUL and lone surrogates in bodies', () => {
  const variants = (config: Record<string, unknown>, name = 'Small') => [
    { key: 'control', weight: 1, isControl: true, config: { model: 'big' } },
    { key: 'small', name, weight: 1, config },
  ];

  it.each([
    ['name', { name: 'bad<NUL>name' }, /NUL/],
    ['hypothesis', { hypothesis: 'half a pair <LONE> here' }, /lone surrogate/],
    ['hypothesis', { hypothesis: 'a low one <LOW>' }, /lone surrogate/],
    ['variants.1.config.prompt', { variants: variants({ prompt: 'You are <NUL> helpful' }) }, /NUL/],
    ['variants.1.config.messages.0.content', { variants: variants({ messages: [{ role: 'system', content: '<LONE>' }] }) }, /surrogate/],
    ['variants.1.config', { variants: variants({ 'tempera<NUL>ture': 0.2 }) }, /property name/],
    ['variants.1.name', { variants: variants({ model: 'small' }, 'Small <LONE>') }, /surrogate/],
    ['forced.u<NUL>1', { forced: { 'u<NUL>1': 'small' } }, undefined],
  ])('POST /v1/experiments refuses %s', async (field, override, message) => {
    const body = experimentBody(override as Record<string, unknown>);
    const res = await raw('POST', '/v1/experiments', hostile(body));
    if (field.startsWith('forced.')) {
      // A bad property name is named on the object that holds it.
      expectRefused(res, 'forced', /property name/);
    } else {
      expectRefused(res, field, message);
    }
    expect((await admin.get(`/v1/experiments/${body.key}`)).status).toBe(404);
  });

  it('names every bad field of one body, beside the other validation errors', async () => {
    const body = experimentBody({ name: '<NUL>', hypothesis: '<LONE>', unitType: 'planet' });
    const res = await raw('POST', '/v1/experiments', hostile(body));
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.field).sort()).toEqual(['hypothesis', 'name', 'unitType']);
  });

  it('PATCH /v1/experiments/{key} refuses them in a running experiment, and changes nothing', async () => {
    const before = (await admin.get(`/v1/experiments/${running}`)).body;
    expectRefused(await raw('PATCH', `/v1/experiments/${running}`, hostile({ name: 'x<NUL>' })), 'name');
    expectRefused(
      await raw('PATCH', `/v1/experiments/${running}`, hostile({ variants: [{ key: 'control', weight: 1 }, { key: 'small', weight: 1, config: { p: '<LONE>' } }] })),
      'variants.1.config.p',
    );
    expect((await admin.get(`/v1/experiments/${running}`)).body).toEqual(before);
  });

  it.each([
    ['POST', '/v1/experiments/{key}/conclude', { winner: 'small<NUL>' }, 'winner'],
    ['POST', '/v1/api-keys', { name: 'ci <NUL>', scope: 'sdk' }, 'name'],
    ['POST', '/v1/api-keys', { name: 'ci <LONE>', scope: 'sdk' }, 'name'],
    ['POST', '/v1/projects', { name: 'team <NUL>' }, 'name'],
    ['POST', '/v1/projects', { name: '<LOW> team' }, 'name'],
    ['PUT', '/v1/webhook', { url: 'https://hooks.example.com/x', secret: 'sixteen-chars-<NUL>-secret' }, 'secret'],
    ['PUT', '/v1/webhook', { url: 'https://hooks.example.com/<LONE>', secret: 'a-good-sixteen-char-secret' }, 'url'],
    ['POST', '/v1/reports', { name: 'r<NUL>', recipients: ['a@example.com'], cron: '0 9 * * 1', timezone: 'UTC' }, 'name'],
    ['POST', '/v1/reports', { name: 'r', recipients: ['a@example.com'], cron: '0 9 * * 1<NUL>', timezone: 'UTC' }, 'cron'],
    ['POST', '/v1/reports', { name: 'r', recipients: ['a@example.com'], cron: '0 9 * * 1', timezone: 'UTC<LONE>' }, 'timezone'],
    ['POST', '/v1/reports', { name: 'r', recipients: ['a<NUL>@example.com'], cron: '0 9 * * 1', timezone: 'UTC' }, 'recipients.0'],
    ['POST', '/v1/reports', { name: 'r', recipients: ['a@example.com'], cron: '0 9 * * 1', timezone: 'UTC', experiments: ['e<LONE>'] }, 'experiments.0'],
    ['PATCH', '/v1/reports/{report}', { name: 'renamed <NUL>' }, 'name'],
  ])('%s %s refuses %j naming %s', async (method, path, body, field) => {
    const res = await raw(method, path.replace('{key}', running).replace('{report}', reportId), hostile(body));
    expectRefused(res, field);
  });

  it('stores nothing of a refused key, project or webhook', async () => {
    const keys = await t.db.query(`SELECT count(*)::int AS n FROM api_key WHERE name LIKE 'ci %'`);
    expect(keys[0].n).toBe(0);
    expect((await admin.get('/v1/webhook')).status).toBe(404);
  });

  it('leaves strings with paired surrogates (emoji) alone', async () => {
    const body = experimentBody({ name: 'Emoji 🚀 name', hypothesis: '中文 ü 🙂' });
    const res = await admin.post('/v1/experiments', body);
    expect(res.status).toBe(201);
    expect(res.body.hypothesis).toBe('中文 ü 🙂');
  });
});

describe('hostile path segments and queries', () => {
  it.each([
    ['GET', '/v1/experiments/%00', 'key'],
    ['GET', '/v1/experiments/a%00b/results', 'key'],
    ['GET', '/v1/experiments/a%00b/results/daily', 'key'],
    ['GET', '/v1/experiments/a%00b/srm', 'key'],
    ['GET', '/v1/experiments/a%00b/audit', 'key'],
    ['GET', '/v1/experiments/a%00b/phases', 'key'],
    ['GET', '/v1/experiments/a%00b/page-link', 'key'],
    ['PATCH', '/v1/experiments/%00', 'key'],
    ['POST', '/v1/experiments/%00/start', 'key'],
    ['POST', '/v1/experiments/x/variants/%00/rollback', 'variant'],
    ['PATCH', '/v1/reports/%00', 'id'],
    ['DELETE', '/v1/reports/%00', 'id'],
    ['POST', '/v1/reports/%00/send', 'id'],
    ['GET', '/v1/reports/%00/sends', 'id'],
    ['DELETE', '/v1/api-keys/%00', 'id'],
    ['GET', '/v1/experiments?status=%00', 'status'],
    ['GET', '/v1/experiments?offset=1e30', 'offset'],
    ['GET', '/v1/experiments/{key}/results?phase=1e30', 'phase'],
    ['GET', '/v1/experiments/{key}/audit?limit=5&offset=%00', 'offset'],
  ])('%s %s answers 400 naming %s', async (method, path, field) => {
    const body = method === 'PATCH' ? '{"name":"x"}' : method === 'POST' ? '{}' : undefined;
    const res = await admin.call(method, path.replace('{key}', running), body);
    expectRefused(res, field);
  });

  it('answers the public results page 400 for a NUL key, without a token', async () => {
    const res = await client(t.url).get('/experiments/%00');
    expect(res.status).toBe(400);
  });

  it('never answers 500 to malformed percent-encoding or encoded surrogates in a path or query', async () => {
    for (const path of ['/v1/experiments/%ED%A0%80', '/v1/experiments/%C0%80', '/v1/experiments/%', '/v1/experiments/%FF%FE', '/v1/experiments?status=%ED%A0%80', '/v1/experiments?status=%']) {
      const res = await admin.get(path);
      expect({ path, status: res.status }).toEqual({ path, status: expect.any(Number) });
      expect({ path, ok: res.status >= 400 && res.status < 500 }).toEqual({ path, ok: true });
    }
  });
});

describe('numbers beyond what the service can hold', () => {
  it.each([
    ['variants.0.weight', { variants: [{ key: 'a', weight: 1e308, isControl: true }, { key: 'b', weight: 1e308 }] }],
    ['variants.1.weight', { variants: [{ key: 'a', weight: 1, isControl: true }, { key: 'b', weight: 1e6 + 1 }] }],
    ['variants.0.weight', { variants: [{ key: 'a', weight: '1e400', isControl: true }, { key: 'b', weight: 1 }] }],
    ['variants.0.pricing.inputPer1M', { variants: [{ key: 'a', weight: 1, isControl: true, pricing: { inputPer1M: 1e300, outputPer1M: 1 } }, { key: 'b', weight: 1 }] }],
    ['metrics.scoreRange.max', { metrics: { primary: { name: 'score', goal: 'increase' }, scoreRange: { min: 0, max: 1e300 } } }],
    ['metrics.guardrails.0.maxRelativeIncrease', { metrics: { primary: { name: 'score', goal: 'increase' }, guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 1e308 }] } }],
    ['stats.plannedUnits', { stats: { alpha: 0.05, sequential: true, plannedUnits: 1e300 } }],
    ['bandit.minUnitsPerArm', { bandit: { floor: 0.05, minUnitsPerArm: 1e300, everyMinutes: 60 } }],
    ['ramp.minUnits', { ramp: { steps: [0.1, 0.5], minMinutes: 1, minUnits: 1e300 } }],
  ])('refuses %s', async (field, override) => {
    const body = experimentBody(override);
    // A literal 1e400 in JSON text parses as Infinity.
    const text = JSON.stringify(body).replace('"1e400"', '1e400');
    expectRefused(await raw('POST', '/v1/experiments', text), field);
  });

  it('refuses a number too large for JSON inside a free-form config (it would be stored as null)', async () => {
    const text = JSON.stringify(experimentBody({ variants: [{ key: 'a', weight: 1, isControl: true, config: { temperature: '1e400' } }, { key: 'b', weight: 1 }] }));
    expectRefused(await raw('POST', '/v1/experiments', text.replace('"1e400"', '1e400')), 'variants.0.config.temperature', /finite/);
  });

  it('accepts large weights within the bound and normalises them', async () => {
    const res = await admin.post('/v1/experiments', experimentBody({ variants: [{ key: 'a', weight: 1e6, isControl: true }, { key: 'b', weight: 3e5 }] }));
    expect(res.status).toBe(201);
    expect(res.body.variants.map((v: any) => v.weight)).toEqual([1e6 / 1.3e6, 3e5 / 1.3e6]);
  });

  it('refuses too many forced units', async () => {
    const forced = Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`u${i}`, 'small']));
    expectRefused(await admin.post('/v1/experiments', experimentBody({ forced })), 'forced', /1000/);
  });
});

describe('size limits on variant configs', () => {
  const big = (bytes: number) => ({ prompt: 'x'.repeat(bytes) });

  it('refuses a variant config over 64 KiB, naming it', async () => {
    const body = experimentBody({ variants: [{ key: 'a', weight: 1, isControl: true, config: big(1000) }, { key: 'b', weight: 1, config: big(70_000) }] });
    expectRefused(await admin.post('/v1/experiments', body), 'variants.1.config', /at most 65536/);
  });

  it('refuses configs over 256 KiB per experiment, even when each is within its own limit', async () => {
    const body = experimentBody({
      variants: Array.from({ length: 5 }, (_, i) => ({ key: `v${i}`, weight: 1, isControl: i === 0, config: big(60_000) })),
    });
    expectRefused(await admin.post('/v1/experiments', body), 'variants', /per experiment/);
    body.variants = body.variants.slice(0, 4);
    expect((await admin.post('/v1/experiments', body)).status).toBe(201);
  });

  it('refuses a PATCH that grows a config past the limit', async () => {
    const res = await admin.patch(`/v1/experiments/${running}`, { variants: [{ key: 'control', weight: 1 }, { key: 'small', weight: 1, config: big(70_000) }] });
    expectRefused(res, 'variants.1.config');
  });
});

describe('deep nesting', () => {
  const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);

  it.each([
    ['POST', '/v1/experiments'],
    ['PATCH', '/v1/experiments/{key}'],
    ['POST', '/v1/reports'],
    ['POST', '/v1/api-keys'],
    ['POST', '/v1/projects'],
    ['PUT', '/v1/webhook'],
  ])('%s %s answers 400 naming body for 100k levels', async (method, path) => {
    const res = await raw(method, path.replace('{key}', running), `{"name": ${deep(100_000)}}`);
    expectRefused(res, 'body', /deeper than 32 levels/);
  });

  it('refuses a config nested deeper than the limit, and accepts one within it', async () => {
    let config: unknown = 'leaf';
    for (let i = 0; i < 40; i++) config = { a: config };
    const body = experimentBody({ variants: [{ key: 'a', weight: 1, isControl: true, config }, { key: 'b', weight: 1 }] });
    expectRefused(await admin.post('/v1/experiments', body), 'body');
    config = 'leaf';
    for (let i = 0; i < 20; i++) config = { a: config };
    body.variants[0].config = config;
    expect((await admin.post('/v1/experiments', body)).status).toBe(201);
  });

  it('bounds the plain Fastify routes too (/v1/assign, /v1/outcomes)', async () => {
    const sdk = client(t.url, sdkKey);
    expectRefused(await sdk.call('POST', '/v1/assign', `{"experiment": "x", "unitId": "u", "attributes": ${deep(100_000)}}`), 'body');
    expectRefused(await sdk.call('POST', '/v1/outcomes', `{"events": ${deep(100_000)}}`), 'body');
    expect((await sdk.post('/v1/assign', { experiment: running, unitId: 'u-1' })).status).toBe(200);
  });

  it('still refuses prototype poisoning and malformed JSON with 400', async () => {
    expectRefused(await raw('POST', '/v1/api-keys', '{"name": "x", "scope": "sdk", "__proto__": {"admin": true}}'), 'body');
    expectRefused(await raw('POST', '/v1/api-keys', '{"name": "x", '), 'body');
  });
});

describe('report schedules', () => {
  it('refuses a cron that fires more often than hourly, naming cron', async () => {
    for (const cron of ['* * * * * *', '*/5 * * * *', '0,30 9 * * *']) {
      const res = await admin.post('/v1/reports', { name: 'too often', recipients: ['a@example.com'], cron, timezone: 'UTC' });
      expectRefused(res, 'cron', /at least 1 h apart/);
    }
    expectRefused(await admin.patch(`/v1/reports/${reportId}`, { cron: '*/10 * * * *' }), 'cron');
    expect((await admin.post('/v1/reports', { name: 'hourly', recipients: ['a@example.com'], cron: '0 * * * *', timezone: 'UTC' })).status).toBe(201);
  });

  it('bounds manual sends per report: 429 with Retry-After past the hourly limit', async () => {
    const id = (await admin.post('/v1/reports', { name: 'by hand', recipients: ['a@example.com'], cron: '0 9 * * 1', timezone: 'UTC' })).body.id;
    const statuses = await Promise.all(Array.from({ length: 14 }, () => admin.post(`/v1/reports/${id}/send`)));
    expect(statuses.filter((r) => r.status === 202)).toHaveLength(10);
    const refused = statuses.filter((r) => r.status === 429);
    expect(refused).toHaveLength(4);
    expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThan(3000);
    expect(refused[0].body.detail).toMatch(/limit is 10/);
    const sends = await t.db.query(`SELECT count(*)::int AS n FROM report_send WHERE report_id = $1`, [id]);
    expect(sends[0].n).toBe(10);
    // Another report has its own allowance.
    expect((await admin.post(`/v1/reports/${reportId}/send`)).status).toBe(202);
  });
});

describe('nothing hostile answers 500', () => {
  it('sweeps every admin route with hostile bodies', async () => {
    const bodies = ['\u0000', '"\\u0000"', '{"\\u0000": "\\ud800"}', '[]', 'null', '1e999', '{"a":' + '['.repeat(5000), '{"name": "\\udfff\\ud800"}', '{"name": null, "variants": "x"}'];
    const routes: Array<[string, string]> = [
      ['POST', '/v1/experiments'],
      ['PATCH', `/v1/experiments/${running}`],
      ['POST', `/v1/experiments/${running}/conclude`],
      ['POST', '/v1/reports'],
      ['PATCH', `/v1/reports/${reportId}`],
      ['POST', '/v1/api-keys'],
      ['POST', '/v1/projects'],
      ['PUT', '/v1/webhook'],
    ];
    for (const [method, path] of routes) {
      for (const body of bodies) {
        const res = await raw(method, path, body);
        expect({ method, path, body, status: res.status, detail: res.body?.detail }).toEqual({ method, path, body, status: expect.any(Number), detail: expect.anything() });
        expect({ method, path, body, client: res.status >= 400 && res.status < 500 }).toEqual({ method, path, body, client: true });
      }
    }
  });

  it('answers a raw NUL byte in a path (not percent-encoded) with 4xx', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(t.url);
      const req = request({ host: url.hostname, port: url.port, path: '/v1/experiments/a\u0001b', headers: { authorization: `Bearer ${t.adminKey}` } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    }).catch(() => 400);
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
  });
});
