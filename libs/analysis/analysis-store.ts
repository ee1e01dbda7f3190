import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { sumMetrics } from '../metrics/metric-registry';
import type { BucketRow, MomentStats, RatioStats } from '../stats';
import { EVENTS_METRIC } from '../ingestion/outcome-aggregator';
import type { ArmAggregates } from './results-calculator';
import type { ShadowRow } from './shadow-results';

/** Built-in metrics as ratios of per-unit sums: the numerator and denominator columns of outcome_unit, from the registry. */
const ratioColumns = sumMetrics()
  .map(({ name, numerator, denominator }) => {
    const fy = `${numerator.column}::float8`;
    const fz = `${denominator.column}::float8`;
    return `sum(${fy}) AS "${name}.y", sum(${fy} * ${fy}) AS "${name}.yy", sum(${fz}) AS "${name}.z", sum(${fz} * ${fz}) AS "${name}.zz", sum(${fy} * ${fz}) AS "${name}.yz"`;
  })
  .join(',\n  ');

/** One scan of the phase's per-unit rows: every sum and cross-product the delta method needs. */
const UNIT_SQL = `SELECT variant, count(*)::float8 AS units, sum(events)::float8 AS events, sum(cost_sum) AS cost_sum, sum(cost_unknown)::float8 AS cost_unknown,
  ${ratioColumns}
  FROM outcome_unit WHERE experiment_id = $1 AND phase = $2 AND events > 0 GROUP BY variant`;

/** Custom metrics over the events that reported them: the units that reported the metric, n = their reporting events. */
const CUSTOM_SQL = `SELECT variant, metric, count(*)::float8 AS units, sum(sum) AS y, sum(sum * sum) AS yy, sum(n)::float8 AS z,
  sum(n::float8 * n::float8) AS zz, sum(sum * n::float8) AS yz
  FROM outcome_unit_metric WHERE experiment_id = $1 AND phase = $2 AND n > 0 GROUP BY variant, metric`;

/** Custom metrics over all events: every unit with events, those that never reported the metric with a sum of 0. */
const CUSTOM_ALL_EVENTS_SQL = `SELECT u.variant, k.metric, count(*)::float8 AS units, sum(COALESCE(m.sum, 0)) AS y, sum(COALESCE(m.sum, 0) ^ 2) AS yy,
  sum(u.events)::float8 AS z, sum(u.events::float8 * u.events::float8) AS zz, sum(COALESCE(m.sum, 0) * u.events::float8) AS yz
  FROM outcome_unit u CROSS JOIN unnest($3::text[]) AS k(metric)
  LEFT JOIN outcome_unit_metric m ON m.experiment_id = u.experiment_id AND m.phase = u.phase AND m.variant = u.variant AND m.unit_id = u.unit_id AND m.metric = k.metric
  WHERE u.experiment_id = $1 AND u.phase = $2 AND u.events > 0 GROUP BY u.variant, k.metric`;

/**
 * CUPED sufficient statistics of every built-in sum metric (docs/adr/0026), kept by the writer per
 * variant: the pre-exposure sums (outcome_unit.pre_*) over units, their squares and the
 * cross-products with the in-experiment sums (units without pre-data count zeros). A few rows.
 */
const CUPED_SQL = `SELECT variant, metric, with_pre::float8 AS with_pre, py, pyy, pz, pzz, pyz, y_py, z_pz, y_pz, py_z, i_n, i_y, i_z
  FROM outcome_cuped WHERE experiment_id = $1 AND phase = $2`;

/** The metrics (of $2) for which the project holds client-supplied covariates. */
const CLIENT_COVARIATE_METRICS = `SELECT m FROM unnest($2::text[]) AS m WHERE EXISTS (SELECT 1 FROM unit_covariate c WHERE c.project_id = $1 AND c.metric = m)`;

/**
 * The shadow pairs' sums (docs/adr/0031): every shadow outcome joined to the served call's stored
 * outcome by event id (the key table gives its time, the partition key of outcome_event), summed per
 * shadow variant in one pass; the key table is probed by its whole primary key (project, event,
 * experiment). All phases: a pair compares two answers to one request, whatever the allocation then.
 */
const SHADOW_METRIC_COLUMNS: ReadonlyArray<[string, string, string]> = [
  ['latency_ms', 's.latency_ms', 'e.latency_ms'],
  ['ttft_ms', 's.ttft_ms', 'e.ttft_ms'],
  ['input_tokens', 's.input_tokens::float8', 'e.input_tokens::float8'],
  ['output_tokens', 's.output_tokens::float8', 'e.output_tokens::float8'],
  ['cost_usd', 's.cost_usd', 'e.cost_usd'],
  ['error_rate', '(s.error IS NOT NULL)::int::float8', 'CASE WHEN e.event_id IS NULL THEN NULL ELSE (e.error IS NOT NULL)::int::float8 END'],
];
export const SHADOW_SQL = `SELECT s.variant, count(*)::float8 AS shadows, count(e.event_id)::float8 AS pairs,
  ${SHADOW_METRIC_COLUMNS.map(([m, y, x]) => {
    const both = `FILTER (WHERE ${y} IS NOT NULL AND ${x} IS NOT NULL)`;
    return `(count(*) ${both})::float8 AS "${m}.n", sum(${x}) ${both} AS "${m}.served", sum(${y}) ${both} AS "${m}.shadow", sum(${y} - ${x}) ${both} AS "${m}.d", sum((${y} - ${x}) ^ 2) ${both} AS "${m}.dd"`;
  }).join(',\n  ')},
  (count(*) FILTER (WHERE e.error IS NOT NULL AND s.error IS NULL AND e.event_id IS NOT NULL))::float8 AS only_served_failed,
  (count(*) FILTER (WHERE s.error IS NOT NULL AND e.error IS NULL AND e.event_id IS NOT NULL))::float8 AS only_shadow_failed,
  count(s.exact_match)::float8 AS exact_n, (count(*) FILTER (WHERE s.exact_match))::float8 AS exact_matches,
  count(s.json_match)::float8 AS json_n, (count(*) FILTER (WHERE s.json_match))::float8 AS json_matches
  FROM shadow_outcome s
  LEFT JOIN outcome_event_key k ON k.project_id = s.project_id AND k.event_id = s.paired_event_id AND k.experiment_id = s.experiment_id
  LEFT JOIN outcome_event e ON e.experiment_id = k.experiment_id AND e.occurred_at = k.occurred_at AND e.event_id = k.event_id
  WHERE s.experiment_id = $1
  GROUP BY s.variant ORDER BY s.variant`;

type Row = Record<string, string | number | null>;
const num = (x: unknown): number => (x === null || x === undefined ? 0 : Number(x));

/** Reads the aggregates ingestion maintains (never raw events) for one experiment and phase. */
@Injectable()
export class AnalysisStore {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * `overAllEvents`: the custom metrics averaged over all events (registry denominator `events`).
   * `covariates`: read the CUPED statistics too (user and session units), client-supplied ones from this project.
   */
  async arms(experimentId: string, phase: number, overAllEvents: readonly string[] = [], covariates: { projectId: string } | null = null): Promise<ArmAggregates[]> {
    const [units, reported, allEvents, moments, histograms, pre, client] = await Promise.all([
      this.dataSource.query(UNIT_SQL, [experimentId, phase]) as Promise<Row[]>,
      this.dataSource.query(CUSTOM_SQL, [experimentId, phase]) as Promise<Row[]>,
      overAllEvents.length ? (this.dataSource.query(CUSTOM_ALL_EVENTS_SQL, [experimentId, phase, overAllEvents]) as Promise<Row[]>) : Promise.resolve([] as Row[]),
      this.dataSource.query('SELECT variant, metric, n::float8 AS n, sum, sumsq FROM outcome_moment WHERE experiment_id = $1 AND phase = $2', [experimentId, phase]) as Promise<Row[]>,
      this.dataSource.query('SELECT variant, metric, bucket, count::float8 AS count FROM outcome_histogram WHERE experiment_id = $1 AND phase = $2 AND count > 0', [experimentId, phase]) as Promise<Row[]>,
      covariates ? (this.dataSource.query(CUPED_SQL, [experimentId, phase]) as Promise<Row[]>) : Promise.resolve([] as Row[]),
      covariates ? this.clientCovariates(experimentId, phase, covariates.projectId) : Promise.resolve([]),
    ]);
    const arms = new Map<string, ArmAggregates>();
    const arm = (variant: string): ArmAggregates => {
      let a = arms.get(variant);
      if (!a) arms.set(variant, (a = { variant, units: 0, events: 0, costSum: 0, costUnknown: 0, ratios: {}, moments: {}, histograms: {}, cuped: {} }));
      return a;
    };
    for (const r of units) {
      const a = arm(String(r.variant));
      a.units = num(r.units);
      a.events = num(r.events);
      a.costSum = num(r.cost_sum);
      a.costUnknown = num(r.cost_unknown);
      for (const { name } of sumMetrics()) {
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
    const all = new Set(overAllEvents);
    for (const r of [...reported.filter((x) => !all.has(String(x.metric))), ...allEvents]) {
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
    for (const r of pre) {
      const a = arm(String(r.variant));
      const name = String(r.metric);
      const post = a.ratios[name];
      if (!post) continue;
      (a.cuped ??= {})[name] = {
        source: 'pre-period',
        withCovariate: num(r.with_pre),
        stats: {
          post,
          pre: { n: post.n, sumNum: num(r.py), sumNumSquares: num(r.pyy), sumDen: num(r.pz), sumDenSquares: num(r.pzz), sumNumDen: num(r.pyz) },
          sumNumPostNumPre: num(r.y_py),
          sumDenPostDenPre: num(r.z_pz),
          sumNumPostDenPre: num(r.y_pz),
          sumNumPreDenPost: num(r.py_z),
          withPre: num(r.i_n),
          sumNumPostWithPre: num(r.i_y),
          sumDenPostWithPre: num(r.i_z),
        },
      };
    }
    // A client-supplied covariate replaces the pre-period one when some unit of the phase has one: a value per unit, as a ratio
    // over a denominator of 1 for the units that have one (0 and 0 for the others, who count as without history).
    for (const { metric, rows } of client) {
      if (!rows.some((r) => num(r.with) > 0)) continue;
      for (const r of rows) {
        const a = arm(String(r.variant));
        const post = a.ratios[metric];
        if (!post) continue;
        const px = num(r.px);
        (a.cuped ??= {})[metric] = {
          source: 'client',
          withCovariate: num(r.with),
          stats: {
            post,
            pre: { n: post.n, sumNum: px, sumNumSquares: num(r.pxx), sumDen: num(r.with), sumDenSquares: num(r.with), sumNumDen: px },
            sumNumPostNumPre: num(r.yPx),
            sumDenPostDenPre: num(r.iz),
            sumNumPostDenPre: num(r.iy),
            sumNumPreDenPost: num(r.zPx),
            withPre: num(r.with),
            sumNumPostWithPre: num(r.iy),
            sumDenPostWithPre: num(r.iz),
          },
        };
      }
    }
    // Request units: the events and costs come from the moments when no unit rows exist.
    for (const a of arms.values()) {
      if (a.events === 0 && a.moments[EVENTS_METRIC]) a.events = a.moments[EVENTS_METRIC].n;
    }
    return [...arms.values()];
  }

  /** Per metric with client-supplied covariates in the project: per variant, the covariate's sums over the phase's units. */
  private async clientCovariates(experimentId: string, phase: number, projectId: string): Promise<Array<{ metric: string; rows: Row[] }>> {
    const metrics = sumMetrics();
    const found = (await this.dataSource.query(CLIENT_COVARIATE_METRICS, [projectId, metrics.map((m) => m.name)])) as Array<{ m: string }>;
    return Promise.all(
      found.map(async ({ m }) => {
        const { numerator, denominator } = metrics.find((x) => x.name === m)!;
        const y = `u.${numerator.column}::float8`;
        const z = `u.${denominator.column}::float8`;
        const rows = (await this.dataSource.query(
          `SELECT u.variant, count(c.value)::float8 AS with, sum(COALESCE(c.value, 0)) AS px, sum(COALESCE(c.value, 0) ^ 2) AS pxx,
             sum(${y} * COALESCE(c.value, 0)) AS "yPx", sum(${z} * COALESCE(c.value, 0)) AS "zPx",
             COALESCE(sum(${y}) FILTER (WHERE c.value IS NOT NULL), 0) AS iy, COALESCE(sum(${z}) FILTER (WHERE c.value IS NOT NULL), 0) AS iz
           FROM outcome_unit u LEFT JOIN unit_covariate c ON c.project_id = $3 AND c.metric = $4 AND c.unit_id = u.unit_id
           WHERE u.experiment_id = $1 AND u.phase = $2 AND u.events > 0 GROUP BY u.variant`,
          [experimentId, phase, projectId, m],
        )) as Row[];
        return { metric: m, rows };
      }),
    );
  }

  /** Sums of the shadow pairs per shadow variant (SHADOW_SQL). */
  async shadowPairs(experimentId: string): Promise<ShadowRow[]> {
    const rows: Row[] = await this.dataSource.query(SHADOW_SQL, [experimentId]);
    return rows.map((r) => ({
      variant: String(r.variant),
      shadows: num(r.shadows),
      pairs: num(r.pairs),
      metrics: Object.fromEntries(
        SHADOW_METRIC_COLUMNS.map(([m]) => [m, { n: num(r[`${m}.n`]), served: num(r[`${m}.served`]), shadow: num(r[`${m}.shadow`]), d: num(r[`${m}.d`]), dd: num(r[`${m}.dd`]) }]),
      ) as ShadowRow['metrics'],
      onlyServedFailed: num(r.only_served_failed),
      onlyShadowFailed: num(r.only_shadow_failed),
      exact: { n: num(r.exact_n), matches: num(r.exact_matches) },
      json: { n: num(r.json_n), matches: num(r.json_matches) },
    }));
  }

  /**
   * A version of the experiment's data that changes on every write that can change a result:
   * the counter every aggregate write bumps in its own statement (outcome_version, docs/adr/0019),
   * the exposure counts (SRM), the project's client-supplied covariates (CUPED), and the experiment's revision and status, which the caller has
   * from the experiments context. One indexed lookup per table.
   */
  async dataVersion(experiment: { id: string; projectId: string; revision: number; status: string }): Promise<string> {
    const [row] = (await this.dataSource.query(
      `SELECT (SELECT version FROM outcome_version WHERE experiment_id = $1) AS v,
              (SELECT concat_ws(':', count(*), sum(units)) FROM exposure_count WHERE experiment_id = $1) AS e,
              (SELECT version FROM unit_covariate_version WHERE project_id = $2) AS c`,
      [experiment.id, experiment.projectId],
    )) as Array<{ v: string | null; e: string; c: string | null }>;
    return `${experiment.revision}:${experiment.status}|${row.v ?? 0}|${row.e}|${row.c ?? 0}`;
  }
}
