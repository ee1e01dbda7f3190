import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { type RatioStats, StatsInputError, effectFromSummaries, fixedHorizonResult, normalQuantile, ratioSummary, sequentialResult } from '../stats';
import type { Interval } from './results.types';

/** Metrics of the daily series, as per-event (numerator, denominator) expressions over effective values. */
const DAILY_METRICS: Record<string, [string, string]> = {
  success_rate: ['(s IS TRUE)::int', '(s IS NOT NULL)::int'],
  score: ['COALESCE(sc, 0)', '(sc IS NOT NULL)::int'],
  error_rate: ['(error IS NOT NULL)::int', '1'],
  latency_ms: ['COALESCE(latency_ms, 0)', '(latency_ms IS NOT NULL)::int'],
  cost_usd: ['COALESCE(cost_usd, 0)', '(cost_usd IS NOT NULL)::int'],
  cost_per_success: ['COALESCE(cost_usd, 0)', '(s IS TRUE)::int'],
};
/** At most this many days are returned (the latest ones): the query stays bounded. */
export const MAX_DAYS = 120;

export interface DailyPoint {
  date: string;
  variants: Array<{ key: string; units: number; events: number; metrics: Record<string, { mean: number | null; ci: Interval | null }> }>;
  comparisons: Array<{ variant: string; metric: string; relativeLift: number | null; ci: Interval | null; pValue: number | null }>;
}

export interface DailySeries {
  experiment: string;
  phase: number;
  metrics: string[];
  days: DailyPoint[];
}

const names = Object.keys(DAILY_METRICS);
const m = (i: number) => `m${i}`;

/**
 * Cumulative estimates at the end of each day. Aggregates have no day dimension, so this
 * reads outcome_event of one experiment and phase (its index), once: per unit and day the
 * sums, then per day the CHANGE of each unit's cumulative sums, squares and
 * cross-products (a unit's cumulative values enter sum-of-squares as f(cum_d) - f(cum_prev)),
 * whose running total over days is exactly the per-unit sufficient statistics at that day.
 */
function dailySql(unitKey: string): string {
  const perEvent = names.map((n, i) => `${DAILY_METRICS[n][0]}::float8 AS ${m(i)}y, ${DAILY_METRICS[n][1]}::float8 AS ${m(i)}z`).join(', ');
  const perUnit = names.map((_, i) => `sum(${m(i)}y) AS ${m(i)}y, sum(${m(i)}z) AS ${m(i)}z`).join(', ');
  const cumulative = names.map((_, i) => `sum(${m(i)}y) OVER w AS ${m(i)}y, sum(${m(i)}z) OVER w AS ${m(i)}z`).join(', ');
  const previous = names.map((_, i) => `${m(i)}y, ${m(i)}z, lag(${m(i)}y, 1, 0::float8) OVER w AS ${m(i)}py, lag(${m(i)}z, 1, 0::float8) OVER w AS ${m(i)}pz`).join(', ');
  const deltas = names
    .map((_, i) => {
      const [y, z, py, pz] = [`${m(i)}y`, `${m(i)}z`, `${m(i)}py`, `${m(i)}pz`];
      return `sum(${y} - ${py}) AS ${y}, sum(${y}*${y} - ${py}*${py}) AS ${y}y, sum(${z} - ${pz}) AS ${z}, sum(${z}*${z} - ${pz}*${pz}) AS ${z}z, sum(${y}*${z} - ${py}*${pz}) AS ${y}z`;
    })
    .join(', ');
  return `WITH ev AS (
      SELECT e.variant, ${unitKey} AS u, (e.occurred_at AT TIME ZONE 'UTC')::date AS d, ${perEvent}
      FROM (SELECT e.*, COALESCE(k.fb_success, e.success) AS s, COALESCE(k.fb_score, e.score) AS sc
            FROM outcome_event e LEFT JOIN outcome_event_key k ON k.experiment_id = e.experiment_id AND k.event_id = e.event_id
            WHERE e.experiment_id = $1 AND e.phase = $2) e
    ), per AS (
      SELECT variant, u, d, count(*)::float8 AS events, ${perUnit} FROM ev GROUP BY variant, u, d
    ), cum AS (
      SELECT variant, u, d, events, row_number() OVER w = 1 AS first, ${cumulative}
      FROM per WINDOW w AS (PARTITION BY variant, u ORDER BY d)
    ), prev AS (
      SELECT variant, u, d, events, first, ${previous} FROM cum WINDOW w AS (PARTITION BY variant, u ORDER BY d)
    )
    SELECT variant, d::text AS day, count(*) FILTER (WHERE first)::float8 AS new_units, sum(events)::float8 AS events, ${deltas}
    FROM prev GROUP BY variant, d ORDER BY d`;
}

@Injectable()
export class DailySeriesStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async series(experiment: ExperimentEntity, phase: number): Promise<DailySeries> {
    // Request units: every event is its own unit.
    const unitKey = experiment.unitType === 'request' ? 'e.event_id' : 'e.unit_id';
    const rows = (await this.dataSource.query(dailySql(unitKey), [experiment.id, phase])) as Array<Record<string, string | number>>;
    return buildSeries(experiment, phase, rows);
  }
}

/** Running totals of the per-day deltas, then the same estimators as the results (ratio of per-unit sums). */
export function buildSeries(
  experiment: Pick<ExperimentEntity, 'key' | 'variants' | 'stats'>,
  phase: number,
  rows: Array<Record<string, string | number>>,
): DailySeries {
  const alpha = experiment.stats.alpha ?? 0.05;
  const tuning = experiment.stats.plannedUnits ?? 5000;
  const z = normalQuantile(1 - alpha / 2);
  const control = experiment.variants.find((v) => v.isControl)!.key;
  const days = [...new Set(rows.map((r) => String(r.day)))].sort();
  const running = new Map(experiment.variants.map((v) => [v.key, { units: 0, events: 0, stats: names.map((): RatioStats => ({ n: 0, sumNum: 0, sumNumSquares: 0, sumDen: 0, sumDenSquares: 0, sumNumDen: 0 })) }]));
  const points: DailyPoint[] = [];
  const summary = (s: RatioStats) => {
    try {
      return s.n > 0 && s.sumDen !== 0 ? ratioSummary(s) : null;
    } catch (error) {
      if (error instanceof StatsInputError) return null;
      throw error;
    }
  };
  for (const day of days) {
    for (const r of rows.filter((x) => String(x.day) === day)) {
      const acc = running.get(String(r.variant));
      if (!acc) continue;
      acc.units += Number(r.new_units);
      acc.events += Number(r.events);
      names.forEach((_, i) => {
        const s = acc.stats[i];
        s.n = acc.units;
        s.sumNum += Number(r[`${m(i)}y`]);
        s.sumNumSquares += Number(r[`${m(i)}yy`]);
        s.sumDen += Number(r[`${m(i)}z`]);
        s.sumDenSquares += Number(r[`${m(i)}zz`]);
        s.sumNumDen += Number(r[`${m(i)}yz`]);
      });
    }
    const variants = experiment.variants.map((v) => {
      const acc = running.get(v.key)!;
      const metrics = Object.fromEntries(
        names.map((name, i) => {
          const s = summary({ ...acc.stats[i], n: acc.units });
          const half = s && s.n >= 2 ? z * Math.sqrt(Math.max(0, s.variance) / s.n) : null;
          return [name, { mean: s ? s.mean : null, ci: s && half !== null ? ([s.mean - half, s.mean + half] as Interval) : null }];
        }),
      );
      return { key: v.key, units: acc.units, events: acc.events, metrics };
    });
    const comparisons: DailyPoint['comparisons'] = [];
    for (const v of experiment.variants.filter((x) => !x.isControl)) {
      names.forEach((name, i) => {
        const c = summary({ ...running.get(control)!.stats[i], n: running.get(control)!.units });
        const t = summary({ ...running.get(v.key)!.stats[i], n: running.get(v.key)!.units });
        let result: { estimate: number; ci: Interval; pValue: number } | null = null;
        try {
          if (c && t) {
            const effect = effectFromSummaries(c, t, 'relative');
            result = experiment.stats.sequential ? sequentialResult(effect, { alpha, tuning }) : fixedHorizonResult(effect, { alpha });
          }
        } catch (error) {
          if (!(error instanceof StatsInputError)) throw error;
        }
        comparisons.push({ variant: v.key, metric: name, relativeLift: result?.estimate ?? null, ci: result?.ci ?? null, pValue: result?.pValue ?? null });
      });
    }
    points.push({ date: day, variants, comparisons });
  }
  return { experiment: experiment.key, phase, metrics: names, days: points.slice(-MAX_DAYS) };
}
