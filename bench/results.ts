/**
 * Results benchmark: GET /v1/experiments/{key}/results for an experiment with BENCH_EVENTS
 * events (default 10,000,000) over BENCH_UNITS users (default 1,000,000), cold and then
 * cached, against one naive SQL query with exact percentiles (percentile_cont) over the
 * raw events, same database, same run; then GET .../results/daily (dailyMs in the last line).
 *
 * Run (Postgres and Redis local):
 *   node -r ./scripts/register-swc.cjs bench/results.ts
 * Settings: BENCH_EVENTS, BENCH_UNITS, TEST_POSTGRES_URL, TEST_REDIS_URL. It creates and drops
 * its own database. The data are generated straight into Postgres with generate_series: raw
 * rows into outcome_event, then every aggregate (outcome_unit, outcome_moment,
 * outcome_histogram with libs/stats' bucket rule, outcome_daily, exposure_count) computed FROM those rows
 * in SQL, so the aggregates are consistent with the raw events by construction (what the
 * ingestion worker maintains incrementally). The last line is
 * {"bench": "results", "value": cold_ms, "unit": "ms", "reference": naive_ms, "ratio": cold_ms/naive_ms}.
 *
 * CUPED (docs/cuped.md): four units in five get pre-exposure sums (outcome_unit.pre_*, what the
 * writer stores from baseline_unit_day), correlated with their sums in the experiment, and the
 * per-variant CUPED sums (outcome_cuped) are computed from them. The results
 * are then computed cold with CUPED off and on in turn (stats.cuped.mode, the revision bumped so the
 * cache misses), BENCH_CUPED_ROUNDS times each (default 3); the line before the last is
 * {"bench": "results-cuped", "value": median_on_ms, "unit": "ms", "reference": median_off_ms, "ratio": on/off} (target <= 1.5).
 */
import { startBenchApi } from './support/bench-api';
import 'reflect-metadata';
import { Client } from 'pg';
import { DAILY_METRICS } from '../libs/ingestion/daily-aggregate';
import { sumMetrics } from '../libs/metrics/metric-registry';
import { gammaOf } from '../libs/stats/log-histogram';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 10_000_000);
const UNITS = Number(process.env.BENCH_UNITS ?? 1_000_000);
/** Event i is on day i mod DAYS and belongs to user i mod UNITS: with UNITS a multiple of DAYS, each user's events share one day. */
const DAYS = 20;

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6;

async function timed<T>(label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = process.hrtime.bigint();
  const value = await fn();
  const elapsed = ms(start);
  console.log(`${label}: ${elapsed.toFixed(1)} ms`);
  return { value, ms: elapsed };
}

async function generate(db: Client, experimentId: string): Promise<void> {
  const lnGamma = Math.log(gammaOf());
  await db.query(`SELECT setseed(0.42)`);
  // Users alternate between the arms; each event belongs to user (i mod UNITS); latency is log-normal.
  await timed(`generate ${EVENTS} raw events`, () =>
    db.query(
      `INSERT INTO outcome_event (experiment_id, event_id, occurred_at, received_at, phase, unit_id, variant, latency_ms, ttft_ms,
         input_tokens, output_tokens, cost_usd, cost_computed, success, score, error)
       SELECT $1, 'e' || i, now() - (i % ${DAYS}) * interval '1 day', now(), 1, 'u' || (i % $3),
         CASE WHEN i % $3 % 2 = 0 THEN 'control' ELSE 'treatment' END,
         round((700 * exp(0.4 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())))::numeric, 1)::float8,
         round((100 + 50 * random())::numeric, 1)::float8,
         300 + (random() * 400)::int, 100 + (random() * 200)::int,
         round((0.005 + 0.01 * random())::numeric, 6)::float8, false,
         random() < CASE WHEN i % $3 % 2 = 0 THEN 0.70 ELSE 0.72 END,
         round(random()::numeric, 3)::float8, CASE WHEN random() < 0.02 THEN 'timeout' END
       FROM generate_series(1, $2::bigint) AS i`,
      [experimentId, EVENTS, UNITS],
    ),
  );
  await timed('aggregate outcome_unit', () =>
    db.query(
      `INSERT INTO outcome_unit (experiment_id, phase, variant, unit_id, events, success_n, successes, score_n, score_sum, score_sumsq,
         latency_n, latency_sum, latency_sumsq, ttft_n, ttft_sum, ttft_sumsq, cost_n, cost_sum, cost_sumsq, cost_unknown, input_tokens, output_tokens, errors,
         input_tokens_n, output_tokens_n)
       SELECT experiment_id, phase, variant, unit_id, count(*), count(success), count(*) FILTER (WHERE success), count(score), sum(score), sum(score * score),
         count(latency_ms), sum(latency_ms), sum(latency_ms * latency_ms), count(ttft_ms), sum(ttft_ms), sum(ttft_ms * ttft_ms),
         count(cost_usd), sum(cost_usd), sum(cost_usd * cost_usd), count(*) FILTER (WHERE cost_usd IS NULL), sum(input_tokens), sum(output_tokens), count(error),
         count(input_tokens), count(output_tokens)
       FROM outcome_event WHERE experiment_id = $1 GROUP BY 1, 2, 3, 4`,
      [experimentId],
    ),
  );
  await timed('aggregate outcome_moment', () =>
    db.query(
      `INSERT INTO outcome_moment (experiment_id, phase, variant, metric, n, sum, sumsq)
       SELECT experiment_id, phase, variant, m.metric, count(m.x), COALESCE(sum(m.x), 0), COALESCE(sum(m.x * m.x), 0)
       FROM outcome_event e CROSS JOIN LATERAL (VALUES
         ('$events', 0::float8), ('success_rate', success::int::float8), ('score', score), ('latency_ms', latency_ms), ('ttft_ms', ttft_ms),
         ('cost_usd', cost_usd), ('input_tokens', input_tokens::float8), ('output_tokens', output_tokens::float8), ('error_rate', (error IS NOT NULL)::int::float8)
       ) AS m(metric, x)
       WHERE experiment_id = $1 GROUP BY 1, 2, 3, 4`,
      [experimentId],
    ),
  );
  await timed('aggregate outcome_histogram', () =>
    db.query(
      `INSERT INTO outcome_histogram (experiment_id, phase, variant, metric, bucket, count)
       SELECT experiment_id, phase, variant, h.metric, ceil(ln(h.x) / $2)::int, count(*)
       FROM outcome_event e CROSS JOIN LATERAL (VALUES ('latency_ms', latency_ms), ('ttft_ms', ttft_ms)) AS h(metric, x)
       WHERE experiment_id = $1 AND h.x > 0 GROUP BY 1, 2, 3, 4, 5`,
      [experimentId, lnGamma],
    ),
  );
  // outcome_daily: every user's events fall on one day (UNITS is a multiple of DAYS), so each day's
  // row holds that day's new users and their whole sums (docs/adr/0013).
  const dailyStats = Object.entries(DAILY_METRICS).map(([metric, [y, z]]) => [
    [`${metric}_y`, `sum(${y})`], [`${metric}_yy`, `sum(${y}::float8 * ${y})`], [`${metric}_z`, `sum(${z})`],
    [`${metric}_zz`, `sum(${z}::float8 * ${z})`], [`${metric}_yz`, `sum(${y}::float8 * ${z})`],
  ]).flat();
  await timed('aggregate outcome_daily', () =>
    db.query(
      `INSERT INTO outcome_daily (experiment_id, phase, variant, day, new_units, events, ${dailyStats.map(([c]) => c).join(', ')})
       SELECT experiment_id, phase, variant, day, count(*), sum(events), ${dailyStats.map(([, e]) => e).join(', ')}
       FROM (SELECT experiment_id, phase, variant, unit_id, min((occurred_at AT TIME ZONE 'UTC')::date) AS day, count(*) AS events,
               count(success) AS success_n, count(*) FILTER (WHERE success) AS successes, count(score) AS score_n, COALESCE(sum(score), 0) AS score_sum,
               count(latency_ms) AS latency_n, COALESCE(sum(latency_ms), 0) AS latency_sum, count(cost_usd) AS cost_n,
               COALESCE(sum(cost_usd), 0) AS cost_sum, count(error) AS errors
             FROM outcome_event WHERE experiment_id = $1 GROUP BY 1, 2, 3, 4) u
       GROUP BY 1, 2, 3, 4`,
      [experimentId],
    ),
  );
  // Pre-exposure sums for four units in five: the same behaviour scaled by a random factor, so covariates correlate with the outcomes.
  await timed('pre-exposure sums (CUPED)', () =>
    db.query(
      `UPDATE outcome_unit SET has_pre = true, pre_events = events * 2, pre_success_n = success_n * 2,
         pre_successes = LEAST(success_n * 2, round(successes * (1.5 + random()))), pre_score_n = score_n * 2, pre_score_sum = score_sum * (1.5 + random()),
         pre_errors = errors, pre_latency_n = latency_n * 2, pre_latency_sum = latency_sum * (1.5 + random()), pre_ttft_n = ttft_n * 2,
         pre_ttft_sum = ttft_sum * (1.5 + random()), pre_input_tokens = input_tokens * 2, pre_input_tokens_n = input_tokens_n * 2,
         pre_output_tokens = output_tokens * 2, pre_output_tokens_n = output_tokens_n * 2, pre_cost_n = cost_n * 2, pre_cost_sum = cost_sum * (1.5 + random())
       WHERE experiment_id = $1 AND hashtext(unit_id) % 5 <> 0`,
      [experimentId],
    ),
  );
  // outcome_cuped: what the writer keeps per variant from those sums (docs/adr/0026), computed here from outcome_unit.
  const values = sumMetrics()
    .map(({ name, numerator: y, denominator: z }) => `('${name}', ${y.column}::float8, ${z.column}::float8, pre_${y.column}::float8, pre_${z.column}::float8)`)
    .join(', ');
  await timed('aggregate outcome_cuped', () =>
    db.query(
      `INSERT INTO outcome_cuped (experiment_id, phase, variant, metric, with_pre, py, pyy, pz, pzz, pyz, y_py, z_pz, y_pz, py_z, i_n, i_y, i_z)
       SELECT experiment_id, phase, variant, m.metric, count(*) FILTER (WHERE m.q <> 0), sum(m.p), sum(m.p * m.p), sum(m.q), sum(m.q * m.q), sum(m.p * m.q),
         sum(m.y * m.p), sum(m.z * m.q), sum(m.y * m.q), sum(m.p * m.z), count(*), sum(m.y), sum(m.z)
       FROM outcome_unit u CROSS JOIN LATERAL (VALUES ${values}) AS m(metric, y, z, p, q)
       WHERE experiment_id = $1 AND has_pre GROUP BY 1, 2, 3, 4`,
      [experimentId],
    ),
  );
  await db.query(
    `INSERT INTO exposure_count (experiment_id, phase, variant, units)
     SELECT experiment_id, phase, variant, count(*) FROM outcome_unit WHERE experiment_id = $1 GROUP BY 1, 2, 3`,
    [experimentId],
  );
  await timed('vacuum analyze', () => db.query('VACUUM ANALYZE'));
}

async function main(): Promise<void> {
  if (UNITS % DAYS !== 0) throw new Error(`BENCH_UNITS must be a multiple of ${DAYS}: the generated daily aggregate assumes each user's events share one day`);
  const bench = await startBenchApi();
  const { config, base } = bench;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${config.auth.bootstrapAdminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    // A bench reads the JSON it just asked for.
    const json = (await res.json()) as any;
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const db = new Client({ connectionString: config.database.url });
  await db.connect();
  try {
    const key = 'bench-results';
    const created = await call('POST', '/v1/experiments', {
      key,
      name: 'results bench',
      unitType: 'user',
      variants: [
        { key: 'control', weight: 1, isControl: true },
        { key: 'treatment', weight: 1 },
      ],
      metrics: {
        primary: { name: 'success_rate', goal: 'increase' },
        secondary: [{ name: 'score', goal: 'increase' }],
        guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }, { name: 'error_rate', maxRelativeIncrease: 0.2 }],
      },
      stats: { alpha: 0.05, sequential: true, plannedUnits: UNITS },
    });
    await call('POST', `/v1/experiments/${key}/start`);
    await generate(db, created.id);

    const naive = await timed('naive SQL with exact percentiles over raw events', () =>
      db.query(
        `SELECT variant, count(*) AS events, count(DISTINCT unit_id) AS units, avg(success::int) AS success_rate, avg(score) AS score,
           avg(latency_ms) AS latency_ms, stddev(latency_ms) AS latency_sd, avg(cost_usd) AS cost_usd, sum(cost_usd) AS total_cost,
           avg((error IS NOT NULL)::int) AS error_rate,
           percentile_cont(ARRAY[0.5, 0.9, 0.95, 0.99]) WITHIN GROUP (ORDER BY latency_ms) AS latency_pct
         FROM outcome_event WHERE experiment_id = $1 GROUP BY variant`,
        [created.id],
      ),
    );
    const cold = await timed('results endpoint, cold', () => call('GET', `/v1/experiments/${key}/results`));
    const warm: number[] = [];
    for (let i = 0; i < 20; i++) warm.push((await timed(`results endpoint, cached #${i + 1}`, () => call('GET', `/v1/experiments/${key}/results`))).ms);
    warm.sort((a, b) => a - b);
    const cached = warm[Math.floor(warm.length / 2)];

    // The same numbers both ways (percentiles within the histogram's 1 % relative error).
    for (const row of naive.value.rows) {
      const v = cold.value.variants.find((x: { key: string }) => x.key === row.variant);
      const p95 = v.metrics.latency_ms.p95.value;
      const exact = Number(row.latency_pct[2]);
      console.log(
        `${row.variant}: units ${v.units} vs ${row.units}, events ${v.events} vs ${row.events}, success ${v.metrics.success_rate.mean.toFixed(6)} vs ${Number(row.success_rate).toFixed(6)}, ` +
          `latency p95 ${p95.toFixed(1)} vs exact ${exact.toFixed(1)} (${((100 * (p95 - exact)) / exact).toFixed(2)} %)`,
      );
    }
    console.log(`decision: ${cold.value.decision.action} ${cold.value.decision.winner ?? ''} | ${cold.value.decision.reasons[0]}`);
    console.log(`cached (median of 20): ${cached.toFixed(2)} ms`);

    // The daily series reads the same kind of aggregate: a few rows per day, whatever the events.
    const daily = await timed('daily series endpoint, cold', () => call('GET', `/v1/experiments/${key}/results/daily`));
    const last = daily.value.days.at(-1);
    for (const v of cold.value.variants) {
      const d = last.variants.find((x: { key: string }) => x.key === v.key);
      console.log(`${v.key}: daily last day units ${d.units} vs results ${v.units}, success ${d.metrics.success_rate.mean.toFixed(6)} vs ${v.metrics.success_rate.mean.toFixed(6)}`);
    }
    // CUPED off and on in turn, cold each time: the mode is set in the database and the revision bumped (the cache key).
    const rounds = Number(process.env.BENCH_CUPED_ROUNDS ?? 3);
    const times: Record<'off' | 'auto', number[]> = { off: [], auto: [] };
    let adjusted: any = null;
    for (let r = 0; r < rounds; r++) {
      for (const mode of ['off', 'auto'] as const) {
        await db.query(`UPDATE experiment SET stats = jsonb_set(stats, '{cuped,mode}', to_jsonb($2::text)), revision = revision + 1 WHERE id = $1`, [created.id, mode]);
        const run = await timed(`results endpoint, cold, CUPED ${mode === 'off' ? 'off' : 'on'}`, () => call('GET', `/v1/experiments/${key}/results`));
        times[mode].push(run.ms);
        if (mode === 'auto') adjusted = run.value;
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const primary = adjusted.comparisons.find((c: { variant: string; metric: string }) => c.variant === 'treatment' && c.metric === 'success_rate');
    console.log(`CUPED on success_rate: ${primary.cuped ? `variance reduction ${(100 * primary.cuped.varianceReduction).toFixed(1)} %, units with covariate ${primary.cuped.unitsWithCovariate} of ${primary.cuped.units}` : 'none'}`);
    const cupedOn = median(times.auto);
    const cupedOff = median(times.off);
    console.log(JSON.stringify({ bench: 'results-cuped', value: Math.round(cupedOn), unit: 'ms', reference: Math.round(cupedOff), ratio: cupedOn / cupedOff, units: UNITS }));
    console.log(JSON.stringify({ bench: 'results', value: Math.round(cold.ms), unit: 'ms', reference: Math.round(naive.ms), ratio: cold.ms / naive.ms, cachedMs: cached, dailyMs: Math.round(daily.ms), cupedOnMs: Math.round(cupedOn), cupedOffMs: Math.round(cupedOff), events: EVENTS, units: UNITS }));
  } finally {
    await db.end();
    await bench.dispose();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
