/**
 * The per-day aggregate behind the cumulative daily series (docs/adr/0013).
 *
 * A ratio metric's estimate and delta-method variance at the end of day D need, per variant,
 * the unit-level sufficient statistics of the units' cumulative sums through D: n, Σy, Σy²,
 * Σz, Σz², Σyz. Each write adds to the row of (variant, day) the change it makes to those
 * statistics, f(after) - f(before) for f in {y, y², z, z², yz}, so the running total of the rows
 * over days is the statistics themselves:
 * - user and session units: "before" and "after" are the unit's cumulative sums around the
 *   write (the unit upsert returns "after"; "before" = after - the batch's change). A batch that
 *   holds several days of one unit walks them in day order. This is exact when a unit's data
 *   arrive in day order; data for an earlier day that arrive after a later day's were written
 *   are counted as of their arrival, which moves only the intermediate days' variance terms
 *   (the last day always equals the results);
 * - request units: every event is its own unit, so "before" is the event's previous values
 *   (nothing for a new event) and the rows are exact in any order.
 */

/** The per-unit sums the daily metrics are made of (a subset of outcome_unit's columns). */
export const DAILY_SUM_COLUMNS = [
  'events', 'success_n', 'successes', 'score_n', 'score_sum', 'latency_n', 'latency_sum', 'cost_n', 'cost_sum', 'errors',
] as const;
export type DailySumColumn = (typeof DAILY_SUM_COLUMNS)[number];
export type DailySums = Record<DailySumColumn, number>;

/** Each daily metric as (numerator, denominator) per-unit sums: a ratio of sums, as in the results. */
export const DAILY_METRICS = {
  success_rate: ['successes', 'success_n'],
  score: ['score_sum', 'score_n'],
  error_rate: ['errors', 'events'],
  latency_ms: ['latency_sum', 'latency_n'],
  cost_usd: ['cost_sum', 'cost_n'],
  cost_per_success: ['cost_sum', 'successes'],
} as const satisfies Record<string, readonly [DailySumColumn, DailySumColumn]>;
export type DailyMetric = keyof typeof DAILY_METRICS;
export const DAILY_METRIC_NAMES = Object.keys(DAILY_METRICS) as DailyMetric[];

/** The five statistics kept per metric, column `${metric}_${stat}` of outcome_daily. */
export const DAILY_STATS = ['y', 'yy', 'z', 'zz', 'yz'] as const;
export const DAILY_STAT_COLUMNS = DAILY_METRIC_NAMES.flatMap((metric) => DAILY_STATS.map((s) => `${metric}_${s}`));

export interface DailyKey {
  experimentId: string;
  phase: number;
  variant: string;
  /** UTC date, YYYY-MM-DD. */
  day: string;
}

export interface DailyRow extends DailyKey {
  new_units: number;
  events: number;
  /** `${metric}_${stat}` → the change of that statistic. */
  stats: Record<string, number>;
}

export const zeroSums = (): DailySums => ({
  events: 0, success_n: 0, successes: 0, score_n: 0, score_sum: 0, latency_n: 0, latency_sum: 0, cost_n: 0, cost_sum: 0, errors: 0,
});

const SEP = '\u0000';

/** The changes one batch makes to the per-day statistics, built in memory and written with one upsert. */
export class DailyDeltas {
  /** User/session units: per unit, its change per day; turned into rows once the unit's new totals are known. */
  readonly unitDays = new Map<string, { experimentId: string; phase: number; variant: string; days: Map<string, DailySums> }>();
  private readonly rows = new Map<string, DailyRow>();

  get empty(): boolean {
    return this.unitDays.size === 0 && this.rows.size === 0;
  }

  /** A change of `sign` × `sums` to a unit's cumulative sums, on `day`. */
  addUnitDay(unitKey: string, key: DailyKey, sums: DailySums, sign: 1 | -1): void {
    let unit = this.unitDays.get(unitKey);
    if (!unit) this.unitDays.set(unitKey, (unit = { experimentId: key.experimentId, phase: key.phase, variant: key.variant, days: new Map() }));
    let day = unit.days.get(key.day);
    if (!day) unit.days.set(key.day, (day = zeroSums()));
    for (const c of DAILY_SUM_COLUMNS) day[c] += sign * sums[c];
  }

  /** A request unit (one event) going from `before` (null: new) to `after`. */
  addEventChange(key: DailyKey, before: DailySums | null, after: DailySums): void {
    const row = this.row(key);
    if (before === null) row.new_units += 1;
    row.events += after.events - (before?.events ?? 0);
    addChange(row.stats, before ?? zeroSums(), after);
  }

  /**
   * All rows of the batch, given the units' cumulative sums after it (from the unit upsert).
   * Each unit's days are walked in order from its total before the batch.
   */
  toRows(totalsAfter: Map<string, DailySums>): DailyRow[] {
    for (const [unitKey, unit] of this.unitDays) {
      const after = totalsAfter.get(unitKey);
      if (!after) throw new Error(`no cumulative sums returned for unit ${JSON.stringify(unitKey)}`);
      const current = { ...after };
      for (const sums of unit.days.values()) for (const c of DAILY_SUM_COLUMNS) current[c] -= sums[c];
      for (const day of [...unit.days.keys()].sort()) {
        const change = unit.days.get(day)!;
        const before = { ...current };
        for (const c of DAILY_SUM_COLUMNS) current[c] += change[c];
        const row = this.row({ experimentId: unit.experimentId, phase: unit.phase, variant: unit.variant, day });
        // Sums are integers or sums of sent values: a unit is new when it had no events and now has some.
        if (before.events <= 0 && current.events > 0) row.new_units += 1;
        row.events += change.events;
        addChange(row.stats, before, current);
      }
    }
    this.unitDays.clear();
    return [...this.rows.values()];
  }

  private row(key: DailyKey): DailyRow {
    const k = `${key.experimentId}${SEP}${key.phase}${SEP}${key.variant}${SEP}${key.day}`;
    let row = this.rows.get(k);
    if (!row) {
      row = { ...key, new_units: 0, events: 0, stats: Object.fromEntries(DAILY_STAT_COLUMNS.map((c) => [c, 0])) };
      this.rows.set(k, row);
    }
    return row;
  }
}

/** Adds f(after) - f(before) for every metric's y, y², z, z², yz. */
function addChange(stats: Record<string, number>, before: DailySums, after: DailySums): void {
  for (const metric of DAILY_METRIC_NAMES) {
    const [yc, zc] = DAILY_METRICS[metric];
    const [y0, z0, y1, z1] = [before[yc], before[zc], after[yc], after[zc]];
    stats[`${metric}_y`] += y1 - y0;
    stats[`${metric}_yy`] += y1 * y1 - y0 * y0;
    stats[`${metric}_z`] += z1 - z0;
    stats[`${metric}_zz`] += z1 * z1 - z0 * z0;
    stats[`${metric}_yz`] += y1 * z1 - y0 * z0;
  }
}
