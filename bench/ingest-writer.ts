/**
 * The outcome writer alone (no HTTP, no queue): BENCH_EVENTS events (default 200,000) written
 * by OutcomeWriter.writeEvents in batches of BENCH_BATCH (2,000, the size the API coalesces
 * to) on BENCH_LANES concurrent connections (2, the default worker concurrency), against the
 * raw COPY rate of the same rows into an unindexed scratch table in the same run. Users
 * cycle every 100,000 events, so the second half of the default run updates unit rows.
 *
 * Run (Postgres local): node -r ./scripts/register-swc.cjs bench/ingest-writer.ts
 * It creates and drops its own database. The last line is
 * {"bench": "ingest-writer", "value": events/s, "unit": "events/s", "reference": copy rows/s, "ratio": ...}.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { dataSourceOptions } from '../libs/database/data-source';
import { copyInto, copyText } from '../libs/database/copy-rows';
import { OutcomeWriter } from '../libs/ingestion/outcome-writer';
import type { OutcomeRecord } from '../libs/queue/queues';
import { createBenchDatabase } from './support/bench-api';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 200_000);
const BATCH = Number(process.env.BENCH_BATCH ?? 2_000);
const LANES = Number(process.env.BENCH_LANES ?? 2);

function events(experimentId: string, from: number, to: number, at: string): OutcomeRecord[] {
  const out: OutcomeRecord[] = [];
  for (let n = from; n < to; n++) {
    out.push({
      experimentId, eventId: `e${n}`, at, phase: 1, unitId: `u${n % 100_000}`, variant: n % 2 ? 'small' : 'control',
      latencyMs: 80 + (n % 900), ttftMs: 10 + (n % 90), inputTokens: 400 + (n % 300), outputTokens: 100 + (n % 200),
      costUsd: 0.0004 + (n % 7) / 10_000, costComputed: true, success: n % 4 !== 0, score: (n % 10) / 10, error: null, metrics: null,
    });
  }
  return out;
}

async function main(): Promise<void> {
  const database = await createBenchDatabase();
  const ds = new DataSource(dataSourceOptions(database.url));
  await ds.initialize();
  try {
    const writer = new OutcomeWriter(ds);
    const [project] = await ds.query(`INSERT INTO project (name) VALUES ('bench') RETURNING id`);
    const experimentId = randomUUID();
    // A user-unit experiment row, so that the writer takes its real path: each new unit's CUPED covariate is looked up (docs/adr/0026).
    await ds.query(
      `INSERT INTO experiment (id, project_id, key, name, unit_type, status, salt, traffic_allocation, variants, metrics, stats, forced)
       VALUES ($1, $2, 'bench', 'bench', 'user', 'running', 'bench', 1, '[]', '{}', '{"alpha": 0.05, "sequential": true, "plannedUnits": null}', '[]')`,
      [experimentId, project.id],
    );
    const at = new Date().toISOString();

    // Reference: the same rows, COPY text, into an unindexed table, one connection.
    const all = events(experimentId, 0, EVENTS, at);
    const reference = await ds.transaction(async (manager) => {
      await manager.query(`CREATE TABLE bench_scratch (experiment_id uuid, event_id text, occurred_at timestamptz, phase int, unit_id text,
        variant text, latency_ms float8, ttft_ms float8, input_tokens int8, output_tokens int8, cost_usd float8, cost_computed bool,
        success bool, score float8, error text, metrics jsonb)`);
      const text = copyText(all, [
        (e) => e.experimentId, (e) => e.eventId, (e) => e.at, (e) => e.phase, (e) => e.unitId, (e) => e.variant, (e) => e.latencyMs,
        (e) => e.ttftMs, (e) => e.inputTokens, (e) => e.outputTokens, (e) => e.costUsd, (e) => e.costComputed, (e) => e.success,
        (e) => e.score, (e) => e.error, (e) => e.metrics,
      ]);
      const started = process.hrtime.bigint();
      await copyInto(manager, 'bench_scratch', text);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      await manager.query(`DROP TABLE bench_scratch`);
      return EVENTS / seconds;
    });
    console.log(`raw COPY: ${Math.round(reference)} rows/s`);

    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: LANES }, async () => {
        while (next < EVENTS) {
          const from = next;
          next = Math.min(EVENTS, next + BATCH);
          await writer.writeEvents({ projectId: project.id, receivedAt: at, events: all.slice(from, Math.min(EVENTS, from + BATCH)) });
        }
      }),
    );
    const value = EVENTS / (Number(process.hrtime.bigint() - started) / 1e9);
    const [{ n }] = await ds.query(`SELECT sum(n)::int AS n FROM outcome_moment WHERE metric = '$events'`);
    if (n !== EVENTS) throw new Error(`expected ${EVENTS} events in the aggregates, found ${n}`);
    console.log(`writer: ${Math.round(value)} events/s (${EVENTS} events, batches of ${BATCH}, ${LANES} connections)`);
    console.log(JSON.stringify({ bench: 'ingest-writer', value: Math.round(value), unit: 'events/s', reference: Math.round(reference), ratio: value / reference }));
  } finally {
    await ds.destroy();
    await database.drop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
