import fc from 'fast-check';
import {
  checkExposureEvent,
  checkExposureRecord,
  checkFeedbackItem,
  checkOutcomeEvent,
  checkOutcomeRecord,
  defaultWindow,
  experimentWindow,
  STORABLE_LIMITS,
  textIssue,
  type StorableIssue,
} from './storable';

const NOW = Date.parse('2026-11-28T12:00:00Z');
const window = defaultWindow(NOW);
const fieldsOf = (issues: StorableIssue[]) => issues.map((i) => i.field).sort();
const eventIssues = (event: Record<string, unknown>) => {
  const issues: StorableIssue[] = [];
  checkOutcomeEvent({ id: 'e1', experiment: 'exp', unitId: 'u1', ...event }, window, issues);
  return issues;
};
const record = {
  experimentId: '00000000-0000-4000-8000-000000000001', eventId: 'e1', phase: 1, unitId: 'u1', variant: 'control', at: '2026-11-28T11:00:00.000Z',
  latencyMs: 10, ttftMs: null, inputTokens: 3, outputTokens: null, costUsd: 0.01, costComputed: false, success: true, score: 0.5, error: null, metrics: { m: 1 },
};

/** Postgres' rule for text and jsonb strings, independently of the code under test: valid UTF-8 once encoded, no NUL. */
function postgresTakes(s: string): boolean {
  if (s.includes('\u0000')) return false;
  return Buffer.from(s, 'utf8').toString('utf8') === s;
}

describe('textIssue', () => {
  it('refuses NUL and lone surrogates, and accepts well-formed pairs and the rest of Unicode', () => {
    expect(textIssue('plain ü 漢字')).toBeNull();
    expect(textIssue('emoji \ud83d\ude00')).toBeNull();
    expect(textIssue('a\u0000')).toMatch(/NUL/);
    expect(textIssue('\ud800')).toMatch(/lone surrogate at index 0/);
    expect(textIssue('ab\udc00')).toMatch(/lone surrogate at index 2/);
    expect(textIssue('\ud800\ud800\udc00')).toMatch(/lone surrogate at index 0/);
    expect(textIssue('\ud83d\ude00\ude00')).toMatch(/lone surrogate at index 2/);
  });

  it('agrees with what survives a UTF-8 round trip, for arbitrary UTF-16', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('\u0000', '\ud800', '\udfff', '\ud83d', '\ude00'), fc.string({ unit: 'binary', maxLength: 1 })), maxLength: 12 }), (s) => {
        expect(textIssue(s) === null).toBe(postgresTakes(s));
      }),
      { numRuns: 2000, seed: 15 },
    );
  });
});

describe('checkOutcomeEvent', () => {
  it('accepts a full well-formed event and normalises it', () => {
    const issues: StorableIssue[] = [];
    const event = checkOutcomeEvent(
      { id: 'e1', experiment: 'exp', unitId: 'u1', timestamp: '2026-11-28T13:00:00+02:00', latencyMs: 0, ttftMs: 86_400_000, inputTokens: 1e9, outputTokens: 0, costUsd: 1e6, success: false, score: -1e12, error: '', metrics: { thumbs: 1e-100 } },
      window,
      issues,
    );
    expect(issues).toEqual([]);
    expect(event).toMatchObject({ at: Date.parse('2026-11-28T11:00:00Z'), error: null, score: -1e12, metrics: { thumbs: 1e-100 } });
  });

  it('bounds every number so that squares and sums of squares stay finite and non-zero', () => {
    expect(fieldsOf(eventIssues({ latencyMs: 86_400_001, ttftMs: -1 }))).toEqual(['latencyMs', 'ttftMs']);
    expect(fieldsOf(eventIssues({ inputTokens: 1e9 + 1, outputTokens: 2 ** 63 }))).toEqual(['inputTokens', 'outputTokens']);
    expect(fieldsOf(eventIssues({ inputTokens: 0.5, costUsd: 1e6 + 1 }))).toEqual(['costUsd', 'inputTokens']);
    expect(fieldsOf(eventIssues({ score: 1e200, metrics: { a: 1e308, b: -1e13, c: 1e-200, d: 'x' } }))).toEqual(['metrics.a', 'metrics.b', 'metrics.c', 'metrics.d', 'score']);
    expect(fieldsOf(eventIssues({ costUsd: 5e-324, latencyMs: 1e-101 }))).toEqual(['costUsd', 'latencyMs']);
    expect(eventIssues({ score: 0, latencyMs: 0, costUsd: 0, metrics: { a: -0 } })).toEqual([]);
    // The largest values allowed, squared and summed over a trillion events, are finite.
    for (const max of [STORABLE_LIMITS.maxDurationMs, STORABLE_LIMITS.maxTokens, STORABLE_LIMITS.maxCostUsd, STORABLE_LIMITS.maxMagnitude]) {
      expect(Number.isFinite(max * max * 1e12 * (max * 1e12) ** 2)).toBe(true);
    }
    expect(STORABLE_LIMITS.minMagnitude ** 2 * 2 ** -52).toBeGreaterThan(0);
  });

  it('refuses unstorable strings in every string field and metric name, naming it', () => {
    expect(fieldsOf(eventIssues({ id: 'a\u0000', unitId: '\ud800', variant: 'v\udc00', error: 'e\u0000', experiment: 'x\u0000' }))).toEqual([
      'error', 'experiment', 'id', 'unitId', 'variant',
    ]);
    const issues = eventIssues({ metrics: { 'a\u0000b': 1, ['n'.repeat(100)]: 1 } });
    expect(issues.map((i) => i.field)).toEqual(['metrics.a\\u0000b', `metrics.${'n'.repeat(64)}…`]);
    expect(fieldsOf(eventIssues({ metrics: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, 1])) }))).toEqual(['metrics']);
  });

  it('takes times from the floor (or the experiment creation, less skew) to 5 minutes ahead', () => {
    const at = (timestamp: string, w = window) => {
      const issues: StorableIssue[] = [];
      checkOutcomeEvent({ id: 'e', experiment: 'x', unitId: 'u', timestamp }, w, issues);
      return issues.map((i) => i.message);
    };
    expect(at('2026-11-28T12:04:59Z')).toEqual([]);
    expect(at('2026-11-28T12:05:01Z')).toEqual(['is more than 5 minutes in the future']);
    for (const bad of ['0000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z', '1999-12-31T23:59:59Z']) expect(at(bad)[0]).toMatch(/before 2000-01-01/);
    expect(at('+275760-09-13T00:00:00Z')).toEqual(['is more than 5 minutes in the future']);
    expect(at('not a time')).toEqual(['must be an ISO-8601 date-time']);
    const created = experimentWindow(Date.parse('2026-11-01T00:00:00Z'), NOW);
    expect(at('2026-10-31T23:55:00Z', created)).toEqual([]);
    expect(at('2026-10-31T23:54:59Z', created)[0]).toMatch(/before the experiment was created/);
  });

  it('names unknown fields and a non-object', () => {
    expect(fieldsOf(eventIssues({ extra: 1 }))).toEqual(['extra']);
    const issues: StorableIssue[] = [];
    expect(checkOutcomeEvent([1], window, issues)).toBeNull();
    expect(issues).toEqual([{ field: '', message: 'must be an object' }]);
  });
});

describe('checkOutcomeRecord (the worker)', () => {
  it('passes a record the API built and refuses each unstorable field by name', () => {
    expect(checkOutcomeRecord(record, window)).toEqual({ ok: true, record });
    const bad = checkOutcomeRecord({ ...record, experimentId: 'x', unitId: 'u\u0000', at: '0000-01-01T00:00:00Z', latencyMs: Infinity, metrics: { '\ud800': 1 }, costComputed: 1 }, window);
    expect(bad.ok ? [] : fieldsOf(bad.issues)).toEqual(['at', 'costComputed', 'experimentId', 'latencyMs', 'metrics.\\ud800', 'unitId']);
  });
});

describe('checkFeedbackItem', () => {
  it('takes storable feedback and names what is not', () => {
    expect(checkFeedbackItem({ eventId: 'e', score: 3, metrics: { m: 2 } })).toEqual({ ok: true, item: { eventId: 'e', score: 3, metrics: { m: 2 } } });
    const bad = checkFeedbackItem({ eventId: 'e\u0000', score: 1e300, success: 'yes', metrics: { '': 1 }, more: 1 });
    expect(bad.ok ? [] : fieldsOf(bad.issues)).toEqual(['eventId', 'metrics.', 'more', 'score', 'success']);
  });
});

describe('exposures', () => {
  it('checks an exposure as sent and as queued', () => {
    const issues: StorableIssue[] = [];
    expect(checkExposureEvent({ experiment: 'x', unitId: 'u\ud800', variant: 'a', timestamp: '1970-01-01T00:00:00Z' }, window, issues)).toBeNull();
    expect(fieldsOf(issues)).toEqual(['timestamp', 'unitId']);
    const unknown: StorableIssue[] = [];
    expect(checkExposureEvent({ experiment: 'x', unitId: 'u', variant: 'a', sessionId: 's' }, window, unknown)).toBeNull();
    expect(fieldsOf(unknown)).toEqual(['sessionId']);
    const queued = { projectId: record.experimentId, experimentId: record.experimentId, unitId: 'u', variant: 'a', phase: 1, at: record.at, count: 3 };
    expect(checkExposureRecord(queued, window)).toEqual({ ok: true, record: queued });
    const bad = checkExposureRecord({ ...queued, unitId: '\u0000', count: 0, phase: -1 }, window);
    expect(bad.ok ? [] : fieldsOf(bad.issues)).toEqual(['count', 'phase', 'unitId']);
  });
});
