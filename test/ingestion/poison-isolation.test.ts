import type { INestApplicationContext } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../../libs/database/data-source';
import { OutcomeWriter } from '../../libs/ingestion/outcome-writer';
import { dataErrorReason, isolatePoison } from '../../libs/ingestion/poison-isolation';
import { QueueRegistry } from '../../libs/queue/queue.module';
import type { OutcomeBatchJob, OutcomeRecord } from '../../libs/queue/queues';
import { backendSettings, testRedisUrl } from '../support/backends';
import { client } from '../support/http-client';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { aggregatesVsRaw, count, outcomeEvent, runningExperiment, type Client } from './support/ingestion-fixture';
import { sendAll } from './support/senders';

/**
 * Defence in depth on the write path (docs/adr/0015). The test's database holds CHECK
 * constraints the validator cannot know about, refusing one marker unit id: an event or
 * exposure that passes every check at the door and still fails the write, as a poison
 * would. It is sent concurrently with 10,000 good events from other requests of its project
 * and of another project; every good one must be stored exactly once, and the poison
 * dead-lettered with its reason. Jobs enqueued by hand carry a NUL, as an older API might.
 *
 * Those NUL jobs can exist only in Redis: BullMQ's Postgres backend keeps job data as jsonb,
 * which refuses a NUL at enqueue. So the poison scenarios run on the Redis backend whenever a
 * test Redis answers; without one, the file checks that refusal on the Postgres backend instead.
 */
const ON_REDIS = testRedisUrl() !== null;
jest.setTimeout(180_000);

const POISON = 'poison-unit';
let t: TestApp;
let worker: INestApplicationContext;
let a: { key: string; id: string; sdk: Client; admin: Client };
let b: { key: string; id: string; sdk: Client; admin: Client };
let projectA: string;
let projectB: string;
let operator: Client;

beforeAll(async () => {
  t = await startTestApp(backendSettings(ON_REDIS ? 'redis' : 'postgres'));
  worker = await startTestWorker(t.config);
  operator = client(t.url, t.adminKey);
  a = await runningExperiment(t.url, t.adminKey);
  const other = await operator.post('/v1/projects', { name: 'other' });
  expect(other.status).toBe(201);
  projectB = other.body.id;
  b = await runningExperiment(t.url, other.body.adminKey.key);
  projectA = (await t.db.query(`SELECT project_id FROM experiment WHERE id = $1`, [a.id]))[0].project_id;
  await t.db.query(`ALTER TABLE outcome_event_key ADD CONSTRAINT test_no_poison CHECK (unit_id <> '${POISON}')`);
  await t.db.query(`ALTER TABLE exposure ADD CONSTRAINT test_no_poison_exposure CHECK (unit_id <> '${POISON}')`);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

const rows = (experimentId: string) => count(t.db, `SELECT count(*) FROM outcome_event WHERE experiment_id = $1`, [experimentId]);
const distinctRows = (experimentId: string) => count(t.db, `SELECT count(DISTINCT event_id) FROM outcome_event WHERE experiment_id = $1`, [experimentId]);
const deadLetters = async (admin: Client) => (await admin.get('/v1/admin/ingestion/dead-letters')).body as { total: number; items: Array<Record<string, any>> };

function record(experimentId: string, eventId: string, overrides: Partial<OutcomeRecord> = {}): OutcomeRecord {
  return {
    experimentId, eventId, phase: 1, unitId: `u-${eventId}`, variant: 'control', at: new Date().toISOString(), latencyMs: 12, ttftMs: null,
    inputTokens: null, outputTokens: null, costUsd: null, costComputed: false, success: true, score: null, error: null, metrics: null, ...overrides,
  };
}

/** The operator's counters, by "kind/result". */
async function operatorCounters(): Promise<Record<string, number>> {
  const res = await operator.get('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const out: Record<string, number> = {};
  for (const m of String(res.body).matchAll(/^verdict_ingest_items_total\{kind="(\w+)",result="(\w+)"\} (\d+)$/gm)) out[`${m[1]}/${m[2]}`] = Number(m[3]);
  return out;
}

if (!ON_REDIS) {
  describe('a job that carries a NUL, on the Postgres queue', () => {
    it('is refused at enqueue, so no worker ever meets it', async () => {
      const queue = t.app.get(QueueRegistry).get('outcomes');
      const job: OutcomeBatchJob = { projectId: projectA, receivedAt: new Date().toISOString(), events: [record(a.id, 'nul', { unitId: 'nul\u0000unit' })] };
      await expect(queue.add('outcome-batch', job)).rejects.toThrow(/unsupported Unicode escape sequence/);
      expect(await queue.getJobCounts('waiting', 'active', 'failed', 'completed')).toEqual({ waiting: 0, active: 0, failed: 0, completed: 0 });
    });
  });
}

if (ON_REDIS) describe('a poison event among 10,000 good ones', () => {
  it('stores every good event exactly once and dead-letters the poison with its reason', async () => {
    const mine = sendAll(a.sdk, a.key, 0, 5_000, 100, 3);
    const theirs = sendAll(b.sdk, b.key, 0, 5_000, 100, 3);
    await eventually(async () => (await rows(a.id)) >= 500, 60_000, 10);
    // The poison and a good request of the same project at the same moment: coalesced into one job.
    const poison = outcomeEvent(a.key, 90_000, { unitId: POISON, timestamp: new Date().toISOString() });
    const mates = [90_001, 90_002].map((n) => outcomeEvent(a.key, n));
    const [sentPoison, sentMates] = await Promise.all([
      a.sdk.post('/v1/outcomes', { events: [poison, outcomeEvent(a.key, 90_003)] }),
      a.sdk.post('/v1/outcomes', { events: mates }),
    ]);
    // Acknowledged: it passed every check the API knows.
    expect([sentPoison.status, sentPoison.body.accepted, sentMates.body.accepted]).toEqual([202, 2, 2]);
    await Promise.all([mine, theirs]);

    await eventually(async () => (await rows(a.id)) === 5_003 && (await rows(b.id)) === 5_000, 120_000, 250);
    await eventually(async () => (await deadLetters(a.admin)).total === 1, 30_000, 100);
    expect(await distinctRows(a.id)).toBe(5_003);
    expect(await distinctRows(b.id)).toBe(5_000);
    expect(await count(t.db, `SELECT count(*) FROM outcome_event WHERE unit_id = $1`, [POISON])).toBe(0);
    for (const exp of [a, b]) {
      expect(await count(t.db, `SELECT sum(events) FROM outcome_unit WHERE experiment_id = $1`, [exp.id])).toBe(await rows(exp.id));
      const { stored, recomputed } = await aggregatesVsRaw(t.db, exp.id);
      expect(stored).toEqual(recomputed);
    }

    const letters = await deadLetters(a.admin);
    expect(letters.items[0]).toMatchObject({ kind: 'outcome', eventId: poison.id, experimentId: a.id, receivedAt: expect.any(String) });
    expect(letters.items[0].reason).toMatch(/^SQLSTATE 23514: .*"test_no_poison"/);
    expect(JSON.parse(letters.items[0].payload)).toMatchObject({ eventId: poison.id, unitId: POISON });
    // Project-scoped: the other project sees none of it; nothing went to the failed set.
    expect((await deadLetters(b.admin)).total).toBe(0);
    expect((await a.admin.get('/v1/admin/ingestion/failed')).body).toEqual([]);
  });

  it('dead-letters a NUL that an older API enqueued, and writes the rest of its job', async () => {
    const queue = t.app.get(QueueRegistry).get('outcomes');
    const job: OutcomeBatchJob = {
      projectId: projectA,
      receivedAt: new Date().toISOString(),
      events: [record(a.id, 'old-api-good'), record(a.id, 'old-api-nul', { unitId: 'nul\u0000unit' })],
    };
    await queue.add('outcome-batch', job);
    await eventually(async () => (await deadLetters(a.admin)).total === 2, 30_000, 100);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE event_id = 'old-api-good'`)) === 1);
    const nul = (await deadLetters(a.admin)).items.find((l) => l.eventId === 'old-api-nul')!;
    expect(nul.reason).toBe('unitId: must not contain NUL (U+0000, at index 3)');
    expect(JSON.parse(nul.payload).unitId).toBe('nul\u0000unit');
  });

  it('never puts two projects\' exposures in one job, and dead-letters a poison exposure alone', async () => {
    await Promise.all([
      ...Array.from({ length: 50 }, (_, i) => a.sdk.post('/v1/assign', { experiment: a.key, unitId: `exp-a-${i}` })),
      ...Array.from({ length: 50 }, (_, i) => b.sdk.post('/v1/assign', { experiment: b.key, unitId: `exp-b-${i}` })),
      a.sdk.post('/v1/assign', { experiment: a.key, unitId: POISON }),
    ]);
    // And a job with a NUL, as an older API might have enqueued it.
    const exposure = (unitId: string) => ({ projectId: projectA, experimentId: a.id, unitId, variant: 'control', phase: 1, at: new Date().toISOString() });
    await t.app.get(QueueRegistry).get('exposures').add('exposure-batch', { projectId: projectA, exposures: [exposure('old-api-exposure'), exposure('nul\u0000exposure')] });
    const exposed = (experimentId: string) => count(t.db, `SELECT count(*) FROM exposure WHERE experiment_id = $1 AND unit_id LIKE 'exp-%'`, [experimentId]);
    await eventually(async () => (await exposed(a.id)) === 50 && (await exposed(b.id)) === 50, 30_000, 100);
    await eventually(async () => (await deadLetters(a.admin)).items.filter((l) => l.kind === 'exposure').length === 2, 30_000, 100);
    const letters = (await deadLetters(a.admin)).items.filter((l) => l.kind === 'exposure');
    const poison = letters.find((l) => l.eventId === POISON)!;
    expect(poison).toMatchObject({ experimentId: a.id, receivedAt: null });
    expect(poison.reason).toMatch(/^SQLSTATE 23514: .*"test_no_poison_exposure"/);
    const nul = letters.find((l) => l.eventId === null)!;
    expect(nul.reason).toBe('unitId: must not contain NUL (U+0000, at index 3)');
    expect(await count(t.db, `SELECT count(*) FROM exposure WHERE unit_id = 'old-api-exposure'`)).toBe(1);
    expect((await deadLetters(b.admin)).total).toBe(0);
    const jobs = await t.app.get(QueueRegistry).get('exposures').getJobs(['completed', 'failed', 'waiting', 'active', 'delayed']);
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) {
      expect([projectA, projectB]).toContain(job.data.projectId);
      expect(job.data.exposures.every((e: { projectId: string }) => e.projectId === job.data.projectId)).toBe(true);
    }
  });

  it('counts stored and dead-lettered items for the operator, on GET /metrics for the bootstrap key only', async () => {
    const counters = await operatorCounters();
    // Every event sent so far except the two dead letters: the probe events of runningExperiment are assignments, not outcomes.
    expect(counters['outcome/stored']).toBe((await rows(a.id)) + (await rows(b.id)));
    expect(counters['outcome/dead_lettered']).toBe(2);
    expect(counters['exposure/dead_lettered']).toBe(2);
    expect(counters['exposure/stored']).toBeGreaterThanOrEqual(100);
    expect(counters['feedback/stored']).toBe(0);
    const text = String((await operator.get('/metrics')).body);
    expect(text).toContain('# TYPE verdict_ingest_items_total counter');
    expect(text).toMatch(/^verdict_ingest_dead_letters\{kind="outcome"\} 2$/m);
    expect((await a.admin.get('/metrics')).status).toBe(200); // a's admin key is the bootstrap key
    expect((await b.admin.get('/metrics')).status).toBe(403);
    expect((await b.sdk.get('/metrics')).status).toBe(403);
    expect((await client(t.url).get('/metrics')).status).toBe(401);
  });

  it('re-drives after a fix: what the definition refuses stays with its reason, the rest is stored; then deletes', async () => {
    // Still poisoned: the re-driven poisons fail the write again and come back; the NULs stay, with the definition's reason.
    const early = await a.admin.post('/v1/admin/ingestion/dead-letters/redrive');
    expect(early.status).toBe(200);
    expect(early.body.stillDead.map((d: { reason: string }) => d.reason)).toEqual([
      'unitId: must not contain NUL (U+0000, at index 3)',
      'unitId: must not contain NUL (U+0000, at index 3)',
    ]);
    expect(early.body.redriven).toBe(2);
    await eventually(async () => (await deadLetters(a.admin)).total === 4, 30_000, 100);
    expect(await operatorCounters()).toMatchObject({ 'outcome/dead_lettered': 3, 'exposure/dead_lettered': 3 });

    await t.db.query(`ALTER TABLE outcome_event_key DROP CONSTRAINT test_no_poison`);
    await t.db.query(`ALTER TABLE exposure DROP CONSTRAINT test_no_poison_exposure`);
    const poison = (await deadLetters(a.admin)).items.find((l) => l.kind === 'outcome' && l.eventId !== 'old-api-nul')!;
    const one = await a.admin.post(`/v1/admin/ingestion/dead-letters/${poison.id}/redrive`);
    expect(one.body).toEqual({ redriven: 1, stillDead: [], remaining: 3 });
    const all = await a.admin.post('/v1/admin/ingestion/dead-letters/redrive');
    expect(all.body).toMatchObject({ redriven: 1, remaining: 2 });
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE unit_id = $1`, [POISON])) === 1, 30_000, 100);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM exposure WHERE unit_id = $1`, [POISON])) === 1, 30_000, 100);
    expect(await count(t.db, `SELECT count(*) FROM outcome_event WHERE experiment_id = $1`, [a.id])).toBe(5_005);
    const { stored, recomputed } = await aggregatesVsRaw(t.db, a.id);
    expect(stored).toEqual(recomputed);

    // Another project's admin can neither see, re-drive nor delete it.
    const nul = (await deadLetters(a.admin)).items[0];
    expect((await b.admin.post(`/v1/admin/ingestion/dead-letters/${nul.id}/redrive`)).status).toBe(404);
    expect((await b.admin.delete(`/v1/admin/ingestion/dead-letters/${nul.id}`)).status).toBe(404);
    expect((await a.admin.delete('/v1/admin/ingestion/dead-letters/not-a-number')).status).toBe(404);
    expect((await a.admin.get('/v1/admin/ingestion/dead-letters?kind=nope')).status).toBe(400);
    expect((await a.admin.delete(`/v1/admin/ingestion/dead-letters/${nul.id}`)).status).toBe(204);
    expect((await a.admin.delete('/v1/admin/ingestion/dead-letters')).body).toEqual({ deleted: 1 });
    expect((await deadLetters(a.admin)).total).toBe(0);
  });
});

describe('the writer on real Postgres errors', () => {
  let db: DataSource;
  let writer: OutcomeWriter;

  beforeAll(async () => {
    db = new DataSource({ ...dataSourceOptions(t.config.database.url), extra: { max: 2 } });
    await db.initialize();
    writer = new OutcomeWriter(db);
  });
  afterAll(async () => {
    await db?.destroy();
  });

  const batch = (events: OutcomeRecord[]): OutcomeBatchJob => ({ projectId: projectA, receivedAt: new Date().toISOString(), events });

  it('fails a write on data with an error classified as data, and rolls it back whole', async () => {
    const cases: Array<[Partial<OutcomeRecord>, RegExp]> = [
      [{ unitId: 'a\u0000b' }, /^SQLSTATE 22021: invalid byte sequence/],
      [{ metrics: { 'a\u0000': 1 } }, /^SQLSTATE 22P05: unsupported Unicode escape sequence/],
      [{ at: '0000-01-01T00:00:00.000Z' }, /^SQLSTATE 22008: date\/time field value out of range/],
      [{ latencyMs: 1e200 }, /non-finite aggregate delta \(outcome_unit\.latency_sumsq\)/],
      [{ inputTokens: 1e20 }, /^SQLSTATE 22003: value "100000000000000000000" is out of range for type bigint/],
    ];
    for (const [i, [override, reason]] of cases.entries()) {
      const error = await writer.writeBatches([batch([record(a.id, `w-good-${i}`), record(a.id, `w-bad-${i}`, override)])]).then(() => null, (e: unknown) => e);
      expect(dataErrorReason(error)).toMatch(reason);
      expect(await count(t.db, `SELECT count(*) FROM outcome_event WHERE event_id = $1`, [`w-good-${i}`])).toBe(0);
    }
  });

  it('bisects a batch down to the events that fail alone and writes all the others', async () => {
    const events = Array.from({ length: 64 }, (_, i) => record(a.id, `bisect-${i}`, i === 5 ? { unitId: '\u0000' } : i === 40 ? { latencyMs: 1e300 } : {}));
    const poison = await isolatePoison(events, (part) => writer.writeBatches([batch(part)]));
    expect(poison.map((p) => p.item.eventId)).toEqual(['bisect-5', 'bisect-40']);
    expect(await count(t.db, `SELECT count(*) FROM outcome_event WHERE event_id LIKE 'bisect-%'`)).toBe(62);
  });
});
