import type { INestApplicationContext } from '@nestjs/common';
import { experimentBody } from '../factories/experiment.factory';
import { AnswerCacheRetention } from '../../libs/evaluation/answer-cache-retention';
import { messagesHash } from '../../libs/evaluation/upstream-caller';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { type FakeModel, startFakeModel } from './support/fake-models';

// The answer cache's retention (docs/adr/0035) on the real Postgres: the worker's scheduled prune
// deletes answers older than EVAL_ANSWER_CACHE_DAYS and keeps newer ones, in bounded batches; runs
// after a prune still work and pay again for what was pruned.
jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;
let big: FakeModel;
let small: FakeModel;
let admin: ReturnType<typeof client>;
let key: string;

const prompt = (tag: string, i: number) => `What is ${i} + ${i}? [${tag}]`;
const cases = (tag: string, n: number) => Array.from({ length: n }, (_, i) => ({ id: `${tag}${i}`, prompt: prompt(tag, i), reference: String(i + i) }));
const hashOf = (tag: string, i: number) => messagesHash([{ role: 'user', content: prompt(tag, i) }]);
const answer = (q: string) => String(2 * Number(/What is (\d+)/.exec(q)?.[1]));

beforeAll(async () => {
  [big, small] = await Promise.all([startFakeModel('big', answer), startFakeModel('small', answer)]);
  // The worker prunes every second, keeping 30 days (the default).
  t = await startTestApp({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32', EVAL_ANSWER_PRUNE_INTERVAL_MS: '1000' });
  worker = await startTestWorker(t.config);
  admin = client(t.url, t.adminKey);
  const body = experimentBody({
    variants: [
      { key: 'big', weight: 1, isControl: true, pricing: { inputPer1M: 1, outputPer1M: 2 }, upstream: { baseUrl: big.url, model: 'llama-70b' } },
      { key: 'small', weight: 1, pricing: { inputPer1M: 0.1, outputPer1M: 0.2 }, upstream: { baseUrl: small.url, model: 'llama-8b' } },
    ],
  });
  expect((await admin.post('/v1/experiments', body)).status).toBe(201);
  key = body.key;
  for (const [tag, n] of [['sums', 10], ['products', 8], ['batched', 5]] as const) expect((await admin.post('/v1/datasets', { name: tag, cases: cases(tag, n) })).status).toBe(201);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([big?.close(), small?.close()]);
});

async function finished(id: string): Promise<any> {
  let run: any;
  await eventually(async () => {
    run = (await admin.get(`/v1/experiments/${key}/evaluations/${id}`)).body;
    return ['done', 'paused', 'failed', 'cancelled'].includes(run.status);
  }, 60_000, 100);
  return run;
}

async function evaluate(dataset: string, extra: Record<string, unknown> = {}): Promise<any> {
  const started = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset, variants: ['big', 'small'], evaluators: [{ type: 'exact' }], concurrency: 2, ...extra });
  expect(started.status).toBe(202);
  return finished(started.body.id);
}

/** Sets the age of the answers of `tag`'s cases `indices` (both variants). */
async function age(tag: string, indices: number[], days: number): Promise<void> {
  await t.db.query(`UPDATE evaluation_answer SET created_at = now() - make_interval(days => $2) WHERE case_hash = ANY($1)`, [indices.map((i) => hashOf(tag, i)), days]);
}

async function answersOf(tag: string, n: number): Promise<number> {
  const [row] = await t.db.query(`SELECT count(*)::int AS n FROM evaluation_answer WHERE case_hash = ANY($1)`, [Array.from({ length: n }, (_, i) => hashOf(tag, i))]);
  return row.n;
}

describe('the answer cache is pruned by age', () => {
  it('deletes answers older than the setting, keeps newer ones, and a later run pays again for the pruned ones only', async () => {
    const first = await evaluate('sums');
    expect(first).toMatchObject({ status: 'done', progress: { done: 20, total: 20 } });
    expect(await answersOf('sums', 10)).toBe(20);
    await age('sums', [0, 1, 2, 3, 4, 5], 31);
    await age('sums', [6, 7, 8, 9], 29);
    // The scheduled prune (every second here) removes the 12 answers older than 30 days.
    await eventually(async () => (await answersOf('sums', 10)) === 8, 30_000, 200);
    const kept = (await t.db.query(`SELECT case_hash FROM evaluation_answer WHERE case_hash = ANY($1)`, [[6, 7, 8, 9].map((i) => hashOf('sums', i))])) as unknown[];
    expect(kept).toHaveLength(8);

    const before = { big: big.calls, small: small.calls };
    const second = await evaluate('sums');
    expect(second).toMatchObject({ status: 'done', progress: { done: 20, total: 20, failed: 0 } });
    // Six cases per variant asked (and paid) again; the four kept ones came from the cache.
    expect({ big: big.calls - before.big, small: small.calls - before.small }).toEqual({ big: 6, small: 6 });
    expect(second.progress.costUsd).toBeCloseTo(6 * (10 * 1 + 5 * 2) / 1e6 + 6 * (10 * 0.1 + 5 * 0.2) / 1e6, 12);
    const page = (await admin.get(`/v1/experiments/${key}/evaluations/${second.id}/cases?variant=big&limit=10`)).body.items;
    expect(page.map((c: any) => c.cached)).toEqual([false, false, false, false, false, false, true, true, true, true]);
    expect(second.results.variants.map((v: any) => v.evaluators.exact.passRate)).toEqual([1, 1]);
    expect(await answersOf('sums', 10)).toBe(20);
    // The first run's results are its own: pruning the cache took nothing from them.
    const firstCases = (await admin.get(`/v1/experiments/${key}/evaluations/${first.id}/cases?limit=100`)).body;
    expect(firstCases.total).toBe(20);
    expect(firstCases.items.every((c: any) => c.answer === answer(c.caseId.replace('sums', 'What is ')))).toBe(true);
  });

  it('a paused run resumed after its answers were pruned still finishes, asking nothing it had recorded', async () => {
    small.failing = true;
    const started = await admin.post(`/v1/experiments/${key}/evaluations`, { dataset: 'products', variants: ['big', 'small'], evaluators: [{ type: 'exact' }], concurrency: 1 });
    const paused = await finished(started.body.id);
    expect(paused.status).toBe('paused');
    const recorded = paused.progress.done;
    expect(recorded).toBeGreaterThan(0);
    const stored = await answersOf('products', 8);
    expect(stored).toBeGreaterThan(0);
    await age('products', [0, 1, 2, 3, 4, 5, 6, 7], 40);
    await eventually(async () => (await answersOf('products', 8)) === 0, 30_000, 200);

    small.failing = false;
    expect((await admin.post(`/v1/experiments/${key}/evaluations/${started.body.id}/resume`)).status).toBe(201);
    const run = await finished(started.body.id);
    expect(run).toMatchObject({ status: 'done', partial: false, progress: { done: 16, total: 16, failed: 0 } });
    // Every product case answered exactly once by each variant over the whole run: the recorded ones were not asked again.
    for (let i = 0; i < 8; i++) {
      expect(big.answered.get(prompt('products', i))).toBe(1);
      expect(small.answered.get(prompt('products', i))).toBe(1);
    }
    expect(run.results.decision.action).toBe('ready_for_live');
  });

  it('works in bounded batches: a pass stops at its bound and the next one goes on', async () => {
    await evaluate('batched');
    expect(await answersOf('batched', 5)).toBe(10);
    // 10 days old: under the worker's 30 days, so only these explicit 5-day passes touch them (and the 8 answers of 29 days kept above).
    await age('batched', [0, 1, 2, 3, 4], 10);
    const old = async () => (await t.db.query(`SELECT count(*)::int AS n FROM evaluation_answer WHERE created_at < now() - interval '5 days'`))[0].n;
    expect(await old()).toBe(18);
    const total = async () => (await t.db.query(`SELECT count(*)::int AS n FROM evaluation_answer`))[0].n;
    const all = await total();
    const retention = worker.get(AnswerCacheRetention);
    expect(await retention.prune({ days: 5, batch: 5, maxBatches: 2 })).toEqual({ deleted: 10, batches: 2, more: true });
    expect(await old()).toBe(8);
    expect(await retention.prune({ days: 5, batch: 5, maxBatches: 2 })).toEqual({ deleted: 8, batches: 2, more: false });
    expect(await old()).toBe(0);
    expect(await retention.prune({ days: 5, batch: 5 })).toEqual({ deleted: 0, batches: 1, more: false });
    // Newer answers are untouched by any of it.
    expect(await total()).toBe(all - 18);
    expect(await answersOf('sums', 10)).toBe(12);
    // 0 days: retention off, nothing deleted.
    expect(await retention.prune({ days: 0 })).toEqual({ deleted: 0, batches: 0, more: false });
  });
});
