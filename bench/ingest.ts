/**
 * Outcome ingestion benchmark: HTTP -> queue -> Postgres with idempotent writes and
 * aggregates, against the raw COPY rate of the same rows into a scratch table, same run.
 *
 * Run (Postgres and Redis local, postgres superuser for the server-side COPY reference):
 *   node -r ./test/ingestion/support/register-swc.cjs bench/ingest.ts
 * Settings: BENCH_EVENTS (default 1,000,000, sent in 100-event requests), BENCH_SINGLE_EVENTS
 * (default 100,000, sent one per request), BENCH_CONCURRENCY (64), TEST_POSTGRES_URL, TEST_REDIS_URL.
 * It creates and drops its own database and uses its own Redis prefix. The last line is
 * {"bench": "ingest", "value": v, "unit": "events/s", "reference": r, "ratio": v/r}.
 */
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { createApiApp } from '../apps/api/create-api-app';
import { loadConfig } from '../libs/config/config';
import { migrate } from '../libs/database/migrate';
import { createLogger } from '../libs/logging/logger';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const SINGLE_EVENTS = Number(process.env.BENCH_SINGLE_EVENTS ?? 100_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

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

async function post(url: string, key: string, body: string): Promise<number> {
  for (;;) {
    const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
    await res.arrayBuffer();
    if (res.status === 202) return res.status;
    if (res.status !== 429 && res.status !== 503) throw new Error(`status ${res.status}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Sends events [from, to) `size` per request, CONCURRENCY requests in flight; resolves when the last row and its aggregates are visible. */
async function ingest(base: string, key: string, db: Client, experiment: string, experimentId: string, from: number, to: number, size: number): Promise<number> {
  const started = process.hrtime.bigint();
  let next = from;
  const lanes = Array.from({ length: CONCURRENCY }, async () => {
    while (next < to) {
      const start = next;
      next = Math.min(to, next + size);
      const events = [];
      for (let n = start; n < Math.min(to, start + size); n++) events.push(event(experiment, n));
      await post(`${base}/v1/outcomes`, key, JSON.stringify({ events }));
    }
  });
  await Promise.all(lanes);
  console.log(`  acknowledged in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
  // The '$events' moment is written in the same transaction as the raw rows and unit sums.
  for (;;) {
    const r = await db.query(`SELECT COALESCE(sum(n), 0)::bigint AS n FROM outcome_moment WHERE experiment_id = $1 AND metric = '$events'`, [experimentId]);
    if (Number(r.rows[0].n) >= to) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return (to - from) / seconds;
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
  const started = process.hrtime.bigint();
  await db.query(`COPY bench_scratch FROM '${file}' WITH (FORMAT csv)`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await db.query(`DROP TABLE bench_scratch`);
  rmSync(dir, { recursive: true, force: true });
  return n / seconds;
}

async function main(): Promise<void> {
  const name = `verdict_bench_${randomBytes(4).toString('hex')}`;
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const config = loadConfig({
    DATABASE_URL: url.toString(),
    REDIS_URL: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
    VERDICT_REDIS_PREFIX: `verdict-bench-${randomBytes(3).toString('hex')}`,
    VERDICT_ADMIN_KEY: `bench-admin-${randomBytes(16).toString('hex')}`,
    LOG_LEVEL: 'silent',
    PORT: '0',
    HOST: '127.0.0.1',
    RATE_LIMIT_PER_SECOND: '1000000',
    INGEST_MAX_QUEUE_DEPTH: '1000000',
  });
  const logger = createLogger('silent', 'bench');
  const api = await createApiApp(config, logger);
  await api.listen(0, '127.0.0.1');
  const address = api.getHttpServer().address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  // The worker in its own process, as deployed: it must not share the API's event loop.
  const worker = spawn(process.execPath, ['-r', join(__dirname, '../test/ingestion/support/register-swc.cjs'), join(__dirname, '../apps/worker/main.ts')], {
    env: {
      ...process.env,
      DATABASE_URL: config.database.url,
      REDIS_URL: config.redis.url,
      VERDICT_REDIS_PREFIX: config.redis.prefix,
      VERDICT_ADMIN_KEY: config.auth.bootstrapAdminKey,
      LOG_LEVEL: 'error',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const db = new Client({ connectionString: url.toString() });
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
    const batched = await ingest(base, sdk.key, db, key, created.id, 0, EVENTS, 100);
    console.log(`100-event requests: ${Math.round(batched)} events/s (${EVENTS} events), ${(100 * batched / reference).toFixed(1)} % of COPY`);
    const single = await ingest(base, sdk.key, db, key, created.id, EVENTS, EVENTS + SINGLE_EVENTS, 1);
    console.log(`single-event requests: ${Math.round(single)} events/s (${SINGLE_EVENTS} events), ${(100 * single / reference).toFixed(2)} % of COPY`);
    console.log(JSON.stringify({ bench: 'ingest-single', value: Math.round(single), unit: 'events/s', reference: Math.round(reference), ratio: single / reference }));
    console.log(JSON.stringify({ bench: 'ingest', value: Math.round(batched), unit: 'events/s', reference: Math.round(reference), ratio: batched / reference }));
  } finally {
    await db.end();
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    await api.close();
    const adminDb = new Client({ connectionString: ADMIN_URL });
    await adminDb.connect();
    await adminDb.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await adminDb.end();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
