/**
 * How fast an experiment change reaches what serves assignments: a weight change made through
 * one API replica, until (a) another replica answers /v1/assign/batch with the new phase and
 * (b) an SDK client streaming its config from that other replica holds the new snapshot. The
 * goal is under one second for both (it used to be asserted in test/assignment/assign.test.ts,
 * test/sdk/sdk.test.ts and libs/sdk/src/verdict-client.spec.ts, where timing goals do not belong).
 * The reference is a bare round trip on the change bus's transport in the same run: Redis
 * pub/sub, or with QUEUE_BACKEND=postgres a LISTEN/NOTIFY round trip on the same database
 * (docs/adr/0023): what every replica and stream hears changes through.
 *
 * Run (Postgres and Redis local):
 *   node -r ./scripts/register-swc.cjs bench/propagation.ts
 * Settings: BENCH_CHANGES (weight changes measured, default 20), TEST_POSTGRES_URL, TEST_REDIS_URL.
 * The last line is {"bench": "propagation", "value": p50 ms to the SDK, "unit": "ms", "reference": p50 pub/sub ms, "ratio": ...}.
 */
import 'reflect-metadata';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { createApiApp } from '../apps/api/create-api-app';
import { createLogger } from '../libs/logging/logger';
import { createClient } from '../libs/sdk/src';
import { startBenchApi } from './support/bench-api';

const CHANGES = Number(process.env.BENCH_CHANGES ?? 20);
const GOAL_MS = 1000;

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function notifyRoundTrip(url: string, rounds: number): Promise<number[]> {
  const pub = new Client({ connectionString: url });
  const sub = new Client({ connectionString: url });
  await Promise.all([pub.connect(), sub.connect()]);
  const channel = `bench-propagation-${process.pid}`;
  await sub.query(`LISTEN "${channel}"`);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const received = new Promise<void>((resolve) => sub.once('notification', () => resolve()));
    const started = performance.now();
    await pub.query('SELECT pg_notify($1, $2)', [channel, String(i)]);
    await received;
    times.push(performance.now() - started);
  }
  await Promise.all([pub.end(), sub.end()]);
  return times;
}

async function pubsubRoundTrip(url: string, rounds: number): Promise<number[]> {
  const pub = new Redis(url);
  const sub = new Redis(url);
  const channel = `bench-propagation-${process.pid}`;
  await sub.subscribe(channel);
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const received = new Promise<void>((resolve) => sub.once('message', () => resolve()));
    const started = performance.now();
    await pub.publish(channel, String(i));
    await received;
    times.push(performance.now() - started);
  }
  pub.disconnect();
  sub.disconnect();
  return times;
}

async function main(): Promise<void> {
  const a = await startBenchApi();
  const b = await createApiApp(a.config, createLogger('silent', 'bench-replica'));
  await b.listen(0, '127.0.0.1');
  const address = b.getHttpServer().address();
  const replica = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const call = async (base: string, key: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return res.json() as Promise<any>;
  };
  const admin = a.config.auth.bootstrapAdminKey;
  const sdkKey = (await call(a.base, admin, 'POST', '/v1/api-keys', { name: 'bench', scope: 'sdk' })).key as string;
  const key = 'bench-propagation';
  await call(a.base, admin, 'POST', '/v1/experiments', {
    key, name: 'propagation', unitType: 'user',
    variants: [{ key: 'control', weight: 1, isControl: true }, { key: 'treatment', weight: 1 }],
    metrics: { primary: { name: 'success_rate', goal: 'increase' } },
  });
  await call(a.base, admin, 'POST', `/v1/experiments/${key}/start`);
  const client = createClient({ baseUrl: replica, apiKey: sdkKey, flushOnExit: false, refresh: { pollIntervalMs: 60_000 } });
  await client.ready();
  while (!client.stats().streamConnected) await sleep(10);
  const items = Array.from({ length: 20 }, (_, i) => ({ experiment: key, unitId: `u-${i}` }));
  const replicaPhase = async () => (await call(replica, sdkKey, 'POST', '/v1/assign/batch', { items })).assignments[0].phase as number;
  const sdkPhase = () => client.snapshot()?.experiments.find((e) => e.key === key)?.phase ?? 0;

  try {
    const toReplica: number[] = [];
    const toSdk: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const before = await replicaPhase();
      let sdkAt = 0;
      const off = client.onSnapshot(() => {
        if (!sdkAt && sdkPhase() > before) sdkAt = performance.now();
      });
      const started = performance.now();
      await call(a.base, admin, 'PATCH', `/v1/experiments/${key}`, { variants: [{ key: 'control', weight: 2 - (i % 2) }, { key: 'treatment', weight: 1 }] });
      while ((await replicaPhase()) <= before) if (performance.now() - started > 10_000) throw new Error('the replica never saw the change');
      toReplica.push(performance.now() - started);
      while (!sdkAt) {
        if (performance.now() - started > 10_000) throw new Error('the SDK never saw the change');
        await sleep(1);
      }
      toSdk.push(sdkAt - started);
      off();
    }
    const onPostgres = a.config.queue.backend === 'postgres';
    const reference = onPostgres ? await notifyRoundTrip(a.config.database.url, 200) : await pubsubRoundTrip(a.config.redis.url, 200);
    const line = (name: string, xs: number[]) =>
      `${name}: p50 ${quantile(xs, 0.5).toFixed(1)} ms, p95 ${quantile(xs, 0.95).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
    console.log(line('weight change -> other replica serves it (PATCH included)', toReplica));
    console.log(line('weight change -> SDK streaming from the other replica holds it', toSdk));
    console.log(line(onPostgres ? 'reference: bare Postgres LISTEN/NOTIFY round trip' : 'reference: bare Redis pub/sub round trip', reference));
    for (const [name, xs] of [['replica', toReplica], ['SDK', toSdk]] as const) {
      if (Math.max(...xs) >= GOAL_MS) console.log(`MISSED: the ${name} took ${Math.max(...xs).toFixed(0)} ms at worst (goal < ${GOAL_MS} ms)`);
    }
    const value = quantile(toSdk, 0.5);
    const ref = quantile(reference, 0.5);
    console.log(JSON.stringify({ bench: 'propagation', value: Number(value.toFixed(2)), unit: 'ms', reference: Number(ref.toFixed(3)), ratio: Number((value / ref).toFixed(1)), replicaP50Ms: Number(quantile(toReplica, 0.5).toFixed(2)) }));
  } finally {
    await client.close();
    await b.close();
    await a.dispose();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
