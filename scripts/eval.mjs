#!/usr/bin/env node
// `npm run eval -- --experiment K --dataset D`: starts an offline evaluation run (issue #19),
// shows its progress as a bar while it runs, and prints the verdict at the end.
// Options: --url (VERDICT_URL, default http://127.0.0.1:3000), --key (VERDICT_API_KEY, an admin key),
// --version N, --variants a,b, --evaluators '<JSON array>' (default [{"type":"exact"}]),
// --repetitions N, --concurrency N, --max-cost USD, --margin M, --run ID (follow an existing run).
// Exit code: 0 ready_for_live, 2 not_ready, 3 stopped without results (paused, failed, cancelled), 1 an error.
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: process.env.VERDICT_URL ?? 'http://127.0.0.1:3000' },
    key: { type: 'string', default: process.env.VERDICT_API_KEY },
    experiment: { type: 'string' },
    dataset: { type: 'string' },
    version: { type: 'string' },
    variants: { type: 'string' },
    evaluators: { type: 'string', default: '[{"type":"exact"}]' },
    repetitions: { type: 'string' },
    concurrency: { type: 'string' },
    'max-cost': { type: 'string' },
    margin: { type: 'string' },
    run: { type: 'string' },
  },
});

function fail(message) {
  process.stderr.write(`eval: ${message}\n`);
  process.exit(1);
}

if (!values.experiment || (!values.dataset && !values.run)) fail('usage: npm run eval -- --experiment KEY --dataset NAME [--key ADMIN_KEY] [--url URL]');
if (!values.key) fail('an admin API key is needed: --key or VERDICT_API_KEY');
const base = `${values.url.replace(/\/$/, '')}/v1/experiments/${encodeURIComponent(values.experiment)}/evaluations`;
const headers = { authorization: `Bearer ${values.key}`, 'content-type': 'application/json' };

async function call(method, path, body) {
  const response = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : undefined;
  if (!response.ok) {
    const detail = parsed?.errors?.map((e) => `${e.field}: ${e.message}`).join('; ') || parsed?.detail || text;
    fail(`${method} ${path || '/'} answered ${response.status}: ${detail}`);
  }
  return parsed;
}

const number = (v) => (v === undefined ? undefined : Number(v));
let run;
if (values.run) {
  run = await call('GET', `/${values.run}`);
} else {
  let evaluators;
  try {
    evaluators = JSON.parse(values.evaluators);
  } catch {
    fail('--evaluators must be a JSON array');
  }
  run = await call('POST', '', {
    dataset: values.dataset,
    ...(values.version ? { datasetVersion: number(values.version) } : {}),
    ...(values.variants ? { variants: values.variants.split(',') } : {}),
    evaluators,
    ...(values.repetitions ? { repetitions: number(values.repetitions) } : {}),
    ...(values.concurrency ? { concurrency: number(values.concurrency) } : {}),
    ...(values['max-cost'] ? { maxCostUsd: number(values['max-cost']) } : {}),
    ...(values.margin ? { margin: number(values.margin) } : {}),
  });
}
process.stdout.write(`run ${run.id}: dataset ${run.dataset} v${run.datasetVersion}, variants ${run.variants.join(', ')} (control ${run.control})\n`);

function bar(r) {
  const width = 30;
  const { done, total, failed, costUsd, etaSeconds } = r.progress;
  const filled = total ? Math.round((done / total) * width) : 0;
  const eta = etaSeconds === null ? '' : ` eta ${etaSeconds}s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} failed ${failed} cost $${costUsd.toFixed(4)}${eta} ${r.status}`;
}

const tty = process.stdout.isTTY;
let lastLine = '';
while (['queued', 'running'].includes(run.status)) {
  const line = bar(run);
  if (line !== lastLine) process.stdout.write(tty ? `\r${line}` : `${line}\n`);
  lastLine = line;
  await new Promise((resolve) => setTimeout(resolve, 500));
  run = await call('GET', `/${run.id}`);
}
process.stdout.write(tty ? `\r${bar(run)}\n` : `${bar(run)}\n`);

if (!run.results) {
  process.stdout.write(`stopped: ${run.status}${run.reason ? ` (${run.reason})` : ''}\n`);
  process.exit(3);
}
const pct = (v) => (v === undefined || v === null ? '-' : `${(v * 100).toFixed(1)}%`);
for (const v of run.results.variants) {
  const evals = Object.entries(v.evaluators).map(([name, s]) => `${name} ${s.passRate !== undefined ? pct(s.passRate) : (s.mean ?? NaN).toFixed(3)}`).join(', ');
  const p50 = v.latencyMs.p50 === null ? '-' : `${Math.round(v.latencyMs.p50)} ms`;
  process.stdout.write(`  ${v.key}: ${v.cases} cases; ${evals}; latency p50 ${p50}; cost $${v.costUsd.toFixed(4)}\n`);
}
for (const c of run.results.comparisons) {
  // Cost per answer is a tiny number: significant digits, not decimals.
  const num = (x) => (c.evaluator === 'cost_usd' ? x.toPrecision(3) : x.toFixed(3));
  const ci = c.ci ? ` [${c.ci.map(num).join(', ')}]` : '';
  const wilcoxon = c.wilcoxonPValue == null ? '' : `, wilcoxon p ${c.wilcoxonPValue.toPrecision(3)}`;
  const p = c.pValue === null ? '' : ` p ${c.pValue.toPrecision(3)} (${c.method})${wilcoxon}`;
  const worst = c.worstCases.length ? `; worst: ${c.worstCases.map((w) => w.caseId).join(', ')}` : '';
  process.stdout.write(`  ${c.variant} vs ${run.control}, ${c.evaluator}: ${c.difference === null ? '-' : num(c.difference)}${ci}${p}${worst}\n`);
}
process.stdout.write(`verdict: ${run.results.decision.action}${run.partial ? ' (partial run)' : ''}\n`);
for (const reason of run.results.decision.reasons) process.stdout.write(`  - ${reason}\n`);
process.exit(run.results.decision.action === 'ready_for_live' ? 0 : 2);
