import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { experimentBody } from '../factories/experiment.factory';
import { pairedCase } from '../../libs/stats/reference-cases';
import { client } from '../support/http-client';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { type FakeModel, scriptedJudge, startFakeModel } from './support/fake-models';

jest.setTimeout(90_000);

let t: TestApp;
let worker: INestApplicationContext;
let big: FakeModel;
let small: FakeModel;
let judge: FakeModel;
let admin: ReturnType<typeof client>;
let key: string;

/** Cases the small model gets wrong (it adds one). */
const WRONG = new Set([3, 7, 11, 15]);
const sum = (text: string): number => {
  const m = /What is (\d+) ([+x]) (\d+)/.exec(text);
  if (!m) return NaN;
  return m[2] === '+' ? Number(m[1]) + Number(m[3]) : Number(m[1]) * Number(m[3]);
};
const index = (text: string): number => Number(/What is (\d+)/.exec(text)?.[1]);

function dataset(op: '+' | 'x', n: number) {
  return Array.from({ length: n }, (_, i) => ({
    id: `c${i}`,
    prompt: `What is ${i} ${op} ${i}?${i === 5 && op === '+' ? ' [judge-nonsense]' : ''}`,
    reference: String(op === '+' ? i + i : i * i),
  }));
}

beforeAll(async () => {
  [big, small, judge] = await Promise.all([
    startFakeModel('big', (q) => String(sum(q))),
    startFakeModel('small', (q) => String(sum(q) + (WRONG.has(index(q)) ? 1 : 0))),
    startFakeModel('judge', scriptedJudge),
  ]);
  t = await startTestApp({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
  worker = await startTestWorker(t.config);
  admin = client(t.url, t.adminKey);
  const body = experimentBody({
    variants: [
      { key: 'big', weight: 1, isControl: true, pricing: { inputPer1M: 1, outputPer1M: 2 }, upstream: { baseUrl: big.url, model: 'llama-70b' } },
      { key: 'small', weight: 1, pricing: { inputPer1M: 0.1, outputPer1M: 0.2 }, upstream: { baseUrl: small.url, model: 'llama-8b' } },
      { key: 'judge', weight: 0.01, pricing: { inputPer1M: 0, outputPer1M: 0 }, upstream: { baseUrl: judge.url, model: 'judge' } },
    ],
  });
  const created = await admin.post('/v1/experiments', body);
  expect(created.status).toBe(201);
  key = body.key;
  expect((await admin.post('/v1/datasets', { name: 'sums', cases: dataset('+', 20) })).status).toBe(201);
  expect((await admin.post('/v1/datasets', { name: 'products', cases: dataset('x', 12) })).status).toBe(201);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([big?.close(), small?.close(), judge?.close()]);
});

async function finished(id: string, until = ['done', 'paused', 'failed', 'cancelled']): Promise<any> {
  let run: any;
  await eventually(async () => {
    run = (await admin.get(`/v1/experiments/${key}/evaluations/${id}`)).body;
    return until.includes(run.status);
  }, 60_000, 100);
  return run;
}

const EVALUATORS = [{ type: 'exact' }, { type: 'judge', variant: 'judge', rubric: 'Is the answer the correct number?' }];

describe('offline evaluation runs', () => {
  it('answers every case with both variants, scores them, and reads the verdict with paired statistics', async () => {
    const started = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'sums', variants: ['big', 'small'], evaluators: EVALUATORS, concurrency: 4 });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: 'queued', dataset: 'sums', datasetVersion: 1, variants: ['big', 'small'], progress: { done: 0, total: 40 } });
    const run = await finished(started.body.id);
    expect(run).toMatchObject({ status: 'done', partial: false, progress: { done: 40, total: 40, failed: 0 } });

    const byKey = Object.fromEntries(run.results.variants.map((v: any) => [v.key, v]));
    expect(byKey.big.evaluators.exact.passRate).toBe(1);
    expect(byKey.small.evaluators.exact.passRate).toBeCloseTo(16 / 20, 12);
    // The judge's nonsense on case c5 is an evaluator error (left out), not a fail.
    expect(byKey.big.evaluators.judge).toMatchObject({ mean: 1, cases: 19, errors: 1 });
    expect(byKey.small.evaluators.judge.mean).toBeCloseTo(15 / 19, 12);
    expect(byKey.big.costUsd).toBeCloseTo(20 * (10 * 1 + 5 * 2) / 1e6, 12);
    expect(byKey.big.latencyMs.p50).toBeGreaterThan(0);

    const exact = run.results.comparisons.find((c: any) => c.variant === 'small' && c.evaluator === 'exact');
    // McNemar on these per-case pass/fail data: b = 4, c = 0, scipy binomtest(0, 4, 0.5) = 0.125.
    expect(exact).toMatchObject({ method: 'mcnemar_exact', pairs: 20, difference: -0.2 });
    expect(exact.pValue).toBeCloseTo(pairedCase('mcnemar_exact_counts_0_9').expected.pValue * 2 ** 5, 12);
    expect(exact.worstCases.map((w: any) => w.caseId).sort()).toEqual(['c11', 'c15', 'c3', 'c7']);
    const judged = run.results.comparisons.find((c: any) => c.variant === 'small' && c.evaluator === 'judge');
    expect(judged).toMatchObject({ method: 'paired_t', pairs: 19 });
    // Wilcoxon beside the paired t (docs/adr/0040): 4 of the 19 judged pairs differ, each by -1
    // (zeros and ties, 19 pairs > 13: normal with tie correction). scipy 1.17
    // wilcoxon([0]*4 + [1]*15, [1]*19).pvalue = 0.04550026389635839 (z = -2: R+ = 0, mean 5,
    // se = sqrt(4*5*9/24 - (4^3-4)/48) = 2.5).
    expect(judged.wilcoxonPValue).toBeCloseTo(0.04550026389635839, 12);
    // Per-answer measurements: cost per answer 2e-5 (big) and 2e-6 USD (small); tokens equal (no row).
    expect(byKey.big.costPerAnswerUsd).toBeCloseTo(2e-5, 15);
    expect(byKey.small.tokensPerAnswer).toBe(15);
    expect(byKey.small.ttftMs.mean).toBeGreaterThan(0);
    const cost = run.results.comparisons.find((c: any) => c.variant === 'small' && c.evaluator === 'cost_usd');
    expect(cost).toMatchObject({ method: 'wilcoxon', pairs: 20, nonInferior: null });
    expect(cost.difference).toBeCloseTo(-1.8e-5, 15);
    expect(run.results.comparisons.find((c: any) => c.evaluator === 'tokens')).toBeUndefined();
    expect(run.results.comparisons.find((c: any) => c.variant === 'small' && c.evaluator === 'ttft_ms')).toMatchObject({ method: 'wilcoxon', pairs: 20 });
    expect(run.results.decision.action).toBe('not_ready');
    expect(run.results.decision.reasons.join('\n')).toMatch(/small, exact: non-inferiority not shown/);

    // Every answer is measured: latency, TTFT (streamed), tokens and cost.
    const page = await admin.get(`/v1/experiments/${key}/evaluations/${run.id}/cases?variant=small&limit=5&offset=0`);
    expect(page.body.total).toBe(20);
    expect(page.body.items).toHaveLength(5);
    expect(page.body.items[3]).toMatchObject({ caseId: 'c3', variant: 'small', answer: '7', cached: false, inputTokens: 10, outputTokens: 5, scores: { exact: { passed: false, score: 0 }, judge: { passed: false } } });
    expect(page.body.items[3].ttftMs).toBeGreaterThan(0);
    expect(page.body.items[3].latencyMs).toBeGreaterThanOrEqual(page.body.items[3].ttftMs);
    const failures = await admin.get(`/v1/experiments/${key}/evaluations/${run.id}/cases?variant=small&failed=true`);
    expect(failures.body.items.map((c: any) => c.caseId)).toEqual(['c3', 'c5', 'c7', 'c11', 'c15']);
    expect(failures.body.items[1].scores.judge.error).toContain("the judge's answer does not parse");

    // One paid call per case and variant; one judge call per distinct (case, answer): where both
    // variants answered the same, the judge's verdict on that identical conversation is cached.
    expect([...big.answered.values()].every((n) => n === 1)).toBe(true);
    expect(big.answered.size).toBe(20);
    expect(judge.answered.size).toBe(20 + WRONG.size);
    expect(judge.calls).toBe(20 + WRONG.size);
  });

  it('pays nothing twice: a second run of the same dataset and configs answers from the cache', async () => {
    const before = { big: big.calls, small: small.calls, judge: judge.calls };
    const started = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'sums', variants: ['big', 'small'], evaluators: EVALUATORS });
    const run = await finished(started.body.id);
    expect(run).toMatchObject({ status: 'done', progress: { done: 40, costUsd: 0 } });
    expect({ big: big.calls, small: small.calls, judge: judge.calls }).toEqual(before);
    const page = await admin.get(`/v1/experiments/${key}/evaluations/${run.id}/cases?limit=3`);
    expect(page.body.items.every((c: any) => c.cached)).toBe(true);
  });

  it('pauses when an upstream dies mid-run, and resumes without repeating an answered case', async () => {
    small.failing = true;
    const started = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'products', variants: ['big', 'small'], evaluators: [{ type: 'exact' }], concurrency: 1 });
    const paused = await finished(started.body.id);
    expect(paused.status).toBe('paused');
    expect(paused.reason).toMatch(/variant small: the upstream answered 503/);
    expect(paused.progress.done).toBeLessThan(24);
    small.failing = false;
    const resumed = await admin.post(`/v1/experiments/${key}/evaluations/${started.body.id}/resume`);
    expect(resumed.status).toBe(201);
    const run = await finished(started.body.id, ['done', 'failed']);
    expect(run).toMatchObject({ status: 'done', progress: { done: 24, total: 24, failed: 0 } });
    const products = [...big.answered.entries()].filter(([q]) => q.includes(' x '));
    expect(products).toHaveLength(12);
    expect(products.every(([, n]) => n === 1)).toBe(true);
    expect([...small.answered.entries()].filter(([q]) => q.includes(' x ')).every(([, n]) => n === 1)).toBe(true);
    expect((await admin.post(`/v1/experiments/${key}/evaluations/${started.body.id}/resume`)).status).toBe(409);
  });

  it('stops at the cost cap with what it has, marked partial and not ready', async () => {
    await admin.post('/v1/datasets', { name: 'capped', cases: dataset('x', 12).map((c) => ({ ...c, prompt: `${c.prompt} (capped)` })) });
    const before = big.calls + small.calls;
    // big costs 2e-5 an answer, small 2e-6: b, s, b, s... reach 1e-4 after the fifth big answer (9 answers).
    const started = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'capped', variants: ['big', 'small'], evaluators: [{ type: 'exact' }], concurrency: 1, maxCostUsd: 0.0001 });
    const run = await finished(started.body.id);
    expect(run).toMatchObject({ status: 'done', partial: true, progress: { done: 9, total: 24 } });
    expect(run.progress.costUsd).toBeCloseTo(5 * 2e-5 + 4 * 2e-6, 12);
    expect(run.reason).toContain('cost cap');
    expect(big.calls + small.calls - before).toBe(9);
    expect(run.results.decision.action).toBe('not_ready');
    expect(run.results.decision.reasons[0]).toContain('partial');
  });

  it('streams progress as server-sent events until the run stops, and refuses bad requests with the field named', async () => {
    const started = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'sums', variants: ['big', 'small'], evaluators: [{ type: 'contains' }] });
    const response = await fetch(`${t.url}/v1/experiments/${key}/evaluations/${started.body.id}/events`, { headers: { authorization: `Bearer ${t.adminKey}` } });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const text = await response.text();
    const events = text.split('\n\n').filter((e) => e.startsWith('event: progress')).map((e) => JSON.parse(e.split('\ndata: ')[1]));
    expect(events.length).toBeGreaterThanOrEqual(1);
    expect(events[events.length - 1]).toMatchObject({ status: 'done', progress: { done: 40, total: 40 } });

    const bad = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'sums', variants: ['small'], evaluators: [{ type: 'regex', pattern: '(' }, { type: 'judge', variant: 'nope', rubric: 'x' }] });
    expect(bad.status).toBe(400);
    expect(bad.body.errors).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'evaluators.0.pattern' })]));
    const noControl = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'sums', variants: ['small', 'judge'], evaluators: [{ type: 'exact' }] });
    expect(noControl.body.errors).toEqual([{ field: 'variants', message: 'must include the control big' }]);
    expect((await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'missing', evaluators: [{ type: 'exact' }] })).status).toBe(404);
    expect((await admin.get(`/v1/experiments/${key}/evaluations/not-a-run`)).status).toBe(404);
    expect((await admin.get(`/v1/experiments/${key}/evaluations/00000000-0000-4000-8000-000000000000/events`)).status).toBe(404);
    // Without variants: every variant with an upstream except the judge, the control first.
    const defaults = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'sums', evaluators: EVALUATORS });
    expect(defaults.body.variants).toEqual(['big', 'small']);
    expect((await finished(defaults.body.id)).status).toBe('done');
  });

  it('runs from the CLI: npm run eval shows progress and prints the verdict', async () => {
    const cli = join(__dirname, '../../scripts/eval.mjs');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [cli, '--experiment', key, '--dataset', 'sums', '--variants', 'big,small', '--evaluators', JSON.stringify(EVALUATORS)],
        { env: { ...process.env, VERDICT_URL: t.url, VERDICT_API_KEY: t.adminKey }, timeout: 60_000 },
        (_error, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
      );
    });
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/^run [0-9a-f-]{36}: dataset sums v1, variants big, small \(control big\)$/m);
    expect(out.stdout).toMatch(/^\[#{30}\] 40\/40 failed 0 cost \$0\.0000 done$/m);
    expect(out.stdout).toContain('small vs big, exact: -0.200');
    expect(out.stdout).toContain('worst: c11, c15, c3, c7');
    expect(out.stdout).toMatch(/^verdict: not_ready$/m);
    expect(out.code).toBe(2);
  });

  it('shows the latest finished run on the results page: pass rates, the paired difference and the worst cases', async () => {
    const link = await admin.get(`/v1/experiments/${key}/page-link`);
    expect(link.status).toBe(200);
    const url = new URL(link.body.url);
    const page = await fetch(`${t.url}${url.pathname}${url.search}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<section id="offline" data-decision="not_ready">');
    expect(html).toContain('Offline evaluation: dataset sums v1');
    expect(html).toContain('Not ready for live traffic');
    const row = /<tr data-variant="small" data-evaluator="exact">(.*?)<\/tr>/.exec(html)?.[1] ?? '';
    expect(row).toContain('<td>80.0%</td>');
    expect(row).toContain('-20.0 pts');
    expect(row).toContain('mcnemar_exact p = 0.125');
    expect(row).toContain('c11, c15, c3, c7');
  });
});
