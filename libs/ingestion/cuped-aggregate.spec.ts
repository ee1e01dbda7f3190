import fc from 'fast-check';
import { sumMetrics } from '../metrics/metric-registry';
import { CUPED_SUMS, cupedRows, type UnitAfter } from './cuped-aggregate';
import type { UnitColumn } from './outcome-aggregator';

/**
 * The per-variant CUPED sums kept write by write equal the sums over units computed at once from
 * the units' final in-experiment sums and their fixed pre-exposure sums, however the writes are split.
 */
const COLUMNS = [...new Set(sumMetrics().flatMap((m) => [m.numerator.column, m.denominator.column]))] as UnitColumn[];

type Change = Partial<Record<UnitColumn, number>>;
const unitArb = fc.record({
  variant: fc.constantFrom('control', 'treatment'),
  pre: fc.option(fc.dictionary(fc.constantFrom(...COLUMNS), fc.integer({ min: 0, max: 50 })), { nil: null }),
  // Each write adds at least one event; later ones may only change values (late feedback: no events).
  writes: fc.array(fc.record({ events: fc.integer({ min: 0, max: 3 }), values: fc.dictionary(fc.constantFrom(...COLUMNS), fc.integer({ min: -5, max: 20 })) }), { minLength: 1, maxLength: 4 }),
});

describe('the per-variant CUPED sums (outcome_cuped)', () => {
  it('equal the sums over units of the final values, whatever the order and split of the writes', () => {
    fc.assert(
      fc.property(fc.array(unitArb, { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 1000 }), (units, shuffleSeed) => {
        const totals = units.map(() => new Map<UnitColumn, number>());
        // All writes of all units, interleaved; the first write of a unit brings its first event.
        const writes = units.flatMap((u, i) => u.writes.map((w, j) => ({ i, change: { ...w.values, events: j === 0 ? Math.max(1, w.events) : w.events } as Change })));
        let seed = shuffleSeed;
        writes.sort(() => ((seed = (seed * 16807) % 2147483647) % 3) - 1);
        const kept = new Map<string, { withPre: number; sums: number[] }>();
        const firsts = new Set<number>();
        for (const { i, change } of writes) {
          // A unit's events arrive before its feedback: its first write in order carries events.
          if (!firsts.has(i)) {
            firsts.add(i);
            change.events = Math.max(1, change.events ?? 0);
          }
          const total = totals[i];
          for (const [c, x] of Object.entries(change) as Array<[UnitColumn, number]>) total.set(c, (total.get(c) ?? 0) + x);
          const u: UnitAfter = {
            experimentId: 'e', phase: 1, variant: units[i].variant, hasPre: units[i].pre !== null,
            after: (c) => total.get(c) ?? 0, pre: (c) => units[i].pre?.[c] ?? 0, change: (c) => change[c] ?? 0,
          };
          for (const r of cupedRows([u])) {
            const k = `${r.variant}/${r.metric}`;
            const acc = kept.get(k) ?? { withPre: 0, sums: CUPED_SUMS.map(() => 0) };
            acc.withPre += r.withPre;
            r.sums.forEach((x, j) => (acc.sums[j] += x));
            kept.set(k, acc);
          }
        }
        for (const m of sumMetrics()) {
          for (const variant of ['control', 'treatment']) {
            const direct = { withPre: 0, sums: CUPED_SUMS.map(() => 0) };
            units.forEach((u, i) => {
              if (u.variant !== variant || !u.pre) return;
              const y = totals[i].get(m.numerator.column as UnitColumn) ?? 0;
              const z = totals[i].get(m.denominator.column as UnitColumn) ?? 0;
              const p = u.pre[m.numerator.column as UnitColumn] ?? 0;
              direct.sums[9] += 1;
              direct.sums[10] += y;
              direct.sums[11] += z;
              const q = u.pre[m.denominator.column as UnitColumn] ?? 0;
              if (q !== 0) direct.withPre += 1;
              [p, p * p, q, q * q, p * q, y * p, z * q, y * q, p * z].forEach((x, j) => (direct.sums[j] += x));
              // Every metric has a row for a unit with history, even when its own pre sums are zero.
            });
            const got = kept.get(`${variant}/${m.name}`) ?? { withPre: 0, sums: CUPED_SUMS.map(() => 0) };
            expect({ metric: m.name, variant, ...got }).toEqual({ metric: m.name, variant, ...direct });
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
