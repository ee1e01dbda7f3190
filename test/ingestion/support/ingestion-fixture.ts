import type { DataSource } from 'typeorm';
import { DAILY_METRICS, DAILY_STAT_COLUMNS } from '../../../libs/ingestion/daily-aggregate';
import { experimentBody } from '../../factories/experiment.factory';
import { client } from '../../support/http-client';

export type Client = ReturnType<typeof client>;

/** A running experiment with two priced variants, a custom metric and a 0..10 score range; returns its key, id and an sdk client. */
export async function runningExperiment(
  url: string,
  adminKey: string,
  overrides: Record<string, unknown> = {},
): Promise<{ key: string; id: string; sdk: Client; admin: Client }> {
  const admin = client(url, adminKey);
  const body = experimentBody({
    metrics: {
      primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.02 },
      custom: [{ name: 'thumbs_up' }],
      scoreRange: { min: 0, max: 10 },
    },
    ...overrides,
  });
  const created = await admin.post('/v1/experiments', body);
  if (created.status !== 201) throw new Error(`experiment not created: ${JSON.stringify(created.body)}`);
  const started = await admin.post(`/v1/experiments/${body.key}/start`);
  if (started.status !== 200) throw new Error(`experiment not started: ${JSON.stringify(started.body)}`);
  const key = await admin.post('/v1/api-keys', { name: `sdk-${body.key}`, scope: 'sdk' });
  const sdk = client(url, key.body.key);
  // The snapshot is refreshed from the change bus: wait until assignment sees the experiment.
  for (let i = 0; i < 100; i++) {
    const a = await sdk.post('/v1/assign', { experiment: body.key, unitId: 'probe' });
    if (a.status === 200 && a.body.reason !== 'unknown_experiment') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { key: body.key, id: created.body.id, sdk, admin };
}

/** Builds an outcome event; override any field. */
export function outcomeEvent(experiment: string, n: number, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `evt-${n}`,
    experiment,
    unitId: `user-${n % 97}`,
    latencyMs: 100 + (n % 50) * 7,
    ttftMs: 20 + (n % 13),
    inputTokens: 500 + (n % 11),
    outputTokens: 200 + (n % 7),
    success: n % 3 !== 0,
    score: (n % 10) + 0.5,
    ...overrides,
  };
}

export async function count(db: DataSource, sql: string, params: unknown[] = []): Promise<number> {
  const rows = await db.query(sql, params);
  return Number(Object.values(rows[0] as Record<string, unknown>)[0]);
}

/**
 * Recomputes, from the raw rows and the applied feedback, what the aggregates must
 * hold, and returns both sides as comparable objects (rounded to absorb float sums).
 */
export async function aggregatesVsRaw(db: DataSource, experimentId: string): Promise<{ stored: unknown; recomputed: unknown }> {
  const effective = `SELECT e.*, COALESCE(k.fb_success, e.success) AS eff_success, COALESCE(k.fb_score, e.score) AS eff_score
    FROM outcome_event e JOIN outcome_event_key k ON k.experiment_id = e.experiment_id AND k.event_id = e.event_id
    WHERE e.experiment_id = $1`;
  const recomputedUnits = await db.query(
    `SELECT variant, unit_id, count(*) AS events, count(eff_success) AS success_n, count(*) FILTER (WHERE eff_success) AS successes,
       count(eff_score) AS score_n, COALESCE(sum(eff_score), 0) AS score_sum, COALESCE(sum(eff_score * eff_score), 0) AS score_sumsq,
       count(latency_ms) AS latency_n, COALESCE(sum(latency_ms), 0) AS latency_sum, count(cost_usd) AS cost_n,
       COALESCE(sum(cost_usd), 0) AS cost_sum, count(*) FILTER (WHERE cost_usd IS NULL) AS cost_unknown,
       COALESCE(sum(input_tokens), 0) AS input_tokens, count(error) AS errors
     FROM (${effective}) x GROUP BY 1, 2 ORDER BY 1, 2`,
    [experimentId],
  );
  const storedUnits = await db.query(
    `SELECT variant, unit_id, events, success_n, successes, score_n, score_sum, score_sumsq, latency_n, latency_sum, cost_n,
       cost_sum, cost_unknown, input_tokens, errors
     FROM outcome_unit WHERE experiment_id = $1 AND events > 0 ORDER BY 1, 2`,
    [experimentId],
  );
  const recomputedHist = await db.query(
    `SELECT variant, count(*) AS n FROM outcome_event WHERE experiment_id = $1 AND latency_ms IS NOT NULL GROUP BY 1 ORDER BY 1`,
    [experimentId],
  );
  const storedHist = await db.query(
    `SELECT variant, sum(count) AS n FROM outcome_histogram WHERE experiment_id = $1 AND metric = 'latency_ms' GROUP BY 1 ORDER BY 1`,
    [experimentId],
  );
  const recomputedMoments = await db.query(
    `SELECT variant, count(eff_score) AS n, COALESCE(sum(eff_score), 0) AS sum FROM (${effective}) x GROUP BY 1 HAVING count(eff_score) > 0 ORDER BY 1`,
    [experimentId],
  );
  const storedMoments = await db.query(
    `SELECT variant, n, sum FROM outcome_moment WHERE experiment_id = $1 AND metric = 'score' AND n > 0 ORDER BY 1`,
    [experimentId],
  );
  // The daily aggregate summed over its days: the unit-level statistics of every daily metric (all days, so any arrival order).
  const unitSums = `SELECT variant, unit_id, count(*) AS events, count(eff_success) AS success_n, count(*) FILTER (WHERE eff_success) AS successes,
       count(eff_score) AS score_n, COALESCE(sum(eff_score), 0) AS score_sum, count(latency_ms) AS latency_n, COALESCE(sum(latency_ms), 0) AS latency_sum,
       count(cost_usd) AS cost_n, COALESCE(sum(cost_usd), 0) AS cost_sum, count(error) AS errors
     FROM (${effective}) x GROUP BY 1, 2`;
  const unitStats = Object.entries(DAILY_METRICS)
    .flatMap(([metric, [y, z]]) => [
      // numeric: a float8 square of a denormal cost is an underflow error in Postgres.
      `sum(${y}::numeric) AS ${metric}_y`, `sum(${y}::numeric * ${y}::numeric) AS ${metric}_yy`, `sum(${z}::numeric) AS ${metric}_z`,
      `sum(${z}::numeric * ${z}::numeric) AS ${metric}_zz`, `sum(${y}::numeric * ${z}::numeric) AS ${metric}_yz`,
    ])
    .join(', ');
  const recomputedDaily = await db.query(
    `SELECT variant, count(*) AS new_units, sum(events) AS events, ${unitStats} FROM (${unitSums}) u GROUP BY 1 ORDER BY 1`,
    [experimentId],
  );
  const storedDaily = await db.query(
    `SELECT variant, sum(new_units) AS new_units, sum(events) AS events, ${DAILY_STAT_COLUMNS.map((c) => `sum(${c}) AS ${c}`).join(', ')}
     FROM outcome_daily WHERE experiment_id = $1 GROUP BY 1 HAVING sum(events) > 0 ORDER BY 1`,
    [experimentId],
  );
  const norm = (rows: Array<Record<string, unknown>>) =>
    rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'string' && /^-?[\d.e+-]+$/.test(v) ? Number(v) : v])));
  const stored = { units: norm(storedUnits), hist: norm(storedHist), moments: norm(storedMoments), daily: norm(storedDaily) };
  const recomputed = { units: norm(recomputedUnits), hist: norm(recomputedHist), moments: norm(recomputedMoments), daily: norm(recomputedDaily) };
  return { stored: roundLike(stored, recomputed), recomputed };
}

/** Float sums differ in the last bits with the order of addition: where stored and recomputed agree to 1e-9 (relative), take the recomputed value. */
function roundLike(stored: unknown, recomputed: unknown): unknown {
  if (typeof stored === 'number' && typeof recomputed === 'number') {
    return Math.abs(stored - recomputed) <= 1e-9 * Math.max(1, Math.abs(recomputed)) ? recomputed : stored;
  }
  if (Array.isArray(stored) && Array.isArray(recomputed)) return stored.map((s, i) => roundLike(s, recomputed[i]));
  if (stored && recomputed && typeof stored === 'object' && typeof recomputed === 'object') {
    const r = recomputed as Record<string, unknown>;
    return Object.fromEntries(Object.entries(stored as Record<string, unknown>).map(([k, v]) => [k, roundLike(v, r[k])]));
  }
  return stored;
}

