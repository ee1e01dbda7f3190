import { Global, Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createRedis, REDIS } from './redis';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { ChangeBus } from './change-bus';

@Injectable()
class RedisCloser implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}
  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** One shared command connection for readiness checks, caches and publishing. */
@Global()
@Module({
  providers: [
    {
      provide: REDIS,
      inject: [VERDICT_CONFIG],
      useFactory: (config: VerdictConfig) => createRedis(config.redis.url),
    },
    RedisCloser,
    ChangeBus,
  ],
  exports: [REDIS, ChangeBus],
})
export class RedisModule {}
