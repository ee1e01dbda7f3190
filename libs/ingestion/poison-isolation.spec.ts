import { dataErrorReason, isolatePoison, UnstorableDataError } from './poison-isolation';

/** A Postgres error as node-pg and TypeORM raise it. */
const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });
const checkViolation = () => pgError('23514', 'new row violates check constraint "no_poison"');

describe('dataErrorReason', () => {
  it('classifies data exceptions, integrity violations and program limits as data, naming the SQLSTATE', () => {
    expect(dataErrorReason(pgError('22021', 'invalid byte sequence for encoding "UTF8": 0x00'))).toBe('SQLSTATE 22021: invalid byte sequence for encoding "UTF8": 0x00');
    expect(dataErrorReason(pgError('22003', 'value out of range: overflow'))).toMatch(/^SQLSTATE 22003/);
    expect(dataErrorReason(pgError('23514', 'no partition of relation "outcome_event" found for row'))).toMatch(/no partition/);
    expect(dataErrorReason(pgError('54000', 'index row size exceeds maximum'))).toMatch(/^SQLSTATE 54000/);
    expect(dataErrorReason({ driverError: { code: '22P05' }, message: 'unsupported Unicode escape sequence' })).toMatch(/^SQLSTATE 22P05/);
    expect(dataErrorReason(new UnstorableDataError('a non-finite aggregate delta (outcome_unit.latency_sumsq)'))).toMatch(/non-finite/);
  });

  it('treats everything else as transient: connection loss, restarts, deadlocks, serialization, unknown errors', () => {
    for (const e of [
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }),
      pgError('57P01', 'terminating connection due to administrator command'),
      pgError('40P01', 'deadlock detected'),
      pgError('40001', 'could not serialize access'),
      pgError('53300', 'too many connections'),
      'a string',
      null,
    ]) {
      expect(dataErrorReason(e)).toBeNull();
    }
  });

  it('keeps the reason storable and short', () => {
    const reason = dataErrorReason(pgError('22000', `bad \u0000 value \ud800 ${'x'.repeat(1000)}`))!;
    expect(reason.includes('\u0000') || reason.includes('\ud800')).toBe(false);
    expect(reason.length).toBeLessThanOrEqual(501);
  });
});

describe('isolatePoison', () => {
  /** A write that fails on data when a batch holds a poison item, records its calls, and commits the rest. */
  function writer(isPoison: (n: number) => boolean, transientOnCall = -1) {
    const calls: number[][] = [];
    const written: number[] = [];
    const write = async (items: number[]) => {
      calls.push(items);
      if (calls.length - 1 === transientOnCall) throw new Error('Connection terminated unexpectedly');
      if (items.some(isPoison)) throw checkViolation();
      written.push(...items);
    };
    return { calls, written, write };
  }

  it('writes a clean batch once', async () => {
    const w = writer(() => false);
    expect(await isolatePoison([1, 2, 3], w.write)).toEqual([]);
    expect(w.calls).toEqual([[1, 2, 3]]);
  });

  it('finds each poison item by halving, writes every other item exactly once, and returns the reasons', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => i);
    const poisoned = new Set([3, 511, 512, 999]);
    const w = writer((n) => poisoned.has(n));
    const poison = await isolatePoison(items, w.write);
    expect(poison.map((p) => p.item)).toEqual([3, 511, 512, 999]);
    expect(poison[0].reason).toMatch(/^SQLSTATE 23514: new row violates check constraint/);
    expect(w.written.sort((a, b) => a - b)).toEqual(items.filter((n) => !poisoned.has(n)));
    // A poison item alone costs about 2 log2(n) writes; four of them well under 4 x 2 x 10.
    expect(w.calls.length).toBeLessThan(80);
  });

  it('skips the first write when its error is already known', async () => {
    const w = writer((n) => n === 2);
    const poison = await isolatePoison([1, 2], w.write, checkViolation());
    expect(poison.map((p) => p.item)).toEqual([2]);
    expect(w.calls).toEqual([[1], [2]]);
  });

  it('throws a transient failure at any depth instead of dead-lettering (the job is retried whole)', async () => {
    const w = writer((n) => n === 7, 2);
    await expect(isolatePoison([1, 7, 8, 9], w.write)).rejects.toThrow('Connection terminated unexpectedly');
    await expect(isolatePoison([1], async () => Promise.reject(new Error('ECONNRESET')))).rejects.toThrow('ECONNRESET');
  });

  it('isolates a single item that fails alone', async () => {
    const poison = await isolatePoison(['x'], async () => Promise.reject(new UnstorableDataError('a non-finite aggregate delta (outcome_moment (latency_ms))')));
    expect(poison).toEqual([{ item: 'x', reason: 'a non-finite aggregate delta (outcome_moment (latency_ms))' }]);
  });
});
