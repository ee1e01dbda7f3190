import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { createRedis } from '../redis/redis';
import { QUEUES, type QueueName } from './queues';

export const BULLMQ_CONNECTION = Symbol('BULLMQ_CONNECTION');

/** Queues by name, sharing one BullMQ connection; closed on shutdown. */
@Injectable()
export class QueueRegistry implements OnApplicationShutdown {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(
    @Inject(BULLMQ_CONNECTION) readonly connection: Redis,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  /** BullMQ key prefix: the configured Redis prefix, so tests and deployments never share keys. */
  get prefix(): string {
    return `${this.config.redis.prefix}:bull`;
  }

  get(name: QueueName): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: this.connection,
        prefix: this.prefix,
        defaultJobOptions: {
          attempts: 8,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: { count: 1000 },
          removeOnFail: false,
        },
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  all(): QueueName[] {
    return Object.values(QUEUES);
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}

@Global()
@Module({
  providers: [
    {
      provide: BULLMQ_CONNECTION,
      inject: [VERDICT_CONFIG],
      useFactory: (config: VerdictConfig) => createRedis(config.redis.url, { forBullmq: true }),
    },
    QueueRegistry,
  ],
  exports: [QueueRegistry, BULLMQ_CONNECTION],
})
export class QueueModule {}
