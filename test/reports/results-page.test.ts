import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { chromium, type Browser } from 'playwright-core';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { startTestWorker } from '../support/test-worker';
import { BASE_ARM, ReportsFixture } from './support/reports-fixture';

jest.setTimeout(90_000);

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '../../artifacts');

let t: TestApp;
let worker: INestApplicationContext;
let f: ReportsFixture;
let exp: { key: string; id: string };

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  f = new ReportsFixture(t);
  exp = await f.seeded({ units: 600, seed: 21, arms: { control: BASE_ARM, treatment: { ...BASE_ARM, success: 0.8 } } });
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

/** The signed link, pointed at the test server instead of the configured public URL. */
async function pageUrl(key: string, hours?: number): Promise<string> {
  const res = await f.admin.get(`/v1/experiments/${key}/page-link${hours ? `?hours=${hours}` : ''}`);
  expect(res.status).toBe(200);
  const url = new URL(res.body.url);
  return `${t.url}${url.pathname}${url.search}`;
}

describe('GET /experiments/{key}', () => {
  it('serves the page only through a valid signed link', async () => {
    const anonymous = client(t.url);
    expect((await anonymous.get(`/experiments/${exp.key}`)).status).toBe(401);
    const url = await pageUrl(exp.key);
    const token = new URL(url).searchParams.get('token')!;
    expect((await anonymous.get(`/experiments/${exp.key}?token=${token.slice(0, -2)}xx`)).status).toBe(401);
    // A link for one experiment does not open another.
    const other = await f.admin.post('/v1/experiments', experimentBody());
    expect((await anonymous.get(`/experiments/${other.body.key}?token=${token}`)).status).toBe(401);
    // The page-link route itself needs an admin key.
    expect((await anonymous.get(`/v1/experiments/${exp.key}/page-link`)).status).toBe(401);
    expect((await f.admin.get(`/v1/experiments/${exp.key}/page-link?hours=0`)).status).toBe(400);

    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    const results = await f.results(exp.key);
    expect(html).toContain(`data-decision="${results.decision.action}"`);
    for (const reason of results.decision.reasons) expect(html).toContain(reason.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;'));
    for (const v of results.variants) {
      expect(html).toContain(`data-metric="success_rate" data-value="${v.metrics.success_rate.mean}"`);
    }
    expect(html).toContain('<meta http-equiv="refresh" content="30">');
    expect(html.match(/<svg/g)?.length).toBe(3);
  });
});

describe('CUPED on the results page', () => {
  it('says how much variance CUPED removed and what that did to the time to a decision', async () => {
    const withHistory = await f.seeded({ units: 800, seed: 22, history: true, arms: { control: BASE_ARM, treatment: BASE_ARM } });
    const results = await f.results(withHistory.key);
    const cuped = results.comparisons.find((c: any) => c.variant === 'treatment' && c.metric === 'success_rate').cuped;
    expect(cuped.varianceReduction).toBeGreaterThan(0.05);
    const html = await (await fetch(await pageUrl(withHistory.key))).text();
    expect(html).toContain(`data-cuped="treatment" data-variance-reduction="${cuped.varianceReduction}"`);
    expect(html).toContain(`CUPED removed ${(100 * cuped.varianceReduction).toFixed(0)} % of the variance of success_rate`);
    // Without history, nothing is said about CUPED.
    expect(await (await fetch(await pageUrl(exp.key))).text()).not.toContain('data-cuped=');
  });
});

describe('the results page in a browser', () => {
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

  it.each([
    ['desktop', { width: 1280, height: 800 }],
    ['phone', { width: 390, height: 844 }],
  ])('shows the verdict and the charts at %s width, and saves a screenshot', async (name, viewport) => {
    const results = await f.results(exp.key);
    const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const response = await page.goto(await pageUrl(exp.key), { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    await expect(page.locator('#verdict strong').textContent()).resolves.toEqual(results.decision.action === 'ship' ? `Ship ${results.decision.winner}` : expect.any(String));
    await expect(page.locator('#verdict').getAttribute('data-decision')).resolves.toBe(results.decision.action);
    await expect(page.locator('#checks').textContent()).resolves.toMatch(/SRM ok/);
    for (const id of ['lift', 'latency', 'cumulative']) {
      const box = await page.locator(`#chart-${id} svg`).boundingBox();
      expect(box!.width).toBeGreaterThan(200);
      expect(box!.width).toBeLessThanOrEqual(viewport.width);
    }
    // The page never scrolls sideways; the table scrolls inside its own box on phones.
    const overflow = (await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number;
    expect(overflow).toBeLessThanOrEqual(0);
    const table = await page.locator('.table-wrap').evaluate((el) => ({ scroll: el.scrollWidth, client: el.clientWidth }));
    if (name === 'phone') expect(table.scroll).toBeGreaterThan(table.client);
    await page.screenshot({ path: join(ARTIFACTS, `results-page-${name}.png`), fullPage: true });
    await context.close();
  });
});
