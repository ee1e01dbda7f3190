import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { BucketRow, MomentStats, RatioStats } from '../stats';
import type { ArmAggregates } from './results-calculator';

/** Built-in metrics as ratios of per-unit sums: numerator and denominator columns of outcome_unit. */
export const UNIT_RATIOS: Record<string, [string, string]> = {
  success_rate: ['successes', 'success_n'],
  score: ['score_sum', 'score_n'],
  error_rate: ['errors', 'events'],
  latency_ms: ['latency_sum', 'latency_n'],
  ttft_ms: ['ttft_sum', 'ttft_n'],
  input_tokens: ['input_tokens', 'events'],
  output_tokens: ['output_tokens', 'events'],
  cost_usd: ['cost_sum', 'cost_n'],
  cost_per_success: ['cost_sum', 'successes'],
};

const ratioColumns = Object.entries(UNIT_RATIOS)
  .map(([name, [y, z]]) => {
    const fy = `${y}::float8`;
    const fz = `${z}::float8`;
    return `sum(${fy}) AS "${name}.y", sum(${fy} * ${fy}) AS "${name}.yy", sum(${fz}) AS "${name}.z", sum(${fz} * ${fz}) AS "${name}.zz", sum(${fy} * ${fz}) AS "${name}.yz"`;
  })
  .join(',\n  ');

/** One scan of the phase's per-unit rows: every sum and cross-product the delta method needs. */
const UNIT_SQL = `SELECT variant, count(*)::float8 AS units, sum(events)::float8 AS events, sum(cost_sum) AS cost_sum, sum(cost_unknown)::float8 AS cost_unknown,
  ${ratioColumns}
  FROM outcome_unit WHERE experiment_id = $1 AND phase = $2 AND events > 0 GROUP BY variant`;

const CUSTOM_SQL = `SELECT variant, metric, count(*)::float8 AS units, sum(sum) AS y, sum(sum * sum) AS yy, sum(n)::float8 AS z,
  sum(n::float8 * n::float8) AS zz, sum(sum * n::float8) AS yz
  FROM outcome_unit_metric WHERE experiment_id = $1 AND phase = $2 AND n > 0 GROUP BY variant, metric`;

type Row = Record<string, string | number | null>;
const num = (x: unknown): number => (x === null || x === undefined ? 0 : Number(x));

/** Reads the aggregates ingestion maintains (never raw events) for one experiment and phase. */
@Injectable()
export class AnalysisStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async arms(experimentId: string, phase: number): Promise<ArmAggregates[]> {
    const [units, custom, moments, histograms] = await Promise.all([
      this.dataSource.query(UNIT_SQL, [experimentId, phase]) as Promise<Row[]>,
      this.dataSource.query(CUSTOM_SQL, [experimentId, phase]) as Promise<Row[]>,
      this.dataSource.query('SELECT variant, metric, n::float8 AS n, sum, sumsq FROM outcome_moment WHERE experiment_id = $1 AND phase = $2', [experimentId, phase]) as Promise<Row[]>,
      this.dataSource.query('SELECT variant, metric, bucket, count::float8 AS count FROM outcome_histogram WHERE experiment_id = $1 AND phase = $2 AND count > 0', [experimentId, phase]) as Promise<Row[]>,
    ]);
    const arms = new Map<string, ArmAggregates>();
    const arm = (variant: string): ArmAggregates => {
      let a = arms.get(variant);
      if (!a) arms.set(variant, (a = { variant, units: 0, events: 0, costSum: 0, costUnknown: 0, ratios: {}, moments: {}, histograms: {} }));
      return a;
    };
    for (const r of units) {
      const a = arm(String(r.variant));
      a.units = num(r.units);
      a.events = num(r.events);
      a.costSum = num(r.cost_sum);
      a.costUnknown = num(r.cost_unknown);
      for (const name of Object.keys(UNIT_RATIOS)) {
        a.ratios[name] = {
          n: a.units,
          sumNum: num(r[`${name}.y`]),
          sumNumSquares: num(r[`${name}.yy`]),
          sumDen: num(r[`${name}.z`]),
          sumDenSquares: num(r[`${name}.zz`]),
          sumNumDen: num(r[`${name}.yz`]),
        } satisfies RatioStats;
      }
    }
    for (const r of custom) {
      arm(String(r.variant)).ratios[String(r.metric)] = {
        n: num(r.units), sumNum: num(r.y), sumNumSquares: num(r.yy), sumDen: num(r.z), sumDenSquares: num(r.zz), sumNumDen: num(r.yz),
      };
    }
    for (const r of moments) {
      arm(String(r.variant)).moments[String(r.metric)] = { n: num(r.n), sum: num(r.sum), sumSquares: num(r.sumsq) } satisfies MomentStats;
    }
    for (const r of histograms) {
      const a = arm(String(r.variant));
      (a.histograms[String(r.metric)] ??= []).push({ index: num(r.bucket), count: num(r.count) } satisfies BucketRow);
    }
    // Request units: the events and costs come from the moments when no unit rows exist.
    for (const a of arms.values()) {
      if (a.events === 0 && a.moments.$events) a.events = a.moments.$events.n;
    }
    return [...arms.values()];
  }

  /**
   * A version of the experiment's data that changes whenever outcomes, feedback or
   * exposures land: sums over its few moment and exposure-count rows (an index range,
   * not a scan of events), plus the experiment's revision.
   */
  async dataVersion(experimentId: string): Promise<string> {
    const [row] = (await this.dataSource.query(
      `SELECT (SELECT concat_ws(':', count(*), sum(n), sum(sum), sum(sumsq)) FROM outcome_moment WHERE experiment_id = $1) AS m,
              (SELECT concat_ws(':', count(*), sum(units)) FROM exposure_count WHERE experiment_id = $1) AS e,
              (SELECT concat_ws(':', revision, status) FROM experiment WHERE id = $1) AS x`,
      [experimentId],
    )) as Array<{ m: string; e: string; x: string }>;
    return `${row.x}|${row.m}|${row.e}`;
  }
}
