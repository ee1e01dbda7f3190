import type { INestApplicationContext } from '@nestjs/common';
import { Redis } from 'ioredis';
import { SnapshotIndex } from '../../libs/assignment/core/assign';
import { testRedisUrl } from '../support/backends';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { count, runningExperiment } from '../ingestion/support/ingestion-fixture';
import { freePort, OwnRedis } from '../ingestion/support/processes';

jest.setTimeout(120_000);

// A Redis-backend suite (as the outcomes' "Redis stopped"): it runs a redis-server of its own.
if (testRedisUrl()) describe('POST /v1/exposures with the queue backend away', () => {
  let redis: OwnRedis;
  let t: TestApp;
  let worker: INestApplicationContext;
  let exp: Awaited<ReturnType<typeof runningExperiment>>;
  let index: SnapshotIndex;

  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    t = await startTestApp({ QUEUE_BACKEND: 'redis', REDIS_URL: redis.url });
    worker = await startTestWorker(t.config);
    exp = await runningExperiment(t.url, t.adminKey);
    index = new SnapshotIndex((await exp.sdk.get('/v1/sdk/config')).body);
  });
  afterAll(async () => {
    await worker?.close();
    await t?.close();
    await redis?.destroy();
  });

  /** An exposure the API accepts for this unit (its assigned variant, computed here as the SDK does: /v1/assign would expose the unit itself). */
  function exposure(unitId: string): Record<string, unknown> {
    return { experiment: exp.key, unitId, variant: index.assign(exp.key, unitId).variant };
  }

  const recorded = (unitId: string) => count(t.db, 'SELECT count(*) FROM exposure WHERE experiment_id = $1 AND unit_id = $2', [exp.id, unitId]);

  it('answers 503 with Retry-After (not a 500, not a hang) while Redis is stopped, and records nothing of the refused request', async () => {
    const before = exposure('exp-before');
    const down = exposure('exp-down');
    const after = exposure('exp-after');
    expect((await exp.sdk.post('/v1/exposures', { exposures: [before] })).status).toBe(202);
    await eventually(async () => (await recorded('exp-before')) === 1);

    await redis.kill();
    // The connection notices the close within moments; from then on every request is refused at once.
    await eventually(async () => (await exp.sdk.post('/v1/exposures', { exposures: [down] })).status === 503, 10_000);
    const refused = await exp.sdk.post('/v1/exposures', { exposures: [down] });
    expect(refused.status).toBe(503);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('content-type')).toMatch(/problem\+json/);
    expect(refused.body.detail).toMatch(/exposures/i);

    await redis.start();
    await eventually(async () => (await exp.sdk.post('/v1/exposures', { exposures: [after] })).status === 202, 30_000, 100);
    await eventually(async () => (await recorded('exp-after')) === 1, 30_000);
    // The refused requests were not queued for later (ioredis' offline queue): the unit is not exposed.
    expect(await recorded('exp-down')).toBe(0);
  });

  it('answers 503 with Retry-After when Redis accepts connections but does not answer (paused)', async () => {
    const paused = exposure('exp-paused');
    const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      // Longer than an enqueue may wait; only write commands are held (BullMQ's add is a write script).
      await admin.call('CLIENT', 'PAUSE', '6000', 'WRITE');
      const refused = await exp.sdk.post('/v1/exposures', { exposures: [paused] });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.headers.get('content-type')).toMatch(/problem\+json/);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
      admin.disconnect();
    }
    expect((await exp.sdk.post('/v1/exposures', { exposures: [exposure('exp-unpaused')] })).status).toBe(202);
  });
});
