import { Redis } from 'ioredis';

export const REDIS = Symbol('REDIS');

/** Builds a Redis connection; BullMQ and subscribers need maxRetriesPerRequest null and an offline queue. */
export function createRedis(url: string, options: { forBullmq?: boolean } = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: options.forBullmq ? null : 1,
    enableOfflineQueue: options.forBullmq ? true : false,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
}
