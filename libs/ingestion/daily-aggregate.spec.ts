import fc from 'fast-check';
import { DAILY_METRIC_NAMES, DAILY_METRICS, DAILY_STAT_COLUMNS, DailyDeltas, type DailyRow, type DailySums, SUM, sumsOf, zeroSums } from './daily-aggregate';

const DAYS = ['2026-11-01', '2026-11-02', '2026-11-03', '2026-11-04'];

interface Ev {
  unit: number;
  day: number;
  sums: DailySums;
}

const evArb = fc.record({
  unit: fc.integer({ min: 0, max: 5 }),
  day: fc.integer({ min: 0, max: DAYS.length - 1 }),
  success: fc.option(fc.boolean(), { nil: null }),
  score: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
  latency: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: null }),
  cost: fc.option(fc.integer({ min: 0, max: 1000 }).map((c) => c / 1e4), { nil: null }),
  error: fc.boolean(),
}).map((e): Ev => ({
  unit: e.unit,
  day: e.day,
  sums: sumsOf({
    events: 1, success_n: e.success === null ? 0 : 1, successes: e.success ? 1 : 0, score_n: e.score === null ? 0 : 1, score_sum: e.score ?? 0,
    latency_n: e.latency === null ? 0 : 1, latency_sum: e.latency ?? 0, cost_n: e.cost === null ? 0 : 1, cost_sum: e.cost ?? 0, errors: e.error ? 1 : 0,
  }),
}));

const add = (a: DailySums, b: DailySums) => {
  for (let i = 0; i < a.length; i++) a[i] += b[i];
};
const key = (day: number) => ({ experimentId: 'x', phase: 1, variant: 'v', day: DAYS[day] });

/** What the daily series needs at the end of each day, computed directly from the events (per unit cumulative sums). */
function direct(events: Ev[], unitOf: (e: Ev, i: number) => string) {
  return DAYS.map((_, d) => {
    const units = new Map<string, DailySums>();
    events.forEach((e, i) => {
      if (e.day > d) return;
      const u = units.get(unitOf(e, i)) ?? zeroSums();
      add(u, e.sums);
      units.set(unitOf(e, i), u);
    });
    const stats: Record<string, number> = {};
    for (const m of DAILY_METRIC_NAMES) {
      const [yc, zc] = DAILY_METRICS[m].map((c) => SUM[c]);
      const vs = [...units.values()];
      stats[`${m}_y`] = vs.reduce((s, u) => s + u[yc], 0);
      stats[`${m}_yy`] = vs.reduce((s, u) => s + u[yc] ** 2, 0);
      stats[`${m}_z`] = vs.reduce((s, u) => s + u[zc], 0);
      stats[`${m}_zz`] = vs.reduce((s, u) => s + u[zc] ** 2, 0);
      stats[`${m}_yz`] = vs.reduce((s, u) => s + u[yc] * u[zc], 0);
    }
    return { units: units.size, events: events.filter((e) => e.day <= d).length, stats };
  });
}

/** Running totals of the written rows through each day. */
function cumulative(rows: DailyRow[]) {
  return DAYS.map((day) => {
    const upTo = rows.filter((r) => r.day <= day);
    const stats: Record<string, number> = {};
    for (const r of upTo) r.stats.forEach((v, i) => (stats[DAILY_STAT_COLUMNS[i]] = (stats[DAILY_STAT_COLUMNS[i]] ?? 0) + v));
    return { units: upTo.reduce((s, r) => s + r.new_units, 0), events: upTo.reduce((s, r) => s + r.events, 0), stats };
  });
}

function expectSame(actual: ReturnType<typeof cumulative>, expected: ReturnType<typeof direct>) {
  actual.forEach((a, d) => {
    expect(a.units).toBe(expected[d].units);
    expect(a.events).toBe(expected[d].events);
    for (const [c, v] of Object.entries(expected[d].stats)) expect(a.stats[c] ?? 0).toBeCloseTo(v, 6);
  });
}

/** Writes `batches` through DailyDeltas as the writer does, keeping unit totals as the database would. */
function writeUserUnits(batches: Ev[][]): DailyRow[] {
  const totals = new Map<string, DailySums>();
  const rows: DailyRow[] = [];
  for (const batch of batches) {
    const deltas = new DailyDeltas();
    for (const e of batch) {
      deltas.addUnitDay(`u${e.unit}`, key(e.day), e.sums, 1);
      const t = totals.get(`u${e.unit}`) ?? zeroSums();
      add(t, e.sums);
      totals.set(`u${e.unit}`, t);
    }
    const after = new Map([...totals].map(([k, v]) => [k, v.slice()]));
    rows.push(...deltas.toRows(after));
  }
  return rows;
}

/** Splits a list into consecutive batches at the given cut points. */
function split<T>(list: T[], cuts: number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (list.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const p of [...points, list.length]) {
    if (p > from) out.push(list.slice(from, p));
    from = Math.max(from, p);
  }
  return out;
}

describe('DailyDeltas', () => {
  it('user units: running totals equal the per-unit cumulative statistics of each day when data arrive in day order', () => {
    fc.assert(
      fc.property(fc.array(evArb, { minLength: 1, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (events, cuts) => {
        const ordered = [...events].sort((a, b) => a.day - b.day);
        expectSame(cumulative(writeUserUnits(split(ordered, cuts))), direct(ordered, (e) => `u${e.unit}`));
      }),
    );
  });

  it('user units: in any arrival order the last day is exact (earlier days are counted as of arrival)', () => {
    fc.assert(
      fc.property(fc.array(evArb, { minLength: 1, maxLength: 60 }), fc.array(fc.nat(), { maxLength: 8 }), (events, cuts) => {
        const rows = writeUserUnits(split(events, cuts));
        const last = DAYS.length - 1;
        const actual = cumulative(rows)[last];
        const expected = direct(events, (e) => `u${e.unit}`)[last];
        expect(actual.units).toBe(expected.units);
        for (const [c, v] of Object.entries(expected.stats)) expect(actual.stats[c] ?? 0).toBeCloseTo(v, 6);
      }),
    );
  });

  it('request units: every event is its own unit, exact in any order, and feedback moves an event from its old values to its new ones', () => {
    fc.assert(
      fc.property(fc.array(evArb, { minLength: 1, maxLength: 60 }), fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), (events, flips) => {
        const deltas = new DailyDeltas();
        for (const e of events) deltas.addEventChange(key(e.day), null, e.sums);
        // Late feedback: success flipped on some events.
        const final = events.map((e, i) => {
          if (!flips[i]) return e;
          const after = e.sums.slice();
          after[SUM.success_n] = 1;
          after[SUM.successes] = 1 - e.sums[SUM.successes];
          deltas.addEventChange(key(e.day), e.sums, after);
          return { ...e, sums: after };
        });
        expectSame(cumulative(deltas.toRows(new Map())), direct(final, (_, i) => `e${i}`));
      }),
    );
  });

  it('refuses to guess when the unit upsert did not return a unit it changed', () => {
    const deltas = new DailyDeltas();
    deltas.addUnitDay('u1', key(0), sumsOf({ events: 1 }), 1);
    expect(() => deltas.toRows(new Map())).toThrow(/no cumulative sums/);
  });
});
