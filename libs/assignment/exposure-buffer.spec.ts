import { Logger } from '@nestjs/common';
import type { ExposureRecord } from '../queue/queues';
import { ExposureBuffer } from './exposure-buffer';
import type { ExposureProducer } from './exposure.producer';

function buffer(enqueue: (records: ExposureRecord[]) => Promise<void>) {
  const batches: ExposureRecord[][] = [];
  /** Each job as enqueued: its project and records. */
  const jobs: Array<{ projectId: string; records: ExposureRecord[] }> = [];
  const producer = {
    enqueueByProject: async (byProject: ReadonlyMap<string, ExposureRecord[]>) => {
      const records = [...byProject.values()].flat();
      await enqueue(records);
      batches.push(records.map((r) => ({ ...r })));
      for (const [projectId, list] of byProject) jobs.push({ projectId, records: list.map((r) => ({ ...r })) });
    },
  } as unknown as ExposureProducer;
  return { buffer: new ExposureBuffer(producer), batches, jobs };
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

  it('enqueues one job per project: no job carries two projects\' exposures', async () => {
    const { buffer: b, jobs } = buffer(async () => undefined);
    b.observe('p1', 'e1', 'u1', 'control', 1);
    b.observe('p2', 'e2', 'u1', 'control', 1);
    b.observe('p1', 'e3', 'u2', 'small', 1);
    await b.flush();
    expect(jobs.map((j) => [j.projectId, j.records.map((r) => r.experimentId).sort()]).sort()).toEqual([
      ['p1', ['e1', 'e3']],
      ['p2', ['e2']],
    ]);
    expect(jobs.every((j) => j.records.every((r) => r.projectId === j.projectId))).toBe(true);
  });
});
