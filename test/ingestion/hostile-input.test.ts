import type { INestApplicationContext } from '@nestjs/common';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { count, outcomeEvent, runningExperiment, type Client } from './support/ingestion-fixture';

/**
 * Hostile and careless input on every ingestion route, through HTTP against the real API
 * and worker: each case answers 4xx naming the field, or is stored; never 500; and nothing
 * acknowledged is lost (asserted on the rows, and no dead letter: nothing reached Postgres
 * that it could not hold). Lone surrogates are sent as raw JSON text ("\ud800" escapes).
 */
jest.setTimeout(120_000);

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

type Rejected = { index: number; errors: Array<{ field: string; message: string }> };

/** Posts raw JSON text, so escapes such as \ud800 and numbers such as 1e400 reach the server as written. */
const raw = (sdk: Client, path: string, text: string) => sdk.call('POST', path, text, { 'content-type': 'application/json' });

/** An event's JSON with one field replaced by raw JSON text. */
function eventWith(n: number, field: string, rawValue: string): string {
  const base = outcomeEvent(exp.key, n, { unitId: `hostile-${n}` });
  delete base[field];
  const json = JSON.stringify(base);
  return `${json.slice(0, -1)},"${field}":${rawValue}}`;
}

const HOUR = 3_600_000;

describe('POST /v1/outcomes', () => {
  // [field named in the answer, field, raw JSON value]
  const cases: Array<[string, string, string]> = [
    ['unitId', 'unitId', '"u\\u0000x"'],
    ['unitId', 'unitId', '"u\\ud800x"'],
    ['unitId', 'unitId', '"\\udc00"'],
    ['id', 'id', '"evt\\u0000"'],
    ['id', 'id', '"evt-\\ud83d"'],
    ['error', 'error', '"timeout\\u0000"'],
    ['error', 'error', '"boom\\udfff"'],
    ['variant', 'variant', '"control\\u0000"'],
    ['latencyMs', 'latencyMs', '1e308'],
    ['latencyMs', 'latencyMs', '1e200'],
    ['latencyMs', 'latencyMs', '1e400'],
    ['latencyMs', 'latencyMs', '1e-200'],
    ['ttftMs', 'ttftMs', '86400001'],
    ['costUsd', 'costUsd', '1e200'],
    ['costUsd', 'costUsd', '5e-324'],
    ['score', 'score', '1e200'],
    ['score', 'score', '-1e400'],
    ['inputTokens', 'inputTokens', '9223372036854775808'],
    ['outputTokens', 'outputTokens', '18446744073709551616'],
    ['inputTokens', 'inputTokens', '1000000001'],
    ['metrics.thumbs_up', 'metrics', '{"thumbs_up":1e200}'],
    ['metrics.thumbs_up', 'metrics', '{"thumbs_up":1e-300}'],
    ['metrics.a\\u0000b', 'metrics', '{"a\\u0000b":1}'],
    ['metrics.\\ud800', 'metrics', '{"\\ud800":1}'],
    [`metrics.${'m'.repeat(64)}…`, 'metrics', `{"${'m'.repeat(100_000)}":1}`],
    ['timestamp', 'timestamp', '"0000-01-01T00:00:00Z"'],
    ['timestamp', 'timestamp', '"-000001-01-01T00:00:00Z"'],
    ['timestamp', 'timestamp', '"+275760-09-13T00:00:00Z"'],
    ['timestamp', 'timestamp', `"${new Date(Date.now() - 24 * HOUR).toISOString()}"`],
    ['timestamp', 'timestamp', `"${new Date(Date.now() + 10 * 60_000).toISOString()}"`],
    ['timestamp', 'timestamp', `"${'9'.repeat(10_000)}"`],
  ];

  it('answers 202 naming the field of each unstorable event, and stores every other event of the batch', async () => {
    const base = 100;
    const good = [0, 1, 2].map((i) => JSON.stringify(outcomeEvent(exp.key, base + i, { unitId: `hostile-good-${i}` })));
    const bad = cases.map(([, field, value], i) => eventWith(base + 10 + i, field, value));
    const res = await raw(exp.sdk, '/v1/outcomes', `{"events":[${[...good, ...bad].join(',')}]}`);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(3);
    const named = new Map<number, string[]>(res.body.rejected.map((r: Rejected) => [r.index - 3, r.errors.map((e) => e.field)]));
    cases.forEach(([field, , value], i) => expect([value.slice(0, 40), named.get(i)]).toEqual([value.slice(0, 40), [field]]));
    const messages = res.body.rejected.flatMap((r: Rejected) => r.errors.map((e) => e.message));
    expect(messages).toEqual(expect.arrayContaining([
      expect.stringMatching(/must not contain NUL/),
      expect.stringMatching(/lone surrogate/),
      expect.stringMatching(/before the experiment was created/),
      expect.stringMatching(/more than 5 minutes in the future/),
      expect.stringMatching(/must be an integer from 0 to 1000000000/),
      expect.stringMatching(/magnitude at most 1000000000000/),
      expect.stringMatching(/must be 0 or of magnitude at least 1e-100/),
    ]));
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE unit_id LIKE 'hostile-good-%'`)) === 3);
    expect(await count(t.db, `SELECT count(*) FROM outcome_event WHERE unit_id LIKE 'hostile-%' AND unit_id NOT LIKE 'hostile-good-%'`)).toBe(0);
  });

  it('stores the largest and smallest values the definition allows, exactly as sent', async () => {
    const edge = outcomeEvent(exp.key, 300, {
      unitId: 'edge-😀-ü', id: 'edge-\ud83d\ude00', latencyMs: 86_400_000, ttftMs: 1e-100, inputTokens: 1_000_000_000, outputTokens: 0,
      costUsd: 1_000_000, score: 0, error: 'e'.repeat(256), metrics: { thumbs_up: -1e12 }, timestamp: new Date(Date.now() - 60_000).toISOString(),
    });
    const res = await exp.sdk.post('/v1/outcomes', { events: [edge] });
    expect([res.status, res.body.accepted, res.body.rejected]).toEqual([202, 1, []]);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_event WHERE event_id = $1`, [edge.id])) === 1);
    const [row] = await t.db.query(
      `SELECT unit_id, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, score, error, metrics, occurred_at FROM outcome_event WHERE event_id = $1`,
      [edge.id],
    );
    expect(row).toEqual({
      unit_id: edge.unitId, latency_ms: 86_400_000, ttft_ms: 1e-100, input_tokens: '1000000000', output_tokens: '0', cost_usd: 1_000_000, score: 0,
      error: edge.error, metrics: { thumbs_up: -1e12 }, occurred_at: new Date(edge.timestamp as string),
    });
    // The results read those aggregates without an overflow or underflow.
    expect((await exp.admin.get(`/v1/experiments/${exp.key}/results`)).status).toBe(200);
  });

  it('refuses a body that is not JSON, or not a batch, with 400 naming it', async () => {
    for (const text of ['{"events":[', '{"events":{"0":{}}}', '{"events":[],"x":"\\u0000"}']) {
      const res = await raw(exp.sdk, '/v1/outcomes', text);
      expect(res.status).toBe(400);
      expect(res.body.errors.length).toBeGreaterThan(0);
    }
  });
});

describe('POST /v1/feedback', () => {
  it('names each unstorable field and stores the rest', async () => {
    const items = [
      '{"eventId":"fb-good","score":3,"metrics":{"anything":2}}',
      '{"eventId":"fb\\u0000","score":1}',
      '{"eventId":"fb-\\ud800","score":1}',
      '{"eventId":"fb-2","score":1e300}',
      '{"eventId":"fb-3","metrics":{"\\udc00":1}}',
      '{"eventId":"fb-4","metrics":{"thumbs_up":1e400}}',
      '{"eventId":"fb-5","success":"yes"}',
    ];
    const res = await raw(exp.sdk, '/v1/feedback', `{"items":[${items.join(',')}]}`);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected.map((r: Rejected) => [r.index, r.errors.map((e) => e.field)])).toEqual([
      [1, ['eventId']],
      [2, ['eventId']],
      [3, ['score']],
      [4, ['metrics.\\udc00']],
      [5, ['metrics.thumbs_up']],
      [6, ['success']],
    ]);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM outcome_feedback WHERE event_id = 'fb-good'`)) === 1);
    const [row] = await t.db.query(`SELECT score, metrics FROM outcome_feedback WHERE event_id = 'fb-good'`);
    expect(row).toEqual({ score: 3, metrics: { anything: 2 } });
  });
});

describe('exposures', () => {
  it('POST /v1/exposures names the field of unstorable or impossible exposures and stores the rest', async () => {
    const unit = 'exposed-1';
    const { variant } = (await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: unit })).body;
    const good = JSON.stringify({ experiment: exp.key, unitId: unit, variant });
    const items = [
      good,
      `{"experiment":"${exp.key}","unitId":"x\\u0000","variant":"control"}`,
      `{"experiment":"${exp.key}","unitId":"x\\ud800","variant":"control"}`,
      `{"experiment":"${exp.key}","unitId":"${unit}","variant":"${variant}","timestamp":"${new Date(Date.now() - 24 * HOUR).toISOString()}"}`,
    ];
    const res = await raw(exp.sdk, '/v1/exposures', `{"exposures":[${items.join(',')}]}`);
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(1);
    expect(res.body.rejected.map((r: Rejected) => [r.index, r.errors.map((e) => e.field)])).toEqual([
      [1, ['unitId']],
      [2, ['unitId']],
      [3, ['timestamp']],
    ]);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM exposure WHERE experiment_id = $1 AND unit_id = $2`, [exp.id, unit])) === 1);
  });

  it('refuses exposure times without a partition or before the experiment, naming the field', async () => {
    const times = ['0000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z', '+275760-09-13T00:00:00Z', '1999-12-31T23:59:59Z'];
    const items = times.map((at) => `{"experiment":"${exp.key}","unitId":"u","variant":"control","timestamp":"${at}"}`);
    const res = await raw(exp.sdk, '/v1/exposures', `{"exposures":[${items.join(',')}]}`);
    // Each item is rejected on its own, naming its timestamp (never a 400 for the whole request).
    expect([res.status, res.body.accepted]).toEqual([202, 0]);
    expect(res.body.rejected.map((r: Rejected) => [r.index, r.errors.map((e) => e.field)])).toEqual(times.map((_, i) => [i, ['timestamp']]));
  });

  it('/v1/assign and /v1/assign/batch refuse a unit id an exposure could not store, 400 naming it', async () => {
    for (const unit of ['"a\\u0000"', '"a\\ud800"', '"\\udfffa"']) {
      const one = await raw(exp.sdk, '/v1/assign', `{"experiment":"${exp.key}","unitId":${unit}}`);
      expect([one.status, one.body.errors]).toEqual([400, [{ field: 'unitId', message: expect.any(String) }]]);
      const batch = await raw(exp.sdk, '/v1/assign/batch', `{"items":[{"experiment":"${exp.key}","unitId":"fine"},{"experiment":"${exp.key}","unitId":${unit}}]}`);
      expect([batch.status, batch.body.errors?.map((e: { field: string }) => e.field)]).toEqual([400, ['items.1.unitId']]);
    }
    const surrogatePair = await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: 'pair-\ud83d\ude00' });
    expect(surrogatePair.status).toBe(200);
    await eventually(async () => (await count(t.db, `SELECT count(*) FROM exposure WHERE unit_id = $1`, ['pair-\ud83d\ude00'])) === 1);
  });
});

describe('afterwards', () => {
  it('dead-lettered nothing: no acknowledged item reached the worker that Postgres could not hold', async () => {
    await eventually(async () => {
      const rows = await t.db.query(`SELECT kind, result, sum(n)::int AS n FROM ingest_counter GROUP BY 1, 2 ORDER BY 1, 2`);
      return rows.some((r: { kind: string }) => r.kind === 'exposure');
    });
    expect(await count(t.db, `SELECT count(*) FROM ingest_dead_letter`)).toBe(0);
    expect(await count(t.db, `SELECT count(*) FROM ingest_counter WHERE result = 'dead_lettered'`)).toBe(0);
  });
});
