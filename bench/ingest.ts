/**
 * Outcome ingestion benchmark: HTTP -> queue -> Postgres with idempotent writes and
 * aggregates, against the raw COPY rate of the same rows into a scratch table, same run.
 *
 * Run (Postgres and Redis local, postgres superuser for the server-side COPY reference):
 *   npm run bench:ingest
 * Settings: BENCH_EVENTS (default 1,000,000, sent in 100-event requests), BENCH_SINGLE_SECONDS
 * (15, single-event requests from wrk when installed) or BENCH_SINGLE_EVENTS (100,000, from
 * undici without wrk or with BENCH_LOADER=node), BENCH_CONCURRENCY (64 connections),
 * TEST_POSTGRES_URL, TEST_REDIS_URL, QUEUE_BACKEND (`postgres`: BullMQ's Postgres backend, no Redis;
 * docs/adr/0023). It creates and drops its own database and uses its own Redis prefix. The last line is
 * {"bench": "ingest", "value": v, "unit": "events/s", "reference": r, "ratio": v/r}.
 */
import { REGISTER_SWC, startBenchApi } from './support/bench-api';
import { runWrk, wrkPath } from './support/wrk';
import 'reflect-metadata';
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { Pool } from 'undici';
import { NODE_FLAGS } from '../libs/config/node-flags';
import { QUEUES } from '../libs/queue/queues';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const SINGLE_EVENTS = Number(process.env.BENCH_SINGLE_EVENTS ?? 100_000);
/** With wrk, the single-event phase runs for a time instead of a count (wrk has no request count). */
const SINGLE_SECONDS = Number(process.env.BENCH_SINGLE_SECONDS ?? 15);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/** BENCH_CPU_PROF=dir writes a V8 CPU profile of the worker and the load generator there (run node itself with --cpu-prof for the API). */
const PROFILE = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];

function event(experiment: string, n: number): Record<string, unknown> {
  return {
    id: `e${n}`,
    experiment,
    unitId: `u${n % 100_000}`,
    latencyMs: 80 + (n % 900),
    ttftMs: 10 + (n % 90),
    inputTokens: 400 + (n % 300),
    outputTokens: 100 + (n % 200),
    success: n % 4 !== 0,
    score: (n % 10) / 10,
  };
}

interface LoadOrder {
  base: string;
  key: string;
  experiment: string;
  from: number;
  to: number;
  size: number;
}

/** The request bodies of an order, built before the clock starts: the load generator's JSON work is not the system's. */
function bodies(order: LoadOrder): string[] {
  const out: string[] = [];
  for (let start = order.from; start < order.to; start += order.size) {
    const events = [];
    for (let n = start; n < Math.min(order.to, start + order.size); n++) events.push(event(order.experiment, n));
    out.push(JSON.stringify({ events }));
  }
  return out;
}

/**
 * The load generator, in its own process (forked with --load) so that it does not share
 * the API's event loop: undici with CONCURRENCY keep-alive connections (a quarter of the CPU
 * per request of node:http, which the system under test would otherwise lose), each request
 * retried on 429/503 until accepted. Reports the seconds to acknowledge everything.
 */
async function load(order: LoadOrder, prepared: string[]): Promise<number> {
  const pool = new Pool(order.base, { connections: CONCURRENCY });
  const headers = { authorization: `Bearer ${order.key}`, 'content-type': 'application/json' };
  const started = process.hrtime.bigint();
  let next = 0;
  const lanes = Array.from({ length: CONCURRENCY }, async () => {
    while (next < prepared.length) {
      const body = prepared[next++];
      for (;;) {
        const res = await pool.request({ path: '/v1/outcomes', method: 'POST', headers, body });
        await res.body.dump();
        if (res.statusCode === 202) break;
        if (res.statusCode !== 429 && res.statusCode !== 503) throw new Error(`status ${res.statusCode}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  });
  await Promise.all(lanes);
  await pool.close();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Sends events [from, to) `size` per request from the load process; resolves when the last row and its aggregates are visible. */
async function ingest(loader: ChildProcess, order: LoadOrder, db: Client, experimentId: string): Promise<number> {
  const ask = (message: object) =>
    new Promise<{ seconds?: number }>((resolve, reject) => {
      const onMessage = (m: { seconds?: number; error?: string }) => {
        loader.off('exit', onExit);
        if (m.error) reject(new Error(m.error));
        else resolve(m);
      };
      const onExit = (code: number | null) => reject(new Error(`load generator exited (${code})`));
      loader.once('message', onMessage);
      loader.once('exit', onExit);
      loader.send(message);
    });
  await ask({ prepare: order });
  const started = process.hrtime.bigint();
  const acknowledged = (await ask({ go: true })).seconds ?? 0;
  console.log(`  acknowledged in ${acknowledged.toFixed(1)} s`);
  while ((await storedEvents(db, experimentId)) < order.to) await new Promise((resolve) => setTimeout(resolve, 50));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (order.to - order.from) / seconds;
}

/** CPU seconds (user + system) of a local process from /proc, or 0 when it cannot be read (gone, or on another host). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return 0;
  }
}

/**
 * Where the CPU of a phase went: the API (this process), the worker, the load generator and
 * Postgres (this database's backends and the server's background processes, when the server
 * is local). On 2 cores the sum per event bounds the rate: 2 s / (µs per event).
 */
async function cpuAccount(db: Client, pids: { api: number; worker: number; loader: number }): Promise<(events: number) => Promise<string>> {
  const postgresPids = async () =>
    (
      await db.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() OR backend_type IN
        ('autovacuum worker', 'checkpointer', 'walwriter', 'background writer')`)
    ).rows.map((r: { pid: number }) => r.pid);
  const at = async () => {
    const postgres = new Map((await postgresPids()).map((pid) => [pid, cpuSeconds(pid)]));
    return { api: cpuSeconds(pids.api), worker: cpuSeconds(pids.worker), loader: cpuSeconds(pids.loader), postgres };
  };
  const start = await at();
  return async (events) => {
    const end = await at();
    let postgres = 0;
    // A backend that started during the phase counts from zero.
    for (const [pid, cpu] of end.postgres) postgres += cpu - (start.postgres.get(pid) ?? 0);
    const parts = { API: end.api - start.api, worker: end.worker - start.worker, 'load generator': end.loader - start.loader, Postgres: postgres };
    return Object.entries(parts).map(([name, seconds]) => `${name} ${((seconds * 1e6) / events).toFixed(0)}`).join(', ') + ' µs per event';
  };
}

/** Raw COPY of the same rows (CSV, server side) into an unindexed scratch table on one connection. */
async function copyRate(db: Client, experimentId: string, n: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-bench-'));
  chmodSync(dir, 0o755);
  const file = join(dir, 'rows.csv');
  const now = new Date().toISOString();
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const e = event('x', i);
    lines.push(`${experimentId},${e.id},${now},1,${e.unitId},control,${e.latencyMs},${e.ttftMs},${e.inputTokens},${e.outputTokens},,${e.success},${e.score},,`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
  chmodSync(file, 0o644);
  await db.query(`CREATE TABLE bench_scratch (experiment_id uuid, event_id text, occurred_at timestamptz, phase int, unit_id text, variant text,
    latency_ms float8, ttft_ms float8, input_tokens int8, output_tokens int8, cost_usd float8, success bool, score float8, error text, metrics jsonb)`);
  // The median of three: a single COPY moved between 210k and 440k rows/s from run to run.
  const rates: number[] = [];
  for (let i = 0; i < 3; i++) {
    await db.query(`TRUNCATE bench_scratch`);
    const started = process.hrtime.bigint();
    await db.query(`COPY bench_scratch FROM '${file}' WITH (FORMAT csv)`);
    rates.push(n / (Number(process.hrtime.bigint() - started) / 1e9));
  }
  await db.query(`DROP TABLE bench_scratch`);
  rmSync(dir, { recursive: true, force: true });
  console.log(`raw COPY runs: ${rates.map((r) => Math.round(r)).join(', ')} rows/s`);
  return rates.sort((a, b) => a - b)[1];
}

/** The moment count of '$events', written in the same transaction as the raw rows and unit sums. */
async function storedEvents(db: Client, experimentId: string): Promise<number> {
  const r = await db.query(`SELECT COALESCE(sum(n), 0)::bigint AS n FROM outcome_moment WHERE experiment_id = $1 AND metric = '$events'`, [experimentId]);
  return Number(r.rows[0].n);
}

/**
 * Single-event requests from wrk (Debian package \`wrk\`), when installed: node clients spend
 * about 90 µs of CPU per request, which on 2 cores the system under test would lose. wrk sends
 * new event ids for SINGLE_SECONDS; the rate is the events stored over the time from the first
 * request until the last of them is visible (the queue is empty and the count stops moving).
 */
async function singlesWithWrk(wrk: string, order: LoadOrder, db: Client, experimentId: string, queueIdle: () => Promise<boolean>): Promise<{ rate: number; events: number }> {
  // The same fields and values as event(n), built in Lua per request.
  const script = `wrk.method = "POST"
wrk.path = "/v1/outcomes"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${order.key}"
local n = ${order.from - 1}
request = function()
  n = n + 1
  local success = "true"
  if n % 4 == 0 then success = "false" end
  return wrk.format(nil, nil, nil, '{"events":[{"id":"e' .. n .. '","experiment":"${order.experiment}","unitId":"u' .. (n % 100000) ..
    '","latencyMs":' .. (80 + n % 900) .. ',"ttftMs":' .. (10 + n % 90) .. ',"inputTokens":' .. (400 + n % 300) ..
    ',"outputTokens":' .. (100 + n % 200) .. ',"success":' .. success .. ',"score":' .. ((n % 10) / 10) .. '}]}')
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\":%d,\\"non2xx\\":%d}\\n", summary.requests, summary.errors.status))
end
`;
  const before = await storedEvents(db, experimentId);
  const started = process.hrtime.bigint();
  const summary = await runWrk<{ requests: number; non2xx: number }>(wrk, script, ['-t1', `-c${CONCURRENCY}`, `-d${SINGLE_SECONDS}s`, order.base]);
  console.log(`  ${summary.requests} requests in ${SINGLE_SECONDS} s, ${summary.non2xx} not accepted`);
  // Requests cut off when wrk stops may or may not have been accepted: count what is stored.
  let last = await storedEvents(db, experimentId);
  let lastAt = process.hrtime.bigint();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    const now = await storedEvents(db, experimentId);
    if (now !== last) {
      last = now;
      lastAt = process.hrtime.bigint();
    } else if (await queueIdle()) break;
  }
  const events = last - before;
  return { rate: events / (Number(lastAt - started) / 1e9), events };
}

async function main(): Promise<void> {
  const bench = await startBenchApi({ INGEST_MAX_QUEUE_DEPTH: '1000000' });
  const { config, base } = bench;
  // The worker in its own process, as deployed: it must not share the API's event loop.
  const worker = spawn(process.execPath, [...NODE_FLAGS, ...PROFILE, '-r', REGISTER_SWC, join(__dirname, '../apps/worker/main.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: config.database.url,
      QUEUE_BACKEND: config.queue.backend,
      VERDICT_QUEUE_SCHEMA: config.queue.schema,
      REDIS_URL: config.redis.url,
      VERDICT_REDIS_PREFIX: config.redis.prefix,
      VERDICT_ADMIN_KEY: config.auth.bootstrapAdminKey,
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const loader = fork(__filename, ['--load'], { execArgv: [...NODE_FLAGS, ...PROFILE, '-r', REGISTER_SWC], stdio: 'inherit' });
  const db = new Client({ connectionString: config.database.url });
  await db.connect();
  try {
    const admin = { authorization: `Bearer ${config.auth.bootstrapAdminKey}`, 'content-type': 'application/json' };
    const key = `bench-${randomBytes(4).toString('hex')}`;
    const body = {
      key, name: 'bench', unitType: 'user',
      variants: [
        { key: 'control', weight: 1, isControl: true, pricing: { inputPer1M: 0.9, outputPer1M: 0.9 } },
        { key: 'small', weight: 1, pricing: { inputPer1M: 0.2, outputPer1M: 0.2 } },
      ],
      metrics: { primary: { name: 'success_rate', goal: 'increase' } },
    };
    const created = (await (await fetch(`${base}/v1/experiments`, { method: 'POST', headers: admin, body: JSON.stringify(body) })).json()) as { id: string };
    await fetch(`${base}/v1/experiments/${key}/start`, { method: 'POST', headers: admin, body: '{}' });
    const sdk = (await (await fetch(`${base}/v1/api-keys`, { method: "POST", headers: admin, body: JSON.stringify({ name: "bench", scope: "sdk" }) })).json()) as { key: string };
    await new Promise((resolve) => setTimeout(resolve, 500));

    const reference = await copyRate(db, created.id, EVENTS);
    console.log(`raw COPY: ${Math.round(reference)} rows/s (${EVENTS} rows)`);
    const pids = { api: process.pid, worker: worker.pid ?? 0, loader: loader.pid ?? 0 };
    let cpu = await cpuAccount(db, pids);
    const batched = await ingest(loader, { base, key: sdk.key, experiment: key, from: 0, to: EVENTS, size: 100 }, db, created.id);
    console.log(`100-event requests: ${Math.round(batched)} events/s (${EVENTS} events), ${(100 * batched / reference).toFixed(1)} % of COPY`);
    console.log(`  CPU: ${await cpu(EVENTS)}`);
    cpu = await cpuAccount(db, pids);
    const singleOrder = { base, key: sdk.key, experiment: key, from: EVENTS, to: EVENTS + SINGLE_EVENTS, size: 1 };
    const wrk = wrkPath();
    const { rate: single, events: singleEvents } = wrk
      ? await singlesWithWrk(wrk, singleOrder, db, created.id, () => bench.queueIdle(QUEUES.outcomes))
      : { rate: await ingest(loader, singleOrder, db, created.id), events: SINGLE_EVENTS };
    console.log(`single-event requests (${wrk ? 'wrk' : 'undici'}): ${Math.round(single)} events/s (${singleEvents} events), ${(100 * single / reference).toFixed(2)} % of COPY`);
    console.log(`  CPU: ${await cpu(singleEvents)}${wrk ? ' (wrk not counted)' : ''}`);
    console.log(JSON.stringify({ bench: 'ingest-single', value: Math.round(single), unit: 'events/s', reference: Math.round(reference), ratio: single / reference }));
    console.log(JSON.stringify({ bench: 'ingest', value: Math.round(batched), unit: 'events/s', reference: Math.round(reference), ratio: batched / reference }));
  } finally {
    await db.end();
    loader.kill('SIGTERM');
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    // Its own database and Redis prefix: runs never pile up.
    await bench.dispose();
  }
}

if (process.argv.includes('--load')) {
  let prepared: { order: LoadOrder; bodies: string[] } | null = null;
  process.on('message', (m: { prepare?: LoadOrder; go?: true }) => {
    if (m.prepare) {
      prepared = { order: m.prepare, bodies: bodies(m.prepare) };
      process.send?.({});
      return;
    }
    const { order, bodies: ready } = prepared!;
    load(order, ready).then(
      (seconds) => process.send?.({ seconds }),
      (error: unknown) => process.send?.({ error: String(error) }),
    );
  });
} else main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
