import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { createApiApp } from '../../apps/api/create-api-app';
import { loadConfig, type VerdictConfig } from '../../libs/config/config';
import { quoteIdent } from '../../libs/database/ensure-database';
import { migrate } from '../../libs/database/migrate';
import { createLogger } from '../../libs/logging/logger';
import { QueueRegistry } from '../../libs/queue/queue.module';
import type { QueueName } from '../../libs/queue/queues';

export const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
/** The require hook that lets child processes run TypeScript files. */
export const REGISTER_SWC = join(__dirname, '..', '..', 'scripts', 'register-swc.cjs');

export interface BenchApi {
  config: VerdictConfig;
  api: NestFastifyApplication;
  /** http://127.0.0.1:<port> of the listening API. */
  base: string;
  /** True when the queue has no job waiting, delayed or in a worker's hands. */
  queueIdle(queue: QueueName): Promise<boolean>;
  /** Stops the API, deletes the run's Redis keys and drops its database. */
  dispose(): Promise<void>;
}

/**
 * The real API on a database and Redis prefix of the run's own, migrated, listening on a
 * random local port; rate limits lifted so that the bench measures throughput.
 */
export async function startBenchApi(overrides: Record<string, string> = {}): Promise<BenchApi> {
  const database = await createBenchDatabase();
  const config = loadConfig({
    DATABASE_URL: database.url,
    ...benchBackend(),
    VERDICT_REDIS_PREFIX: `verdict-bench-${randomBytes(3).toString('hex')}`,
    VERDICT_ADMIN_KEY: `bench-admin-${randomBytes(16).toString('hex')}`,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    RATE_LIMIT_PER_SECOND: '10000000',
    ...overrides,
  });
  const api = await createApiApp(config, createLogger('silent', 'bench'));
  await api.listen(0, '127.0.0.1');
  const address = api.getHttpServer().address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    config,
    api,
    base,
    async queueIdle(queue) {
      const counts = await api.get(QueueRegistry).get(queue).getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    },
    async dispose() {
      await api.close();
      if (config.queue.backend === 'redis') {
        const redis = new Redis(config.redis.url);
        for await (const keys of redis.scanStream({ match: `${config.redis.prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
          if (keys.length) await redis.unlink(...keys);
        }
        redis.disconnect();
      }
      await database.drop();
    },
  };
}

/**
 * The queue backend a bench runs on: QUEUE_BACKEND=postgres for BullMQ's Postgres backend and the
 * LISTEN/NOTIFY bus (docs/adr/0023), else Redis (TEST_REDIS_URL, default the local one), as before.
 */
export function benchBackend(): Record<string, string> {
  if (process.env.QUEUE_BACKEND === 'postgres') return { QUEUE_BACKEND: 'postgres' };
  return { QUEUE_BACKEND: 'redis', REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0' };
}

/** A migrated database of the run's own; `drop()` removes it. */
export async function createBenchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `verdict_bench_${randomBytes(4).toString('hex')}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const admin = new Client({ connectionString: ADMIN_URL });
      await admin.connect();
      await admin.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      await admin.end();
    },
  };
}
