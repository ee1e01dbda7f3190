/**
 * The per-variant CUPED sums (outcome_cuped, docs/adr/0026), kept incrementally like the daily
 * aggregate: a unit's pre-exposure sums p (numerator) and q (denominator) are fixed when its row is
 * created, so each write adds to its variant's row, per metric,
 * - when the unit is new: p, p², q, q², pq and one unit with pre-data (q ≠ 0);
 * - always: the change of y·p, z·q, y·q and p·z, that is (y1 − y0)·p and so on, where y1 and z1 are
 *   the unit's in-experiment sums after the write (returned by the unit upsert) and y0, z0 before it.
 * - for the missing-data indicator (units with pre-data): one unit when new, and the change of y and z.
 * The running totals are then exactly the sums over units that the CUPED statistics need, in any
 * order of arrival. Units without pre-data add nothing.
 */
import { sumMetrics } from '../metrics/metric-registry';
import type { UnitColumn } from './outcome-aggregator';

export const CUPED_SUMS = ['py', 'pyy', 'pz', 'pzz', 'pyz', 'y_py', 'z_pz', 'y_pz', 'py_z', 'i_n', 'i_y', 'i_z'] as const;

const METRICS = sumMetrics().map((m) => ({ name: m.name, y: m.numerator.column as UnitColumn, z: m.denominator.column as UnitColumn }));

export interface CupedRow {
  experimentId: string;
  phase: number;
  variant: string;
  metric: string;
  withPre: number;
  /** In CUPED_SUMS order. */
  sums: number[];
}

/** A unit after the write (as the upsert returns it) and the change this write made to it. */
export interface UnitAfter {
  experimentId: string;
  phase: number;
  variant: string;
  hasPre: boolean;
  /** The unit's in-experiment sums after the write. */
  after: (column: UnitColumn) => number;
  /** Its pre-exposure sums. */
  pre: (column: UnitColumn) => number;
  /** What this write added. */
  change: (column: UnitColumn) => number;
}

const SEP = '\u0000';

/** The rows a write adds, in key order. */
export function cupedRows(units: Iterable<UnitAfter>): CupedRow[] {
  const rows = new Map<string, CupedRow>();
  for (const u of units) {
    if (!u.hasPre) continue;
    const isNew = u.after('events') > 0 && u.after('events') - u.change('events') <= 0;
    for (const m of METRICS) {
      const p = u.pre(m.y);
      const q = u.pre(m.z);
      const k = `${u.experimentId}${SEP}${u.phase}${SEP}${u.variant}${SEP}${m.name}`;
      let row = rows.get(k);
      if (!row) rows.set(k, (row = { experimentId: u.experimentId, phase: u.phase, variant: u.variant, metric: m.name, withPre: 0, sums: CUPED_SUMS.map(() => 0) }));
      const s = row.sums;
      if (isNew) {
        if (q !== 0) row.withPre += 1;
        s[0] += p;
        s[1] += p * p;
        s[2] += q;
        s[3] += q * q;
        s[4] += p * q;
      }
      const dy = u.change(m.y);
      const dz = u.change(m.z);
      s[5] += dy * p;
      s[6] += dz * q;
      s[7] += dy * q;
      s[8] += p * dz;
      if (isNew) s[9] += 1;
      s[10] += dy;
      s[11] += dz;
    }
  }
  return [...rows.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((r) => r[1]);
}
