import type { INestApplicationContext } from '@nestjs/common';
import fc from 'fast-check';
import { fieldName } from '../../libs/storable/storable';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { count, runningExperiment, type Client } from './support/ingestion-fixture';

/**
 * Accepted implies stored, rejected names the field: arbitrary values for every field of an
 * outcome event and of a feedback item, sent over HTTP to the real API and worker. Each
 * generated value carries whether it should be accepted, decided by an oracle written here
 * from the documented limits (README, "Limits") and, for strings, from what survives a UTF-8
 * round trip, independently of libs/storable/storable.ts.
 */
jest.setTimeout(240_000);

let t: TestApp;
let worker: INestApplicationContext;
let exp: { key: string; id: string; sdk: Client; admin: Client };
let createdAt: number;

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  exp = await runningExperiment(t.url, t.adminKey, {
    metrics: {
      primary: { name: 'success_rate', goal: 'increase' },
      custom: [{ name: 'thumbs_up' }, { name: 'tool_calls' }],
      scoreRange: { min: -1e12, max: 1e12 },
    },
  });
  createdAt = (await t.db.query(`SELECT created_at FROM experiment WHERE id = $1`, [exp.id]))[0].created_at.getTime();
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

/** A field's value (undefined: left out) and whether the service must accept it. */
type Gen = { v: unknown; ok: boolean };
const absent: Gen = { v: undefined, ok: true };

/** Postgres' text rule, independently: no NUL, and valid once encoded as UTF-8. */
const pgText = (s: string) => !s.includes('\u0000') && Buffer.from(s, 'utf8').toString('utf8') === s;

const hostileUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', 'é', '漢') },
);
/** Strings: mostly plain, often any UTF-16, sometimes too long, sometimes not strings. */
function text(min: number, max: number, prefix = ''): fc.Arbitrary<Gen> {
  return fc.oneof(
    { weight: 12, arbitrary: fc.string({ minLength: 1, maxLength: Math.min(max, 30) }).map((s) => prefix + s) },
    { weight: 2, arbitrary: fc.string({ unit: hostileUnit, maxLength: Math.min(max, 40) }).map((s) => prefix + s) },
    { weight: 1, arbitrary: fc.integer({ min: max + 1, max: max + 50 }).map((n) => prefix + 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(42, true, { a: 1 }, ['x'], '') },
  ).map((v) => ({ v, ok: typeof v === 'string' && v.length >= min && v.length <= max && pgText(v) }));
}

const tinyOrHuge = [0, 1e-100, 1e-101, 5e-324, 1e12, 1e12 + 1, 1e200, 1e308, -1e-100, 86_400_000, 86_400_001, 1e6, 1e6 + 0.5, 1e9, 1e9 + 1, 2 ** 53, 2 ** 63, 1.5];
const someNumber = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: -1000, max: 2_000_000_000 }),
  fc.double({ min: 0, max: 5000, noNaN: true }),
  fc.constantFrom(...tinyOrHuge),
  fc.constantFrom<unknown>('12', null, true),
).map((x) => (Object.is(x, -0) ? 0 : x)); // JSON sends -0 as 0
/** Mostly plausible values, often left out, sometimes anything at all. */
const number = (ok: (x: number) => boolean, plausible: fc.Arbitrary<number>): fc.Arbitrary<Gen> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constant(absent) },
    { weight: 6, arbitrary: plausible.map((v) => ({ v, ok: ok(v) })) },
    { weight: 2, arbitrary: someNumber.map((v) => ({ v, ok: v === null || (typeof v === 'number' && ok(v)) })) },
  );
const notTiny = (x: number) => x === 0 || Math.abs(x) >= 1e-100;
const duration = number((x) => x >= 0 && x <= 86_400_000 && notTiny(x), fc.oneof(fc.integer({ min: 0, max: 86_400_000 }), fc.double({ min: 1, max: 1e5, noNaN: true })));
const tokens = number((x) => Number.isInteger(x) && x >= 0 && x <= 1e9, fc.integer({ min: 0, max: 1e9 }));
const cost = number((x) => x >= 0 && x <= 1e6 && notTiny(x), fc.double({ min: 1e-6, max: 10, noNaN: true }));
const measure = number((x) => Math.abs(x) <= 1e12 && notTiny(x), fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.double({ min: -1e12, max: 1e12, noNaN: true }).filter(notTiny)));
const bool: fc.Arbitrary<Gen> = fc.oneof(fc.constant(absent), fc.boolean().map((v) => ({ v, ok: true })), fc.constantFrom<unknown>('yes', 1).map((v) => ({ v, ok: false })));

const MINUTE = 60_000;
const timestamp: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.constant(absent) },
  // From the experiment's creation to a minute ahead: well inside the window, away from its edges.
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 100 }).map((f) => ({ v: new Date(createdAt + ((Date.now() + MINUTE - createdAt) * f) / 100).toISOString(), ok: true })) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 100_000 }).map((m) => ({ v: new Date(createdAt - m * MINUTE).toISOString(), ok: false })) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 100_000 }).map((m) => ({ v: new Date(Date.now() + m * MINUTE).toISOString(), ok: false })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('0000-01-01T00:00:00Z', '-000001-06-01T00:00:00Z', '+275760-09-13T00:00:00Z', 'tomorrow', '', '2026-13-45T99:00:00Z').map((v) => ({ v, ok: false })),
  },
);

/** Custom metrics: declared names with any value, or names the experiment does not declare. */
const metrics: fc.Arbitrary<{ v: unknown; ok: boolean; bad: string[] }> = fc.oneof(
  fc.constant({ v: undefined, ok: true, bad: [] as string[] }),
  fc
    .array(fc.tuple(fc.oneof({ weight: 6, arbitrary: fc.constantFrom('thumbs_up', 'tool_calls') }, { weight: 1, arbitrary: fc.string({ unit: hostileUnit, maxLength: 8 }) }), measure), { maxLength: 3 })
    .map((pairs) => {
      const v: Record<string, unknown> = {};
      for (const [name, g] of pairs) if (g.v !== undefined) v[name] = g.v;
      const bad = Object.entries(v)
        .filter(([name, x]) => !['thumbs_up', 'tool_calls'].includes(name) || x === null || typeof x !== 'number' || !(Math.abs(x) <= 1e12 && notTiny(x)))
        .map(([name]) => fieldName('metrics', name));
      return { v, ok: bad.length === 0, bad };
    }),
);

let serial = 0;
const eventArb = fc.record({
  id: text(1, 128, 'p'),
  unitId: text(1, 256),
  timestamp,
  latencyMs: duration,
  ttftMs: duration,
  inputTokens: tokens,
  outputTokens: tokens,
  costUsd: cost,
  success: bool,
  score: measure,
  error: fc.oneof(fc.constant(absent), text(0, 256)),
  metrics,
});
type EventGen = typeof eventArb extends fc.Arbitrary<infer T> ? T : never;

const FIELDS = ['id', 'unitId', 'timestamp', 'latencyMs', 'ttftMs', 'inputTokens', 'outputTokens', 'costUsd', 'success', 'score', 'error'] as const;

/** Ids must not collide across runs: a number goes in front of the generated text (it stays part of what is checked). */
function build(g: EventGen): { event: Record<string, unknown>; bad: string[] } {
  const event: Record<string, unknown> = { experiment: exp.key };
  const bad: string[] = [];
  for (const field of FIELDS) {
    let { v } = g[field];
    if (field === 'id' && typeof v === 'string') v = `${++serial}${v}`;
    if (v !== undefined) event[field] = v;
    const ok = field === 'id' && typeof v === 'string' ? v.length <= 128 && pgText(v) : g[field].ok;
    if (!ok) bad.push(field);
  }
  if (g.metrics.v !== undefined) event.metrics = g.metrics.v;
  bad.push(...g.metrics.bad);
  return { event, bad: bad.sort() };
}

const sent: Array<Record<string, unknown>> = [];

it('accepts exactly the storable outcome events, names every bad field, and stores each accepted one as sent', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 8 }), async (gens) => {
      const built = gens.map(build);
      const res = await exp.sdk.call('POST', '/v1/outcomes', JSON.stringify({ events: built.map((b) => b.event) }), { 'content-type': 'application/json' });
      expect(res.status).toBe(202);
      const rejected = new Map<number, string[]>(res.body.rejected.map((r: { index: number; errors: Array<{ field: string }> }) => [r.index, r.errors.map((e) => e.field).sort()]));
      built.forEach(({ event, bad }, i) => {
        expect({ event, named: rejected.get(i) ?? [] }).toEqual({ event, named: bad });
        if (bad.length === 0) sent.push(event);
      });
      expect(res.body.accepted).toBe(built.filter((b) => b.bad.length === 0).length);
    }),
    { seed: 1415, numRuns: 40 },
  );
  expect(sent.length).toBeGreaterThan(20);

  // Accepted implies stored: every one, with exactly the values sent.
  const ids = sent.map((e) => e.id as string);
  await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE experiment_id = $1 AND event_id = ANY($2)`, [exp.id, ids])) === new Set(ids).size, 60_000, 100);
  const rows = new Map<string, Record<string, unknown>>(
    (await t.db.query(`SELECT * FROM outcome_event WHERE experiment_id = $1 AND event_id = ANY($2)`, [exp.id, ids])).map((r: { event_id: string }) => [r.event_id, r]),
  );
  const num = (v: unknown) => (v === null ? null : Number(v));
  for (const e of sent) {
    const row = rows.get(e.id as string)!;
    const opt = (k: string) => (e[k] === undefined || e[k] === null ? null : e[k]);
    expect({ id: e.id, row: {
      unit_id: row.unit_id, latency_ms: row.latency_ms, ttft_ms: row.ttft_ms, input_tokens: num(row.input_tokens), output_tokens: num(row.output_tokens),
      success: row.success, score: row.score, error: row.error, metrics: row.metrics,
      ...(e.costUsd !== undefined && e.costUsd !== null ? { cost_usd: row.cost_usd } : {}),
      ...(e.timestamp !== undefined ? { occurred_at: (row.occurred_at as Date).getTime() } : {}),
    } }).toEqual({ id: e.id, row: {
      unit_id: e.unitId, latency_ms: opt('latencyMs'), ttft_ms: opt('ttftMs'), input_tokens: opt('inputTokens'), output_tokens: opt('outputTokens'),
      success: opt('success'), score: opt('score'), error: e.error ? e.error : null,
      metrics: e.metrics && Object.keys(e.metrics).length ? e.metrics : null,
      ...(e.costUsd !== undefined && e.costUsd !== null ? { cost_usd: e.costUsd } : {}),
      ...(e.timestamp !== undefined ? { occurred_at: Date.parse(e.timestamp as string) } : {}),
    } });
  }
  expect(await count(t.db, `SELECT count(*) FROM ingest_dead_letter`)).toBe(0);
});

const feedbackArb = fc.record({ eventId: text(1, 128, 'f'), success: bool, score: measure, metrics: fc.oneof(
  fc.constant({ v: undefined, ok: true, bad: [] as string[] }),
  fc.array(fc.tuple(fc.string({ unit: hostileUnit, maxLength: 70 }), measure), { minLength: 1, maxLength: 3 }).map((pairs) => {
    const v: Record<string, unknown> = {};
    for (const [name, g] of pairs) if (g.v !== undefined) v[name] = g.v;
    const bad = Object.entries(v)
      .filter(([name, x]) => name.length < 1 || name.length > 64 || !pgText(name) || x === null || typeof x !== 'number' || !(Math.abs(x) <= 1e12 && notTiny(x)))
      .map(([name]) => fieldName('metrics', name));
    return { v, ok: bad.length === 0, bad };
  }),
) });

it('accepts exactly the storable feedback items, names every bad field, and stores each accepted one as sent', async () => {
  const stored: Array<Record<string, unknown>> = [];
  await fc.assert(
    fc.asyncProperty(fc.array(feedbackArb, { minLength: 1, maxLength: 8 }), async (gens) => {
      const built = gens.map((g) => {
        const item: Record<string, unknown> = {};
        const bad: string[] = [...g.metrics.bad];
        const eventId = typeof g.eventId.v === 'string' ? `${++serial}${g.eventId.v}` : g.eventId.v;
        item.eventId = eventId;
        if (!(typeof eventId === 'string' && eventId.length <= 128 && pgText(eventId))) bad.push('eventId');
        for (const field of ['success', 'score'] as const) {
          if (g[field].v !== undefined) item[field] = g[field].v;
          if (!g[field].ok) bad.push(field);
        }
        if (g.metrics.v !== undefined) item.metrics = g.metrics.v;
        const carries = [item.success, item.score].some((x) => x !== undefined && x !== null) || (item.metrics && Object.keys(item.metrics).length > 0);
        if (bad.length === 0 && !carries) bad.push('eventId');
        return { item, bad: bad.sort() };
      });
      const res = await exp.sdk.call('POST', '/v1/feedback', JSON.stringify({ items: built.map((b) => b.item) }), { 'content-type': 'application/json' });
      expect(res.status).toBe(202);
      const rejected = new Map<number, string[]>(res.body.rejected.map((r: { index: number; errors: Array<{ field: string }> }) => [r.index, r.errors.map((e) => e.field).sort()]));
      built.forEach(({ item, bad }, i) => {
        expect({ item, named: rejected.get(i) ?? [] }).toEqual({ item, named: bad });
        if (bad.length === 0) stored.push(item);
      });
    }),
    { seed: 1416, numRuns: 30 },
  );
  expect(stored.length).toBeGreaterThan(10);
  const ids = stored.map((f) => f.eventId as string);
  await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_feedback WHERE event_id = ANY($1)`, [ids])) === new Set(ids).size, 60_000, 100);
  const rows = new Map<string, Record<string, unknown>>(
    (await t.db.query(`SELECT event_id, success, score, metrics FROM outcome_feedback WHERE event_id = ANY($1)`, [ids])).map((r: { event_id: string }) => [r.event_id, r]),
  );
  for (const f of stored) {
    const row = rows.get(f.eventId as string)!;
    const metricsSent = f.metrics && Object.keys(f.metrics).length ? f.metrics : null;
    expect({ id: f.eventId, success: row.success, score: row.score, metrics: row.metrics }).toEqual({
      id: f.eventId, success: f.success ?? null, score: f.score ?? null, metrics: metricsSent,
    });
  }
  expect(await count(t.db, `SELECT count(*) FROM ingest_dead_letter`)).toBe(0);
});
