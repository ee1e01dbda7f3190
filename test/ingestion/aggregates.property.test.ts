import fc from 'fast-check';
import { OutcomeWriter } from '../../libs/ingestion/outcome-writer';
import type { FeedbackRecord, OutcomeRecord } from '../../libs/queue/queues';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { aggregatesVsRaw, runningExperiment } from './support/ingestion-fixture';

jest.setTimeout(120_000);

let t: TestApp;
let writer: OutcomeWriter;
let projectId: string;

beforeAll(async () => {
  t = await startTestApp();
  writer = new OutcomeWriter(t.db);
  projectId = (await t.db.query(`SELECT id FROM project LIMIT 1`))[0].id;
});
afterAll(async () => {
  await t?.close();
});

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
const eventArb = fc.record({
  n: fc.integer({ min: 0, max: 24 }),
  unit: fc.integer({ min: 0, max: 4 }),
  latencyMs: maybe(fc.integer({ min: 0, max: 5000 })),
  costUsd: maybe(fc.double({ min: 0, max: 1, noNaN: true })),
  success: maybe(fc.boolean()),
  score: maybe(fc.integer({ min: 0, max: 10 })),
  thumbs: maybe(fc.integer({ min: 0, max: 1 })),
  error: fc.boolean(),
});
const feedbackArb = fc.record({
  n: fc.integer({ min: 0, max: 24 }),
  success: fc.option(fc.boolean(), { nil: undefined }),
  score: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }),
  thumbs: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
});
type Ev = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;
type Fb = typeof feedbackArb extends fc.Arbitrary<infer T> ? T : never;
type Op = { kind: 'events'; items: Array<Ev> } | { kind: 'feedback'; items: Array<Fb> };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('events' as const), items: fc.array(eventArb, { minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('feedback' as const), items: fc.array(feedbackArb, { minLength: 1, maxLength: 6 }) }),
);

let run = 0;

/** Sequential, two at a time, or grouped: consecutive event batches written in one transaction, as the worker does with the jobs it holds. */
const modeArb = fc.constantFrom('sequential' as const, 'concurrent' as const, 'grouped' as const);

it('keeps the aggregates equal to a recomputation from the raw rows, with duplicates and late feedback in any order', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), modeArb, async (ops, mode) => {
      run += 1;
      const exp = await runningExperiment(t.url, t.adminKey);
      const toRecord = (e: Ev): OutcomeRecord => ({
        experimentId: exp.id,
        eventId: `r${run}-e${e.n}`,
        phase: 1,
        unitId: `u${e.unit}`,
        variant: e.unit % 2 ? 'small' : 'control',
        at: new Date().toISOString(),
        latencyMs: e.latencyMs,
        ttftMs: null,
        inputTokens: null,
        outputTokens: null,
        costUsd: e.costUsd,
        costComputed: false,
        success: e.success,
        score: e.score,
        error: e.error ? 'timeout' : null,
        metrics: e.thumbs === null ? null : { thumbs_up: e.thumbs },
      });
      const toFeedback = (f: Fb): FeedbackRecord => ({
        eventId: `r${run}-e${f.n}`,
        ...(f.success !== undefined ? { success: f.success } : {}),
        ...(f.score !== undefined ? { score: f.score } : {}),
        ...(f.thumbs !== undefined ? { metrics: { thumbs_up: f.thumbs } } : {}),
      });
      const batch = (op: Op & { kind: 'events' }) => ({ projectId, receivedAt: new Date().toISOString(), events: op.items.map(toRecord) });
      const apply = (op: Op) =>
        op.kind === 'events'
          ? writer.writeEvents(batch(op))
          : writer.writeFeedback({ projectId, receivedAt: new Date().toISOString(), items: op.items.map(toFeedback) });
      // Every op twice (a retried job): in sequence, two at a time, or with its repeat and the next batches in one write.
      const doubled = [...ops, ...ops];
      if (mode === 'concurrent') {
        for (let i = 0; i < doubled.length; i += 2) await Promise.all(doubled.slice(i, i + 2).map(apply));
      } else if (mode === 'grouped') {
        let group: Array<Op & { kind: 'events' }> = [];
        const flush = async () => {
          if (group.length) await writer.writeBatches(group.map(batch));
          group = [];
        };
        for (const op of ops.flatMap((o) => [o, o])) {
          if (op.kind === 'feedback') {
            await flush();
            await apply(op);
          } else if (group.push(op) === 3) await flush();
        }
        await flush();
      } else {
        for (const op of doubled) await apply(op);
      }

      const { stored, recomputed } = await aggregatesVsRaw(t.db, exp.id);
      expect(stored).toEqual(recomputed);
      // Independently of what the writer recorded: each event counted once, with its latest feedback.
      const sent = new Set(ops.flatMap((op) => (op.kind === 'events' ? op.items.map((e) => e.n) : [])));
      const rows = await t.db.query(`SELECT count(*)::int AS n FROM outcome_event WHERE experiment_id = $1`, [exp.id]);
      expect(rows[0].n).toBe(sent.size);
      const latest = new Map<number, Fb>();
      for (const op of ops) if (op.kind === 'feedback') for (const f of op.items) latest.set(f.n, f);
      const first = new Map<number, Ev>();
      for (const op of ops) if (op.kind === 'events') for (const e of op.items) if (!first.has(e.n)) first.set(e.n, e);
      if (mode !== 'concurrent') {
        let successes = 0;
        for (const [n, e] of first) {
          const f = latest.get(n);
          const s = f?.success ?? e.success;
          if (s) successes++;
        }
        const stored = await t.db.query(`SELECT COALESCE(sum(successes), 0)::int AS s FROM outcome_unit WHERE experiment_id = $1`, [exp.id]);
        expect(stored[0].s).toBe(successes);
      }
    }),
    { seed: 20261128, numRuns: 36 },
  );
});

it('writes jobs of two projects in one transaction, and applies feedback each project sent before its events', async () => {
  const other = await client(t.url, t.adminKey).post('/v1/projects', { name: `group-${Date.now()}` });
  expect(other.status).toBe(201);
  const otherProjectId: string = other.body.id;
  const mine = await runningExperiment(t.url, t.adminKey);
  const theirs = await runningExperiment(t.url, other.body.adminKey.key);
  const record = (experimentId: string, n: number): OutcomeRecord => ({
    experimentId, eventId: `g${n}`, phase: 1, unitId: `u${n}`, variant: 'control', at: new Date().toISOString(), latencyMs: 10, ttftMs: null,
    inputTokens: null, outputTokens: null, costUsd: null, costComputed: false, success: false, score: null, error: null, metrics: null,
  });
  // The same event ids in both projects: feedback is per project, so each applies only to its own events.
  await writer.writeFeedback({ projectId, receivedAt: new Date().toISOString(), items: [{ eventId: 'g1', success: true }] });
  await writer.writeFeedback({ projectId: otherProjectId, receivedAt: new Date().toISOString(), items: [{ eventId: 'g2', success: true }] });
  const receivedAt = new Date().toISOString();
  await writer.writeBatches([
    { projectId, receivedAt, events: [1, 2, 3].map((n) => record(mine.id, n)) },
    { projectId: otherProjectId, receivedAt, events: [1, 2, 3].map((n) => record(theirs.id, n)) },
  ]);
  const successes = async (experimentId: string) =>
    (await t.db.query(`SELECT unit_id FROM outcome_unit WHERE experiment_id = $1 AND successes > 0 ORDER BY unit_id`, [experimentId])).map((r: { unit_id: string }) => r.unit_id);
  expect(await successes(mine.id)).toEqual(['u1']);
  expect(await successes(theirs.id)).toEqual(['u2']);
  for (const id of [mine.id, theirs.id]) {
    const { stored, recomputed } = await aggregatesVsRaw(t.db, id);
    expect(stored).toEqual(recomputed);
  }
});
