import { existsSync } from 'node:fs';
import type { INestApplicationContext } from '@nestjs/common';
import { chromium } from 'playwright-core';
import { GatewayService } from '../../libs/gateway/gateway.service';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { client } from '../support/http-client';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, outcomes, unitIn } from './support/gateway-fixture';

jest.setTimeout(120_000);

/** At most this many shadow copies in flight on the test replica: the drop test fills it. */
const SHADOW_BOUND = 3;
const CHROMIUM = '/usr/bin/chromium';

let t: TestApp;
let worker: INestApplicationContext;
let ctl: FakeUpstream;
let small: FakeUpstream;
let shadow: FakeUpstream;

beforeAll(async () => {
  [t, ctl, small, shadow] = await Promise.all([
    startTestApp({ ...GATEWAY_TEST_SETTINGS, GATEWAY_SHADOW_MAX_IN_FLIGHT: String(SHADOW_BOUND) }),
    startFakeUpstream('ctl'),
    startFakeUpstream('small'),
    startFakeUpstream('cand'),
  ]);
  worker = await startTestWorker(t.config);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([ctl, small, shadow].map((f) => f?.close()));
});
beforeEach(() => {
  for (const f of [ctl, small, shadow]) {
    f.options.firstTokenMs = 0;
    f.options.fail = undefined;
    f.options.reply = undefined;
  }
});

const variants = (shadowWeight = 0) => [
  { key: 'big', weight: 1, isControl: true, pricing: { inputPer1M: 1, outputPer1M: 2 }, upstream: { baseUrl: ctl.url, model: 'llama-70b', apiKeyEnv: 'FAKE_UPSTREAM_API_KEY' } },
  { key: 'small', weight: 1, pricing: { inputPer1M: 0.1, outputPer1M: 0.2 }, upstream: { baseUrl: small.url, model: 'llama-8b' } },
  { key: 'cand', weight: shadowWeight, pricing: { inputPer1M: 0.5, outputPer1M: 0.5 }, upstream: { baseUrl: shadow.url, model: 'llama-8b-q4', params: { temperature: 0 } } },
];

/** A running experiment: big (control) and small served, cand the shadow of every served call. */
async function shadowed(sampleRate = 1) {
  const exp = await gatewayExperiment(t.url, t.adminKey, ctl, small, { variants: variants(), shadow: { variant: 'cand', sampleRate } });
  return { ...exp, unit: await unitIn(exp.sdk, exp.key, 'big') };
}

async function call(exp: { sdkKey: string; key: string }, unit: string, options: { text?: string; stream?: boolean } = {}) {
  const response = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': unit },
    body: JSON.stringify({ model: exp.key, stream: options.stream ?? false, messages: [{ role: 'user', content: options.text ?? 'hello' }] }),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

interface ShadowRow {
  event_id: string;
  paired_event_id: string;
  variant: string;
  latency_ms: number | null;
  ttft_ms: number | null;
  input_tokens: string | null;
  output_tokens: string | null;
  cost_usd: number | null;
  success: boolean | null;
  error: string | null;
  exact_match: boolean | null;
  json_match: boolean | null;
}

async function shadowRows(experimentId: string): Promise<ShadowRow[]> {
  return t.db.query(
    `SELECT event_id, paired_event_id, variant, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, success, error, exact_match, json_match
     FROM shadow_outcome WHERE experiment_id = $1 ORDER BY received_at, event_id`,
    [experimentId],
  );
}

async function shadowOf(experimentId: string, servedEventId: string): Promise<ShadowRow> {
  await eventually(async () => (await shadowRows(experimentId)).some((r) => r.paired_event_id === servedEventId));
  return (await shadowRows(experimentId)).find((r) => r.paired_event_id === servedEventId)!;
}


describe('shadow variants: definition', () => {
  it('refuses a shadow that cannot be one, naming the field', async () => {
    const admin = client(t.url, t.adminKey);
    const create = (shadowSetting: unknown, vs = variants(), extra: Record<string, unknown> = {}) =>
      admin.post('/v1/experiments', { key: `shadow-bad-${Math.random().toString(36).slice(2, 8)}`, name: 'n', unitType: 'user', variants: vs, metrics: { primary: { name: 'success_rate', goal: 'increase' } }, shadow: shadowSetting, ...extra });
    const cases: Array<[unknown, ReturnType<typeof variants>, Record<string, unknown>, string, RegExp]> = [
      [{ variant: 'nope', sampleRate: 0.5 }, variants(), {}, 'shadow.variant', /not a variant/],
      [{ variant: 'small', sampleRate: 0.5 }, variants(), {}, 'shadow.variant', /weight > 0/],
      [{ variant: 'big', sampleRate: 0.5 }, variants(), {}, 'shadow.variant', /control/],
      [{ variant: 'cand', sampleRate: 0.5 }, variants().map((v) => (v.key === 'cand' ? { ...v, upstream: undefined } : v)) as ReturnType<typeof variants>, {}, 'shadow.variant', /no upstream/],
      [{ variant: 'cand', sampleRate: 0 }, variants(), {}, 'shadow.sampleRate', /\(0, 1\]/],
      [{ variant: 'cand', sampleRate: 1.5 }, variants(), {}, 'shadow.sampleRate', /\(0, 1\]/],
      [{ variant: 'cand', sampleRate: 0.5 }, variants().filter((v) => v.key !== 'small'), { ramp: { steps: [0.1, 0.5], minMinutes: 0, minUnits: 0 } }, 'shadow', /ramp/],
      [null, variants(), {}, 'variants.2.weight', /0 only for the variant named in shadow.variant/],
    ];
    for (const [setting, vs, extra, field, message] of cases) {
      const res = await create(setting, vs, extra);
      expect(res.status).toBe(400);
      const error = res.body.errors.find((e: { field: string }) => e.field === field);
      expect(error?.message).toMatch(message);
    }
    const missingRate = await create({ variant: 'cand' });
    expect(missingRate.status).toBe(400);
    expect(JSON.stringify(missingRate.body.errors)).toContain('shadow.sampleRate');
  });

  it('PATCH adds, changes and removes it (audited); the shadow variant is never assigned', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, ctl, small, { variants: variants(1) });
    const zeroed = variants(0);
    // Weight 0 without a shadow is refused; with it, accepted.
    expect((await exp.admin.patch(`/v1/experiments/${exp.key}`, { variants: zeroed })).status).toBe(400);
    const added = await exp.admin.patch(`/v1/experiments/${exp.key}`, { variants: zeroed, shadow: { variant: 'cand', sampleRate: 0.25 } });
    expect(added.status).toBe(200);
    expect(added.body.shadow).toEqual({ variant: 'cand', sampleRate: 0.25 });
    const changed = await exp.admin.patch(`/v1/experiments/${exp.key}`, { shadow: { variant: 'cand', sampleRate: 0.5 } });
    expect(changed.body.shadow).toEqual({ variant: 'cand', sampleRate: 0.5 });
    expect((await exp.admin.patch(`/v1/experiments/${exp.key}`, { shadow: { variant: 'small', sampleRate: 0.5 } })).status).toBe(400);
    // Removing the shadow alone would leave a variant of weight 0: it must get a weight in the same PATCH.
    const alone = await exp.admin.patch(`/v1/experiments/${exp.key}`, { shadow: null });
    expect(alone.status).toBe(400);
    expect(alone.body.errors[0].field).toBe('shadow');

    // Never assigned: 300 units, none in cand.
    await eventually(async () => (await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: 'probe-x' })).status === 200);
    const assigned = new Set<string>();
    for (let i = 0; i < 300; i++) assigned.add((await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: `u-${i}` })).body.variant);
    expect([...assigned].sort()).toEqual(['big', 'small']);
    // The SDK snapshot carries the variant with weight 0 (and no upstream, no shadow setting).
    const snapshot = await exp.sdk.get('/v1/sdk/config');
    expect(snapshot.status).toBe(200);
    const served = snapshot.body.experiments.find((e: { key: string }) => e.key === exp.key);
    expect(served.variants.find((v: { key: string }) => v.key === 'cand').weight).toBe(0);
    expect(JSON.stringify(snapshot.body)).not.toContain(shadow.url);
    expect(JSON.stringify(snapshot.body)).not.toContain('sampleRate');

    const removed = await exp.admin.patch(`/v1/experiments/${exp.key}`, { variants: variants(1), shadow: null });
    expect(removed.status).toBe(200);
    expect(removed.body.shadow).toBeNull();
    const audit = await exp.admin.get(`/v1/experiments/${exp.key}/audit`);
    const shadows = audit.body.items.filter((e: { action: string }) => e.action === 'experiment.updated').map((e: { after: { shadow: unknown } }) => e.after.shadow);
    expect(shadows).toEqual(expect.arrayContaining([{ variant: 'cand', sampleRate: 0.25 }, { variant: 'cand', sampleRate: 0.5 }, null]));
  });
});

describe('shadow variants: the gateway', () => {
  it('never shows the shadow to the client, never waits for a slow one, records it once paired with the served call', async () => {
    const exp = await shadowed();
    shadow.options.firstTokenMs = 3000;
    const gateway = t.app.get(GatewayService);
    const before = shadow.requests.length;
    const served = await call(exp, exp.unit);
    expect(served.status).toBe(200);
    // The served answer is the control's, byte for byte; it arrived while the shadow had not answered yet.
    expect(Buffer.from(served.text)).toEqual(ctl.requests.at(-1)!.sent);
    expect(shadow.requests.length).toBe(before + 1);
    expect(shadow.requests.at(-1)!.closedAt).toBeNull();
    expect(gateway.shadowActive).toBeGreaterThanOrEqual(1);
    expect(served.headers.get('x-verdict-variant')).toBe('big');
    for (const [, value] of served.headers) expect(value).not.toMatch(/cand|llama-8b-q4/);
    expect(served.text).not.toContain('cand');
    // The copy went with the shadow's own model and params.
    expect(shadow.requests.at(-1)!.body).toMatchObject({ model: 'llama-8b-q4', temperature: 0, messages: [{ role: 'user', content: 'hello' }] });
    expect(shadow.requests.at(-1)!.headers.authorization).toBeUndefined();

    const eventId = served.headers.get('x-verdict-event-id')!;
    const row = await shadowOf(exp.id, eventId);
    expect(row).toMatchObject({ variant: 'cand', success: true, error: null, input_tokens: '11', output_tokens: '7', exact_match: false, json_match: null });
    expect(row.latency_ms).not.toBeNull();
    // Priced at the shadow's prices: (11 * 0.5 + 7 * 0.5) / 1e6.
    expect(row.cost_usd).toBeCloseTo(9e-6, 12);
    await eventually(async () => (await outcomes(t.db, exp.id)).some((o) => o.event_id === eventId));
    // Recorded once; the served outcome is the served variant's, and nothing of cand is in the served table.
    expect((await shadowRows(exp.id)).filter((r) => r.paired_event_id === eventId)).toHaveLength(1);
    const stored = await outcomes(t.db, exp.id);
    expect(stored.filter((o) => o.event_id === eventId)).toMatchObject([{ variant: 'big', success: true }]);
    expect(stored.some((o) => o.variant === 'cand')).toBe(false);
    const units: unknown[] = await t.db.query(`SELECT 1 FROM outcome_unit WHERE experiment_id = $1 AND variant = 'cand'`, [exp.id]);
    expect(units).toHaveLength(0);
  });

  it('a failing shadow fails nothing: the served call answers, the shadow records its error class', async () => {
    const exp = await shadowed();
    for (const [fail, errorClass] of [['500', 'upstream_5xx'], ['reset', 'connect']] as const) {
      shadow.options.fail = fail;
      const served = await call(exp, exp.unit, { stream: true });
      expect(served.status).toBe(200);
      expect(Buffer.from(served.text)).toEqual(ctl.requests.at(-1)!.sent);
      const row = await shadowOf(exp.id, served.headers.get('x-verdict-event-id')!);
      expect(row).toMatchObject({ variant: 'cand', success: false, error: errorClass, exact_match: null, json_match: null });
    }
  });

  it('reads a shadow stream to the end: TTFT, tokens and the agreement of the two texts (exact, JSON, different)', async () => {
    const exp = await shadowed();
    // served text, shadow text, a piece only the shadow's answer has, exact, JSON
    const cases: Array<[string, string, string | null, boolean, boolean | null]> = [
      ['The answer is 42.', 'The answer is 42.', null, true, null],
      ['{"city": "Paris", "temp": 21}', '```json\n{"temp":21,"city":"Paris"}\n```', '```', false, true],
      ['{"city": "Paris"}', '{"city": "Lyon"}', 'Lyon', false, false],
      ['Paris.', 'Lyon.', 'Lyon', false, null],
    ];
    for (const [served, shadowed, onlyShadow, exact, json] of cases) {
      ctl.options.reply = served;
      shadow.options.reply = shadowed;
      for (const stream of [false, true]) {
        const res = await call(exp, exp.unit, { stream });
        expect(res.status).toBe(200);
        if (onlyShadow) expect(res.text).not.toContain(onlyShadow);
        const row = await shadowOf(exp.id, res.headers.get('x-verdict-event-id')!);
        expect({ exact: row.exact_match, json: row.json_match }).toEqual({ exact, json });
        if (stream) {
          expect(row.ttft_ms).not.toBeNull();
          expect(row.output_tokens).toBe('3');
        } else {
          expect(row.ttft_ms).toBeNull();
        }
      }
    }
    // The results: 8 pairs; exact match 2 of 8; JSON comparable in 4 (cases 2 and 3), equal in 2.
    await eventually(async () => (await exp.admin.get(`/v1/experiments/${exp.key}/results`)).body.shadow?.[0]?.pairs === 8);
    const results = (await exp.admin.get(`/v1/experiments/${exp.key}/results`)).body;
    const [section] = results.shadow;
    expect(section).toMatchObject({ variant: 'cand', active: true, sampleRate: 1, shadows: 8, pairs: 8, dropped: null });
    expect(section.agreement.exact).toMatchObject({ n: 8, rate: 2 / 8 });
    expect(section.agreement.json).toMatchObject({ n: 4, rate: 2 / 4 });
    expect(section.agreement.exact.ci[0]).toBeLessThan(0.25);
    expect(section.agreement.exact.ci[1]).toBeGreaterThan(0.25);
    const errors = section.comparisons.find((c: { metric: string }) => c.metric === 'error_rate');
    expect(errors).toMatchObject({ n: 8, difference: 0, method: 'mcnemar_exact', pValue: 1 });
    const latency = section.comparisons.find((c: { metric: string }) => c.metric === 'latency_ms');
    expect(latency.n).toBe(8);
    expect(latency.method).toBe('paired_t');
    // The shadow is in no served comparison and not in the decision's evidence.
    expect(results.comparisons.some((c: { variant: string }) => c.variant === 'cand')).toBe(false);
    expect(results.guardrails.some((g: { variant: string }) => g.variant === 'cand')).toBe(false);
    expect(results.planning.some((p: { variant: string }) => p.variant === 'cand')).toBe(false);
    expect(results.variants.find((v: { key: string }) => v.key === 'cand')).toMatchObject({ units: 0, events: 0 });
    expect(results.srm.weights.cand ?? 0).toBe(0);
  });

  it('drops copies past the bound of shadow calls in flight, counts them, and never queues them', async () => {
    const exp = await shadowed();
    shadow.options.firstTokenMs = 4000;
    const gateway = t.app.get(GatewayService);
    await eventually(async () => gateway.shadowActive === 0, 20_000);
    const before = shadow.requests.length;
    const calls = await Promise.all(Array.from({ length: SHADOW_BOUND + 5 }, () => call(exp, exp.unit)));
    expect(calls.map((c) => c.status)).toEqual(Array(SHADOW_BOUND + 5).fill(200));
    // Only SHADOW_BOUND copies were sent; the others were dropped at once (the served calls did not wait for room).
    expect(shadow.requests.length - before).toBe(SHADOW_BOUND);
    const metrics = (await exp.admin.get('/metrics')).body as string;
    const dropped = [...metrics.matchAll(new RegExp(`^verdict_gateway_shadow_dropped_total\\{[^}]*experiment="${exp.key}"\\} (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
    expect(dropped).toEqual([5]);
    expect(metrics).toMatch(/^verdict_gateway_shadow_in_flight \d+$/m);
    // The copies sent are recorded, each once.
    const eventIds = calls.map((c) => c.headers.get('x-verdict-event-id')!);
    await eventually(async () => (await shadowRows(exp.id)).filter((r) => eventIds.includes(r.paired_event_id)).length === SHADOW_BOUND, 20_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await shadowRows(exp.id)).filter((r) => eventIds.includes(r.paired_event_id))).toHaveLength(SHADOW_BOUND);
  });

  it('samples at the sample rate', async () => {
    const exp = await shadowed(0.3);
    const before = shadow.requests.length;
    for (let i = 0; i < 60; i++) expect((await call(exp, exp.unit)).status).toBe(200);
    const sent = shadow.requests.length - before;
    // Binomial(60, 0.3): mean 18, sd 3.5; [4, 34] is beyond 4 sd either way.
    expect(sent).toBeGreaterThan(4);
    expect(sent).toBeLessThan(34);
  });
});

describe('shadow variants: the results page', () => {
  it('shows the shadow section in a browser', async () => {
    const exp = await shadowed();
    ctl.options.reply = '{"a": 1}';
    shadow.options.reply = '{"a":1}';
    for (let i = 0; i < 4; i++) expect((await call(exp, exp.unit, { stream: i % 2 === 1 })).status).toBe(200);
    await eventually(async () => (await exp.admin.get(`/v1/experiments/${exp.key}/results`)).body.shadow?.[0]?.pairs === 4);
    const link = await exp.admin.get(`/v1/experiments/${exp.key}/page-link`);
    const url = new URL(link.body.url);
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      const response = await page.goto(`${t.url}${url.pathname}${url.search}`, { waitUntil: 'load' });
      expect(response?.status()).toBe(200);
      const section = page.locator('section[data-shadow="cand"]');
      await expect(section.getAttribute('data-pairs')).resolves.toBe('4');
      await expect(section.locator('h2').textContent()).resolves.toContain('Shadow: cand');
      await expect(section.locator('[data-agreement="exact"]').getAttribute('data-rate')).resolves.toBe('0');
      await expect(section.locator('[data-agreement="json"]').getAttribute('data-rate')).resolves.toBe('1');
      await expect(section.locator('tr[data-shadow-metric]').count()).resolves.toBe(6);
      const box = await section.locator('svg').boundingBox();
      expect(box!.width).toBeGreaterThan(100);
    } finally {
      await browser.close();
    }
  });
});
