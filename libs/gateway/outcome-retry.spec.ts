import { ValidationFailedError } from '../errors/domain-error';
import { IngestionBackloggedError, IngestionUnavailableError } from '../ingestion/ingestion.errors';
import { isPermanent, OutcomeRetryBuffer, retryDelay, type OutcomeRetryOptions, type RetryItem, type SendResult } from './outcome-retry';

const item = (id: string, projectId = 'p', kind: RetryItem['kind'] = 'served'): RetryItem => ({ projectId, kind, event: { id, experiment: 'e' } });

async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** A queue and writer in one: `stored` counts each event id once (the writer's ON CONFLICT), `jobs` every enqueue. */
function fakeIngestion() {
  const stored = new Map<string, number>();
  const jobs: Array<{ projectId: string; ids: string[] }> = [];
  const state = { down: true, ambiguous: false };
  const send = async (projectId: string, events: RetryItem['event'][]): Promise<SendResult> => {
    if (state.down && !state.ambiguous) throw new IngestionUnavailableError('the queue backend is unreachable');
    jobs.push({ projectId, ids: events.map((e) => e.id) });
    for (const e of events) stored.set(e.id, 1);
    // The enqueue landed but its confirmation was lost: the caller sees a timeout.
    if (state.ambiguous) throw new IngestionUnavailableError('the queue did not confirm the enqueue');
    return { rejected: [] };
  };
  return { stored, jobs, state, send };
}

function buffer(send: OutcomeRetryOptions['send'], extra: Partial<OutcomeRetryOptions> = {}) {
  const rejected: Array<{ id: string; errors: unknown }> = [];
  const dropped: string[] = [];
  const logs: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const b = new OutcomeRetryBuffer({
    max: 100,
    send,
    onRejected: (i, errors, error) => rejected.push({ id: i.event.id, errors: errors ?? error }),
    onDropped: (i) => dropped.push(i.event.id),
    log: (fields, message) => logs.push({ fields, message }),
    baseDelayMs: 1,
    maxDelayMs: 4,
    ...extra,
  });
  return { b, rejected, dropped, logs };
}

describe('retryDelay', () => {
  it('doubles from the base up to the cap, jittered between half and all of it', () => {
    expect([1, 2, 3, 4].map((n) => retryDelay(n, () => 1, 250, 30_000))).toEqual([250, 500, 1000, 2000]);
    expect([1, 2, 3, 4].map((n) => retryDelay(n, () => 0, 250, 30_000))).toEqual([125, 250, 500, 1000]);
    expect(retryDelay(20, () => 1, 250, 30_000)).toBe(30_000);
    expect(retryDelay(10_000, () => 0, 250, 30_000)).toBe(15_000);
    expect(retryDelay(3, () => 0.5, 100, 30_000)).toBe(300);
  });
});

describe('isPermanent', () => {
  it('retries queue refusals and unknown failures, not invalid input', () => {
    expect(isPermanent(new IngestionUnavailableError('x'))).toBe(false);
    expect(isPermanent(new IngestionBackloggedError(10, 5))).toBe(false);
    expect(isPermanent(new Error('ECONNREFUSED'))).toBe(false);
    expect(isPermanent(new ValidationFailedError([{ field: 'events', message: 'bad' }]))).toBe(true);
  });
});

describe('OutcomeRetryBuffer', () => {
  it('sends at once when nothing is held, and holds nothing when the queue accepts', async () => {
    const ing = fakeIngestion();
    ing.state.down = false;
    const { b } = buffer(ing.send);
    await b.submit(item('a'));
    expect(b.depth).toBe(0);
    expect(ing.jobs).toEqual([{ projectId: 'p', ids: ['a'] }]);
    expect(b.retries).toBe(0);
  });

  it('holds refused events, keeps their order, and delivers each once the queue is back', async () => {
    const ing = fakeIngestion();
    const { b, logs } = buffer(ing.send);
    for (const id of ['a', 'b', 'c', 'd', 'e']) await b.submit(item(id));
    expect(b.depth).toBe(5);
    // Several retries fail while the queue is away.
    await until(() => b.retries >= 3);
    expect(ing.jobs).toEqual([]);
    expect(logs.filter((l) => l.message.includes('held for retry'))).toHaveLength(1);
    ing.state.down = false;
    await until(() => b.depth === 0);
    expect(ing.jobs.flatMap((j) => j.ids)).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('queues a new event behind held ones instead of sending it ahead of them', async () => {
    const ing = fakeIngestion();
    const { b } = buffer(ing.send, { baseDelayMs: 50, maxDelayMs: 50 });
    await b.submit(item('old'));
    ing.state.down = false;
    await b.submit(item('new'));
    expect(b.depth).toBe(2);
    await until(() => b.depth === 0);
    expect(ing.jobs.flatMap((j) => j.ids)).toEqual(['old', 'new']);
  });

  it('retries one project at a time, in order, in batches of consecutive events', async () => {
    const ing = fakeIngestion();
    const { b } = buffer(ing.send, { batchSize: 2 });
    for (const [id, p] of [['a1', 'A'], ['a2', 'A'], ['a3', 'A'], ['b1', 'B'], ['a4', 'A']]) await b.submit(item(id, p));
    ing.state.down = false;
    await until(() => b.depth === 0);
    expect(ing.jobs).toEqual([
      { projectId: 'A', ids: ['a1', 'a2'] },
      { projectId: 'A', ids: ['a3'] },
      { projectId: 'B', ids: ['b1'] },
      { projectId: 'A', ids: ['a4'] },
    ]);
  });

  it('is bounded: past max the newest events are dropped, counted and logged once per interval', async () => {
    const ing = fakeIngestion();
    const { b, dropped, logs } = buffer(ing.send, { max: 3, logIntervalMs: 60_000 });
    for (const id of ['1', '2', '3', '4', '5', '6']) await b.submit(item(id));
    expect(b.depth).toBe(3);
    expect(b.dropped).toBe(3);
    expect(dropped).toEqual(['4', '5', '6']);
    const full = logs.filter((l) => l.message.includes('buffer full'));
    expect(full).toHaveLength(1);
    expect(full[0].fields).toEqual({ dropped: 1, droppedTotal: 1, max: 3 });
    ing.state.down = false;
    await until(() => b.depth === 0);
    expect([...ing.stored.keys()]).toEqual(['1', '2', '3']);
  });

  it('retries an ambiguous refusal with the same event id, so the idempotent writer counts it once', async () => {
    const ing = fakeIngestion();
    ing.state.ambiguous = true;
    const { b } = buffer(ing.send);
    await b.submit(item('x'));
    await b.submit(item('y'));
    await until(() => ing.jobs.length >= 3);
    ing.state.ambiguous = false;
    ing.state.down = false;
    await until(() => b.depth === 0);
    const enqueued = ing.jobs.flatMap((j) => j.ids);
    // Enqueued more than once each (the first enqueues did land), stored once each.
    expect(enqueued.filter((id) => id === 'x').length).toBeGreaterThan(1);
    expect(enqueued.filter((id) => id === 'y').length).toBeGreaterThan(1);
    expect([...ing.stored.entries()]).toEqual([['x', 1], ['y', 1]]);
  });

  it('does not retry events ingestion refuses as invalid', async () => {
    let calls = 0;
    const { b, rejected } = buffer(async (_p, events) => {
      calls++;
      if (events[0].id === 'bad-batch') throw new ValidationFailedError([{ field: 'events', message: 'bad' }]);
      return { rejected: events[0].id === 'bad' ? [{ index: 0, errors: [{ field: 'variant', message: 'unknown' }] }] : [] };
    });
    await b.submit(item('bad'));
    await b.submit(item('bad-batch'));
    expect(b.depth).toBe(0);
    expect(calls).toBe(2);
    expect(rejected.map((r) => r.id)).toEqual(['bad', 'bad-batch']);
  });

  it('rejects invalid events found in a retried batch and keeps the valid ones sent', async () => {
    const ing = fakeIngestion();
    const sent: string[] = [];
    const { b, rejected } = buffer(async (p, events) => {
      await ing.send(p, events);
      sent.push(...events.map((e) => e.id));
      return { rejected: events.flatMap((e, index) => (e.id === 'stale' ? [{ index, errors: [{ field: 'experiment', message: 'not running' }] }] : [])) };
    });
    for (const id of ['a', 'stale', 'c']) await b.submit(item(id));
    ing.state.down = false;
    await until(() => b.depth === 0);
    expect(sent).toEqual(['a', 'stale', 'c']);
    expect(rejected.map((r) => r.id)).toEqual(['stale']);
  });

  it('on close, waits for a send in flight and retries its event when it is refused', async () => {
    const ing = fakeIngestion();
    const slow: OutcomeRetryOptions['send'] = async (p, events) => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      const result = ing.send(p, events);
      ing.state.down = false;
      return result;
    };
    const { b } = buffer(slow);
    const first = b.submit(item('in-flight'));
    expect(b.depth).toBe(0);
    expect(await b.close(5000)).toBe(0);
    await first;
    expect([...ing.stored.keys()]).toEqual(['in-flight']);
  });

  it('flushes on close within the deadline and reports what is left', async () => {
    const ing = fakeIngestion();
    const { b } = buffer(ing.send, { baseDelayMs: 60_000, maxDelayMs: 60_000 });
    for (const id of ['a', 'b']) await b.submit(item(id));
    await until(() => b.retries >= 1);
    ing.state.down = false;
    // The loop is sleeping for up to a minute; close wakes it and retries at once.
    expect(await b.close(5000)).toBe(0);
    expect([...ing.stored.keys()]).toEqual(['a', 'b']);

    const down = fakeIngestion();
    const stuck = buffer(down.send).b;
    await stuck.submit(item('z'));
    expect(await stuck.close(50)).toBe(1);
    // After close, new events are held (not sent) and never retried past the deadline.
    await stuck.submit(item('late'));
    expect(stuck.depth).toBe(2);
  });
});
