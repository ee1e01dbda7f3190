import { Logger } from '@nestjs/common';
import { Redis } from 'ioredis';

export const REDIS = Symbol('REDIS');

/** Builds a Redis connection; BullMQ and subscribers need maxRetriesPerRequest null and an offline queue. */
export function createRedis(url: string, options: { forBullmq?: boolean; name?: string } = {}): Redis {
  const redis = new Redis(url, {
    ...(options.name ? { connectionName: options.name } : {}),
    maxRetriesPerRequest: options.forBullmq ? null : 1,
    enableOfflineQueue: options.forBullmq ? true : false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Without a listener ioredis prints "Unhandled error event" on every failed reconnect. One
  // warning per outage is enough: the commands fail on their own, where they are handled.
  let warned = false;
  redis.on('error', (error: Error) => {
    if (warned) return;
    warned = true;
    new Logger('Redis').warn({ err: error, connection: options.name ?? 'commands' }, 'Redis connection lost; reconnecting');
  });
  redis.on('ready', () => {
    warned = false;
  });
  return redis;
}
