import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { createRedis, REDIS } from './redis';

type Handler = (message: string) => void;

/**
 * Change notifications between replicas over Redis pub/sub: experiment changes
 * (so every API replica refreshes its assignment snapshot) and key revocations.
 * Channels are namespaced by the configured prefix so test runs never cross.
 */
@Injectable()
export class ChangeBus implements OnApplicationShutdown {
  private readonly logger = new Logger(ChangeBus.name);
  private subscriber: Redis | null = null;
  private readonly handlers = new Map<string, Handler[]>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  private channel(name: string): string {
    return `${this.config.redis.prefix}:${name}`;
  }

  async publish(name: string, message: string): Promise<void> {
    await this.redis.publish(this.channel(name), message);
  }

  async subscribe(name: string, handler: Handler): Promise<void> {
    const channel = this.channel(name);
    if (!this.subscriber) {
      this.subscriber = createRedis(this.config.redis.url, { forBullmq: true });
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

  async onApplicationShutdown(): Promise<void> {
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }
}
