import fc from 'fast-check';
import { sumMetrics, type SumTerm } from '../metrics/metric-registry';
import type { OutcomeRecord } from '../queue/queues';
import { AggregateDeltas, UNIT_COLUMNS, unitKeyOf } from './outcome-aggregator';

/**
 * The aggregator fills outcome_unit as the metric registry defines each metric's numerator and
 * denominator: for random events, every registry column of a unit holds the sum of the
 * registry's per-event term. A metric whose denominator the aggregator counted differently
 * (token means over every event, issue 15) fails here.
 */
const eventArb = fc.record({
  unit: fc.integer({ min: 0, max: 4 }),
  latencyMs: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: null }),
  ttftMs: fc.option(fc.integer({ min: 1, max: 500 }), { nil: null }),
  inputTokens: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: null }),
  outputTokens: fc.option(fc.integer({ min: 0, max: 5000 }), { nil: null }),
  costUsd: fc.option(fc.integer({ min: 0, max: 10_000 }).map((c) => c / 1e5), { nil: null }),
  success: fc.option(fc.boolean(), { nil: null }),
  score: fc.option(fc.integer({ min: 0, max: 100 }).map((s) => s / 100), { nil: null }),
  error: fc.option(fc.constantFrom('timeout', 'http_500'), { nil: null }),
});

type RandomEvent = {
  unit: number;
  latencyMs: number | null;
  ttftMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  costUsd: number | null;
  success: boolean | null;
  score: number | null;
  error: string | null;
};

function record(e: RandomEvent, i: number): OutcomeRecord {
  return {
    experimentId: 'x', eventId: `e${i}`, phase: 1, unitId: `u${e.unit}`, variant: 'v', at: '2026-11-01T00:00:00.000Z',
    latencyMs: e.latencyMs, ttftMs: e.ttftMs, inputTokens: e.inputTokens, outputTokens: e.outputTokens, costUsd: e.costUsd,
    costComputed: false, success: e.success, score: e.score, error: e.error, metrics: null,
  };
}

/** The registry's term for one event, computed here from its definition. */
function term(t: SumTerm, e: OutcomeRecord): number {
  if (t.of === 'event') return 1;
  const v = e[t.of];
  if (t.take === 'reported') return v === null ? 0 : 1;
  if (t.of === 'error') return v === null ? 0 : 1;
  return v === null ? 0 : typeof v === 'boolean' ? (v ? 1 : 0) : (v as number);
}

describe('AggregateDeltas against the metric registry', () => {
  it('names only columns outcome_unit has', () => {
    for (const m of sumMetrics()) {
      expect(UNIT_COLUMNS).toContain(m.numerator.column);
      expect(UNIT_COLUMNS).toContain(m.denominator.column);
    }
  });

  it('sums every metric\'s numerator and denominator per unit as the registry defines them', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 40 }), (raw) => {
        const events = raw.map(record);
        const deltas = new AggregateDeltas();
        for (const e of events) deltas.addEvent(e, false);
        for (const { key, v } of deltas.units.values()) {
          const mine = events.filter((e) => unitKeyOf(e) === unitKeyOf(key));
          for (const m of sumMetrics()) {
            for (const t of [m.numerator, m.denominator]) {
              const expected = mine.reduce((sum, e) => sum + term(t, e), 0);
              expect({ metric: m.name, column: t.column, value: v[t.column as keyof typeof v] }).toEqual({
                metric: m.name, column: t.column, value: expect.closeTo(expected, 9),
              });
            }
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('keeps per-event moments under each mean metric\'s name, over the events that reported it', () => {
    const events = [
      record({ unit: 0, latencyMs: 100, ttftMs: null, inputTokens: 500, outputTokens: null, costUsd: null, success: false, score: null, error: 'x' }, 0),
      record({ unit: 1, latencyMs: null, ttftMs: null, inputTokens: null, outputTokens: 7, costUsd: 0.5, success: true, score: 0.5, error: null }, 1),
    ];
    const deltas = new AggregateDeltas();
    for (const e of events) deltas.addEvent(e, true);
    const moments = Object.fromEntries([...deltas.moments.values()].map((m) => [m.metric, m.m]));
    for (const m of sumMetrics().filter((x) => x.moment)) {
      const reporting = events.filter((e) => term(m.denominator, e) === 1);
      expect({ metric: m.name, n: moments[m.moment!]?.n ?? 0 }).toEqual({ metric: m.name, n: reporting.length });
      expect(moments[m.moment!]?.sum ?? 0).toBeCloseTo(events.reduce((s, e) => s + term(m.numerator, e), 0), 12);
    }
  });
});
