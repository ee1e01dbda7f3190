import type { INestApplicationContext } from '@nestjs/common';
import { ENQUEUE_TIMEOUT_MS } from '../../libs/ingestion/outcome.producer';
import { eventually, startTestWorker } from '../support/test-worker';
import { testRedisUrl } from '../support/backends';
import { startTestApp, type TestApp } from '../support/test-app';
import { count, outcomeEvent, runningExperiment } from './support/ingestion-fixture';
import { freePort, OwnRedis } from './support/processes';
import { sendAll } from './support/senders';

jest.setTimeout(120_000);

// A Redis-backend suite: it runs a redis-server of its own, so it needs one installed (as when a test Redis answers).
if (testRedisUrl()) describe('Redis stopped', () => {
  let redis: OwnRedis;
  let t: TestApp;
  let worker: INestApplicationContext;

  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    t = await startTestApp({ QUEUE_BACKEND: 'redis', REDIS_URL: redis.url });
    worker = await startTestWorker(t.config);
  });
  afterAll(async () => {
    await worker?.close();
    await t?.close();
    await redis?.destroy();
  });

  it('answers 503 with Retry-After while Redis is down and loses nothing it acknowledged', async () => {
    const exp = await runningExperiment(t.url, t.adminKey);
    const progress = new Set<string>();
    const sending = sendAll(exp.sdk, exp.key, 0, 20_000, 50, 2, undefined, progress);
    // Redis goes away while the sender is mid-stream (not once the rows land: ingestion may have finished by then).
    await eventually(async () => progress.size >= 1_000, 30_000, 5);
    await redis.kill();
    expect(progress.size).toBeLessThan(20_000);
    await eventually(async () => {
      const res = await exp.sdk.post('/v1/outcomes', { events: [outcomeEvent(exp.key, 99_999)] });
      return res.status === 503;
    }, 10_000);
    const refused = await exp.sdk.post('/v1/outcomes', { events: [outcomeEvent(exp.key, 99_998)] });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('content-type')).toMatch(/problem\+json/);
    // Longer than an enqueue may wait: requests that were in flight when Redis went away are refused too.
    await new Promise((resolve) => setTimeout(resolve, ENQUEUE_TIMEOUT_MS + 1_000));
    await redis.start();

    const { acknowledged, refusals } = await sending;
    expect(refusals.some((r) => r.status === 503 && r.retryAfter !== null)).toBe(true);
    expect(acknowledged.size).toBe(20_000);
    await eventually(
      async () => (await count(t.db, `SELECT count(*) FROM outcome_event_key WHERE experiment_id = $1 AND event_id = ANY($2)`, [exp.id, [...acknowledged]])) === acknowledged.size,
      60_000,
      250,
    );
    expect(await count(t.db, `SELECT count(*) FROM ingest_dead_letter`)).toBe(0);
  });
});

describe('queue too deep', () => {
  let t: TestApp;

  beforeAll(async () => {
    // No worker: the queue only grows.
    t = await startTestApp({ INGEST_MAX_QUEUE_DEPTH: '2' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 429 with Retry-After once the outcomes queue is deeper than the limit', async () => {
    const exp = await runningExperiment(t.url, t.adminKey);
    const statuses: number[] = [];
    let last: Awaited<ReturnType<typeof exp.sdk.post>> | null = null;
    for (let i = 0; i < 10 && last?.status !== 429; i++) {
      last = await exp.sdk.post('/v1/outcomes', { events: [outcomeEvent(exp.key, i)] });
      statuses.push(last.status);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(statuses.slice(0, 3)).toEqual([202, 202, 202]);
    expect(last?.status).toBe(429);
    expect(Number(last?.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
