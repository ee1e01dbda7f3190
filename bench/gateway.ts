/**
 * The gateway's overhead (issue #17) and its balance over a pool (issue #18, below).
 * Overhead: the same fake upstream called directly, through Verdict's gateway (the real API:
 * key check, assignment from the snapshot, exposure and outcome enqueued to Redis, outbound
 * guard, SSE meter), and through a bare Fastify + undici pass-through proxy written here
 * (the reference: parse the JSON body, set the model, pipe the answer with backpressure,
 * nothing else), in interleaved rounds of one run.
 *
 * Figures: added TTFT (median of round medians, and pooled p99) at 1 and at 32 concurrent
 * streams; CPU microseconds per forwarded chunk of each proxy process; streams per second at
 * saturation (64 concurrent streams); added median of non-streamed calls.
 * Targets (design.md): added median TTFT <= 2 ms one stream at a time and within 0.5 ms of
 * the bare proxy's; throughput >= 0.8 of the bare proxy's. The last line is
 * {"bench": "gateway", "value": gateway streams/s, "unit": "streams/s", "reference": bare streams/s, "ratio": ...}.
 *
 * Processes: this one runs the gateway (the API) and orchestrates; the fake upstream, the bare
 * proxy and the load generator are child processes, so that no two share an event loop.
 * The fake upstream keeps absolute deadlines: first content at BENCH_FIRST_MS (default 20)
 * after the request, then BENCH_CHUNKS (32) chunks BENCH_PACE_MS (5) apart, the usage chunk
 * and [DONE]; every write with TCP_NODELAY. Non-streamed calls are answered after 5 ms.
 * Settings: BENCH_ROUNDS (4), BENCH_STREAMS (streams per mode per round at 1 stream, 30),
 * BENCH_SECONDS (per saturation round, 4). Portkey's open-source gateway (devDependency
 * `@portkey-ai/gateway`, bench/support/portkey.ts) joins the non-streamed phase; target: the
 * gateway's added median at most half of Portkey's.
 *
 * Pool phase (issue #18): three fake instances serve one variant, once per balance mode of the
 * gateway (least in flight and peak_ewma, docs/adr/0037, each its own experiment and three
 * instances; a third set of three behind a random-choice proxy written here, the reference);
 * BENCH_POOL_RATE (50) streams per second go to each, open loop, at the same moments, for BENCH_POOL_SECONDS (20) s, then instance 2 of each
 * set is made slow for as long again: first +BENCH_POOL_SLOW_MS (200) to every answer, then, in a
 * second run, +BENCH_POOL_LOAD_MS (40) per call already in flight there (slow only under load).
 * Figures: the slow instance's share of calls and TTFT p50/p99 before and after, per balancer;
 * gateway p99 / random p99 after the slowdown (target <= 0.7). JSON lines `gateway-pool` and
 * `gateway-pool-under-load` (least in flight), then the same with `-peak-ewma`, come before the
 * `gateway` one.
 *
 * BENCH_PHASES: `overhead` (the phases above), `pool`, or both (the default), comma-separated.
 *
 * Run (Postgres and Redis local): npm run bench:gateway (only the pool phase: BENCH_PHASES=pool npm run bench:gateway)
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { createServer, request as httpRequest, Agent, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SnapshotIndex } from '../libs/assignment/core/assign';
import type { ConfigSnapshot } from '../libs/assignment/core/snapshot';
import type { BenchApi } from './support/bench-api';
import { startPortkey } from './support/portkey';

/** The require hook of the child processes (as bench-api's REGISTER_SWC; that module, which loads the whole API, is imported by the orchestrator only, so children start in moments). */
const REGISTER_SWC = join(__dirname, '..', 'scripts', 'register-swc.cjs');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 30);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const FIRST_MS = Number(process.env.BENCH_FIRST_MS ?? 20);
const CHUNKS = Number(process.env.BENCH_CHUNKS ?? 32);
const PACE_MS = Number(process.env.BENCH_PACE_MS ?? 5);
const SATURATION = 64;
/** Which phases run: `overhead` (1 and 32 streams, non-streamed, saturation) and `pool`; both by default. */
const PHASES = new Set((process.env.BENCH_PHASES ?? 'overhead,pool').split(',').map((p) => p.trim()).filter(Boolean));
const POOL_SIZE = 3;
const POOL_RATE = Number(process.env.BENCH_POOL_RATE ?? 50);
const POOL_SECONDS = Number(process.env.BENCH_POOL_SECONDS ?? 20);
/** The pool phase's streams last as long as the others (20 + 8 x 20 ms) in fewer chunks: it measures balance, not per-chunk cost, on 2 shared cores. */
const POOL_CHUNKS = 8;
const POOL_PACE_MS = 20;
const POOL_SLOW_MS = Number(process.env.BENCH_POOL_SLOW_MS ?? 200);
const POOL_LOAD_MS = Number(process.env.BENCH_POOL_LOAD_MS ?? 40);
/** Calls in flight per balancer beyond which the open-loop generator drops a tick (counted) rather than pile up. */
const POOL_MAX_IN_FLIGHT = 1024;

type Message = { id?: number; cmd: string; [key: string]: unknown };

// ---------------------------------------------------------------- fake upstream (child)

/**
 * One fake OpenAI-compatible server. `extraMs(inFlight)` delays the first content (and the
 * rest of the stream with it) by that many ms, given the calls already in flight here when
 * this one arrived; the chunk `id` is `id`, so a client can tell which instance answered.
 */
function fakeServer(id: string, extraMs: (inFlight: number) => number = () => 0, chunks = CHUNKS, paceMs = PACE_MS): Server {
  let inFlight = 0;
  const server = createServer((req, res) => {
    const start = performance.now();
    const extra = extraMs(inFlight);
    inFlight++;
    res.once('close', () => inFlight--);
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(parts).toString('utf8')) as { stream?: boolean; model: string; stream_options?: { include_usage?: boolean } };
      const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created: 1_700_000_000, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      if (!body.stream) {
        setTimeout(() => {
          const text = JSON.stringify({ id, object: 'chat.completion', created: 1_700_000_000, model: body.model, choices: [{ index: 0, message: { role: 'assistant', content: 'Hello there' }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 } });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
          res.end(text);
        }, 5 + extra);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      const first = start + FIRST_MS + extra;
      let i = 0;
      const next = () => {
        if (res.destroyed) return;
        if (i === 0) res.write(chunk({ role: 'assistant', content: '' }) + chunk({ content: 'w0 ' }));
        else if (i < chunks) res.write(chunk({ content: `w${i} ` }));
        else {
          const usage = body.stream_options?.include_usage
            ? `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', model: body.model, choices: [], usage: { prompt_tokens: 10, completion_tokens: chunks, total_tokens: 10 + chunks } })}\n\n`
            : '';
          res.end(chunk({}, 'stop') + usage + 'data: [DONE]\n\n');
          return;
        }
        i++;
        setTimeout(next, Math.max(0, first + i * paceMs - performance.now()));
      };
      setTimeout(next, Math.max(0, first - performance.now()));
    });
  });
  server.on('connection', (socket) => socket.setNoDelay(true));
  server.keepAliveTimeout = 60_000;
  return server;
}

function fakeUpstream(): void {
  const server = fakeServer('chatcmpl-bench');
  server.listen(0, '127.0.0.1', () => process.send!({ cmd: 'ready', port: (server.address() as AddressInfo).port }));
}

/**
 * The pool phase's instances: `count` fake servers, ids `chatcmpl-pool-<i>`. A `slow` message
 * makes the instances whose index is `index` modulo POOL_SIZE (one per balancer's set) slow:
 * `fixed` adds POOL_SLOW_MS to every answer, `load` adds POOL_LOAD_MS per call already in
 * flight there (slow only under load), `off` restores them.
 */
async function poolUpstream(count: number): Promise<void> {
  let slow: { index: number; mode: 'off' | 'fixed' | 'load' } = { index: -1, mode: 'off' };
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    const server = fakeServer(`chatcmpl-pool-${i % POOL_SIZE}`, (inFlight) => {
      if (i % POOL_SIZE !== slow.index || slow.mode === 'off') return 0;
      return slow.mode === 'fixed' ? POOL_SLOW_MS : POOL_LOAD_MS * inFlight;
    }, POOL_CHUNKS, POOL_PACE_MS);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports.push((server.address() as AddressInfo).port);
  }
  process.on('message', (m: Message) => {
    if (m.cmd === 'slow') {
      slow = { index: m.index as number, mode: m.mode as typeof slow.mode };
      process.send!({ id: m.id, cmd: 'slow' });
    }
  });
  process.send!({ cmd: 'ready', ports });
}

// ---------------------------------------------------------------- bare proxy (child)

/**
 * The bare pass-through proxy; given several upstreams (comma-separated), it is the pool
 * phase's random-choice reference: each request goes to one of them picked uniformly at
 * random, nothing else (no health, no retry).
 */
async function bareProxy(upstreamBases: string): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const { Pool } = await import('undici');
  const pools = upstreamBases.split(',').map((base) => new Pool(new URL(base).origin, { connections: 256, pipelining: 1 }));
  const app = Fastify({ bodyLimit: 8 * 1024 * 1024 });
  app.post('/v1/chat/completions', async (request, reply) => {
    const pool = pools.length === 1 ? pools[0] : pools[Math.floor(Math.random() * pools.length)];
    const body = { ...(request.body as Record<string, unknown>), model: 'bench-model' };
    const controller = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) controller.abort();
    });
    const answer = await pool.request({
      path: '/v1/chat/completions',
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-encoding': 'identity' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    void reply.hijack();
    const res = reply.raw;
    res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/json'), 'x-accel-buffering': 'no' });
    for await (const chunk of answer.body) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  app.server.on('connection', (socket) => socket.setNoDelay(true));
  let cpu = process.cpuUsage();
  process.on('message', (m: Message) => {
    if (m.cmd === 'cpu') {
      const now = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      process.send!({ id: m.id, cmd: 'cpu', micros: now.user + now.system });
    }
  });
  process.send!({ cmd: 'ready', port: (app.server.address() as AddressInfo).port });
}

// ---------------------------------------------------------------- load generator (child)

interface Target {
  url: string;
  headers: Record<string, string>;
  /** The pool phase: this target's own experiment and units (else the open loop's). */
  model?: string;
  units?: string[];
}

interface StreamResult {
  ttft: number;
  total: number;
  ok: boolean;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** One call; TTFT is the arrival of the first content chunk (the first `"content":"w`). */
function callOnce(target: Target, stream: boolean, unit: string): Promise<StreamResult> {
  return new Promise((resolve) => {
    const url = new URL(target.url);
    const body = JSON.stringify({ model: 'bench-gateway', stream, messages: [{ role: 'user', content: 'hello' }], user: unit });
    const start = performance.now();
    let ttft = -1;
    const req = httpRequest(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...target.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res: IncomingMessage) => {
        let tail = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          if (ttft < 0) {
            tail = (tail + text).slice(-64 - text.length);
            if (!stream || tail.includes('"content":"w')) ttft = performance.now() - start;
          }
        });
        res.on('end', () => resolve({ ttft, total: performance.now() - start, ok: res.statusCode === 200 && ttft >= 0 }));
        res.on('error', () => resolve({ ttft, total: performance.now() - start, ok: false }));
      },
    );
    req.setNoDelay(true);
    req.on('error', () => resolve({ ttft, total: performance.now() - start, ok: false }));
    req.end(body);
  });
}

interface PoolResult {
  /** ms after the run's start when the call was sent. */
  at: number;
  ttft: number;
  ok: boolean;
  /** Which instance answered (its index in the pool), -1 when unknown. */
  instance: number;
}

/** One streamed call of the pool phase; the answering instance is read from the chunk id. */
function poolCall(target: Target, model: string, unit: string, at: number): Promise<PoolResult> {
  return new Promise((resolve) => {
    const url = new URL(target.url);
    const body = JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hello' }], user: unit });
    const start = performance.now();
    let ttft = -1;
    let instance = -1;
    let head = '';
    const req = httpRequest(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { ...target.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res: IncomingMessage) => {
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          if (ttft >= 0) return;
          head = (head + text).slice(-4096);
          if (instance < 0) {
            const match = /"id":"chatcmpl-pool-(\d+)"/.exec(head);
            if (match) instance = Number(match[1]);
          }
          if (head.includes('"content":"w')) ttft = performance.now() - start;
        });
        res.on('end', () => resolve({ at, ttft, ok: res.statusCode === 200 && ttft >= 0, instance }));
        res.on('error', () => resolve({ at, ttft, ok: false, instance }));
      },
    );
    req.setNoDelay(true);
    req.on('error', () => resolve({ at, ttft, ok: false, instance }));
    req.end(body);
  });
}

/**
 * Open loop: `rate` calls per second to each target for `seconds`, on a fixed schedule
 * whatever the answers' speed (a slow answer does not slow the sending, as with real users),
 * the targets' sends interleaved; resolves when every call has ended.
 */
async function openLoop(targets: Target[], model: string, units: string[], rate: number, seconds: number): Promise<{ results: PoolResult[][]; dropped: number[] }> {
  const results: PoolResult[][] = targets.map(() => []);
  const inFlight = targets.map(() => 0);
  const dropped = targets.map(() => 0);
  const pending: Array<Promise<void>> = [];
  const start = performance.now();
  const total = Math.round(rate * seconds);
  const gap = 1000 / rate / targets.length;
  for (let n = 0; n < total * targets.length; n++) {
    const due = start + n * gap;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const k = n % targets.length;
    if (inFlight[k] >= POOL_MAX_IN_FLIGHT) {
      dropped[k]++;
      continue;
    }
    inFlight[k]++;
    const own = targets[k].units ?? units;
    const unit = own[Math.floor(n / targets.length) % own.length];
    pending.push(
      poolCall(targets[k], targets[k].model ?? model, unit, due - start).then((r) => {
        inFlight[k]--;
        results[k].push(r);
      }),
    );
  }
  await Promise.all(pending);
  return { results, dropped };
}

async function loadGenerator(): Promise<void> {
  process.on('message', async (m: Message) => {
    if (m.cmd === 'open') {
      const { results, dropped } = await openLoop(m.targets as Target[], m.model as string, m.units as string[], m.rate as number, m.seconds as number);
      process.send!({ id: m.id, cmd: 'open', results, dropped });
      return;
    }
    const target = m.target as Target;
    let unit = 0;
    if (m.cmd === 'calls') {
      // `count` calls, `concurrency` at a time.
      const results: StreamResult[] = [];
      let left = m.count as number;
      await Promise.all(
        Array.from({ length: m.concurrency as number }, async () => {
          while (left-- > 0) results.push(await callOnce(target, m.stream as boolean, `u-${unit++ % 1000}`));
        }),
      );
      process.send!({ id: m.id, cmd: 'calls', results });
    } else if (m.cmd === 'saturate') {
      const deadline = performance.now() + (m.seconds as number) * 1000;
      let done = 0;
      let failed = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: m.concurrency as number }, async () => {
          while (performance.now() < deadline) {
            const r = await callOnce(target, true, `u-${unit++ % 1000}`);
            if (r.ok) done++;
            else failed++;
          }
        }),
      );
      process.send!({ id: m.id, cmd: 'saturate', done, failed, seconds: (performance.now() - started) / 1000 });
    }
  });
  process.send!({ cmd: 'ready' });
}

// ---------------------------------------------------------------- orchestrator

function child(role: string, ...args: string[]): Promise<{ proc: ChildProcess; port?: number; ports?: number[]; ask: (m: Message) => Promise<any> }> {
  const proc = fork(__filename, [role, ...args], { execArgv: ['--max-semi-space-size=64', '-r', REGISTER_SWC], stdio: 'inherit' });
  let nextId = 1;
  const waiting = new Map<number, (value: unknown) => void>();
  return new Promise((resolve, reject) => {
    proc.once('error', reject);
    proc.on('message', (m: Message) => {
      if (m.cmd === 'ready') resolve({ proc, port: m.port as number | undefined, ports: m.ports as number[] | undefined, ask });
      else if (m.id !== undefined) waiting.get(m.id)?.(m);
    });
  });
  function ask(m: Message): Promise<any> {
    const id = nextId++;
    return new Promise((resolve) => {
      waiting.set(id, resolve);
      proc.send({ ...m, id });
    });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] : NaN;
};
const f = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

type BenchApiHandle = BenchApi;
type Child = Awaited<ReturnType<typeof child>>;

async function main(): Promise<void> {
  const unknown = [...PHASES].filter((p) => p !== 'overhead' && p !== 'pool');
  if (unknown.length || PHASES.size === 0) throw new Error(`BENCH_PHASES: unknown phase ${unknown.join(', ') || '(none given)'}; use overhead, pool or both`);
  const load = await child('load');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded here, not at the top: the children need none of the API
  const { startBenchApi } = require('./support/bench-api') as typeof import('./support/bench-api');
  const bench = await startBenchApi({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
  const admin = { authorization: `Bearer ${bench.config.auth.bootstrapAdminKey}`, 'content-type': 'application/json' };
  const post = async (path: string, body: unknown, headers = admin) => {
    const r = await fetch(`${bench.base}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    const json = (await r.json()) as Record<string, any>;
    if (r.status >= 300) throw new Error(`${path}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  const sdkKey = (await post('/v1/api-keys', { name: 'bench', scope: 'sdk' })).key as string;
  const children: Child[] = [load];
  const lines: string[] = [];
  try {
    // Overhead first, as before the pool phase existed; its JSON line stays the last one.
    const overhead = PHASES.has('overhead') ? await overheadPhases(bench, load, post, sdkKey, children) : null;
    if (PHASES.has('pool')) lines.push(...(await poolPhase(bench, load, post, sdkKey, children)));
    if (overhead) lines.push(overhead);
  } finally {
    await bench.dispose();
    for (const c of children) c.proc.kill();
  }
  for (const line of lines) console.log(line);
}

type Post = (path: string, body: unknown) => Promise<Record<string, any>>;

/** The gateway's overhead against the direct call and the bare proxy (issue #17); returns its JSON line. */
async function overheadPhases(bench: BenchApiHandle, load: Child, post: Post, sdkKey: string, children: Child[]): Promise<string> {
  const upstream = await child('upstream');
  children.push(upstream);
  const upstreamBase = `http://127.0.0.1:${upstream.port}/v1`;
  const bare = await child('bare', upstreamBase);
  children.push(bare);
  const upstreamOf = { baseUrl: upstreamBase, model: 'bench-model' };
  await post('/v1/experiments', {
    key: 'bench-gateway', name: 'bench', unitType: 'user',
    variants: [
      { key: 'a', weight: 1, isControl: true, upstream: upstreamOf, pricing: { inputPer1M: 1, outputPer1M: 2 } },
      { key: 'b', weight: 1, upstream: upstreamOf, pricing: { inputPer1M: 1, outputPer1M: 2 } },
    ],
    metrics: { primary: { name: 'success_rate', goal: 'increase' } },
  });
  await post('/v1/experiments/bench-gateway/start', {});
  const targets: Record<string, Target> = {
    direct: { url: `${upstreamBase}/chat/completions`, headers: {} },
    gateway: { url: `${bench.base}/v1/chat/completions`, headers: { authorization: `Bearer ${sdkKey}` } },
    bare: { url: `http://127.0.0.1:${bare.port}/v1/chat/completions`, headers: {} },
  };
  const modes = Object.keys(targets);
  // The peer people would pick instead: non-streamed calls only (its streams fail on Node 20).
  const portkey = await startPortkey(upstreamBase);
  if (portkey) targets.portkey = portkey.target;
  // Warm up every path (connections, JIT).
  for (const mode of modes) await load.ask({ cmd: 'calls', target: targets[mode], stream: true, count: 100, concurrency: 8 });
  for (const mode of Object.keys(targets)) await load.ask({ cmd: 'calls', target: targets[mode], stream: false, count: 100, concurrency: 8 });

  console.log(`fake upstream: first content at ${FIRST_MS} ms, ${CHUNKS} chunks ${PACE_MS} ms apart; ${ROUNDS} interleaved rounds`);
  const report: Record<string, number> = {};
  const phase = async (name: string, stream: boolean, concurrency: number, count: number, modes = Object.keys(targets).filter((m) => m !== 'portkey')) => {
    const roundMedians: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
    const pooled: Record<string, number[]> = Object.fromEntries(modes.map((m) => [m, []]));
    let failures = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of round % 2 ? [...modes].reverse() : modes) {
        const { results } = (await load.ask({ cmd: 'calls', target: targets[mode], stream, count, concurrency })) as { results: StreamResult[] };
        const ok = results.filter((r) => r.ok);
        failures += results.length - ok.length;
        const values = ok.map((r) => (stream ? r.ttft : r.total));
        roundMedians[mode].push(median(values));
        pooled[mode].push(...values);
      }
    }
    const direct = median(roundMedians.direct);
    const directP99 = quantile(pooled.direct, 0.99);
    console.log(`\n${name} (${stream ? 'TTFT' : 'total time'}; ${count} calls per mode and round, ${concurrency} at a time${failures ? `, ${failures} failed` : ''})`);
    for (const mode of modes) {
      const med = median(roundMedians[mode]);
      const p99 = quantile(pooled[mode], 0.99);
      console.log(`  ${mode.padEnd(8)} median ${f(med)} ms  p99 ${f(p99)} ms  added: median ${f(med - direct)} ms, p99 ${f(p99 - directP99)} ms`);
      report[`${name}.${mode}.addedMedian`] = med - direct;
      report[`${name}.${mode}.addedP99`] = p99 - directP99;
    }
  };
  await phase('1 stream', true, 1, STREAMS);
  await phase('32 streams', true, 32, 32 * 4);
  await phase('non-streamed', false, 1, STREAMS * 2, Object.keys(targets));
  portkey?.stop();

  // Saturation: streams per second and CPU per chunk of each proxy.
  const sat: Record<string, number[]> = { gateway: [], bare: [] };
  const cpu: Record<string, number[]> = { gateway: [], bare: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 ? ['bare', 'gateway'] : ['gateway', 'bare']) {
      if (mode === 'bare') await bare.ask({ cmd: 'cpu' });
      const before = process.cpuUsage();
      const r = (await load.ask({ cmd: 'saturate', target: targets[mode], seconds: SECONDS, concurrency: SATURATION })) as { done: number; failed: number; seconds: number };
      const micros = mode === 'bare' ? ((await bare.ask({ cmd: 'cpu' })) as { micros: number }).micros : (() => { const d = process.cpuUsage(before); return d.user + d.system; })();
      // Chunks forwarded per stream: role+first content (one write), CHUNKS-1 more, the end (stop, usage, DONE).
      const chunks = r.done * (CHUNKS + 1);
      sat[mode].push(r.done / r.seconds);
      cpu[mode].push(micros / chunks);
      if (r.failed) console.log(`  (${mode}: ${r.failed} streams failed in round ${round + 1})`);
    }
  }
  const gatewayRate = median(sat.gateway);
  const bareRate = median(sat.bare);
  console.log(`\nsaturation (${SATURATION} concurrent streams, ${SECONDS} s rounds)`);
  console.log(`  gateway ${f(gatewayRate, 0)} streams/s, CPU ${f(median(cpu.gateway), 1)} µs per chunk (its process, outcome and exposure enqueueing included)`);
  console.log(`  bare    ${f(bareRate, 0)} streams/s, CPU ${f(median(cpu.bare), 1)} µs per chunk`);
  const added1 = report['1 stream.gateway.addedMedian'];
  const bare1 = report['1 stream.bare.addedMedian'];
  console.log(`\ntargets: added median TTFT at 1 stream ${f(added1)} ms (<= 2 ms: ${added1 <= 2 ? 'met' : 'NOT met'}), ` +
    `${f(added1 - bare1)} ms over the bare proxy's (<= 0.5 ms: ${added1 - bare1 <= 0.5 ? 'met' : 'NOT met'}), ` +
    `throughput ${f(gatewayRate / bareRate)} of the bare proxy's (>= 0.8: ${gatewayRate / bareRate >= 0.8 ? 'met' : 'NOT met'})`);
  if (portkey) {
    const ours = report['non-streamed.gateway.addedMedian'];
    const theirs = report['non-streamed.portkey.addedMedian'];
    console.log(`         non-streamed added median ${f(ours)} ms against Portkey's ${f(theirs)} ms (<= half: ${ours <= theirs / 2 ? 'met' : 'NOT met'})`);
  }

  return JSON.stringify({ bench: 'gateway', value: Math.round(gatewayRate), unit: 'streams/s', reference: Math.round(bareRate), ratio: Number((gatewayRate / bareRate).toFixed(3)) });
}


// ---------------------------------------------------------------- pool phase (issue #18)

/**
 * Three instances serve one variant; open-loop streams go through the gateway twice, once per
 * balance mode (least in flight, the default, and peak_ewma, docs/adr/0037; each experiment with
 * its own three instances) and, at the same moments, through the random-choice reference to
 * its own three instances; halfway through, instance 2 of every set is made slow. Two
 * slowdowns, one after the other: `fixed` (+POOL_SLOW_MS to every answer) and `load` (+POOL_LOAD_MS
 * per call already in flight there: slow only under load). Returns the JSON lines.
 */
async function poolPhase(bench: BenchApiHandle, load: Child, post: Post, sdkKey: string, children: Child[]): Promise<string[]> {
  const instances = await child('pool-upstream', String(POOL_SIZE * 3));
  children.push(instances);
  const bases = instances.ports!.map((port) => `http://127.0.0.1:${port}/v1`);
  const modes = [
    { balance: 'least_in_flight', name: 'gateway (least in flight)', bases: bases.slice(0, POOL_SIZE) },
    { balance: 'peak_ewma', name: 'gateway (peak_ewma)', bases: bases.slice(POOL_SIZE, 2 * POOL_SIZE) },
  ] as const;
  const random = await child('bare', bases.slice(2 * POOL_SIZE).join(','));
  children.push(random);
  const SLOW = POOL_SIZE - 1;
  const names = [...modes.map((m) => m.name), 'random'];
  const width = Math.max(...names.map((n) => n.length));
  const scenarios = [
    { slow: 'fixed', label: `+${POOL_SLOW_MS} ms to every answer`, bench: 'gateway-pool' },
    { slow: 'load', label: `+${POOL_LOAD_MS} ms per call already in flight there (slow only under load)`, bench: 'gateway-pool-under-load' },
  ] as const;
  const lines: string[] = [];
  console.log(
    `\npool: ${POOL_SIZE} instances of one variant; ${POOL_RATE} streams/s to the gateway in each balance mode (least in flight, peak_ewma) and ${POOL_RATE} to a random-choice proxy, each with its own ${POOL_SIZE} instances, at the same moments, open loop; ` +
      `${POOL_SECONDS} s before and ${POOL_SECONDS} s after instance ${SLOW} is made slow; TTFT`,
  );
  for (const scenario of scenarios) {
    // An experiment per slowdown, so that none inherits the other's instance state; only
    // units assigned to variant `a` are sent, so that one pool takes all the gateway's calls.
    const targets: Target[] = [];
    for (const mode of modes) {
      const key = `bench-pool-${scenario.slow}-${mode.balance.replace(/_/g, '-')}`;
      const upstream = { instances: mode.bases.map((baseUrl) => ({ baseUrl })), model: 'bench-model', balance: mode.balance };
      await post('/v1/experiments', {
        key, name: key, unitType: 'user',
        variants: [
          { key: 'a', weight: 1, isControl: true, upstream, pricing: { inputPer1M: 1, outputPer1M: 2 } },
          { key: 'b', weight: 1, upstream, pricing: { inputPer1M: 1, outputPer1M: 2 } },
        ],
        metrics: { primary: { name: 'success_rate', goal: 'increase' } },
      });
      await post(`/v1/experiments/${key}/start`, {});
      targets.push({ url: `${bench.base}/v1/chat/completions`, headers: { authorization: `Bearer ${sdkKey}` }, model: key, units: await unitsOf(bench.base, sdkKey, key, 'a', 500) });
    }
    targets.push({ url: `http://127.0.0.1:${random.port}/v1/chat/completions`, headers: {} });
    const key = targets[0].model!;
    const units = targets[0].units!;
    await instances.ask({ cmd: 'slow', index: SLOW, mode: 'off' });
    // Warm-up, not measured: connections to every instance, JIT (longer when the gateway has not served yet).
    await load.ask({ cmd: 'open', targets, model: key, units, rate: POOL_RATE, seconds: scenario === scenarios[0] && !PHASES.has('overhead') ? 6 : 1 });
    const running = load.ask({ cmd: 'open', targets, model: key, units, rate: POOL_RATE, seconds: 2 * POOL_SECONDS }) as Promise<{ results: PoolResult[][]; dropped: number[] }>;
    await new Promise((resolve) => setTimeout(resolve, POOL_SECONDS * 1000));
    await instances.ask({ cmd: 'slow', index: SLOW, mode: scenario.slow });
    const { results, dropped } = await running;
    await instances.ask({ cmd: 'slow', index: SLOW, mode: 'off' });

    console.log(`\n  slowdown: ${scenario.label}`);
    const p99After: number[] = [];
    results.forEach((all, k) => {
      const half = (after: boolean) => {
        const calls = all.filter((r) => r.at >= POOL_SECONDS * 1000 === after);
        const ok = calls.filter((r) => r.ok);
        const ttft = ok.map((r) => r.ttft);
        return { calls: calls.length, failed: calls.length - ok.length, share: ok.filter((r) => r.instance === SLOW).length / ok.length, p50: quantile(ttft, 0.5), p99: quantile(ttft, 0.99) };
      };
      const before = half(false);
      const after = half(true);
      p99After.push(after.p99);
      const failed = before.failed + after.failed;
      console.log(
        `  ${names[k].padEnd(width)} before: slow instance ${f(100 * before.share, 1)} % of calls, p50 ${f(before.p50)} ms, p99 ${f(before.p99)} ms` +
          `   after: ${f(100 * after.share, 1)} %, p50 ${f(after.p50)} ms, p99 ${f(after.p99)} ms` +
          `${failed ? `  (${failed} failed)` : ''}${dropped[k] ? `  (${dropped[k]} not sent: ${POOL_MAX_IN_FLIGHT} in flight)` : ''}`,
      );
    });
    const reference = p99After[modes.length];
    modes.forEach((mode, k) => {
      const ratio = p99After[k] / reference;
      console.log(`  ${mode.name} p99 / random p99 after the slowdown: ${f(ratio)} (<= 0.7: ${ratio <= 0.7 ? 'met' : 'NOT met'})`);
      // The default mode keeps the line's old name; peak_ewma's has its own.
      const bench = k === 0 ? scenario.bench : `${scenario.bench}-peak-ewma`;
      lines.push(JSON.stringify({ bench, value: Number(p99After[k].toFixed(1)), unit: 'ms p99 TTFT', reference: Number(reference.toFixed(1)), ratio: Number(ratio.toFixed(3)) }));
    });
  }
  return lines;
}

/** `count` unit ids that the experiment assigns to `variant`, computed as the SDK does (from the SDK snapshot). */
async function unitsOf(base: string, sdkKey: string, experiment: string, variant: string, count: number): Promise<string[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const r = await fetch(`${base}/v1/sdk/config`, { headers: { authorization: `Bearer ${sdkKey}` } });
    const index = new SnapshotIndex((await r.json()) as ConfigSnapshot);
    if (index.assign(experiment, 'probe').inExperiment) {
      const units: string[] = [];
      for (let i = 0; units.length < count; i++) if (index.assign(experiment, `u-${i}`).variant === variant) units.push(`u-${i}`);
      return units;
    }
    // The snapshot is refreshed from the change bus: wait until it holds the experiment.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${experiment} never reached the SDK snapshot`);
}

const role = process.argv[2];
if (role === 'upstream') fakeUpstream();
else if (role === 'pool-upstream') void poolUpstream(Number(process.argv[3]));
else if (role === 'bare') void bareProxy(process.argv[3]);
else if (role === 'load') void loadGenerator();
else
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });

