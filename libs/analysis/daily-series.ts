import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { type RatioStats, StatsInputError, effectFromSummaries, fixedHorizonResult, normalQuantile, ratioSummary, sequentialResult } from '../stats';
import { DAILY_METRIC_NAMES, DAILY_STAT_COLUMNS } from '../ingestion/daily-aggregate';
import type { Interval } from './results.types';

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

const names = DAILY_METRIC_NAMES;

/** The per-day rows ingestion maintains (outcome_daily, docs/adr/0013): one indexed range read, whatever the event count. */
const DAILY_ROWS = `SELECT variant, day::text AS day, new_units, events, ${DAILY_STAT_COLUMNS.join(', ')}
  FROM outcome_daily WHERE experiment_id = $1 AND phase = $2 ORDER BY day, variant`;

@Injectable()
export class DailySeriesStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async series(experiment: ExperimentEntity, phase: number): Promise<DailySeries> {
    const rows = (await this.dataSource.query(DAILY_ROWS, [experiment.id, phase])) as Array<Record<string, string | number>>;
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
        s.sumNum += Number(r[`${names[i]}_y`]);
        s.sumNumSquares += Number(r[`${names[i]}_yy`]);
        s.sumDen += Number(r[`${names[i]}_z`]);
        s.sumDenSquares += Number(r[`${names[i]}_zz`]);
        s.sumNumDen += Number(r[`${names[i]}_yz`]);
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
  return { experiment: experiment.key, phase, metrics: [...names], days: points.slice(-MAX_DAYS) };
}
