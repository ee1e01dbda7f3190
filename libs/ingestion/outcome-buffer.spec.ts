import type { OutcomeRecord } from '../queue/queues';
import { MAX_ENQUEUES_IN_FLIGHT, OutcomeBuffer } from './outcome-buffer';
import type { OutcomeProducer } from './outcome.producer';

/** A producer whose enqueues finish only when the test says so. */
function slowProducer() {
  const calls: Array<{ projectId: string; events: number; finish: () => void }> = [];
  const producer = {
    enqueueOutcomes: (job: { projectId: string; events: OutcomeRecord[] }) =>
      new Promise<void>((resolve) => calls.push({ projectId: job.projectId, events: job.events.length, finish: resolve })),
  } as unknown as OutcomeProducer;
  return { calls, producer };
}

const event = (n: number) => ({ eventId: `e${n}` }) as unknown as OutcomeRecord;
const tick = (ms = 10) => new Promise((resolve) => setTimeout(resolve, ms));

describe('OutcomeBuffer', () => {
  it('holds what arrives while the enqueues in flight are at the limit, then sends it as one job', async () => {
    const { calls, producer } = slowProducer();
    const buffer = new OutcomeBuffer(producer);
    const acknowledged: number[] = [];
    // One request per linger: each becomes its own job until the limit is reached.
    for (let i = 0; i < MAX_ENQUEUES_IN_FLIGHT; i++) {
      void buffer.addOutcomes(`p${i}`, [event(i)]).then(() => acknowledged.push(i));
      await tick();
    }
    expect(calls).toHaveLength(MAX_ENQUEUES_IN_FLIGHT);
    // Past the limit: 30 requests of one project gather, none is sent or acknowledged yet.
    const later = Array.from({ length: 30 }, (_, i) => buffer.addOutcomes('busy', [event(100 + i)]).then(() => acknowledged.push(100 + i)));
    await tick();
    expect(calls).toHaveLength(MAX_ENQUEUES_IN_FLIGHT);
    expect(acknowledged).toEqual([]);
    calls[0].finish();
    await tick();
    expect(calls).toHaveLength(MAX_ENQUEUES_IN_FLIGHT + 1);
    expect(calls.at(-1)).toMatchObject({ projectId: 'busy', events: 30 });
    expect(acknowledged).toEqual([0]);
    calls.forEach((c) => c.finish());
    await Promise.all(later);
    expect(acknowledged).toHaveLength(MAX_ENQUEUES_IN_FLIGHT + 30);
  });

  it('sends everything held on drain, whatever is in flight', async () => {
    const { calls, producer } = slowProducer();
    const buffer = new OutcomeBuffer(producer);
    for (let i = 0; i < MAX_ENQUEUES_IN_FLIGHT; i++) {
      void buffer.addOutcomes(`p${i}`, [event(i)]);
      await tick();
    }
    void buffer.addOutcomes('held', [event(99)]);
    await tick();
    expect(calls.map((c) => c.projectId)).not.toContain('held');
    const drained = buffer.beforeApplicationShutdown();
    await tick(1);
    expect(calls.map((c) => c.projectId)).toContain('held');
    calls.forEach((c) => c.finish());
    await drained;
  });
});
