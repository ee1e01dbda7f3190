import { Redis } from 'ioredis';

export const REDIS = Symbol('REDIS');

/** Builds a Redis connection; BullMQ and subscribers need maxRetriesPerRequest null and an offline queue. */
export function createRedis(url: string, options: { forBullmq?: boolean; name?: string } = {}): Redis {
  return new Redis(url, {
    ...(options.name ? { connectionName: options.name } : {}),
    maxRetriesPerRequest: options.forBullmq ? null : 1,
    enableOfflineQueue: options.forBullmq ? true : false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
}
