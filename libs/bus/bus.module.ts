import { type DynamicModule, Global, Module } from '@nestjs/common';
import type { VerdictConfig } from '../config/config';
import { createRedis, REDIS } from '../redis/redis';
import { ChangeBus, SharedThrottle } from './change-bus';
import { BUS_POOL, BusPoolCloser, createBusPool, PostgresChangeBus, PostgresThrottle } from './postgres-change-bus';
import { RedisChangeBus, RedisCloser, RedisThrottle } from './redis-change-bus';

/**
 * The change bus and the shared throttle on the configured backend (docs/adr/0023): Redis
 * (pub/sub, SET NX PX) when the queues run on Redis, else Postgres (LISTEN/NOTIFY, a table).
 * With the Postgres backend no Redis connection is ever made.
 */
@Global()
@Module({})
export class BusModule {
  static forRoot(config: VerdictConfig): DynamicModule {
    const providers =
      config.queue.backend === 'redis'
        ? [
            { provide: REDIS, useFactory: () => createRedis(config.redis.url) },
            RedisCloser,
            { provide: ChangeBus, useClass: RedisChangeBus },
            { provide: SharedThrottle, useClass: RedisThrottle },
          ]
        : [
            { provide: BUS_POOL, useFactory: () => createBusPool(config) },
            BusPoolCloser,
            { provide: ChangeBus, useClass: PostgresChangeBus },
            { provide: SharedThrottle, useClass: PostgresThrottle },
          ];
    return { module: BusModule, providers, exports: [ChangeBus, SharedThrottle] };
  }
}
