import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';

let t: TestApp;
let admin: ReturnType<typeof client>;

beforeAll(async () => {
  t = await startTestApp();
  admin = client(t.url, t.adminKey);
});
afterAll(async () => {
  await t?.close();
});

describe('experiment definition', () => {
  it('creates a draft with normalised weights and reads it back', async () => {
    const body = experimentBody({ variants: [
      { key: 'a', weight: 3, isControl: true, config: { model: 'big' } },
      { key: 'b', weight: 1, config: { model: 'small' }, pricing: { inputPer1M: 0.1, outputPer1M: 0.4 } },
    ] });
    const created = await admin.post('/v1/experiments', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ key: body.key, status: 'draft', phase: 0, trafficAllocation: 1 });
    expect(created.body.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.body.variants.map((v: any) => v.weight)).toEqual([0.75, 0.25]);
    expect(created.body.stats).toEqual({ alpha: 0.05, sequential: true, plannedUnits: 20000, cuped: { mode: 'auto', lookbackDays: 14 } });
    expect(created.body.metrics.scoreRange).toEqual({ min: 0, max: 1 });
    expect(created.body).not.toHaveProperty('salt');

    const fetched = await admin.get(`/v1/experiments/${body.key}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(created.body);
  });

  it('lists with pagination and a status filter', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      const body = experimentBody();
      keys.push(body.key);
      expect((await admin.post('/v1/experiments', body)).status).toBe(201);
    }
    await admin.post(`/v1/experiments/${keys[0]}/start`);
    const page = await admin.get('/v1/experiments?limit=2&offset=0');
    expect(page.status).toBe(200);
    expect(page.body.items).toHaveLength(2);
    expect(page.body.limit).toBe(2);
    expect(page.body.total).toBeGreaterThanOrEqual(3);
    const running = await admin.get('/v1/experiments?status=running');
    expect(running.body.items.map((e: any) => e.key)).toContain(keys[0]);
    expect(running.body.items.every((e: any) => e.status === 'running')).toBe(true);
  });

  it('patches a draft freely', async () => {
    const body = experimentBody();
    await admin.post('/v1/experiments', body);
    const patched = await admin.patch(`/v1/experiments/${body.key}`, {
      name: 'Renamed',
      metrics: { primary: { name: 'score', goal: 'increase' } },
      stats: { alpha: 0.01 },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.name).toBe('Renamed');
    expect(patched.body.metrics.primary).toEqual({ name: 'score', goal: 'increase' });
    expect(patched.body.stats.alpha).toBe(0.01);
    expect(patched.body.phase).toBe(0);
  });
});

describe('lifecycle', () => {
  it('walks draft -> running -> paused -> running -> stopped -> concluded', async () => {
    const body = experimentBody();
    await admin.post('/v1/experiments', body);
    const path = `/v1/experiments/${body.key}`;
    const started = await admin.post(`${path}/start`);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ status: 'running', phase: 1 });
    expect(started.body.startedAt).not.toBeNull();
    expect((await admin.post(`${path}/pause`)).body.status).toBe('paused');
    expect((await admin.post(`${path}/resume`)).body.status).toBe('running');
    const stopped = await admin.post(`${path}/stop`);
    expect(stopped.body.status).toBe('stopped');
    expect(stopped.body.endedAt).not.toBeNull();
    const concluded = await admin.post(`${path}/conclude`, { winner: 'small' });
    expect(concluded.status).toBe(200);
    expect(concluded.body).toMatchObject({ status: 'concluded', winner: 'small' });
  });

  it('concludes straight from running', async () => {
    const body = experimentBody();
    await admin.post('/v1/experiments', body);
    await admin.post(`/v1/experiments/${body.key}/start`);
    const concluded = await admin.post(`/v1/experiments/${body.key}/conclude`, { winner: 'control' });
    expect(concluded.body).toMatchObject({ status: 'concluded', winner: 'control' });
  });

  const refused: Array<[string, string[], string]> = [
    ['pause a draft', [], 'pause'],
    ['resume a draft', [], 'resume'],
    ['stop a draft', [], 'stop'],
    ['conclude a draft', [], 'conclude'],
    ['start a running experiment', ['start'], 'start'],
    ['resume a running experiment', ['start'], 'resume'],
    ['pause a paused experiment', ['start', 'pause'], 'pause'],
    ['start a paused experiment', ['start', 'pause'], 'start'],
    ['start a stopped experiment', ['start', 'stop'], 'start'],
    ['resume a stopped experiment', ['start', 'stop'], 'resume'],
    ['pause a stopped experiment', ['start', 'stop'], 'pause'],
    ['stop a stopped experiment', ['start', 'stop'], 'stop'],
    ['stop a concluded experiment', ['start', 'conclude'], 'stop'],
    ['conclude a concluded experiment', ['start', 'conclude'], 'conclude'],
    ['resume a concluded experiment', ['start', 'conclude'], 'resume'],
  ];
  it.each(refused)('refuses to %s with 409 and the reason', async (_name, setup, action) => {
    const body = experimentBody();
    await admin.post('/v1/experiments', body);
    const path = `/v1/experiments/${body.key}`;
    for (const step of setup) {
      const res = await admin.post(`${path}/${step}`, step === 'conclude' ? { winner: 'control' } : {});
      expect(res.status).toBe(200);
    }
    const res = await admin.post(`${path}/${action}`, action === 'conclude' ? { winner: 'control' } : {});
    expect(res.status).toBe(409);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body.type).toMatch(/invalid-transition/);
    expect(res.body.detail).toMatch(new RegExp(`Cannot ${action} an experiment that is`));
  });

  it('starts a new phase when weights or allocation change while running, and keeps the salt', async () => {
    const body = experimentBody();
    await admin.post('/v1/experiments', body);
    const path = `/v1/experiments/${body.key}`;
    await admin.post(`${path}/start`);
    const salt = async () => (await t.db.query('SELECT salt FROM experiment WHERE key = $1', [body.key]))[0].salt;
    const saltBefore = await salt();
    const reweighted = await admin.patch(path, {
      variants: [
        { key: 'control', weight: 9 },
        { key: 'small', weight: 1 },
      ],
    });
    expect(reweighted.status).toBe(200);
    expect(reweighted.body.phase).toBe(2);
    expect(reweighted.body.variants.find((v: any) => v.key === 'control')).toMatchObject({ weight: 0.9, isControl: true });
    // Config survives a weights-only patch.
    expect(reweighted.body.variants.find((v: any) => v.key === 'small').config).toEqual(body.variants[1].config);
    const reallocated = await admin.patch(path, { trafficAllocation: 0.5 });
    expect(reallocated.body.phase).toBe(3);
    const renamed = await admin.patch(path, { name: 'still phase 3' });
    expect(renamed.body.phase).toBe(3);
    const phases = await admin.get(`${path}/phases`);
    expect(phases.body.map((p: any) => p.phase)).toEqual([1, 2, 3]);
    expect(phases.body[0].endedAt).not.toBeNull();
    expect(phases.body[2]).toMatchObject({ endedAt: null, trafficAllocation: 0.5, weights: { control: 0.9, small: 0.1 } });
    expect(await salt()).toBe(saltBefore);
  });

  it('refuses changes that would redefine a started experiment', async () => {
    const body = experimentBody();
    await admin.post('/v1/experiments', body);
    const path = `/v1/experiments/${body.key}`;
    await admin.post(`${path}/start`);
    const newKeys = await admin.patch(path, { variants: [{ key: 'control', weight: 1 }, { key: 'other', weight: 1 }] });
    expect(newKeys.status).toBe(409);
    expect(newKeys.body.errors[0].field).toBe('variants');
    const metrics = await admin.patch(path, { metrics: { primary: { name: 'score', goal: 'increase' } } });
    expect(metrics.status).toBe(409);
    expect(metrics.body.errors[0].field).toBe('metrics');
  });
});

describe('bad input', () => {
  const base = () => experimentBody();
  const cases: Array<[string, (b: Record<string, any>) => unknown, string]> = [
    ['missing key', (b) => ({ ...b, key: undefined }), 'key'],
    ['key with spaces', (b) => ({ ...b, key: 'has spaces' }), 'key'],
    ['unknown unit type', (b) => ({ ...b, unitType: 'tenant' }), 'unitType'],
    ['allocation above 1', (b) => ({ ...b, trafficAllocation: 1.5 }), 'trafficAllocation'],
    ['allocation of 0', (b) => ({ ...b, trafficAllocation: 0 }), 'trafficAllocation'],
    ['a single variant', (b) => ({ ...b, variants: [b.variants[0]] }), 'variants'],
    ['duplicate variant keys', (b) => ({ ...b, variants: [b.variants[0], { ...b.variants[1], key: 'control' }] }), 'variants.1.key'],
    ['no control', (b) => ({ ...b, variants: b.variants.map((v: any) => ({ ...v, isControl: false })) }), 'variants'],
    ['two controls', (b) => ({ ...b, variants: b.variants.map((v: any) => ({ ...v, isControl: true })) }), 'variants'],
    ['negative weight', (b) => ({ ...b, variants: [b.variants[0], { ...b.variants[1], weight: -1 }] }), 'variants.1.weight'],
    ['zero weight', (b) => ({ ...b, variants: [b.variants[0], { ...b.variants[1], weight: 0 }] }), 'variants.1.weight'],
    ['weight as a string', (b) => ({ ...b, variants: [b.variants[0], { ...b.variants[1], weight: 'half' }] }), 'variants.1.weight'],
    ['negative price', (b) => ({ ...b, variants: [b.variants[0], { ...b.variants[1], pricing: { inputPer1M: -1, outputPer1M: 1 } }] }), 'variants.1.pricing.inputPer1M'],
    ['unknown metric', (b) => ({ ...b, metrics: { primary: { name: 'vibes', goal: 'increase' } } }), 'metrics.primary.name'],
    ['unknown goal', (b) => ({ ...b, metrics: { primary: { name: 'score', goal: 'maximise' } } }), 'metrics.primary.goal'],
    ['non-inferiority without margin', (b) => ({ ...b, metrics: { primary: { name: 'score', goal: 'non_inferior' } } }), 'metrics.primary.margin'],
    ['guardrail with a negative margin', (b) => ({ ...b, metrics: { ...b.metrics, guardrails: [{ name: 'latency_p95', maxRelativeIncrease: -0.1 }] } }), 'metrics.guardrails.0.maxRelativeIncrease'],
    ['guardrail without a margin', (b) => ({ ...b, metrics: { ...b.metrics, guardrails: [{ name: 'latency_p95' }] } }), 'metrics.guardrails.0'],
    ['custom metric shadowing a built-in', (b) => ({ ...b, metrics: { ...b.metrics, custom: [{ name: 'score' }] } }), 'metrics.custom.0.name'],
    ['alpha of 0.9', (b) => ({ ...b, stats: { alpha: 0.9 } }), 'stats.alpha'],
    ['fractional planned units', (b) => ({ ...b, stats: { plannedUnits: 10.5 } }), 'stats.plannedUnits'],
    ['unknown top-level field', (b) => ({ ...b, colour: 'blue' }), 'colour'],
    ['unknown nested field', (b) => ({ ...b, variants: [b.variants[0], { ...b.variants[1], temperature: 0.2 }] }), 'variants.1.temperature'],
    ['forced to an unknown variant', (b) => ({ ...b, forced: { 'qa-user': 'nope' } }), 'forced.qa-user'],
    ['layer with a bad range', (b) => ({ ...b, layer: { key: 'l', start: 0, end: 1.5 } }), 'layer.end'],
  ];

  it.each(cases)('answers 400 naming the field for %s', async (_name, mutate, field) => {
    const res = await admin.post('/v1/experiments', mutate(base()));
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/problem\+json/);
    expect(res.body).toMatchObject({ status: 400, title: 'Bad Request' });
    expect(res.body.requestId).toBeTruthy();
    expect(res.body.errors.map((e: any) => e.field)).toContain(field);
  });

  it('answers 400 for malformed JSON and 413 for a body over the limit', async () => {
    const malformed = await admin.call('POST', '/v1/experiments', '{"key": ', { 'content-type': 'application/json' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.errors[0].field).toBe('body');
    const huge = await admin.post('/v1/experiments', { ...base(), hypothesis: 'x'.repeat(2_000_000) });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('content-type')).toMatch(/problem\+json/);
  });

  it('answers 409 for a duplicate key and for overlapping layer slots', async () => {
    const body = base();
    await admin.post('/v1/experiments', body);
    const again = await admin.post('/v1/experiments', body);
    expect(again.status).toBe(409);
    expect(again.body.errors[0].field).toBe('key');
    await admin.post('/v1/experiments', { ...base(), layer: { key: 'chat', start: 0, end: 0.5 } });
    const overlap = await admin.post('/v1/experiments', { ...base(), layer: { key: 'chat', start: 0.4, end: 0.8 } });
    expect(overlap.status).toBe(409);
    expect(overlap.body.errors[0].field).toBe('layer');
    const beside = await admin.post('/v1/experiments', { ...base(), layer: { key: 'chat', start: 0.5, end: 1 } });
    expect(beside.status).toBe(201);
  });

  it('answers 400 for a bad list query and 404 for an unknown experiment', async () => {
    const bad = await admin.get('/v1/experiments?limit=5000&status=finished');
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: any) => e.field).sort()).toEqual(['limit', 'status']);
    const missing = await admin.get('/v1/experiments/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.type).toMatch(/experiment-not-found/);
  });

  it('validates patches like creations, and refuses changing the key', async () => {
    const body = base();
    await admin.post('/v1/experiments', body);
    const res = await admin.patch(`/v1/experiments/${body.key}`, { trafficAllocation: 1.5, key: 'renamed', stats: { alpha: 2 } });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: any) => e.field).sort()).toEqual(['key', 'stats.alpha', 'trafficAllocation']);
  });

  it('refuses a winner that is not a variant', async () => {
    const body = base();
    await admin.post('/v1/experiments', body);
    await admin.post(`/v1/experiments/${body.key}/start`);
    const res = await admin.post(`/v1/experiments/${body.key}/conclude`, { winner: 'ghost' });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe('winner');
  });
});

describe('audit log', () => {
  it('records every change with who, what, before, after and when', async () => {
    const key = await admin.post('/v1/api-keys', { name: 'release bot', scope: 'admin' });
    const bot = client(t.url, key.body.key);
    const body = experimentBody();
    await admin.post('/v1/experiments', body);
    const path = `/v1/experiments/${body.key}`;
    await bot.post(`${path}/start`);
    await bot.patch(path, { trafficAllocation: 0.5 });
    await admin.post(`${path}/conclude`, { winner: 'small' });

    const log = await admin.get(`${path}/audit`);
    expect(log.status).toBe(200);
    expect(log.body.items.map((e: any) => e.action)).toEqual([
      'experiment.created',
      'experiment.start',
      'experiment.updated',
      'experiment.concluded',
    ]);
    const [created, start, update, conclude] = log.body.items;
    expect(created).toMatchObject({ actor: 'bootstrap (VERDICT_ADMIN_KEY)', before: null });
    expect(created.after.status).toBe('draft');
    expect(start).toMatchObject({ actor: 'release bot', actorKeyId: key.body.id });
    expect(start.before.status).toBe('draft');
    expect(start.after.status).toBe('running');
    expect(update.before.trafficAllocation).toBe(1);
    expect(update.after.trafficAllocation).toBe(0.5);
    expect(conclude.after).toMatchObject({ status: 'concluded', winner: 'small' });
    for (const entry of log.body.items) expect(Date.parse(entry.at)).not.toBeNaN();
  });
});
