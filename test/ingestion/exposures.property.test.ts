import type { INestApplicationContext } from '@nestjs/common';
import fc from 'fast-check';
import { assign, type ExperimentSnapshot } from '../../libs/assignment/core';
import { client } from '../support/http-client';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { count, runningExperiment, type Client } from './support/ingestion-fixture';

/**
 * Accepted implies stored, rejected names the field, for exposures: arbitrary values for
 * every field of a `POST /v1/exposures` item, and arbitrary unit ids for `/v1/assign` (whose
 * exposures go through the buffer all projects share), sent over HTTP to the real API and
 * worker by two projects at the same time. Each generated value carries whether it must be
 * accepted, decided by an oracle written here from the documented limits (README, "Limits"),
 * the published assignment (libs/assignment/core, what an SDK assigning locally computes) and,
 * for strings, from what survives a UTF-8 round trip, independently of libs/storable/storable.ts.
 * At the end the exposure table holds exactly the accepted units, each once per experiment
 * with one exposure counted per acceptance, and the per-variant unit counts match.
 */
jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;

/** One project's experiment, what the test knows of it, and what it expects stored. */
interface Ctx {
  key: string;
  id: string;
  sdk: Client;
  createdAt: number;
  snapshot: ExperimentSnapshot;
  /** The other project's experiment key: unknown to this project. */
  foreignKey: string;
  /** Unit id -> accepted exposures (from /v1/exposures and /v1/assign). */
  expected: Map<string, number>;
  /** Unit id -> the time sent, for units accepted once with a timestamp. */
  times: Map<string, number | null>;
}
let a: Ctx;
let b: Ctx;

async function context(adminKey: string): Promise<Ctx> {
  const exp = await runningExperiment(t.url, adminKey);
  const createdAt = (await t.db.query(`SELECT created_at FROM experiment WHERE id = $1`, [exp.id]))[0].created_at.getTime();
  const config = await exp.sdk.get('/v1/sdk/config');
  expect(config.status).toBe(200);
  const snapshot = (config.body.experiments as ExperimentSnapshot[]).find((e) => e.key === exp.key)!;
  expect(snapshot).toBeDefined();
  return { key: exp.key, id: exp.id, sdk: exp.sdk, createdAt, snapshot, foreignKey: '', expected: new Map(), times: new Map() };
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  const other = await client(t.url, t.adminKey).post('/v1/projects', { name: 'exposures-other' });
  expect(other.status).toBe(201);
  a = await context(t.adminKey);
  b = await context(other.body.adminKey.key);
  a.foreignKey = b.key;
  b.foreignKey = a.key;
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

/** Postgres' text rule, independently: no NUL, and valid once encoded as UTF-8. */
const pgText = (s: string) => !s.includes('\u0000') && Buffer.from(s, 'utf8').toString('utf8') === s;
const goodText = (v: unknown, max: number) => typeof v === 'string' && v.length >= 1 && v.length <= max && pgText(v);

const hostileUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', 'é', '漢', '\ufe0f') },
);
/** Strings: mostly plain, often any UTF-16, sometimes too long, sometimes not strings. */
const text = (max: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 12, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) },
    { weight: 3, arbitrary: fc.string({ unit: hostileUnit, maxLength: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: max - 3, max: max + 30 }).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>(42, true, { a: 1 }, ['x'], '', null) },
  );

/** Who the item names: this project's experiment (mostly), the other project's, or anything. */
const experimentArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant<{ own: true } | { foreign: true } | { v: unknown }>({ own: true }) },
  { weight: 1, arbitrary: fc.constant({ foreign: true as const }) },
  { weight: 2, arbitrary: text(64).map((v) => ({ v })) },
);
/** The unit: fresh generated text (a number goes in front when it is a string, so runs never collide), or a unit accepted before. */
const unitArb = fc.oneof(
  { weight: 8, arbitrary: text(256).map((v) => ({ v })) },
  { weight: 2, arbitrary: fc.nat().map((n) => ({ repeat: n })) },
);
/** The variant: the one the unit is assigned (mostly), the other one, or anything. */
const variantArb = fc.oneof(
  { weight: 10, arbitrary: fc.constant<{ assigned: true } | { other: true } | { v: unknown }>({ assigned: true }) },
  { weight: 1, arbitrary: fc.constant({ other: true as const }) },
  { weight: 2, arbitrary: text(64).map((v) => ({ v })) },
);
/** The phase: left out (mostly), the current one, or any other value. */
const phaseArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant<{ current: true } | { v: unknown }>({ v: undefined }) },
  { weight: 3, arbitrary: fc.constant({ current: true as const }) },
  { weight: 2, arbitrary: fc.constantFrom<unknown>(0, 2, 7, -1, 1.5, 2 ** 31, 2 ** 31 - 1, 1e300, '1', null, true, []).map((v) => ({ v })) },
);

const MINUTE = 60_000;
type TimeGen = { v: undefined } | { inside: number } | { beforeCreation: number } | { v: string; future?: boolean };
const timestampArb: fc.Arbitrary<TimeGen> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ v: undefined }) },
  // From the experiment's creation to a minute ahead: well inside the window, away from its edges.
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 100 }).map((inside) => ({ inside })) },
  // Before the experiment existed (but after 2000): refused for this project's experiment only.
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 100_000 }).map((beforeCreation) => ({ beforeCreation })) },
  { weight: 1, arbitrary: fc.integer({ min: 10, max: 100_000 }).map((m) => ({ v: new Date(Date.now() + m * MINUTE).toISOString(), future: true })) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('0000-01-01T00:00:00Z', '-000001-06-01T00:00:00Z', '+275760-09-13T00:00:00Z', '1999-12-31T23:59:59Z', 'tomorrow', '', '2026-13-45T99:00:00Z').map((v) => ({ v })),
  },
);

const itemArb = fc.oneof(
  {
    weight: 20,
    arbitrary: fc.record({
      experiment: experimentArb,
      unitId: unitArb,
      variant: variantArb,
      phase: phaseArb,
      timestamp: timestampArb,
      extra: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(42, 'exposure', null, [], [{}]).map((notAnObject) => ({ notAnObject })) },
);
type ItemGen = typeof itemArb extends fc.Arbitrary<infer T> ? T : never;

let serial = 0;
const fresh = (v: unknown) => (typeof v === 'string' ? `${++serial}-${v}` : v);
const otherVariant = (ctx: Ctx, variant: string) => ctx.snapshot.variants.map((v) => v.key).find((k) => k !== variant)!;

/**
 * The item sent, the fields the answer must name (sorted), and the unit it exposes when accepted.
 * The oracle: fields that cannot be stored are named first; only an item with none is checked
 * against the experiment (known to this project, variant assigned, phase current).
 */
function build(ctx: Ctx, g: ItemGen): { item: unknown; bad: string[]; unit: string | null; at: number | null } {
  if ('notAnObject' in g) return { item: g.notAnObject, bad: [''], unit: null, at: null };
  const experiment = 'own' in g.experiment ? ctx.key : 'foreign' in g.experiment ? ctx.foreignKey : g.experiment.v;
  const known = experiment === ctx.key;
  const accepted = [...ctx.expected.keys()];
  const unitId = 'repeat' in g.unitId && accepted.length ? accepted[g.unitId.repeat % accepted.length] : fresh('v' in g.unitId ? g.unitId.v : 'fresh');
  const assigned = typeof unitId === 'string' && goodText(unitId, 256) ? assign(ctx.snapshot, ctx.key, unitId).variant! : 'control';
  const variant = 'assigned' in g.variant ? assigned : 'other' in g.variant ? otherVariant(ctx, assigned) : g.variant.v;
  const phase = 'current' in g.phase ? ctx.snapshot.phase : g.phase.v;
  const tg = g.timestamp;
  const timestamp =
    'inside' in tg ? new Date(ctx.createdAt + ((Date.now() + MINUTE - ctx.createdAt) * tg.inside) / 100).toISOString()
    : 'beforeCreation' in tg ? new Date(ctx.createdAt - tg.beforeCreation * MINUTE).toISOString()
    : tg.v;
  // Only this project's experiment narrows the window to its creation; otherwise it starts in 2000.
  const timeOk = 'inside' in tg ? true : 'beforeCreation' in tg ? !known : tg.v === undefined;

  const item: Record<string, unknown> = { experiment, unitId, variant };
  if (phase !== undefined) item.phase = phase;
  if (timestamp !== undefined) item.timestamp = timestamp;
  if (g.extra) item.sessionId = 's-1';

  const bad: string[] = [];
  if (!goodText(experiment, 64)) bad.push('experiment');
  if (!goodText(unitId, 256)) bad.push('unitId');
  if (!goodText(variant, 64)) bad.push('variant');
  if (phase !== undefined && phase !== null && !(Number.isInteger(phase) && (phase as number) >= 0 && (phase as number) <= 2 ** 31 - 1)) bad.push('phase');
  if (!timeOk) bad.push('timestamp');
  if (g.extra) bad.push('sessionId');
  if (bad.length === 0) {
    if (!known) bad.push('experiment');
    else {
      if (variant !== assigned) bad.push('variant');
      if (phase !== undefined && phase !== ctx.snapshot.phase) bad.push('phase');
    }
  }
  const ok = bad.length === 0;
  return { item, bad: bad.sort(), unit: ok ? (unitId as string) : null, at: ok && timestamp !== undefined ? Date.parse(timestamp as string) : null };
}

function expectAccepted(ctx: Ctx, unit: string, at: number | null): void {
  const n = (ctx.expected.get(unit) ?? 0) + 1;
  ctx.expected.set(unit, n);
  ctx.times.set(unit, n === 1 ? at : null);
}

type Rejected = { index: number; errors: Array<{ field: string }> };
/** Every field the answers named, and whether /v1/assign refused a unit: the run must have exercised each. */
const named = new Set<string>();

/** One project's turn: a /v1/exposures request and a few /v1/assign calls, all at once. */
async function turn(ctx: Ctx, items: ItemGen[], assigns: unknown[]): Promise<void> {
  const built = items.map((g) => build(ctx, g));
  const units = assigns.map(fresh);
  const [res, ...answers] = await Promise.all([
    ctx.sdk.call('POST', '/v1/exposures', JSON.stringify({ exposures: built.map((x) => x.item) }), { 'content-type': 'application/json' }),
    ...units.map((unitId) => ctx.sdk.call('POST', '/v1/assign', JSON.stringify({ experiment: ctx.key, unitId }), { 'content-type': 'application/json' })),
  ]);
  expect({ status: res.status, body: res.status === 202 ? undefined : res.body }).toEqual({ status: 202, body: undefined });
  const rejected = new Map<number, string[]>((res.body.rejected as Rejected[]).map((r) => [r.index, r.errors.map((e) => e.field).sort()]));
  built.forEach(({ item, bad }, i) => expect({ item, named: rejected.get(i) ?? [] }).toEqual({ item, named: bad }));
  for (const fields of rejected.values()) for (const field of fields) named.add(field);
  expect(res.body.accepted).toBe(built.filter((x) => x.unit !== null).length);
  for (const x of built) if (x.unit !== null) expectAccepted(ctx, x.unit, x.at);

  units.forEach((unitId, i) => {
    const answer = answers[i];
    if (goodText(unitId, 256)) {
      expect({ unitId, status: answer.status, variant: answer.body.variant }).toEqual({ unitId, status: 200, variant: assign(ctx.snapshot, ctx.key, unitId as string).variant });
      expectAccepted(ctx, unitId as string, null);
    } else {
      expect({ unitId, status: answer.status, named: answer.body.errors?.map((e: { field: string }) => e.field) }).toEqual({ unitId, status: 400, named: ['unitId'] });
      named.add('assign:unitId');
    }
  });
}

it('accepts exactly the storable exposures, names every bad field, and stores each accepted unit once, with every exposure counted', async () => {
  const side = fc.tuple(fc.array(itemArb, { minLength: 1, maxLength: 8 }), fc.array(text(256), { maxLength: 3 }));
  await fc.assert(
    fc.asyncProperty(side, side, async ([itemsA, assignsA], [itemsB, assignsB]) => {
      await Promise.all([turn(a, itemsA, assignsA), turn(b, itemsB, assignsB)]);
    }),
    { seed: 1417, numRuns: 80 },
  );
  expect([...named].sort()).toEqual(['', 'assign:unitId', 'experiment', 'phase', 'sessionId', 'timestamp', 'unitId', 'variant']);

  for (const ctx of [a, b]) {
    expect(ctx.expected.size).toBeGreaterThan(30);
    expect([...ctx.expected.values()].some((n) => n > 1)).toBe(true);
    const total = [...ctx.expected.values()].reduce((s, n) => s + n, 0);
    const units = [...ctx.expected.keys()];
    // Every accepted exposure stored (the probe unit of the fixture aside).
    await eventually(async () => (await count(t.db, `SELECT COALESCE(sum(exposures), 0) FROM exposure WHERE experiment_id = $1 AND unit_id = ANY($2)`, [ctx.id, units])) === total, 60_000, 100);
    const rows = await t.db.query(`SELECT unit_id, phase, variant, exposures, first_at FROM exposure WHERE experiment_id = $1 AND unit_id <> 'probe'`, [ctx.id]);
    const stored = new Map<string, Record<string, unknown>>(rows.map((r: { unit_id: string }) => [r.unit_id, r]));
    // Exactly the accepted units: nothing rejected was stored, each accepted unit is one row.
    expect([...stored.keys()].sort()).toEqual([...units].sort());
    for (const [unit, n] of ctx.expected) {
      const row = stored.get(unit)!;
      const at = ctx.times.get(unit);
      expect({ unit, phase: row.phase, variant: row.variant, exposures: Number(row.exposures), ...(at ? { at: (row.first_at as Date).getTime() } : {}) }).toEqual({
        unit, phase: ctx.snapshot.phase, variant: assign(ctx.snapshot, ctx.key, unit).variant, exposures: n, ...(at ? { at } : {}),
      });
    }
    // The per-variant unit counts SRM reads: each unit counted once.
    const counted = await t.db.query(`SELECT variant, units::int AS units FROM exposure_count WHERE experiment_id = $1 AND phase = $2 ORDER BY 1`, [ctx.id, ctx.snapshot.phase]);
    const byVariant = await t.db.query(`SELECT variant, count(*)::int AS units FROM exposure WHERE experiment_id = $1 AND phase = $2 GROUP BY 1 ORDER BY 1`, [ctx.id, ctx.snapshot.phase]);
    expect(counted).toEqual(byVariant);
  }
  expect(await count(t.db, `SELECT count(*) FROM ingest_dead_letter`)).toBe(0);
});
