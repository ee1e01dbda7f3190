/**
 * Assignment over HTTP: POST /v1/assign on the real API (a plain Fastify route on the Nest
 * application's instance since docs/adr/0012: the instance's hooks, request id and logging,
 * key, scope and rate-limit check, body checks, exposure buffering) against a bare Fastify route
 * doing the same work in the same run: parse the same JSON, assign with the same
 * `SnapshotIndex` (murmur3 from libs/assignment/core) on the same snapshot, answer the
 * same JSON. Targets (design.md): ratio >= 0.75, p99 <= 2 ms at 50 connections.
 * Also prints local assignments per second from the pure library.
 *
 * Run (Postgres and Redis local):
 *   node -r ./scripts/register-swc.cjs bench/assign.ts
 * Settings: BENCH_SECONDS (per measurement, default 8), BENCH_CONNECTIONS (50), BENCH_UNITS
 * (distinct unit ids, 10 000), TEST_POSTGRES_URL, TEST_REDIS_URL. It creates and drops its
 * own database and uses its own Redis prefix (its keys are deleted at the end). The load
 * comes from a child process (this file with `load` as argument: http.Agent keepAlive and
 * 50 concurrent request loops), so that it never shares the servers' event loop. No worker
 * runs: exposures are buffered and enqueued to Redis as in production, then left there.
 * BENCH_PROFILE=1 adds a CPU profile of the API process during one extra /v1/assign round and
 * prints its self time by component (auth guard, validation, logging, Nest, Fastify...) and
 * its top functions (BENCH_PROFILE_TOP of them, default 15).
 * The last line is {"bench": "assign", "value": rps, "unit": "requests/s", "reference": bare, "ratio": ...}.
 */
import { runWrk, wrkPath } from './support/wrk';
import { REGISTER_SWC, startBenchApi } from './support/bench-api';
import 'reflect-metadata';
import { spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { Session } from 'node:inspector/promises';
import Fastify from 'fastify';
import { SnapshotIndex } from '../libs/assignment/core/assign';
import type { ConfigSnapshot } from '../libs/assignment/core/snapshot';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const UNITS = Number(process.env.BENCH_UNITS ?? 10_000);
const EXPERIMENT = 'bench-assign';

interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
}

// ---- the load generator (child process) ----

/** Sends POST {experiment, unitId} from `connections` loops on keep-alive sockets for `seconds`. */
async function load(url: string, key: string, seconds: number, connections: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const target = new URL(url);
  const bodies = Array.from({ length: UNITS }, (_, i) => JSON.stringify({ experiment: EXPERIMENT, unitId: `user-${i}` }));
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  const once = (body: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        { agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const latencies: number[] = [];
  let errors = 0;
  let n = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(Math.round(seconds * 1e9));
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (process.hrtime.bigint() < deadline) {
        const t0 = process.hrtime.bigint();
        const status = await once(bodies[n++ % bodies.length]);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (status !== 200) errors++;
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { requests: latencies.length, errors, seconds: elapsed, rps: latencies.length / elapsed, p50: q(0.5), p99: q(0.99) };
}

/**
 * wrk, when installed, is the load generator: a Node client tops out near 6k requests/s on
 * this machine, below what either server can do, so it measures itself. The Lua script
 * cycles through the same unit ids.
 */
async function loadWithWrk(wrk: string, url: string, key: string, seconds: number): Promise<LoadResult> {
  const r = await runWrk<Omit<LoadResult, 'rps'>>(
    wrk,
    `wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer ${key}"
local i = 0
request = function()
  i = (i + 1) % ${UNITS}
  return wrk.format(nil, nil, nil, '{"experiment":"${EXPERIMENT}","unitId":"user-' .. i .. '"}')
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\":%d,\\"errors\\":%d,\\"seconds\\":%f,\\"p50\\":%f,\\"p99\\":%f}\\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration / 1e6, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
`,
    ['-t2', `-c${CONNECTIONS}`, `-d${seconds}s`, url],
  );
  return { ...r, rps: r.requests / r.seconds };
}

/** Runs the load generator in its own process and returns what it measured. */
function loadFrom(url: string, key: string, seconds: number): Promise<LoadResult> {
  const wrk = wrkPath();
  if (wrk) return loadWithWrk(wrk, url, key, seconds);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', REGISTER_SWC, __filename, 'load', url, key, String(seconds)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult) : reject(new Error(`load generator exited ${code}`))));
  });
}

// ---- the profile (parent process, optional) ----

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
  children?: number[];
}

/** Where the request path's time goes: each sample's self time, attributed to a component by its file. */
const COMPONENTS: Array<[string, RegExp]> = [
  ['auth guard + api key lookup + rate limiter', /apps\/api\/security|libs\/auth/],
  ['/v1/assign route + body checks (plain Fastify route, docs/adr/0012)', /apps\/api\/assignment/],
  ['validation pipe (class-validator, class-transformer)', /class-validator|class-transformer|apps\/api\/http\/validation|@nestjs\/common\/pipes/],
  ['logging (pino, onRequest/onResponse hooks, async context)', /pino|sonic-boom|thread-stream|libs\/logging|create-api-app/],
  ['assignment + exposure buffer', /libs\/assignment/],
  ['Nest core (router, guards/interceptors consumers, reflector)', /@nestjs\/core|@nestjs\/common|@nestjs\/platform-fastify/],
  ['Fastify (routing, reply, content type parser)', /node_modules\/(fastify|@fastify|find-my-way|light-my-request|avvio|secure-json-parse|fast-json-stringify)/],
  ['node internals (http, net, streams)', /^node:|^internal\//],
  ['garbage collection', /^\(garbage collector\)$/],
  ['idle', /^\((idle|program)\)$/],
];

async function profiled<T>(fn: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  const result = await fn();
  const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: { nodes: ProfileNode[] } };
  session.disconnect();
  const totals = new Map<string, number>();
  const functions = new Map<string, number>();
  let all = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const { url, functionName } = node.callFrame;
    const key = url || `(${functionName.replace(/[()]/g, '')})`;
    const component = COMPONENTS.find(([, re]) => re.test(url) || (url === '' && re.test(functionName)))?.[0] ?? (url === '' ? 'native / builtins' : 'other');
    totals.set(component, (totals.get(component) ?? 0) + hits);
    const fn = `${functionName || '(anonymous)'} ${key.replace(/^.*node_modules\//, '').replace(/^file:\/\/|^.*\/work\/main\//, '')}`;
    functions.set(fn, (functions.get(fn) ?? 0) + hits);
    all += hits;
  }
  const busy = all - (totals.get('idle') ?? 0);
  console.log(`API process CPU profile (self time, % of busy samples; idle ${(100 * (totals.get('idle') ?? 0) / all).toFixed(1)} % of all):`);
  for (const [name, hits] of [...totals].filter(([n]) => n !== 'idle').sort((a, b) => b[1] - a[1])) {
    console.log(`  ${(100 * hits / busy).toFixed(1).padStart(5)} %  ${name}`);
  }
  console.log('  top functions by self time:');
  for (const [name, hits] of [...functions].filter(([n]) => !/^\((idle|program)\)/.test(n)).sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.BENCH_PROFILE_TOP ?? 15))) {
    console.log(`  ${(100 * hits / busy).toFixed(1).padStart(5)} %  ${name}`);
  }
  return result;
}

// ---- the bench (parent process) ----

async function main(): Promise<void> {
  const bench = await startBenchApi();
  const { config, base } = bench;
  const bare = Fastify({ logger: false });
  try {
    const admin = { authorization: `Bearer ${config.auth.bootstrapAdminKey}`, 'content-type': 'application/json' };
    const body = {
      key: EXPERIMENT, name: 'bench', unitType: 'user',
      variants: [
        { key: 'control', weight: 1, isControl: true, config: { provider: 'vllm', model: 'llama-3.1-70b' } },
        { key: 'small', weight: 1, config: { provider: 'vllm', model: 'llama-3.1-8b-q4' } },
      ],
      metrics: { primary: { name: 'success_rate', goal: 'increase' } },
    };
    const post = async (path: string, payload: unknown) => {
      const res = await fetch(`${base}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(payload) });
      if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return res.json() as Promise<Record<string, unknown>>;
    };
    await post('/v1/experiments', body);
    await post(`/v1/experiments/${EXPERIMENT}/start`, {});
    const sdkKey = String((await post('/v1/api-keys', { name: 'bench', scope: 'sdk' })).key);
    const configRes = await fetch(`${base}/v1/sdk/config`, { headers: { authorization: `Bearer ${sdkKey}` } });
    const snapshot = (await configRes.json()) as ConfigSnapshot;

    // The reference: the same assignment and the same JSON on a bare Fastify route (no auth, no validation, no logging).
    const index = new SnapshotIndex(snapshot);
    bare.post('/v1/assign', (req, reply) => {
      const { experiment, unitId } = req.body as { experiment: string; unitId: string };
      void reply.send(index.assign(experiment, unitId));
    });
    await bare.listen({ port: 0, host: '127.0.0.1' });
    const bareAddress = bare.server.address();
    const bareUrl = `http://127.0.0.1:${typeof bareAddress === 'object' && bareAddress ? bareAddress.port : 0}`;

    // Same answers on both, checked before measuring.
    for (const unitId of ['user-1', 'user-2', 'user-3']) {
      const [a, b] = await Promise.all(
        [`${base}/v1/assign`, `${bareUrl}/v1/assign`].map(async (u) =>
          (await fetch(u, { method: 'POST', headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ experiment: EXPERIMENT, unitId }) })).text(),
        ),
      );
      if (a !== b) throw new Error(`answers differ for ${unitId}: ${a} vs ${b}`);
    }

    // Local, from the pure library.
    const units = Array.from({ length: UNITS }, (_, i) => `user-${i}`);
    let sink = 0;
    const localN = 5_000_000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < localN; i++) if (index.assign(EXPERIMENT, units[i % UNITS]).inExperiment) sink++;
    const local = localN / (Number(process.hrtime.bigint() - t0) / 1e9);
    console.log(`local SnapshotIndex.assign: ${(local / 1e6).toFixed(2)} M assignments/s (${sink > 0 ? 'ok' : '?'})`);

    // Warm both up (JIT, keep-alive sockets), then alternate: bare, api, bare, api; keep the better round of each.
    await loadFrom(`${bareUrl}/v1/assign`, sdkKey, 2);
    await loadFrom(`${base}/v1/assign`, sdkKey, 2);
    const rounds: Record<'bare' | 'api', LoadResult[]> = { bare: [], api: [] };
    for (let round = 0; round < 2; round++) {
      rounds.bare.push(await loadFrom(`${bareUrl}/v1/assign`, sdkKey, SECONDS));
      rounds.api.push(await loadFrom(`${base}/v1/assign`, sdkKey, SECONDS));
    }
    if (process.env.BENCH_PROFILE === '1') await profiled(() => loadFrom(`${base}/v1/assign`, sdkKey, SECONDS));
    const best = (xs: LoadResult[]) => xs.reduce((a, b) => (b.rps > a.rps ? b : a));
    const ref = best(rounds.bare);
    const got = best(rounds.api);
    const line = (label: string, r: LoadResult) =>
      `${label}: ${Math.round(r.rps)} requests/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.requests} requests, ${r.errors} errors`;
    console.log(`${CONNECTIONS} connections, ${SECONDS} s per round, best of 2 rounds, node ${process.version}`);
    for (const r of rounds.bare) console.log(`  ${line('bare Fastify round', r)}`);
    for (const r of rounds.api) console.log(`  ${line('Verdict /v1/assign round', r)}`);
    console.log(line('bare Fastify route (reference)', ref));
    console.log(line('Verdict POST /v1/assign', got));
    console.log(`ratio ${(got.rps / ref.rps).toFixed(3)} (target >= 0.75), p99 ${got.p99.toFixed(2)} ms (target <= 2 ms)`);
    if (got.errors > 0 || ref.errors > 0) console.log('WARNING: some requests did not answer 200');
    console.log(JSON.stringify({ bench: 'assign-local', value: Math.round(local), unit: 'assignments/s', reference: null, ratio: null }));
    console.log(JSON.stringify({ bench: 'assign', value: Math.round(got.rps), unit: 'requests/s', reference: Math.round(ref.rps), ratio: Number((got.rps / ref.rps).toFixed(3)), p99Ms: Number(got.p99.toFixed(3)) }));
  } finally {
    await bare.close();
    await bench.dispose();
  }
}

if (process.argv[2] === 'load') {
  const [url, key, seconds] = process.argv.slice(3);
  load(url, key, Number(seconds), CONNECTIONS).then(
    (r) => {
      console.log(JSON.stringify(r));
      process.exit(0);
    },
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
