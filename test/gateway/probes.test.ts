import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { eventually } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, unitIn } from './support/gateway-fixture';

jest.setTimeout(90_000);

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '../../artifacts');

let t: TestApp;
let control: FakeUpstream;
let a: FakeUpstream;
let b: FakeUpstream;
let c: FakeUpstream;
let d: FakeUpstream;

beforeAll(async () => {
  [t, control, a, b, c, d] = await Promise.all([startTestApp(GATEWAY_TEST_SETTINGS), ...['ctl', 'A', 'B', 'C', 'D'].map((name) => startFakeUpstream(name))]);
});
afterAll(async () => {
  await t?.close();
  await Promise.all([control, a, b, c, d].map((f) => f?.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `small` is served by two instances (the second of weight 2, so calls one at a time go to it
 * while it is usable), probed every second; a cool-down lasts a minute unless a probe ends it.
 */
async function probedExperiment(first: FakeUpstream, second: FakeUpstream) {
  return gatewayExperiment(t.url, t.adminKey, control, first, {}, {
    small: {
      baseUrl: undefined,
      instances: [{ baseUrl: first.url }, { baseUrl: second.url, weight: 2 }],
      health: { failures: 2, windowMs: 10_000, coolDownMs: 60_000, maxCoolDownMs: 60_000, probe: { intervalMs: 1000, timeoutMs: 500 } },
    },
  });
}

async function instance(admin: ReturnType<typeof client>, experiment: string, baseUrl: string) {
  const res = await admin.get('/v1/gateway/upstreams');
  expect(res.status).toBe(200);
  return res.body.instances.find((i: any) => i.experiment === experiment && i.baseUrl === baseUrl);
}

async function call(sdkKey: string, model: string, unit: string) {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': unit },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }] }),
  });
  await res.text();
  return res.status;
}

describe('active health probes', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('cool down a dead instance with no traffic, end its cool-down once it answers, and the results page shows the instances', async () => {
    const exp = await probedExperiment(a, b);
    // Probes reach both instances of the probed pool at `${baseUrl}/models`; the control's upstream has no probe.
    await eventually(async () => a.probes.length >= 2 && b.probes.length >= 2);
    expect(new Set([...a.probes, ...b.probes])).toEqual(new Set(['/v1/models']));
    expect(control.probes).toEqual([]);

    // Some calls, so that the instances have latencies.
    const unit = await unitIn(exp.sdk, exp.key, 'small');
    for (let i = 0; i < 6; i++) expect(await call(exp.sdkKey, exp.key, unit)).toBe(200);

    // B dies; nothing calls it, yet its probes cool it down.
    const callsToB = b.requests.length;
    expect(callsToB).toBe(6);
    b.options.fail = 'reset';
    await eventually(async () => (await instance(exp.admin, exp.key, b.url))?.cooledUntil != null, 15_000);
    expect(b.requests.length).toBe(callsToB);
    expect(await instance(exp.admin, exp.key, b.url)).toMatchObject({ variant: 'small', coolDowns: 1, coolDownsTotal: 1 });
    expect(await instance(exp.admin, exp.key, a.url)).toMatchObject({ cooledUntil: null, coolDowns: 0 });

    // The results page, in a browser: one row per instance of each pool, B cooled down.
    const link = await exp.admin.get(`/v1/experiments/${exp.key}/page-link`);
    expect(link.status).toBe(200);
    const url = new URL(link.body.url);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const response = await page.goto(`${t.url}${url.pathname}${url.search}`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    const rows = page.locator('#instances-table tbody tr');
    await expect(rows.count()).resolves.toBe(3);
    const row = (baseUrl: string) => page.locator(`#instances-table tr[data-instance="${baseUrl}"]`);
    const field = (baseUrl: string, name: string) => row(baseUrl).locator(`td[data-field="${name}"]`).getAttribute('data-value');
    await expect(row(b.url).getAttribute('class')).resolves.toBe('cooled');
    await expect(field(b.url, 'cool-downs')).resolves.toBe('1');
    await expect(field(b.url, 'cooled-until')).resolves.toMatch(/^\d{4}-\d\d-\d\dT/);
    await expect(field(b.url, 'weight')).resolves.toBe('2');
    await expect(field(a.url, 'weight')).resolves.toBe('1');
    await expect(field(a.url, 'in-flight')).resolves.toBe('0');
    await expect(field(a.url, 'cooled-until')).resolves.toBe('');
    // B's latencies are those of the six calls it answered before it died.
    const served = await instance(exp.admin, exp.key, b.url);
    expect(served.latencyP50Ms).not.toBeNull();
    expect(Number(await field(b.url, 'p50'))).toBe(served.latencyP50Ms);
    expect(Number(await field(b.url, 'p95'))).toBe(served.latencyP95Ms);
    expect(served.latencyP95Ms).toBeGreaterThanOrEqual(served.latencyP50Ms);
    await expect(row(control.url).locator('td').first().textContent()).resolves.toBe('big');
    await expect(row(b.url).locator('td').nth(1).textContent()).resolves.toBe(`${b.url} (probed)`);
    await page.screenshot({ path: join(ARTIFACTS, 'results-page-instances.png'), fullPage: true });
    await context.close();

    // B heals: a probe ends its minute-long cool-down early, and calls reach it again.
    b.options.fail = undefined;
    await eventually(async () => (await instance(exp.admin, exp.key, b.url))?.cooledUntil === null, 15_000);
    expect(await instance(exp.admin, exp.key, b.url)).toMatchObject({ coolDowns: 0 });
    for (let i = 0; i < 4; i++) expect(await call(exp.sdkKey, exp.key, unit)).toBe(200);
    expect(b.requests.length).toBe(callsToB + 4);
    expect((await exp.admin.post(`/v1/experiments/${exp.key}/conclude`, { winner: 'big' })).status).toBe(200);
  });

  it('stop for an instance removed by a PATCH and for every pool of a concluded experiment', async () => {
    const exp = await probedExperiment(c, d);
    await eventually(async () => c.probes.length >= 1 && d.probes.length >= 1);
    const got = await exp.admin.get(`/v1/experiments/${exp.key}`);
    const variants = got.body.variants.map(({ rolledBack: _rolledBack, ...v }: any) => ({ ...v, upstream: v.upstream && { ...v.upstream } }));
    variants.find((v: any) => v.key === 'small').upstream.instances = [{ baseUrl: c.url, weight: 1 }];
    expect((await exp.admin.patch(`/v1/experiments/${exp.key}`, { variants })).status).toBe(200);
    // A probe already sent may still land; after that, none.
    await sleep(1200);
    const removed = d.probes.length;
    const kept = c.probes.length;
    await sleep(2500);
    expect(d.probes.length).toBe(removed);
    expect(c.probes.length).toBeGreaterThan(kept);

    // Concluded with the control as winner: the control has no probe, so nothing is probed any more.
    const concluded = await exp.admin.post(`/v1/experiments/${exp.key}/conclude`, { winner: 'big' });
    expect(concluded.status).toBe(200);
    await sleep(1200);
    const after = c.probes.length;
    await sleep(2500);
    expect(c.probes.length).toBe(after);
  });

  it.each([
    [{ intervalMs: 500 }, 'variants.0.upstream.health.probe.intervalMs'],
    [{ path: '/models?key=1' }, 'variants.0.upstream.health.probe.path'],
    [{ intervalMs: 2000, timeoutMs: 3000 }, 'variants.0.upstream.health.probe.timeoutMs'],
    [{ interval: 2000 }, 'variants.0.upstream.health.probe.interval'],
  ])('refuse bad settings %j with a 400 naming the field', async (probe, field) => {
    const body = experimentBody({
      variants: [
        { key: 'a', weight: 1, isControl: true, config: { model: 'm' }, upstream: { baseUrl: a.url, model: 'm', health: { probe } } },
        { key: 'b', weight: 1 },
      ],
    });
    const res = await client(t.url, t.adminKey).post('/v1/experiments', body);
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
  });
});
