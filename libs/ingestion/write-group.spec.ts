import { WriteGroup } from './write-group';

/** A write that records its calls and finishes when told to. */
function controlledWrite(fail: (items: string[]) => boolean = () => false) {
  const calls: Array<{ items: string[]; finish: () => void }> = [];
  const write = (items: string[]) =>
    new Promise<void>((resolve, reject) => calls.push({ items, finish: () => (fail(items) ? reject(new Error(`bad ${items}`)) : resolve()) }));
  return { calls, write };
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('WriteGroup', () => {
  it('writes an item at once when a lane is free, and what arrives meanwhile together in the next write', async () => {
    const { calls, write } = controlledWrite();
    const group = new WriteGroup(write, 1, 100);
    const first = group.submit('a', 1);
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a']]);
    const later = ['b', 'c', 'd'].map((x) => group.submit(x, 1));
    await tick();
    expect(calls).toHaveLength(1);
    calls[0].finish();
    await first;
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b', 'c', 'd']]);
    calls[1].finish();
    await Promise.all(later);
  });

  it('keeps at most `lanes` writes running and at most `maxSize` per write (a larger item goes alone)', async () => {
    const { calls, write } = controlledWrite();
    const group = new WriteGroup(write, 2, 10);
    const done = [group.submit('a', 4), group.submit('b', 4), group.submit('c', 4), group.submit('d', 4), group.submit('e', 30), group.submit('f', 1)];
    await tick();
    // Two lanes: 'a' and 'b' are taken one by one as they arrive.
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b']]);
    calls[0].finish();
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a'], ['b'], ['c', 'd']]);
    calls[1].finish();
    await tick();
    expect(calls[3].items).toEqual(['e']);
    calls[2].finish();
    await tick();
    expect(calls[4].items).toEqual(['f']);
    calls[3].finish();
    calls[4].finish();
    await Promise.all(done);
  });

  it('writes a failed group again item by item: only the item that fails alone is rejected', async () => {
    const { calls, write } = controlledWrite((items) => items.includes('bad'));
    const group = new WriteGroup(write, 1, 100);
    const blocker = group.submit('first', 1);
    const results = ['x', 'bad', 'y'].map((x) => group.submit(x, 1).then(() => 'ok', (e: Error) => e.message));
    await tick();
    calls[0].finish();
    await blocker;
    for (let i = 1; i < 5; i++) {
      await tick();
      calls[i].finish();
    }
    expect(await Promise.all(results)).toEqual(['ok', 'bad bad', 'ok']);
    expect(calls.map((c) => c.items)).toEqual([['first'], ['x', 'bad', 'y'], ['x'], ['bad'], ['y']]);
  });

  it('lets a write smaller than maxSize wait lingerMs for more items; a full group goes at once', async () => {
    // The linger is a timer: jest's fake clock moves it, so the test waits on no real time.
    jest.useFakeTimers({ doNotFake: ['setImmediate'] });
    const { calls, write } = controlledWrite();
    const group = new WriteGroup(write, 1, 10, 40);
    const small = [group.submit('a', 2), group.submit('b', 2)];
    jest.advanceTimersByTime(39);
    await tick();
    expect(calls).toHaveLength(0);
    jest.advanceTimersByTime(1);
    await tick();
    jest.useRealTimers();
    expect(calls.map((c) => c.items)).toEqual([['a', 'b']]);
    calls[0].finish();
    await Promise.all(small);
    const full = [group.submit('c', 6), group.submit('d', 4)];
    await tick();
    expect(calls.map((c) => c.items)).toEqual([['a', 'b'], ['c', 'd']]);
    calls[1].finish();
    await Promise.all(full);
  });
});
