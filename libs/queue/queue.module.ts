import { Global, Inject, Injectable, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { createPostgresBackend, Queue, QueueEvents, runMigrations, Worker, type Processor as BullProcessor, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import { VERDICT_CONFIG, type QueueBackend, type VerdictConfig } from '../config/config';
import { createRedis } from '../redis/redis';
import { QUEUES, type QueueName } from './queues';

/** Connections of one BullMQ Postgres instance: a queue's producer pool stays small, a worker adds its own LISTEN client. */
const POSTGRES_POOL_MAX = 4;
/** Postgres runs BullMQ's own migrations under an advisory lock; this is how long a start-up waits for another process holding it. */
const MIGRATION_TIMEOUT_MS = 60_000;

const DEFAULT_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 500 },
  removeOnComplete: { count: 1000 },
  removeOnFail: false,
} as const;

/**
 * Queues by name on the configured backend (docs/adr/0023): Redis (one shared command
 * connection, keys under the configured prefix) or BullMQ's Postgres backend (tables in
 * the configured schema of the app's database, which namespaces them as the prefix does
 * on Redis: BullMQ ignores `prefix` there). Every Queue, Worker and QueueEvents is made
 * here, so callers never see which backend runs; all are closed on shutdown.
 */
@Injectable()
export class QueueRegistry implements OnModuleInit, OnApplicationShutdown {
  private readonly queues = new Map<QueueName, Queue>();
  private readonly closables: Array<{ close(): Promise<void> }> = [];
  private readonly redisConnections: Redis[] = [];
  private shared: Redis | null = null;

  constructor(@Inject(VERDICT_CONFIG) private readonly config: VerdictConfig) {}

  get backend(): QueueBackend {
    return this.config.queue.backend;
  }

  /**
   * On Redis the shared connection opens now, so readiness and producers see its state from the start.
   * On Postgres, BullMQ's tables must exist before any queue is used: its migrations run once per start (idempotent, locked).
   */
  async onModuleInit(): Promise<void> {
    if (this.backend === 'redis') this.sharedRedis();
    else await migrateQueueSchema(this.config.database.url, this.config.queue.schema);
  }

  get(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = this.backend === 'redis'
        ? new Queue(name, { connection: this.sharedRedis(), prefix: this.redisPrefix, defaultJobOptions: DEFAULT_JOB_OPTIONS })
        : (new Queue(name, { connection: this.postgresConnection(), defaultJobOptions: DEFAULT_JOB_OPTIONS }, createPostgresBackend) as unknown as Queue);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** A worker on its own connection (a blocking Redis connection, or a Postgres pool and LISTEN client), closed with the registry. */
  worker(name: QueueName, processor: BullProcessor, options: { concurrency: number }): Worker {
    const worker: Worker = this.backend === 'redis'
      ? new Worker(name, processor, { ...options, connection: this.ownRedis(), prefix: this.redisPrefix })
      : (new Worker(name, processor as never, { ...options, connection: this.postgresConnection() } as WorkerOptions<never>, createPostgresBackend) as unknown as Worker);
    this.closables.push(worker);
    return worker;
  }

  /** Completion and failure events of one queue, for whoever waits on jobs (tests, tools). */
  events(name: QueueName): QueueEvents {
    const events: QueueEvents = this.backend === 'redis'
      ? new QueueEvents(name, { connection: this.ownRedis(), prefix: this.redisPrefix })
      : (new QueueEvents(name, { connection: this.postgresConnection() }, createPostgresBackend) as unknown as QueueEvents);
    this.closables.push(events);
    return events;
  }

  all(): QueueName[] {
    return Object.values(QUEUES);
  }

  /**
   * False when the backend is known to be away, so a producer refuses at once instead of
   * queueing commands in ioredis' offline queue. Postgres has no such queue: a call fails
   * by itself when the database is away (and every enqueue is bounded by a timeout anyway).
   */
  isConnected(): boolean {
    return this.backend === 'postgres' || this.sharedRedis().status === 'ready';
  }

  /** BullMQ key prefix on Redis: the configured prefix, so tests and deployments never share keys. */
  private get redisPrefix(): string {
    return `${this.config.redis.prefix}:bull`;
  }

  private sharedRedis(): Redis {
    this.shared ??= this.ownRedis();
    return this.shared;
  }

  private ownRedis(): Redis {
    const connection = createRedis(this.config.redis.url, { forBullmq: true });
    this.redisConnections.push(connection);
    return connection;
  }

  private postgresConnection() {
    return { connectionString: this.config.database.url, schema: this.config.queue.schema, max: POSTGRES_POOL_MAX };
  }

  async onApplicationShutdown(): Promise<void> {
    // Workers first: they finish the jobs in hand (BullMQ's graceful close).
    await Promise.all(this.closables.map((c) => c.close()));
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    // BullMQ leaves connections it was given open: close ours, or the process lingers.
    await Promise.all(this.redisConnections.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

/** Applies BullMQ's Postgres migrations to `schema` (created if missing); safe to run from many processes at once. */
export async function migrateQueueSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl, statement_timeout: MIGRATION_TIMEOUT_MS });
  await client.connect();
  try {
    await runMigrations(client as never, schema);
  } finally {
    await client.end();
  }
}

@Global()
@Module({
  providers: [QueueRegistry],
  exports: [QueueRegistry],
})
export class QueueModule {}
