import { Logger } from '@nestjs/common';
import type { ExposureRecord } from '../queue/queues';
import { ExposureBuffer } from './exposure-buffer';
import type { ExposureProducer } from './exposure.producer';

function buffer(enqueue: (records: ExposureRecord[]) => Promise<void>) {
  const batches: ExposureRecord[][] = [];
  const producer = {
    enqueue: async (records: ExposureRecord[]) => {
      await enqueue(records);
      batches.push(records.map((r) => ({ ...r })));
    },
  } as unknown as ExposureProducer;
  return { buffer: new ExposureBuffer(producer), batches };
}

describe('ExposureBuffer', () => {
  // The failed-enqueue case logs a warning on purpose.
  beforeAll(() => Logger.overrideLogger(false));

  it('coalesces repeats of a unit per experiment and phase, counting them', async () => {
    const { buffer: b, batches } = buffer(async () => undefined);
    b.observe('p', 'e1', 'u1', 'control', 1);
    b.observe('p', 'e1', 'u1', 'control', 1);
    b.observe('p', 'e1', 'u1', 'control', 1);
    b.observe('p', 'e1', 'u1', 'small', 2);
    b.observe('p', 'e2', 'u1', 'control', 1);
    b.observe('p', 'e1', 'u2', 'small', 1);
    await b.flush();
    expect(batches).toHaveLength(1);
    const seen = batches[0].map((r) => [r.experimentId, r.phase, r.unitId, r.variant, r.count ?? 1]);
    expect(seen.sort()).toEqual([
      ['e1', 1, 'u1', 'control', 3],
      ['e1', 1, 'u2', 'small', 1],
      ['e1', 2, 'u1', 'small', 1],
      ['e2', 1, 'u1', 'control', 1],
    ]);
    expect(batches[0].every((r) => r.projectId === 'p' && !Number.isNaN(Date.parse(r.at)))).toBe(true);
    await b.flush();
    expect(batches).toHaveLength(1);
  });

  it('flushes on its own at 1,000 pending units', async () => {
    const { buffer: b, batches } = buffer(async () => undefined);
    for (let i = 0; i < 999; i++) b.observe('p', 'e', `u${i}`, 'control', 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).toEqual([]);
    b.observe('p', 'e', 'u999', 'control', 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((x) => x.length)).toEqual([1000]);
    for (let i = 1000; i < 1500; i++) b.observe('p', 'e', `u${i}`, 'control', 1);
    await b.flush();
    expect(batches.map((x) => x.length)).toEqual([1000, 500]);
  });

  it('keeps a batch that failed to enqueue, merging it with what came meanwhile', async () => {
    let fail = true;
    const { buffer: b, batches } = buffer(async () => {
      if (fail) throw new Error('redis away');
    });
    b.observe('p', 'e', 'u1', 'control', 1);
    b.observe('p', 'e', 'u1', 'control', 1);
    await b.flush();
    b.observe('p', 'e', 'u1', 'control', 1);
    b.observe('p', 'e', 'u2', 'small', 1);
    fail = false;
    await b.flush();
    expect(batches).toHaveLength(1);
    expect(batches[0].map((r) => [r.unitId, r.count ?? 1]).sort()).toEqual([
      ['u1', 3],
      ['u2', 1],
    ]);
  });
});
