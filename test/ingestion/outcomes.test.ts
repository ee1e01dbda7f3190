import type { INestApplicationContext } from '@nestjs/common';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { aggregatesVsRaw, count, outcomeEvent, runningExperiment, type Client } from './support/ingestion-fixture';

jest.setTimeout(60_000);

type Rejected = { index: number; errors: Array<{ field: string; message: string }> };

let t: TestApp;
let worker: INestApplicationContext;
let exp: { key: string; id: string; sdk: Client; admin: Client };

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  exp = await runningExperiment(t.url, t.adminKey);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

const rows = () => count(t.db, `SELECT count(*) FROM outcome_event WHERE experiment_id = $1`, [exp.id]);

describe('POST /v1/outcomes', () => {
  it('accepts the valid events of a batch and says why each other one is rejected', async () => {
    const base = 1_000;
    const res = await exp.sdk.post('/v1/outcomes', {
      events: [
        outcomeEvent(exp.key, base),
        outcomeEvent('no-such-experiment', base + 1),
        outcomeEvent(exp.key, base + 2, { unitId: undefined }),
        outcomeEvent(exp.key, base + 3, { latencyMs: -1 }),
        outcomeEvent(exp.key, base + 4, { costUsd: -0.5 }),
        outcomeEvent(exp.key, base + 5, { score: 11 }),
        outcomeEvent(exp.key, base + 6, { timestamp: new Date(Date.now() + 3600_000).toISOString() }),
        outcomeEvent(exp.key, base + 7, { timestamp: 'yesterday-ish' }),
        outcomeEvent(exp.key, base + 8, { metrics: { undeclared: 1 } }),
        outcomeEvent(exp.key, base + 9, { metrics: { thumbs_up: 1 } }),
        outcomeEvent(exp.key, base + 10, { id: '' }),
      ],
    });
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(2);
    const fields = Object.fromEntries(res.body.rejected.map((r: Rejected) => [r.index, r.errors.map((e: { field: string }) => e.field).join(',')]));
    expect(fields).toEqual({
      1: 'experiment', 2: 'unitId', 3: 'latencyMs', 4: 'costUsd', 5: 'score', 6: 'timestamp', 7: 'timestamp', 8: 'metrics.undeclared', 10: 'id',
    });
    expect(res.body.rejected.find((r: Rejected) => r.index === 5).errors[0].message).toMatch(/scoreRange \[0, 10\]/);
    await eventually(async () => (await rows()) === 2);
  });

  it('rejects a variant other than the assigned one, derives it when absent, and checks unit membership', async () => {
    const assigned = await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: 'u-variant' });
    const other = assigned.body.variant === 'control' ? 'small' : 'control';
    const res = await exp.sdk.post('/v1/outcomes', {
      events: [
        outcomeEvent(exp.key, 2_000, { unitId: 'u-variant', variant: other }),
        outcomeEvent(exp.key, 2_001, { unitId: 'u-variant', variant: assigned.body.variant }),
        outcomeEvent(exp.key, 2_002, { unitId: 'u-variant' }),
      ],
    });
    expect(res.body.accepted).toBe(2);
    expect(res.body.rejected).toEqual([
      { index: 0, errors: [{ field: 'variant', message: `is "${other}" but the unit is assigned "${assigned.body.variant}"` }] },
    ]);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE unit_id = 'u-variant' AND variant = $1`, [assigned.body.variant])) === 2);

    const half = await runningExperiment(t.url, t.adminKey, { trafficAllocation: 0.5 });
    const units = Array.from({ length: 40 }, (_, i) => `member-${i}`);
    const out = await half.sdk.post('/v1/outcomes', { events: units.map((u, i) => outcomeEvent(half.key, i, { unitId: u })) });
    const notAllocated = out.body.rejected.filter((r: Rejected) => r.errors[0].message === 'is not in the experiment (not_allocated)');
    expect(out.body.accepted).toBeGreaterThan(0);
    expect(notAllocated.length).toBe(40 - out.body.accepted);
  });

  it('refuses events of an experiment that is not running', async () => {
    const paused = await runningExperiment(t.url, t.adminKey);
    await paused.admin.post(`/v1/experiments/${paused.key}/pause`);
    await eventually(async () => {
      const res = await paused.sdk.post('/v1/outcomes', { events: [outcomeEvent(paused.key, 1)] });
      return res.body.rejected?.[0]?.errors[0]?.message === 'is paused: outcomes are recorded only while it runs';
    });
  });

  it('answers 400 problem+json when the body is not a batch', async () => {
    const none = await exp.sdk.post('/v1/outcomes', { nope: [] });
    expect(none.status).toBe(400);
    expect(none.headers.get('content-type')).toMatch(/application\/problem\+json/);
    const tooMany = await exp.sdk.post('/v1/outcomes', { events: Array.from({ length: 1001 }, (_, i) => outcomeEvent(exp.key, i)) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.errors[0].field).toBe('events');
  });

  it('computes the cost from the variant pricing, keeps a given cost, and marks an unknowable cost NULL', async () => {
    const res = await exp.sdk.post('/v1/outcomes', {
      events: [
        outcomeEvent(exp.key, 3_000, { unitId: 'cost-unit', inputTokens: 1_000_000, outputTokens: 1_000_000 }),
        outcomeEvent(exp.key, 3_001, { unitId: 'cost-unit', costUsd: 0.25 }),
        outcomeEvent(exp.key, 3_002, { unitId: 'cost-unit', inputTokens: undefined }),
      ],
    });
    expect(res.body.accepted).toBe(3);
    const variant = (await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: 'cost-unit' })).body.variant;
    const price = variant === 'control' ? 1.8 : 0.4;
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE unit_id = 'cost-unit'`)) === 3);
    const stored = await t.db.query(`SELECT event_id, cost_usd, cost_computed FROM outcome_event WHERE unit_id = 'cost-unit' ORDER BY event_id`);
    expect(stored).toEqual([
      { event_id: 'evt-3000', cost_usd: expect.closeTo(price, 9), cost_computed: true },
      { event_id: 'evt-3001', cost_usd: 0.25, cost_computed: false },
      { event_id: 'evt-3002', cost_usd: null, cost_computed: false },
    ]);
    const unit = await t.db.query(`SELECT cost_n, cost_unknown, cost_sum FROM outcome_unit WHERE unit_id = 'cost-unit'`);
    expect(unit).toEqual([{ cost_n: '2', cost_unknown: '1', cost_sum: expect.closeTo(price + 0.25, 9) }]);
  });
});

describe('idempotency', () => {
  it('counts the same batch sent twice, and the same events inside different batches, once', async () => {
    const batch = Array.from({ length: 100 }, (_, i) => outcomeEvent(exp.key, 10_000 + i));
    const before = await rows();
    expect((await exp.sdk.post('/v1/outcomes', { events: batch })).body.accepted).toBe(100);
    expect((await exp.sdk.post('/v1/outcomes', { events: batch })).body.accepted).toBe(100);
    await Promise.all([
      exp.sdk.post('/v1/outcomes', { events: batch.slice(0, 60) }),
      exp.sdk.post('/v1/outcomes', { events: [...batch.slice(40), ...batch.slice(0, 10), outcomeEvent(exp.key, 10_100)] }),
    ]);
    await eventually(async () => (await rows()) === before + 101);
    // Let every job finish, then check nothing more arrived and the aggregates match the raw rows.
    await eventually(async () => (await exp.admin.get('/v1/admin/ingestion/failed')).status === 200);
    // Every acknowledged batch is enqueued before the 202: an idle queue means every job has finished.
    const outcomes = t.app.get(QueueRegistry).get('outcomes');
    await eventually(async () => Object.values(await outcomes.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).every((n) => n === 0));
    expect(await rows()).toBe(before + 101);
    const { stored, recomputed } = await aggregatesVsRaw(t.db, exp.id);
    expect(stored).toEqual(recomputed);
  });
});

describe('late feedback', () => {
  it('applies feedback once however often it is repeated, before or after its event', async () => {
    const unit = 'fb-unit';
    const early = outcomeEvent(exp.key, 20_001, { unitId: unit, success: false, score: 2 });
    const late = outcomeEvent(exp.key, 20_000, { unitId: unit, success: false, score: 1 });
    // Feedback for an event not yet sent.
    expect((await exp.sdk.post('/v1/feedback', { items: [{ eventId: 'evt-20001', success: true, score: 9 }] })).body.accepted).toBe(1);
    await exp.sdk.post('/v1/outcomes', { events: [late, early] });
    for (let i = 0; i < 3; i++) {
      await exp.sdk.post('/v1/feedback', { items: [{ eventId: 'evt-20000', success: true, score: 7, metrics: { thumbs_up: 1 } }] });
    }
    await exp.sdk.post('/v1/feedback', { items: [{ eventId: 'evt-20001', success: true, score: 9 }] });
    const unitRow = () => t.db.query(`SELECT events, successes, score_n, score_sum FROM outcome_unit WHERE unit_id = $1`, [unit]);
    await eventually(async () => JSON.stringify(await unitRow()) === JSON.stringify([{ events: '2', successes: '2', score_n: '2', score_sum: 16 }]));
    const metric = await t.db.query(`SELECT n, sum FROM outcome_unit_metric WHERE unit_id = $1 AND metric = 'thumbs_up'`, [unit]);
    expect(metric).toEqual([{ n: '1', sum: 1 }]);

    // Changed feedback moves the aggregates by the difference only.
    await exp.sdk.post('/v1/feedback', { items: [{ eventId: 'evt-20000', success: false }] });
    await eventually(async () => JSON.stringify(await unitRow()) === JSON.stringify([{ events: '2', successes: '1', score_n: '2', score_sum: 10 }]));
    const bad = await exp.sdk.post('/v1/feedback', { items: [{ eventId: 'evt-20000' }, { success: true }] });
    expect(bad.body.accepted).toBe(0);
    expect(bad.body.rejected.map((r: Rejected) => r.errors[0].field)).toEqual(['eventId', 'eventId']);
  });
});

describe('failed jobs', () => {
  it('sends a job whose envelope does not parse to the failed set, lists it and replays it', async () => {
    const projectId = (await t.db.query(`SELECT project_id FROM experiment WHERE id = $1`, [exp.id]))[0].project_id;
    const queue = t.app.get(QueueRegistry).get('outcomes');
    // No receipt time: nothing says when its events arrived, so it is not half-written or dead-lettered but failed whole.
    await queue.add('outcome-batch', { projectId, events: [{ broken: true }] });
    await eventually(async () => (await exp.admin.get('/v1/admin/ingestion/failed')).body.length === 1);
    const failed = await exp.admin.get('/v1/admin/ingestion/failed');
    expect(failed.body[0]).toMatchObject({ name: 'outcome-batch', items: 1, attemptsMade: 1 });
    expect(failed.body[0].failedReason).toMatch(/unparseable outcome batch/);
    const replay = await exp.admin.post('/v1/admin/ingestion/replay-failed');
    expect(replay.body).toEqual({ replayed: 1 });
    // Still unparseable: it fails again, and stays inspectable.
    await eventually(async () => (await exp.admin.get('/v1/admin/ingestion/failed')).body[0]?.attemptsMade === 2);
  });

  it('dead-letters an event of a well-formed job that it cannot store, and writes the others of the job', async () => {
    const projectId = (await t.db.query(`SELECT project_id FROM experiment WHERE id = $1`, [exp.id]))[0].project_id;
    const queue = t.app.get(QueueRegistry).get('outcomes');
    const good = { experimentId: exp.id, eventId: 'job-good', phase: 1, unitId: 'job-unit', variant: 'control', at: new Date().toISOString(), latencyMs: 5,
      ttftMs: null, inputTokens: null, outputTokens: null, costUsd: null, costComputed: false, success: true, score: null, error: null, metrics: null };
    await queue.add('outcome-batch', { projectId, receivedAt: new Date().toISOString(), events: [{ broken: true }, good] });
    await eventually(async () => (await exp.admin.get('/v1/admin/ingestion/dead-letters')).body.total === 1);
    const letters = await exp.admin.get('/v1/admin/ingestion/dead-letters');
    expect(letters.body.items[0]).toMatchObject({ kind: 'outcome', eventId: null, payload: '{"broken":true}' });
    expect(letters.body.items[0].reason).toMatch(/experimentId: must be a UUID/);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE event_id = 'job-good'`)) === 1);
  });
});
