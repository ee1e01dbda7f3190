import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import type { INestApplicationContext } from '@nestjs/common';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';

// The example in examples/fake-model-ab, run as its README says (4,000 requests from 800 users,
// 40 at a time) on the test's own service: the experiment and an sdk key, the backend in its own
// process (as `node server.js` runs it; the SDK from its sources, compiled by SWC, instead of
// libs/sdk/dist), so that the SDK measures latencies on an event loop of its own, the load, the results.
// Issue #15 was found on this run: the latency_p95 guardrail stayed "not enough data" (the small
// model's clustered latencies gave its p95 a zero-width interval) and input_tokens came out
// "significant" between two models that receive the same prompts (failed calls counted as zero tokens).
/* eslint-disable @typescript-eslint/no-require-imports */
const { setup } = require('../../examples/fake-model-ab/setup.js');
const { load } = require('../../examples/fake-model-ab/load.js');
const { results, describe: describeResults } = require('../../examples/fake-model-ab/results.js');
/* eslint-enable @typescript-eslint/no-require-imports */

jest.setTimeout(90_000);

interface Tally {
  calls: number;
  failures: number;
  inputTokens: number;
  outputTokens: number;
  scoreSum: number;
}

const REQUESTS = 4000;
const USERS = 800;
const PRICE_PER_TOKEN = { big: 0.9 / 1e6, small: 0.2 / 1e6 };

let t: TestApp;
let worker: INestApplicationContext;
let backend: ChildProcessWithoutNullStreams | undefined;

const root = join(__dirname, '../..');
// The backend's process: startServer from server.js with the SDK's sources; prints {port, source}
// once listening, and {sent, tally} after closing (flushing the SDK) when its stdin ends.
const backendScript = `
const { startServer } = require('./examples/fake-model-ab/server.js');
const { createClient } = require('./libs/sdk/src/index.ts');
const [baseUrl, sdkKey] = process.argv.slice(1);
startServer({ createClient, baseUrl, sdkKey, port: 0, host: '127.0.0.1', log: () => undefined, warn: (m) => console.error(m) }).then((app) => {
  console.log(JSON.stringify({ port: app.port, source: app.source }));
  process.stdin.resume();
  process.stdin.on('end', async () => {
    const sent = await app.close();
    console.log(JSON.stringify({ sent, tally: app.tally() }));
    process.exit(0);
  });
});`;

/** Starts the backend process; resolves with a reader of its JSON lines. */
function startBackend(sdkKey: string): { next(): Promise<any>; child: ChildProcessWithoutNullStreams } {
  const child = spawn(process.execPath, ['-r', './scripts/register-swc.cjs', '-e', backendScript, t.url, sdkKey], { cwd: root });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + String(c)).slice(-4096))); // the last 4 KiB, for the error
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let buffer = '';
  child.stdout.on('data', (c) => {
    buffer += String(c);
    for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
      const line = buffer.slice(0, i);
      buffer = buffer.slice(i + 1);
      const w = waiting.shift();
      if (w) w(line);
      else lines.push(line);
    }
  });
  const exited = new Promise<never>((_, reject) => child.on('exit', (code) => reject(new Error(`backend exited (${code}): ${stderr}`))));
  const next = () => {
    const line = lines.length ? Promise.resolve(lines.shift()!) : new Promise<string>((resolve) => waiting.push(resolve));
    return Promise.race([line.then((l) => JSON.parse(l)), exited]);
  };
  exited.catch(() => undefined);
  return { next, child };
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
});
afterAll(async () => {
  backend?.kill();
  await worker?.close();
  await t?.close();
});

it('runs the example: the latency guardrail has a status, p95s compare, token means are those of the calls that reported them', async () => {
  const sdkKey: string = await setup(t.url, t.adminKey, () => undefined);
  const server = startBackend(sdkKey);
  backend = server.child;
  const started = await server.next();
  expect(started.source).toBe('service');
  const byModel: Record<string, number> = await load(`http://127.0.0.1:${started.port}/chat`, { requests: REQUESTS, users: USERS, concurrency: 40 });
  backend.stdin.end();
  const closed: { sent: boolean; tally: Record<string, Tally> } = await server.next();
  expect(closed.sent).toBe(true); // every exposure and outcome sent, as Ctrl-C on the backend does
  const tally = closed.tally;
  backend = undefined;

  // What the backend did, the independent side of every check below.
  expect(Object.keys(tally).sort()).toEqual(['big', 'small']);
  expect(tally.big.calls + tally.small.calls).toBe(REQUESTS);
  expect(byModel['fake-70b']).toBe(tally.big.calls - tally.big.failures);
  expect(byModel['fake-8b']).toBe(tally.small.calls - tally.small.failures);
  expect(byModel.error ?? 0).toBe(tally.big.failures + tally.small.failures);

  let body: any;
  await eventually(async () => {
    body = await results(t.url, t.adminKey);
    return body.variants.reduce((sum: number, v: { events: number }) => sum + v.events, 0) === REQUESTS;
  }, 30_000, 200);
  const variant = Object.fromEntries(body.variants.map((v: any) => [v.key, v]));
  const comparison = (metric: string) => body.comparisons.find((c: any) => c.variant === 'small' && c.metric === metric);

  // Counts and means, each against the backend's own tally (means over the calls that reported the value).
  expect(variant.big.units + variant.small.units).toBe(USERS);
  for (const key of ['big', 'small'] as const) {
    const v = variant[key];
    const n = tally[key];
    const succeeded = n.calls - n.failures;
    expect(v.events).toBe(n.calls);
    expect(v.metrics.success_rate.mean).toBeCloseTo(succeeded / n.calls, 12);
    expect(v.metrics.input_tokens.mean).toBeCloseTo(n.inputTokens / succeeded, 9);
    expect(v.metrics.output_tokens.mean).toBeCloseTo(n.outputTokens / succeeded, 9);
    expect(v.metrics.score.mean).toBeCloseTo(n.scoreSum / succeeded, 9);
    expect(v.metrics.cost_usd.mean / (((n.inputTokens + n.outputTokens) * PRICE_PER_TOKEN[key]) / succeeded)).toBeCloseTo(1, 9);
  }

  // 1. latency_p95: both p95s with an interval of non-zero width, small's lower, and a guardrail status.
  const p95 = { big: variant.big.metrics.latency_ms.p95, small: variant.small.metrics.latency_ms.p95 };
  for (const q of [p95.big, p95.small]) {
    expect(q.ci[0]).toBeLessThanOrEqual(q.value);
    expect(q.ci[1]).toBeGreaterThanOrEqual(q.value);
    expect(q.ci[1] - q.ci[0]).toBeGreaterThan(0);
  }
  expect(p95.small.ci[1]).toBeLessThan(p95.big.ci[0]);
  const latency = comparison('latency_p95');
  expect(latency.note).toBeUndefined();
  expect(latency.relativeLift).toBeLessThan(0);
  expect(latency.significant).toBe(true);
  const guardrail = body.guardrails.find((g: any) => g.variant === 'small' && g.metric === 'latency_p95');
  expect(guardrail.ci).not.toBeNull();
  expect(guardrail.status).toBe('ok'); // about 4x faster, against at most 10 % slower

  // 2. Same prompts, same output lengths: the token means above are over the calls that reported
  // tokens (the defect divided by every call, failures included). Whether the difference comes out
  // significant is an A/A draw here (random salt, random output lengths): not asserted, so the test
  // cannot fail on the 5 % of runs where chance alone flags it.
  for (const metric of ['input_tokens', 'output_tokens']) {
    const c = comparison(metric);
    expect(c.pValue).not.toBeNull();
    expect(c.ci[0]).toBeLessThan(c.ci[1]);
  }
  // The outputs: cheaper per call (a fifth of the price per token), and what results.js prints.
  expect(comparison('cost_usd').relativeLift).toBeLessThan(-0.5);
  expect(comparison('cost_usd').significant).toBe(true);
  const printed: string = describeResults(body);
  expect(printed).toContain(`units ${variant.small.units}, events ${tally.small.calls}`);
  expect(printed).toMatch(/^guardrail latency_p95 \(small, at most 10 % higher\): ok, lift -\d+(\.\d+)? %/m);
  expect(printed).toMatch(/^ {2}small vs control, input_tokens: lift .* p \S+( significant)?$/m);
  expect(printed).toMatch(/^decision: (ship|keep_control|continue|stop)/m);
});
