/**
 * Shadow results benchmark (docs/adr/0031): the shadow section's one SQL pass (SHADOW_SQL in
 * libs/analysis/analysis-store.ts) over BENCH_PAIRS shadow outcomes (default 100,000), each
 * paired with a served event, in the run's own migrated database. Data straight into Postgres
 * with generate_series (served events 7 ms apart in outcome_event and outcome_event_key, copies in
 * shadow_outcome), ANALYZE, then the query BENCH_ROUNDS times (default 5). The last line is
 * {"bench": "shadow-results", "value": median_ms, "unit": "ms", "pairs": N}.
 *
 * Run (Postgres local): node -r ./scripts/register-swc.cjs bench/shadow-results.ts
 */
import 'reflect-metadata';
import { Client } from 'pg';
import { SHADOW_SQL } from '../libs/analysis/analysis-store';
import { createBenchDatabase } from './support/bench-api';

const PAIRS = Number(process.env.BENCH_PAIRS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const EXPERIMENT = '00000000-0000-4000-8000-00000000beef';
const PROJECT = '00000000-0000-4000-8000-00000000cafe';

async function main(): Promise<void> {
  const database = await createBenchDatabase();
  const db = new Client({ connectionString: database.url });
  await db.connect();
  try {
    await db.query(`SELECT setseed(0.31)`);
    await db.query(
      `INSERT INTO outcome_event (experiment_id, event_id, occurred_at, received_at, phase, unit_id, variant, latency_ms, ttft_ms, input_tokens, output_tokens, cost_usd, success, error)
       SELECT $1, 'e' || i, now() - i * interval '7 ms', now(), 1, 'u' || (i % 5000), 'v1', 500 + 200 * random(), 80 + 40 * random(),
         300 + (random() * 400)::int, 100 + (random() * 200)::int, 0.001 * random(), i % 50 <> 0, CASE WHEN i % 50 = 0 THEN 'upstream_5xx' END
       FROM generate_series(1, $2) i`,
      [EXPERIMENT, PAIRS],
    );
    await db.query(
      `INSERT INTO outcome_event_key (experiment_id, event_id, project_id, occurred_at, phase, unit_id, variant, success)
       SELECT experiment_id, event_id, $2, occurred_at, phase, unit_id, variant, success FROM outcome_event WHERE experiment_id = $1`,
      [EXPERIMENT, PROJECT],
    );
    await db.query(
      `INSERT INTO shadow_outcome (experiment_id, event_id, paired_event_id, project_id, occurred_at, phase, unit_id, variant, latency_ms, ttft_ms,
         input_tokens, output_tokens, cost_usd, success, error, exact_match, json_match, received_at)
       SELECT $1, 's' || i, 'e' || i, $2, now(), 1, 'u' || (i % 5000), 'v2', 400 + 200 * random(), 60 + 40 * random(),
         300 + (random() * 400)::int, 100 + (random() * 200)::int, 0.0005 * random(), i % 40 <> 0, CASE WHEN i % 40 = 0 THEN 'timeout' END,
         random() < 0.6, CASE WHEN i % 3 = 0 THEN random() < 0.9 END, now()
       FROM generate_series(1, $3) i`,
      [EXPERIMENT, PROJECT, PAIRS],
    );
    await db.query('ANALYZE');
    const times: number[] = [];
    let pairs = 0;
    for (let r = 0; r < ROUNDS; r++) {
      const start = process.hrtime.bigint();
      const rows: Array<{ pairs: number }> = (await db.query(SHADOW_SQL, [EXPERIMENT])).rows;
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      pairs = Number(rows[0]?.pairs ?? 0);
    }
    if (pairs !== PAIRS) throw new Error(`expected ${PAIRS} pairs, the query found ${pairs}`);
    times.sort((a, b) => a - b);
    console.log(`rounds (ms): ${times.map((t) => t.toFixed(1)).join(', ')}`);
    console.log(JSON.stringify({ bench: 'shadow-results', value: Number(times[Math.floor(times.length / 2)].toFixed(1)), unit: 'ms', pairs: PAIRS }));
  } finally {
    await db.end();
    await database.drop();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
