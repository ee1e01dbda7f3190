import type { INestApplicationContext } from '@nestjs/common';
import { Redis } from 'ioredis';
import { Client as PgClient } from 'pg';
import { ChangeBus, SharedThrottle } from '../../libs/bus/change-bus';
import { LISTENER_APPLICATION_NAME } from '../../libs/bus/postgres-change-bus';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { count, outcomeEvent, runningExperiment, type Client } from '../ingestion/support/ingestion-fixture';
import { createApiApp } from '../../apps/api/create-api-app';
import { createLogger } from '../../libs/logging/logger';
import { freePort, TcpProxy } from '../ingestion/support/processes';
import { backendSettings, testBackends, type Backend } from '../support/backends';
import { cloneTemplate } from '../support/databases';
import { client } from '../support/http-client';
import { startReplica, startTestApp, testConfig, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';

jest.setTimeout(60_000);

/**
 * One contract for the queue and change-bus backends (docs/adr/0023), run against each: Postgres
 * always, Redis when a test Redis answers (TEST_REDIS_URL, else the machine's 127.0.0.1:6379).
 * What it pins is what the rest of the code relies on, whichever backend runs underneath.
 */
describe.each(testBackends())('%s backend', (backend: Backend) => {
  let t: TestApp;
  let worker: INestApplicationContext;
  let exp: { key: string; id: string; sdk: Client; admin: Client };

  beforeAll(async () => {
    t = await startTestApp({ ...backendSettings(backend), MONITOR_INTERVAL_MS: '200' });
    worker = await startTestWorker(t.config);
    exp = await runningExperiment(t.url, t.adminKey);
  });
  afterAll(async () => {
    await worker?.close();
    await t?.close();
  });

  const stored = () => count(t.db, `SELECT count(*) FROM outcome_event WHERE experiment_id = $1`, [exp.id]);

  it('names the backends it uses on /ready', async () => {
    const ready = await client(t.url).get('/ready');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ready', database: 'postgres', queue: backend, bus: backend, gatewayOutcomesHeld: 0 });
    expect(t.app.get(QueueRegistry).backend).toBe(backend);
  });

  describe('ingestion through the queue', () => {
    it('stores every acknowledged event exactly once, however often its batch is sent', async () => {
      const batches = [0, 1, 2].map((b) => Array.from({ length: 40 }, (_, i) => outcomeEvent(exp.key, b * 1000 + i)));
      for (const events of [...batches, batches[0], batches[2]]) {
        const res = await exp.sdk.post('/v1/outcomes', { events });
        expect(res.status).toBe(202);
        expect(res.body.accepted).toBe(40);
      }
      await eventually(async () => (await stored()) === 120);
      const units = await count(t.db, `SELECT COALESCE(sum(events), 0) FROM outcome_unit WHERE experiment_id = $1`, [exp.id]);
      expect(units).toBe(120);
      // Nothing more arrives later: the repeated batches were written once.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await stored()).toBe(120);
    });

    it('keeps a job that fails in the failed set, lists it, and replays it', async () => {
      const projectId = (await t.db.query(`SELECT project_id FROM experiment WHERE id = $1`, [exp.id]))[0].project_id;
      await t.app.get(QueueRegistry).get('outcomes').add('outcome-batch', { projectId, events: [{ broken: true }] });
      await eventually(async () => (await exp.admin.get('/v1/admin/ingestion/failed')).body.length === 1);
      const failed = await exp.admin.get('/v1/admin/ingestion/failed');
      expect(failed.body[0]).toMatchObject({ name: 'outcome-batch', items: 1, attemptsMade: 1 });
      expect((await exp.admin.post('/v1/admin/ingestion/replay-failed')).body).toEqual({ replayed: 1 });
      await eventually(async () => (await exp.admin.get('/v1/admin/ingestion/failed')).body[0]?.attemptsMade === 2);
    });

    it('answers 429 with Retry-After once the queue is deeper than the limit (job counts)', async () => {
      // An API with no worker: jobs stay waiting, and the depth the producer reads grows.
      const lonely = await startTestApp({ ...backendSettings(backend), INGEST_MAX_QUEUE_DEPTH: '2' });
      try {
        const other = await runningExperiment(lonely.url, lonely.adminKey);
        const statuses: number[] = [];
        for (let i = 0; i < 12 && !statuses.includes(429); i++) {
          const res = await other.sdk.post('/v1/outcomes', { events: [outcomeEvent(other.key, i)] });
          statuses.push(res.status);
          if (res.status === 429) expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
          await new Promise((resolve) => setTimeout(resolve, 300));
        }
        expect(statuses.slice(0, 3)).toEqual([202, 202, 202]);
        expect(statuses).toContain(429);
        const counts = await lonely.app.get(QueueRegistry).get('outcomes').getJobCounts('waiting');
        expect(counts.waiting).toBe(statuses.filter((s) => s === 202).length);
      } finally {
        await lonely.close();
      }
    });

    it('runs job schedulers (the traffic monitor every 200 ms), and QueueEvents sees their jobs complete', async () => {
      const events = t.app.get(QueueRegistry).events('traffic');
      let completed = 0;
      events.on('completed', () => (completed += 1));
      await events.waitUntilReady();
      await eventually(async () => completed >= 3, 20_000);
      const schedulers = await t.app.get(QueueRegistry).get('traffic').getJobSchedulers(0, -1);
      // The monitor and the gateway captures' retention (docs/adr/0039), one scheduler each.
      expect(schedulers.map((s) => s.name).sort()).toEqual(['gateway-capture-prune', 'traffic-monitor']);
    });
  });

  describe('change bus', () => {
    it('delivers a message to every subscriber, also in another replica, and again after its connection was cut', async () => {
      const replica = await startReplica(t);
      try {
        const received: string[] = [];
        await replica.app.get(ChangeBus).subscribe('contract', (message) => received.push(message));
        const publisher = t.app.get(ChangeBus);
        expect(publisher.backend).toBe(backend);
        await publisher.publish('contract', 'first');
        await eventually(async () => received.includes('first'), 5_000, 10);

        await cutListeners(backend, t);
        // What is published while it is away is lost by design (the periodic full refresh makes it good):
        // keep publishing until the reconnected listener hears one.
        let n = 0;
        await eventually(async () => {
          await publisher.publish('contract', `after-${++n}`);
          return received.some((m) => m.startsWith('after-'));
        }, 15_000, 100);
        expect(received.filter((m) => m === 'first')).toHaveLength(1);
      } finally {
        await replica.close();
      }
    });

    it('pushes an experiment change and a key revocation to another replica at once', async () => {
      const replica = await startReplica(t);
      try {
        const key = (await exp.admin.post('/v1/api-keys', { name: 'replica', scope: 'sdk' })).body;
        const onReplica = client(replica.url, key.key);
        expect((await onReplica.post('/v1/assign', { experiment: exp.key, unitId: 'u-1' })).body.inExperiment).toBe(true);
        expect((await exp.admin.post(`/v1/experiments/${exp.key}/pause`)).status).toBe(200);
        // The full refresh runs every 30 s: seeing it within 5 s is the bus.
        await eventually(async () => (await onReplica.post('/v1/assign', { experiment: exp.key, unitId: 'u-1' })).body.inExperiment === false, 5_000);
        expect((await exp.admin.delete(`/v1/api-keys/${key.id}`)).status).toBe(200);
        await eventually(async () => (await onReplica.post('/v1/assign', { experiment: exp.key, unitId: 'u-1' })).status === 401, 5_000);
      } finally {
        await exp.admin.post(`/v1/experiments/${exp.key}/resume`);
        await replica.close();
      }
    });

    it('shares a throttle window between replicas', async () => {
      const replica = await startReplica(t);
      try {
        const key = `contract-${Date.now()}`;
        expect(await t.app.get(SharedThrottle).acquire(key, 2000)).toBe(0);
        const left = await replica.app.get(SharedThrottle).acquire(key, 2000);
        expect(left).toBeGreaterThan(0);
        expect(left).toBeLessThanOrEqual(2000);
        await new Promise((resolve) => setTimeout(resolve, left + 50));
        expect(await replica.app.get(SharedThrottle).acquire(key, 2000)).toBe(0);
      } finally {
        await replica.close();
      }
    });
  });
});

describe('postgres backend, its database away', () => {
  it('answers 503 with Retry-After (nothing acknowledged, never a 500), and accepts again once it is back', async () => {
    const database = await cloneTemplate();
    const target = new URL(database.url);
    const proxy = new TcpProxy(await freePort(), { host: target.hostname, port: Number(target.port || 5432) });
    await proxy.start();
    const viaProxy = new URL(database.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    const config = testConfig(viaProxy.toString(), backendSettings('postgres'));
    const app = await createApiApp(config, createLogger(config.logLevel, 'api-test'));
    try {
      await app.listen(0, '127.0.0.1');
      const address = app.getHttpServer().address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const exp = await runningExperiment(url, config.auth.bootstrapAdminKey);
      expect((await exp.sdk.post('/v1/outcomes', { events: [outcomeEvent(exp.key, 1)] })).status).toBe(202);
      proxy.block();
      // The key and the experiment are held in memory: the request gets as far as the enqueue.
      const refused = await exp.sdk.post('/v1/outcomes', { events: [outcomeEvent(exp.key, 2)] });
      expect(refused.status).toBe(503);
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(refused.body.detail).toMatch(/nothing in this request was accepted/);
      expect((await client(url).get('/ready')).status).toBe(503);
      proxy.unblock();
      await eventually(async () => (await exp.sdk.post('/v1/outcomes', { events: [outcomeEvent(exp.key, 3)] })).status === 202, 15_000, 200);
      const jobs = await app.get(QueueRegistry).get('outcomes').getJobs(['waiting']);
      expect(jobs.flatMap((j) => j.data.events.map((e: { eventId: string }) => e.eventId)).sort()).toEqual(['evt-1', 'evt-3']);
    } finally {
      await app.close();
      await proxy.stop();
      await database.drop();
    }
  });
});

/** Cuts every change-bus listening connection of the test's namespace, as a server restart or a network cut would. */
async function cutListeners(backend: Backend, t: TestApp): Promise<void> {
  if (backend === 'postgres') {
    const admin = new PgClient({ connectionString: t.config.database.url });
    await admin.connect();
    try {
      const cut = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`,
        [LISTENER_APPLICATION_NAME],
      );
      expect(cut.rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    return;
  }
  const redis = new Redis(t.config.redis.url);
  try {
    const list = String(await redis.client('LIST'));
    const ids = list.split('\n').filter((line) => line.includes(` name=${t.config.redis.prefix}:bus `)).map((line) => /\bid=(\d+)/.exec(line)?.[1]);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) await redis.client('KILL', 'ID', String(id));
  } finally {
    redis.disconnect();
  }
}
