import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { createRedis, REDIS } from '../redis/redis';
import { ChangeBus, SharedThrottle, type ChangeHandler } from './change-bus';

/** The change bus on Redis pub/sub: publishing on the shared command connection, one subscriber connection per process. */
@Injectable()
export class RedisChangeBus extends ChangeBus implements OnApplicationShutdown {
  readonly backend = 'redis';
  private readonly logger = new Logger(ChangeBus.name);
  private subscriber: Redis | null = null;
  private readonly handlers = new Map<string, ChangeHandler[]>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {
    super();
  }

  private channel(name: string): string {
    return `${this.config.redis.prefix}:${name}`;
  }

  async publish(name: string, message: string): Promise<void> {
    await this.redis.publish(this.channel(name), message);
  }

  async subscribe(name: string, handler: ChangeHandler): Promise<void> {
    const channel = this.channel(name);
    if (!this.subscriber) {
      this.subscriber = createRedis(this.config.redis.url, { forBullmq: true, name: `${this.config.redis.prefix}:bus` });
      this.subscriber.on('message', (ch: string, message: string) => {
        for (const h of this.handlers.get(ch) ?? []) {
          try {
            h(message);
          } catch (error) {
            this.logger.error({ err: error, channel: ch }, 'change handler failed');
          }
        }
      });
    }
    const existing = this.handlers.get(channel);
    if (existing) existing.push(handler);
    else {
      this.handlers.set(channel, [handler]);
      await this.subscriber.subscribe(channel);
    }
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }
}

/** SET NX PX: the key exists for `ttlMs` after the first acquire. */
@Injectable()
export class RedisThrottle extends SharedThrottle {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {
    super();
  }

  async acquire(key: string, ttlMs: number): Promise<number> {
    const name = `${this.config.redis.prefix}:throttle:${key}`;
    if ((await this.redis.set(name, '1', 'PX', ttlMs, 'NX')) === 'OK') return 0;
    return Math.max(1, await this.redis.pttl(name));
  }
}

/** Closes the shared command connection last. */
@Injectable()
export class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
