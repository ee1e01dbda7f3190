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

import { dailyMetrics } from '../metrics/metric-registry';

/** The per-unit sums the daily metrics are made of (a subset of outcome_unit's columns). */
export const DAILY_SUM_COLUMNS = [
  'events', 'success_n', 'successes', 'score_n', 'score_sum', 'latency_n', 'latency_sum', 'cost_n', 'cost_sum', 'errors',
] as const;
export type DailySumColumn = (typeof DAILY_SUM_COLUMNS)[number];
/** Sums in DAILY_SUM_COLUMNS order: plain arrays, cheaper than records (or small typed arrays) at several per event. */
export type DailySums = number[];
export const SUM = Object.fromEntries(DAILY_SUM_COLUMNS.map((c, i) => [c, i])) as Record<DailySumColumn, number>;
export const zeroSums = (): DailySums => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
export function sumsOf(values: Partial<Record<DailySumColumn, number>>): DailySums {
  const sums = zeroSums();
  for (const c of DAILY_SUM_COLUMNS) sums[SUM[c]] = values[c] ?? 0;
  return sums;
}

const isDailyColumn = (c: string): c is DailySumColumn => (DAILY_SUM_COLUMNS as readonly string[]).includes(c);

/** Each daily metric as (numerator, denominator) per-unit sums, from the metric registry: a ratio of sums, as in the results. */
export const DAILY_METRICS: Readonly<Record<string, readonly [DailySumColumn, DailySumColumn]>> = Object.fromEntries(
  dailyMetrics().map((m) => {
    const { numerator: y, denominator: z } = m;
    if (!isDailyColumn(y.column) || !isDailyColumn(z.column)) throw new Error(`daily metric ${m.name} needs sums the daily aggregate does not keep`);
    return [m.name, [y.column, z.column] as const];
  }),
);
export const DAILY_METRIC_NAMES: readonly string[] = Object.keys(DAILY_METRICS);
const PAIRS = DAILY_METRIC_NAMES.map((m) => [SUM[DAILY_METRICS[m][0]], SUM[DAILY_METRICS[m][1]]] as const);

/** The five statistics kept per metric; column `${metric}_${stat}` of outcome_daily, index metric * 5 + stat in DailyRow.stats. */
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
  /** The change of each statistic, in DAILY_STAT_COLUMNS order. */
  stats: number[];
}

const SEP = '\u0000';
const EVENTS = SUM.events;

/** The changes one batch makes to the per-day statistics, built in memory and written with one upsert. */
export class DailyDeltas {
  /** User/session units: per unit, its change per day; turned into rows once the unit's new totals are known. */
  readonly unitDays = new Map<string, { experimentId: string; phase: number; variant: string; days: Map<string, DailySums> }>();
  private readonly rows = new Map<string, DailyRow>();

  /** A change of `sign` × `sums` to a unit's cumulative sums, on `day`. */
  addUnitDay(unitKey: string, key: DailyKey, sums: DailySums, sign: 1 | -1): void {
    let unit = this.unitDays.get(unitKey);
    if (!unit) this.unitDays.set(unitKey, (unit = { experimentId: key.experimentId, phase: key.phase, variant: key.variant, days: new Map() }));
    const day = unit.days.get(key.day);
    if (!day) {
      const first = sign === 1 ? sums.slice() : sums.map((x) => -x);
      unit.days.set(key.day, first);
      return;
    }
    for (let i = 0; i < day.length; i++) day[i] += sign * sums[i];
  }

  /** A request unit (one event) going from `before` (null: new) to `after`. */
  addEventChange(key: DailyKey, before: DailySums | null, after: DailySums): void {
    const row = this.row(key);
    if (before === null) row.new_units += 1;
    row.events += after[EVENTS] - (before ? before[EVENTS] : 0);
    addChange(row.stats, before ?? ZERO, after);
  }

  /**
   * All rows of the batch, given the units' cumulative sums after it (from the unit upsert).
   * Each unit's days are walked in order from its total before the batch.
   */
  toRows(totalsAfter: Map<string, DailySums>): DailyRow[] {
    for (const [unitKey, unit] of this.unitDays) {
      const after = totalsAfter.get(unitKey);
      if (!after) throw new Error(`no cumulative sums returned for unit ${JSON.stringify(unitKey)}`);
      const current = after.slice();
      for (const sums of unit.days.values()) for (let i = 0; i < current.length; i++) current[i] -= sums[i];
      const days = unit.days.size === 1 ? [...unit.days.keys()] : [...unit.days.keys()].sort();
      for (const day of days) {
        const change = unit.days.get(day)!;
        const before = current.slice();
        for (let i = 0; i < current.length; i++) current[i] += change[i];
        const row = this.row({ experimentId: unit.experimentId, phase: unit.phase, variant: unit.variant, day });
        // A unit is new when it had no events and now has some.
        if (before[EVENTS] <= 0 && current[EVENTS] > 0) row.new_units += 1;
        row.events += change[EVENTS];
        addChange(row.stats, before, current);
      }
    }
    this.unitDays.clear();
    return [...this.rows.values()];
  }

  private lastRowKey: DailyKey | null = null;
  private lastRow: DailyRow | null = null;

  private row(key: DailyKey): DailyRow {
    const last = this.lastRowKey;
    if (last && this.lastRow && last.day === key.day && last.variant === key.variant && last.phase === key.phase && last.experimentId === key.experimentId) {
      return this.lastRow;
    }
    const k = `${key.experimentId}${SEP}${key.phase}${SEP}${key.variant}${SEP}${key.day}`;
    let row = this.rows.get(k);
    if (!row) {
      row = { experimentId: key.experimentId, phase: key.phase, variant: key.variant, day: key.day, new_units: 0, events: 0, stats: DAILY_STAT_COLUMNS.map(() => 0) };
      this.rows.set(k, row);
    }
    this.lastRowKey = key;
    this.lastRow = row;
    return row;
  }
}

const ZERO = zeroSums();

/** Adds f(after) - f(before) for every metric's y, y², z, z², yz. */
function addChange(stats: number[], before: DailySums, after: DailySums): void {
  for (let m = 0; m < PAIRS.length; m++) {
    const [yi, zi] = PAIRS[m];
    const y0 = before[yi];
    const z0 = before[zi];
    const y1 = after[yi];
    const z1 = after[zi];
    const o = m * 5;
    stats[o] += y1 - y0;
    stats[o + 1] += y1 * y1 - y0 * y0;
    stats[o + 2] += z1 - z0;
    stats[o + 3] += z1 * z1 - z0 * z0;
    stats[o + 4] += y1 * z1 - y0 * z0;
  }
}
