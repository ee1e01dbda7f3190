import type { Client } from './ingestion-fixture';
import { outcomeEvent } from './ingestion-fixture';

/** Sends events [from, to) in requests of `size`, `parallel` requests at a time; retries 429/503 until accepted; returns the acknowledged ids. */
export async function sendAll(
  sdk: Client,
  experiment: string,
  from: number,
  to: number,
  size: number,
  parallel = 4,
  overrides: (n: number) => Record<string, unknown> = () => ({}),
  /** Filled as events are acknowledged, for a test that acts while the sending goes on. */
  acknowledged = new Set<string>(),
): Promise<{ acknowledged: Set<string>; refusals: Array<{ status: number; retryAfter: string | null }> }> {
  const refusals: Array<{ status: number; retryAfter: string | null }> = [];
  let next = from;
  async function lane(): Promise<void> {
    while (next < to) {
      const start = next;
      next = Math.min(to, next + size);
      const events = [];
      for (let n = start; n < Math.min(to, start + size); n++) events.push(outcomeEvent(experiment, n, overrides(n)));
      for (;;) {
        const res = await sdk.post('/v1/outcomes', { events }).catch(() => ({ status: 0, headers: new Headers(), body: null }));
        if (res.status === 202) {
          if (res.body.accepted !== events.length) throw new Error(`rejected: ${JSON.stringify(res.body.rejected.slice(0, 2))}`);
          for (const e of events) acknowledged.add(e.id as string);
          break;
        }
        refusals.push({ status: res.status, retryAfter: res.headers.get('retry-after') });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }
  await Promise.all(Array.from({ length: parallel }, lane));
  return { acknowledged, refusals };
}
