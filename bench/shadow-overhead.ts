/**
 * What a shadow costs the served call (docs/adr/0031): the same gateway, the same served
 * upstream, with and without a shadow copy of every call (sampleRate 1) to a slower
 * upstream, in interleaved rounds. Served upstream: answers after BENCH_SERVED_MS (default
 * 20); shadow upstream: after BENCH_SHADOW_MS (default 200). BENCH_CLIENTS concurrent
 * clients (default 4) make BENCH_CALLS calls per round (default 200), BENCH_ROUNDS rounds
 * (default 3) per experiment. Prints the served call's median and p99 latency as the client
 * sees it, with the shadow and without, and the last line
 * {"bench": "shadow-overhead", "value": p50_with_ms, "reference": p50_without_ms, "ratio": ..., "p99": ..., "p99Reference": ...}.
 *
 * Run (Postgres and Redis local): node -r ./scripts/register-swc.cjs bench/shadow-overhead.ts
 */
import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startBenchApi } from './support/bench-api';

const SERVED_MS = Number(process.env.BENCH_SERVED_MS ?? 20);
const SHADOW_MS = Number(process.env.BENCH_SHADOW_MS ?? 200);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const CALLS = Number(process.env.BENCH_CALLS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

function fake(delayMs: number): Promise<{ url: string; server: Server; calls: () => number }> {
  let calls = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      calls++;
      setTimeout(() => {
        const body = JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: '{"answer": 42}' }, finish_reason: 'stop' }], usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }, delayMs);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, server, calls: () => calls })));
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function main(): Promise<void> {
  const [served, shadow] = await Promise.all([fake(SERVED_MS), fake(SHADOW_MS)]);
  const bench = await startBenchApi({ OUTBOUND_ALLOW_HTTP: 'true', OUTBOUND_ALLOWED_CIDRS: '127.0.0.1/32' });
  const admin = (path: string, body: unknown) =>
    fetch(`${bench.base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${bench.config.auth.bootstrapAdminKey}`, 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
  try {
    const metrics = { primary: { name: 'success_rate', goal: 'increase' } };
    const upstream = { baseUrl: served.url, model: 'served' };
    const experiments = {
      with: { key: 'with-shadow', unitType: 'request', name: 'with', metrics, variants: [{ key: 'a', weight: 1, isControl: true, upstream }, { key: 'cand', weight: 0, upstream: { baseUrl: shadow.url, model: 'shadow' } }], shadow: { variant: 'cand', sampleRate: 1 } },
      without: { key: 'without-shadow', unitType: 'request', name: 'without', metrics, variants: [{ key: 'a', weight: 1, isControl: true, upstream }, { key: 'b', weight: 1, upstream }] },
    };
    for (const e of Object.values(experiments)) {
      const created = await admin('/v1/experiments', e);
      if (created.status !== 201) throw new Error(JSON.stringify(created.body));
      await admin(`/v1/experiments/${e.key}/start`, {});
    }
    const sdkKey = (await admin('/v1/api-keys', { name: 'bench', scope: 'sdk' })).body.key as string;
    const call = async (model: string) => {
      const start = process.hrtime.bigint();
      const r = await fetch(`${bench.base}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${sdkKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    // Warm-up (connections, JIT, snapshot).
    for (let i = 0; i < 50; i++) await Promise.all([call(experiments.with.key), call(experiments.without.key)]);
    const times: Record<'with' | 'without', number[]> = { with: [], without: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const which of ['with', 'without'] as const) {
        await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            for (let i = 0; i < CALLS / CLIENTS; i++) times[which].push(await call(experiments[which].key));
          }),
        );
      }
    }
    const summary = (xs: number[]) => {
      const sorted = [...xs].sort((a, b) => a - b);
      return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), n: xs.length };
    };
    const w = summary(times.with);
    const wo = summary(times.without);
    console.log(`served upstream ${SERVED_MS} ms, shadow upstream ${SHADOW_MS} ms, ${CLIENTS} clients, ${ROUNDS} rounds of ${CALLS} calls each way`);
    console.log(`with shadow:    p50 ${w.p50.toFixed(2)} ms, p99 ${w.p99.toFixed(2)} ms (${w.n} calls; ${shadow.calls()} copies sent)`);
    console.log(`without shadow: p50 ${wo.p50.toFixed(2)} ms, p99 ${wo.p99.toFixed(2)} ms (${wo.n} calls)`);
    console.log(JSON.stringify({ bench: 'shadow-overhead', value: Number(w.p50.toFixed(2)), unit: 'ms', reference: Number(wo.p50.toFixed(2)), ratio: Number((w.p50 / wo.p50).toFixed(3)), p99: Number(w.p99.toFixed(2)), p99Reference: Number(wo.p99.toFixed(2)) }));
  } finally {
    await bench.dispose();
    served.server.close();
    shadow.server.close();
  }
}

void main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
