import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { chromium } from 'playwright-core';
import { AnalysisFixture, type ArmModel } from '../analysis/support/analysis-fixture';
import { flatten, parseMime } from '../reports/support/mime';
import { SmtpCatcher } from '../reports/support/smtp-catcher';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { type FakeModel, startFakeModel } from './support/fake-models';

// The offline stage inside the live decision (docs/adr/0035): GET .../results, the results page
// in a real browser, and the report email, on one experiment with live outcomes that ship the treatment.
jest.setTimeout(150_000);

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(__dirname, '../../artifacts');

let smtp: SmtpCatcher;
let t: TestApp;
let worker: INestApplicationContext;
let f: AnalysisFixture;
let control: FakeModel;
let treatment: FakeModel;
let exp: { key: string; id: string };

const sum = (text: string): number => {
  const m = /What is (\d+) \+ (\d+)/.exec(text);
  return m ? Number(m[1]) + Number(m[2]) : NaN;
};
/** The treatment is wrong on the first 8 "hard" cases. */
const wrong = (text: string): boolean => text.includes('[hard]') && Number(/What is (\d+)/.exec(text)?.[1]) < 8;
const cases = (tag: string, n = 20) => Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}`, prompt: `What is ${i} + ${i}? [${tag}]`, reference: String(i + i) }));
const base: ArmModel = { success: 0.7, latencyMedian: 800, costUsd: 0.01 };

beforeAll(async () => {
  [control, treatment] = await Promise.all([
    startFakeModel('control', (q) => String(sum(q))),
    startFakeModel('treatment', (q) => String(sum(q) + (wrong(q) ? 1 : 0))),
  ]);
  smtp = new SmtpCatcher();
  const smtpUrl = await smtp.start();
  t = await startTestApp({ SMTP_URL: smtpUrl, OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32', VERDICT_PUBLIC_URL: 'https://verdict.example.com' });
  worker = await startTestWorker(t.config);
  f = new AnalysisFixture(t);
  const started = await f.start({
    variants: [
      { key: 'control', weight: 1, isControl: true, pricing: { inputPer1M: 1, outputPer1M: 2 }, upstream: { baseUrl: control.url, model: 'llama-70b' } },
      { key: 'treatment', weight: 1, pricing: { inputPer1M: 0.1, outputPer1M: 0.2 }, upstream: { baseUrl: treatment.url, model: 'llama-8b-q4' } },
    ],
    metrics: { primary: { name: 'success_rate', goal: 'increase' } },
  });
  exp = started;
  await f.run(started, { units: 2000, eventsPerUnit: () => 2, seed: 1, arms: { control: base, treatment: { ...base, success: 0.8 } } });
  for (const tag of ['hard', 'easy', 'capped']) expect((await f.admin.post('/v1/datasets', { name: tag, cases: cases(tag) })).status).toBe(201);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await smtp?.stop();
  await Promise.all([control?.close(), treatment?.close()]);
});

async function evaluate(dataset: string, extra: Record<string, unknown> = {}): Promise<any> {
  const started = await f.admin.post(`/v1/experiments/${exp.key}/evaluations`, { dataset, evaluators: [{ type: 'exact' }], concurrency: 4, ...extra });
  expect(started.status).toBe(202);
  let run: any;
  await eventually(async () => {
    run = (await f.admin.get(`/v1/experiments/${exp.key}/evaluations/${started.body.id}`)).body;
    return ['done', 'paused', 'failed', 'cancelled'].includes(run.status);
  }, 60_000, 100);
  expect(run.status).toBe('done');
  return run;
}

async function pageUrl(): Promise<string> {
  const res = await f.admin.get(`/v1/experiments/${exp.key}/page-link`);
  const url = new URL(res.body.url);
  return `${t.url}${url.pathname}${url.search}`;
}

describe('the offline stage in the decision', () => {
  let hard: any;

  it('without a run, the live rule decides alone and the stage says not_evaluated', async () => {
    const res = await f.results(exp.key);
    expect(res.decision).toMatchObject({ action: 'ship', winner: 'treatment' });
    expect(res.decision.offline).toEqual({
      action: 'not_evaluated',
      evaluationId: null,
      finishedAt: null,
      reasons: ['No complete offline evaluation run yet.'],
      candidates: [{ variant: 'treatment', action: 'not_evaluated', evaluationId: null, dataset: null, datasetVersion: null, finishedAt: null, reasons: ['treatment: no complete offline evaluation run compared it with the control.'] }],
    });
  });

  it('a finished run that says not ready blocks the ship at once (the cached results are recomputed), and conclude-recommended refuses', async () => {
    const before = await f.results(exp.key);
    hard = await evaluate('hard');
    expect(hard.results.decision.action).toBe('not_ready');
    const res = await f.results(exp.key);
    // No outcome arrived: only the finished run changed the version of the results.
    expect(res.dataVersion).not.toBe(before.dataVersion);
    expect(res.decision.action).toBe('continue');
    expect(res.decision.winner).toBeUndefined();
    expect(res.decision.reasons[0]).toMatch(new RegExp(`^treatment would ship on live evidence, but offline evaluation says not ready \\(run ${hard.id} on dataset hard v1\\): treatment, exact: significantly worse than control \\(-40\\.0 points`));
    expect(res.decision.reasons[0]).toContain('worst cases: hard0, hard1, hard2, hard3, hard4');
    expect(res.decision.offline).toMatchObject({ action: 'not_ready', evaluationId: hard.id, finishedAt: hard.finishedAt });
    expect(res.decision.offline.candidates).toEqual([
      { variant: 'treatment', action: 'not_ready', evaluationId: hard.id, dataset: 'hard', datasetVersion: 1, finishedAt: hard.finishedAt, reasons: hard.results.decision.reasons },
    ]);
    const concluded = await f.admin.post(`/v1/experiments/${exp.key}/conclude-recommended`);
    expect(concluded.status).toBe(409);
    const audit = (await f.admin.get(`/v1/experiments/${exp.key}/audit`)).body.items.filter((i: any) => i.action === 'decision.changed');
    expect(audit.map((i: any) => i.after.action)).toEqual(expect.arrayContaining(['ship', 'continue']));
  });

  it('shows the stage inside the decision block of the results page, in a real browser', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    mkdirSync(ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
        const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
        const page = await context.newPage();
        expect((await page.goto(await pageUrl(), { waitUntil: 'load' }))?.status()).toBe(200);
        await expect(page.locator('#verdict').getAttribute('data-decision')).resolves.toBe('continue');
        const stage = page.locator('#verdict #offline-stage');
        await expect(stage.getAttribute('data-offline')).resolves.toBe('not_ready');
        await expect(stage.getAttribute('data-evaluation')).resolves.toBe(hard.id);
        await expect(page.locator('#verdict strong').textContent()).resolves.toBe('Keep running');
        await expect(stage.locator('.offline-stage-title').textContent()).resolves.toBe(`Offline stage: not ready for live traffic (latest run ${hard.id}, finished ${hard.finishedAt})`);
        const item = stage.locator('li[data-variant="treatment"]');
        await expect(item.getAttribute('data-offline')).resolves.toBe('not_ready');
        await expect(item.textContent()).resolves.toContain(`treatment: not ready for live traffic (dataset hard v1, run ${hard.id})`);
        await expect(item.textContent()).resolves.toContain('treatment, exact: significantly worse than control');
        expect(await stage.isVisible()).toBe(true);
        // The detailed offline section stays, below the table.
        await expect(page.locator('#offline').getAttribute('data-decision')).resolves.toBe('not_ready');
        // Long run ids and reasons wrap: the page never scrolls sideways.
        expect((await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth')) as number).toBeLessThanOrEqual(0);
        await page.screenshot({ path: join(ARTIFACTS, `offline-stage-${name}.png`), fullPage: true });
        await context.close();
      }
    } finally {
      await browser.close();
    }
  });

  it('shows the stage inside the decision of the report email, HTML and text', async () => {
    const created = await f.admin.post('/v1/reports', { name: 'Offline stage', recipients: ['ml-team@example.com'], cron: '0 9 * * 1', timezone: 'UTC', experiments: [exp.key] });
    expect(created.status).toBe(201);
    const queued = await f.admin.post(`/v1/reports/${created.body.id}/send`);
    expect(queued.status).toBe(202);
    let send: any;
    await eventually(async () => {
      send = (await f.admin.get(`/v1/reports/${created.body.id}/sends`)).body.items.find((s: any) => s.id === queued.body.id);
      return send?.status === 'sent';
    }, 40_000, 100);
    const mail = smtp.messages.find((m) => m.raw.includes(send.messageId.replace(/[<>]/g, '')))!;
    const parts = flatten(parseMime(mail.raw));
    const html = parts.find((p) => p.contentType === 'text/html')!.body.toString('utf8');
    const text = parts.find((p) => p.contentType === 'text/plain')!.body.toString('utf8');
    // Inside the decision: after its reasons, before the table and the detailed offline section.
    const decisionAt = html.indexOf('data-decision="continue"');
    const stageAt = html.indexOf(`<div class="offline-stage" id="offline-stage" data-offline="not_ready" data-evaluation="${hard.id}"`);
    expect(decisionAt).toBeGreaterThan(-1);
    expect(stageAt).toBeGreaterThan(decisionAt);
    expect(html.indexOf('<section id="offline"')).toBeGreaterThan(stageAt);
    expect(html).toContain(`treatment: not ready for live traffic (dataset hard v1, run ${hard.id})`);
    const lines = text.split(/\r?\n/);
    const at = lines.indexOf('Decision: Keep running');
    expect(at).toBeGreaterThan(-1);
    const stageLine = lines.indexOf(`Offline stage: not ready for live traffic (latest run ${hard.id}, finished ${hard.finishedAt})`);
    expect(stageLine).toBeGreaterThan(at);
    expect(lines[stageLine + 1]).toBe(`  * treatment: not ready for live traffic (dataset hard v1, run ${hard.id})`);
    expect(lines[stageLine + 2]).toMatch(/^ {6}- treatment, exact: significantly worse than control/);
    // The detailed section's per-answer rows (docs/adr/0040): both fakes answer 10 + 5 tokens
    // (equal: no tokens comparison), priced 2e-5 and 2e-6 USD per answer.
    expect(lines).toContain('  control / cost_usd: $0.0000200 per answer; control');
    expect(lines.find((l) => l.startsWith('  treatment / cost_usd: '))).toMatch(/^ {2}treatment \/ cost_usd: \$0\.00000200 per answer; -\$0\.0000180 \[-\$0\.0000180, -\$0\.0000180\]; wilcoxon p = [0-9.e-]+$/);
    expect(lines.find((l) => l.startsWith('  treatment / ttft_ms: '))).toMatch(/^ {2}treatment \/ ttft_ms: \d+ ms per answer; [+-]\d+ ms \[[+-]\d+ ms, [+-]\d+ ms\]; wilcoxon p = /);
    expect(lines).toContain('  treatment / tokens: 15.0 per answer; -');
    expect(html).toContain('<tr data-variant="treatment" data-evaluator="latency_ms">');
  });

  it('a partial run (cost cap) is no verdict: the stage keeps the last complete run', async () => {
    const capped = await evaluate('capped', { concurrency: 1, maxCostUsd: 1e-9 });
    expect(capped).toMatchObject({ status: 'done', partial: true });
    const res = await f.results(exp.key);
    expect(res.decision.action).toBe('continue');
    expect(res.decision.offline).toMatchObject({ action: 'not_ready', evaluationId: hard.id });
  });

  it('a later complete run that says ready lets the live evidence ship again, saying so', async () => {
    const easy = await evaluate('easy');
    expect(easy.results.decision.action).toBe('ready_for_live');
    const res = await f.results(exp.key);
    expect(res.decision).toMatchObject({ action: 'ship', winner: 'treatment' });
    expect(res.decision.reasons).toContain(`Offline evaluation says treatment is ready for live traffic (run ${easy.id} on dataset easy v1).`);
    expect(res.decision.reasons.join(' ')).not.toContain('not ready');
    expect(res.decision.offline).toMatchObject({ action: 'ready_for_live', evaluationId: easy.id, finishedAt: easy.finishedAt });
  });
});
