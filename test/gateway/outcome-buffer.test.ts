import type { INestApplicationContext } from '@nestjs/common';
import { GatewayService } from '../../libs/gateway/gateway.service';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { QUEUES } from '../../libs/queue/queues';
import { freePort, TcpProxy } from '../ingestion/support/processes';
import { testRedisUrl } from '../support/backends';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, unitIn } from './support/gateway-fixture';

jest.setTimeout(60_000);

const CALLS = 24;
const say = (text: string) => [{ role: 'user' as const, content: text }];

/** The value of an unlabelled sample in GET /metrics. */
async function metric(url: string, adminKey: string, name: string): Promise<number> {
  const res = await client(url, adminKey).get('/metrics');
  const line = String(res.body).split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${name} not in /metrics`);
  return Number(line.split(' ')[1]);
}

// Issue #17, "nothing lost on faults" (docs/adr/0038): the API's Redis connection goes through a
// proxy the test cuts; the worker keeps its own direct connection. Needs a test Redis.
if (testRedisUrl()) describe('gateway outcomes while the queue is unreachable', () => {
  let proxy: TcpProxy;
  let t: TestApp;
  let worker: INestApplicationContext;
  let big: FakeUpstream;
  let small: FakeUpstream;

  beforeAll(async () => {
    const direct = new URL(testRedisUrl()!);
    proxy = new TcpProxy(await freePort(), { host: direct.hostname, port: Number(direct.port || 6379) });
    await proxy.start();
    [t, big, small] = await Promise.all([
      startTestApp({ ...GATEWAY_TEST_SETTINGS, QUEUE_BACKEND: 'redis', REDIS_URL: `redis://127.0.0.1:${proxy.port}${direct.pathname}` }),
      startFakeUpstream('70B'),
      startFakeUpstream('8B'),
    ]);
    worker = await startTestWorker({ ...t.config, redis: { ...t.config.redis, url: direct.toString() } });
  });
  afterAll(async () => {
    proxy?.unblock();
    await worker?.close();
    await t?.close();
    await Promise.all([big?.close(), small?.close(), proxy?.stop()]);
  });

  it('answers every call, holds the refused outcomes, and stores each exactly once after Redis is back', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, big, small);
    const units = { big: await unitIn(exp.sdk, exp.key, 'big'), small: await unitIn(exp.sdk, exp.key, 'small') };
    const gateway = t.app.get(GatewayService);
    const queues = t.app.get(QueueRegistry);

    proxy.block();
    await eventually(async () => !queues.isConnected(), 10_000);

    // Streamed and not, half on each variant: every client gets its answer.
    const eventIds: string[] = [];
    const calls = Array.from({ length: CALLS }, async (_, i) => {
      const variant = i % 2 === 0 ? 'big' : 'small';
      if (i % 3 === 0) {
        const { data: stream, response } = await exp.openai.chat.completions.create({ model: exp.key, messages: say('stream:3:1'), user: units[variant], stream: true }).withResponse();
        let text = '';
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
        expect(text.length).toBeGreaterThan(0);
        return response.headers.get('x-verdict-event-id')!;
      }
      const { data, response } = await exp.openai.chat.completions.create({ model: exp.key, messages: say('hello'), user: units[variant] }).withResponse();
      expect(data.choices[0].message.content).toBe(`Hello from ${variant === 'big' ? '70B' : '8B'}`);
      return response.headers.get('x-verdict-event-id')!;
    });
    eventIds.push(...(await Promise.all(calls)));
    expect(new Set(eventIds).size).toBe(CALLS);

    // Every outcome was refused and is held; nothing reached the store.
    await eventually(async () => gateway.outcomesHeld === CALLS, 10_000);
    expect(await metric(t.url, t.adminKey, 'verdict_gateway_outcome_buffer_depth')).toBe(CALLS);
    expect(await metric(t.url, t.adminKey, 'verdict_gateway_outcome_retries_total')).toBeGreaterThan(0);
    const stored = async () => (await t.db.query(`SELECT event_id, count(*)::int AS n FROM outcome_event WHERE experiment_id = $1 AND event_id = ANY($2) GROUP BY event_id`, [exp.id, eventIds])) as Array<{ event_id: string; n: number }>;
    expect(await stored()).toEqual([]);

    proxy.unblock();
    await eventually(async () => (await stored()).length === CALLS, 40_000, 100);
    expect((await stored()).every((row) => row.n === 1)).toBe(true);
    expect(gateway.outcomesHeld).toBe(0);
    expect(await metric(t.url, t.adminKey, 'verdict_gateway_outcome_buffer_depth')).toBe(0);

    // An ambiguous enqueue (timed out, yet landed) means the same event ids are enqueued again:
    // here a second job holding six of them. The writer stores each id once.
    const again = eventIds.slice(0, 6).map((id, i) => ({ id, experiment: exp.key, unitId: i % 2 === 0 ? units.big : units.small, variant: i % 2 === 0 ? 'big' : 'small', success: true, latencyMs: 1 }));
    const resent = await exp.sdk.post('/v1/outcomes', { events: again });
    expect(resent.status).toBe(202);
    expect(resent.body.accepted).toBe(6);
    const outcomesQueue = queues.get(QUEUES.outcomes);
    await eventually(async () => {
      const counts = await outcomesQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    }, 20_000, 100);
    const rows = await stored();
    expect(rows).toHaveLength(CALLS);
    expect(rows.every((row) => row.n === 1)).toBe(true);
    const keys: Array<{ n: number }> = await t.db.query(`SELECT count(*)::int AS n FROM outcome_event_key WHERE experiment_id = $1 AND event_id = ANY($2)`, [exp.id, eventIds]);
    expect(keys[0].n).toBe(CALLS);

    // The results count every call once, on its variant.
    await eventually(async () => {
      const results = (await exp.admin.get(`/v1/experiments/${exp.key}/results`)).body;
      const events = (key: string) => results.variants?.find((v: { key: string }) => v.key === key)?.events;
      return events('big') === CALLS / 2 && events('small') === CALLS / 2;
    }, 20_000, 200);
  });
});
