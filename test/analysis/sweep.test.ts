import type { INestApplicationContext } from '@nestjs/common';
import { bucketIndex } from '../../libs/stats/log-histogram';
import { rng } from '../factories/seeded';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { AnalysisFixture } from './support/analysis-fixture';
import { Reference, holm, normalCdf, type ReferenceExperiment, type SentOutcome } from './support/reference-results';

/**
 * The A/A and A/B sweep (issue 15): seeded traffic for several experiment shapes goes through
 * HTTP and the worker (exposures, outcomes, feedback corrections, some sent twice or before
 * their event), and every number of GET /results (every estimate with its standard error and
 * interval, every quantile, every comparison, Holm, guardrails, SRM) is checked against
 * support/reference-results.ts, an independent computation from the events sent. Calibration
 * over many A/A runs is libs/analysis/aa-calibration.spec.ts (same calculator, no HTTP).
 */
jest.setTimeout(300_000);

type Arm = { success: number; latency: number; errorRate: number; cost: number; score: number };
interface Shape {
  name: string;
  unitType: 'user' | 'session' | 'request';
  units: number;
  eventsPerUnit: [number, number];
  latency: 'spread' | 'one-bucket' | 'two-buckets';
  arms: { control: Arm; treatment: Arm };
  stats: { alpha: number; sequential: boolean; plannedUnits?: number };
  metrics: ReferenceExperiment['metrics'];
  /** Share of events that get a feedback correction. */
  feedback: number;
  aa: boolean;
}

const custom = [
  { name: 'thumbs_up' },
  { name: 'retries', lowerIsBetter: true, denominator: 'events' as const },
];
const base: Arm = { success: 0.7, latency: 700, errorRate: 0.03, cost: 0.01, score: 0.7 };
const SHAPES: Shape[] = [
  {
    name: 'A/B, users, spread latencies, failures differing by arm, sequential',
    unitType: 'user', units: 500, eventsPerUnit: [1, 4], latency: 'spread', feedback: 0.05, aa: false,
    arms: { control: base, treatment: { success: 0.76, latency: 520, errorRate: 0.1, cost: 0.006, score: 0.72 } },
    stats: { alpha: 0.05, sequential: true },
    metrics: {
      primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.05 },
      secondary: [{ name: 'score', goal: 'increase' }, { name: 'cost_usd', goal: 'decrease' }],
      guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }, { name: 'error_rate', maxRelativeIncrease: 0.5 }],
      custom,
    },
  },
  {
    name: 'A/B, requests, latencies in one bucket per arm (4x apart), fixed horizon at alpha 0.01',
    unitType: 'request', units: 900, eventsPerUnit: [1, 1], latency: 'one-bucket', feedback: 0.05, aa: false,
    arms: { control: { ...base, latency: 80, errorRate: 0.01 }, treatment: { ...base, latency: 20, errorRate: 0.04, cost: 0.004 } },
    stats: { alpha: 0.01, sequential: false },
    metrics: { primary: { name: 'cost_usd', goal: 'non_inferior', margin: 0.02 }, guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }], custom },
  },
  {
    name: 'A/A, users, latencies in two adjacent buckets, fixed horizon',
    unitType: 'user', units: 400, eventsPerUnit: [2, 3], latency: 'two-buckets', feedback: 0.04, aa: true,
    arms: { control: { ...base, latency: 79 }, treatment: { ...base, latency: 79 } },
    stats: { alpha: 0.05, sequential: false },
    metrics: { primary: { name: 'thumbs_up', goal: 'increase' }, guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }], custom },
  },
  {
    name: 'A/A, requests, spread latencies, fixed horizon',
    unitType: 'request', units: 1200, eventsPerUnit: [1, 1], latency: 'spread', feedback: 0.05, aa: true,
    arms: { control: base, treatment: base },
    stats: { alpha: 0.05, sequential: false },
    metrics: { primary: { name: 'success_rate', goal: 'increase' }, custom },
  },
  {
    name: 'A/A, sessions, spread latencies, sequential with a plan',
    unitType: 'session', units: 500, eventsPerUnit: [1, 5], latency: 'spread', feedback: 0.05, aa: true,
    arms: { control: base, treatment: base },
    stats: { alpha: 0.05, sequential: true, plannedUnits: 2000 },
    metrics: { primary: { name: 'latency_p90', goal: 'decrease' }, secondary: [{ name: 'input_tokens', goal: 'decrease' }], custom },
  },
];

let t: TestApp;
let worker: INestApplicationContext;
let f: AnalysisFixture;

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  f = new AnalysisFixture(t);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

/** Spread latencies share a level per unit (some users send longer prompts), so a user's requests are correlated. */
function latencyOf(r: ReturnType<typeof rng>, shape: Shape, arm: Arm, i: number, unitLevel: number): number {
  if (shape.latency === 'one-bucket') return arm.latency;
  if (shape.latency === 'two-buckets') return i % 10 === 0 ? (arm.latency * 80.5) / 79 : arm.latency;
  return Math.round(r.lognormal(arm.latency * unitLevel, 0.3) * 10) / 10;
}

/** One model call: failures report a latency and an error but no tokens, no cost and no ttft. */
function outcome(r: ReturnType<typeof rng>, shape: Shape, arm: Arm, i: number, unitLevel: number): Omit<SentOutcome, 'id' | 'unitId' | 'variant'> {
  const latencyMs = latencyOf(r, shape, arm, i, unitLevel);
  if (r.next() < arm.errorRate) return { latencyMs, success: false, error: 'upstream_timeout', ...(r.next() < 0.2 ? { metrics: { retries: 3 } } : {}) };
  const success = r.next() < arm.success;
  const metrics: Record<string, number> = {};
  if (r.next() < 0.4) metrics.thumbs_up = r.next() < arm.success ? 1 : 0;
  if (r.next() < 0.2) metrics.retries = 1 + Math.floor(r.next() * 2);
  return {
    latencyMs,
    ttftMs: Math.round(latencyMs * 0.2 * 10) / 10,
    inputTokens: 300 + Math.floor(r.next() * 400),
    outputTokens: 100 + Math.floor(r.next() * 200),
    costUsd: Math.round(arm.cost * (0.5 + r.next()) * 1e6) / 1e6,
    success,
    score: Math.round(Math.min(1, Math.max(0, arm.score + 0.15 * r.normal())) * 1000) / 1000,
    ...(Object.keys(metrics).length ? { metrics } : {}),
  };
}

/** Runs one shape through the service; returns the results and the reference computed from what was sent. */
async function runShape(shape: Shape, seed: number): Promise<{ res: any; ref: Reference }> {
  const exp = await f.start({ unitType: shape.unitType, metrics: shape.metrics, stats: shape.stats });
  const r = rng(seed);
  const units: Array<{ unitId: string; variant: string }> = [];
  const events: SentOutcome[] = [];
  for (let u = 0; u < shape.units; u++) {
    const unitId = `${exp.key}-u${u}`;
    const variant = exp.index.assign(exp.key, unitId).variant!;
    units.push({ unitId, variant });
    const [lo, hi] = shape.eventsPerUnit;
    const k = lo + Math.floor(r.next() * (hi - lo + 1));
    const level = Math.exp(0.3 * r.normal());
    for (let j = 0; j < k; j++) events.push({ id: `${unitId}-e${j}`, unitId, variant, ...outcome(r, shape, shape.arms[variant as 'control' | 'treatment'], events.length, level) });
  }
  // Feedback corrections: success flipped, a new score, sometimes a custom metric; a few sent before their event, a few twice.
  const corrected = events.filter(() => r.next() < shape.feedback);
  const items = corrected.map((e) => {
    const item: { eventId: string; success: boolean; score: number; metrics?: Record<string, number> } = { eventId: e.id, success: !e.success, score: Math.round(r.next() * 1000) / 1000 };
    if (r.next() < 0.3) item.metrics = { thumbs_up: r.next() < 0.5 ? 1 : 0 };
    return item;
  });
  const early = items.filter((_, i) => i % 7 === 0);
  const sdk = await f.sdk();
  if (early.length) expect((await sdk.post('/v1/feedback', { items: early })).status).toBe(202);
  await f.expose(exp.key, units);
  await f.sendOutcomes(exp, events.map(({ variant: _v, ...e }) => e), events.length);
  for (let i = 0; i < items.length; i += 500) expect((await sdk.post('/v1/feedback', { items: items.slice(i, i + 500) })).status).toBe(202);
  expect((await sdk.post('/v1/feedback', { items: items.slice(0, 5) })).status).toBe(202);
  await eventually(async () => {
    const [row] = await t.db.query('SELECT count(*)::int AS n FROM outcome_event_key WHERE experiment_id = $1 AND feedback_hash IS NOT NULL', [exp.id]);
    return row.n === items.length;
  }, 60_000);
  // The values the results must reflect: the feedback's where given, metrics merged by name.
  for (const item of items) {
    const e = events.find((x) => x.id === item.eventId)!;
    e.success = item.success;
    e.score = item.score;
    if (item.metrics) e.metrics = { ...(e.metrics ?? {}), ...item.metrics };
  }
  const exposed = Object.fromEntries(['control', 'treatment'].map((k) => [k, units.filter((u) => u.variant === k).length]));
  const ref = new Reference(
    { unitType: shape.unitType, variants: [{ key: 'control', isControl: true }, { key: 'treatment' }], metrics: shape.metrics, stats: shape.stats },
    events,
    exposed,
  );
  return { res: await f.results(exp.key), ref };
}

/** Every number of the results against the reference; returns the mismatches (empty when all agree). */
function mismatches(ref: Reference, res: any): string[] {
  const bad: string[] = [];
  const close = (what: string, actual: number | null, expected: number | null, rel = 1e-7) => {
    if (expected === null || actual === null || expected === undefined || actual === undefined) {
      if ((expected ?? null) !== (actual ?? null)) bad.push(`${what}: ${actual} vs ${expected}`);
    } else if (!(Math.abs(actual - expected) <= rel * Math.max(1, Math.abs(expected)))) bad.push(`${what}: ${actual} vs ${expected}`);
  };
  const same = (what: string, actual: unknown, expected: unknown) => {
    if (JSON.stringify(actual) !== JSON.stringify(expected)) bad.push(`${what}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
  };
  const interval = (what: string, actual: [number, number] | null, expected: [number, number] | null) => {
    if (!actual || !expected) same(what, actual, expected);
    else {
      close(`${what}[0]`, actual[0], expected[0]);
      close(`${what}[1]`, actual[1], expected[1]);
    }
  };

  const srm = ref.srm();
  same('srm.counts', res.srm.counts, srm.counts);
  close('srm.pValue', res.srm.pValue, srm.pValue, 1e-6);

  const unitsOf = (key: string) => (ref.experiment.unitType === 'request' ? ref.of(key).length : new Set(ref.of(key).map((e) => e.unitId)).size);
  for (const v of res.variants) {
    const mine = ref.of(v.key);
    same(`${v.key}.units`, v.units, unitsOf(v.key));
    same(`${v.key}.events`, v.events, mine.length);
    close(`${v.key}.totalCostUsd`, v.totalCostUsd, mine.reduce((s, e) => s + (e.costUsd ?? 0), 0), 1e-9);
    same(`${v.key}.costUnknown`, v.costUnknown, mine.filter((e) => e.costUsd === undefined).length);
    same(`${v.key} metric names`, Object.keys(v.metrics).sort(), ref.estimatedMetrics().sort());
    for (const metric of ref.estimatedMetrics()) {
      const got = v.metrics[metric];
      const want = ref.estimate(v.key, metric);
      close(`${v.key}.${metric}.mean`, got.mean, want.mean, 1e-9);
      close(`${v.key}.${metric}.se`, got.se, want.se);
      interval(`${v.key}.${metric}.ci`, got.ci, want.ci);
      same(`${v.key}.${metric}.n`, got.n, want.n);
    }
    for (const metric of ['latency_ms', 'ttft_ms'] as const) {
      for (const [label, q] of [['p50', 0.5], ['p90', 0.9], ['p95', 0.95], ['p99', 0.99]] as const) {
        const got = v.metrics[metric][label];
        const ranks = ref.quantileRanks(v.key, metric, q);
        const want = ref.quantile(v.key, metric, q);
        const what = `${v.key}.${metric}.${label}`;
        // Within the sketch's documented error of the exact order statistic, and exactly the sketch's answer.
        if (Math.abs(got.value / ranks.exact - 1) > 0.01 + 1e-9) bad.push(`${what}.value ${got.value} vs exact ${ranks.exact}`);
        if (!(got.ci[0] <= ranks.lower && got.ci[1] >= ranks.upper)) bad.push(`${what}.ci ${got.ci} does not contain ${[ranks.lower, ranks.upper]}`);
        close(`${what}.value`, got.value, want.value, 1e-9);
        interval(`${what}.ci`, got.ci, want.ci);
        close(`${what}.se`, got.se, want.se, 1e-9);
      }
    }
  }

  same('compared metrics', res.comparisons.map((c: any) => [c.metric, c.role]), ref.comparedMetrics().map((m) => [m.name, m.role]));
  const treatment = res.variants.find((v: any) => !v.isControl);
  for (const c of res.comparisons) {
    const what = `comparison ${c.metric}`;
    same(`${what}.lowerIsBetter`, c.lowerIsBetter, ref.lowerIsBetter(c.metric, c.role));
    const quantile = /^(latency|ttft)_(p\d\d)$/.exec(c.metric);
    let effect: { rel: number; relSe: number; abs: number; absSe: number; n: number; dof: number } | null;
    if (quantile) {
      const base = `${quantile[1]}_ms` as 'latency_ms' | 'ttft_ms';
      const level = Number(quantile[2].slice(1)) / 100;
      const qc = ref.quantile('control', base, level);
      const qt = ref.quantile('treatment', base, level);
      const n = qc.n + qt.n;
      effect = {
        rel: (qt.value - qc.value) / Math.abs(qc.value),
        relSe: Math.sqrt(qt.se ** 2 / qc.value ** 2 + (qt.value ** 2 * qc.se ** 2) / qc.value ** 4),
        abs: qt.value - qc.value,
        absSe: Math.sqrt(qc.se ** 2 + qt.se ** 2),
        n,
        dof: Infinity,
      };
      // Against the exact order statistics: each value is within 1 %, so their ratio within about 2 %.
      const q = Number(quantile[2].slice(1)) / 100;
      const exact = ref.quantileRanks('treatment', base, q).exact / ref.quantileRanks('control', base, q).exact;
      if (Math.abs((1 + effect.rel) / exact - 1) > 0.0205) bad.push(`${what}: lift ${effect.rel} vs exact ratio ${exact - 1}`);
    } else {
      effect = ref.meanEffect(treatment.key, c.metric);
    }
    if (!effect) {
      same(`${what}.relativeLift (refused)`, c.relativeLift, null);
      continue;
    }
    const rel = ref.test(effect.rel, effect.relSe, effect.n, effect.dof);
    const abs = ref.test(effect.abs, effect.absSe, effect.n, effect.dof);
    close(`${what}.relativeLift`, c.relativeLift, effect.rel, 1e-9);
    close(`${what}.se`, c.se, effect.relSe);
    close(`${what}.absoluteLift`, c.absoluteLift, effect.abs, 1e-9);
    interval(`${what}.ci`, c.ci, rel.ci);
    interval(`${what}.absoluteCi`, c.absoluteCi, abs.ci);
    close(`${what}.pValue`, c.pValue, rel.pValue, 1e-6);
    const up = normalCdf(effect.rel / effect.relSe);
    close(`${what}.chanceToBeatControl`, c.chanceToBeatControl, c.lowerIsBetter ? 1 - up : up, 1e-6);
  }
  for (const family of [['primary', 'secondary'], ['guardrail', 'other']]) {
    const members = res.comparisons.filter((c: any) => family.includes(c.role) && c.pValue !== null);
    const adjusted = holm(members.map((c: any) => c.pValue));
    members.forEach((c: any, i: number) => {
      close(`comparison ${c.metric}.adjustedPValue`, c.adjustedPValue, adjusted[i], 1e-6);
      same(`comparison ${c.metric}.significant`, c.significant, adjusted[i] < ref.alpha);
    });
  }
  for (const g of ref.experiment.metrics.guardrails ?? []) {
    const got = res.guardrails.find((x: any) => x.metric === g.name);
    const c = res.comparisons.find((x: any) => x.metric === g.name);
    const up = g.maxRelativeIncrease !== undefined;
    const margin = (up ? g.maxRelativeIncrease : g.maxRelativeDecrease)!;
    const status = !c.ci ? 'inconclusive' : up ? (c.ci[0] > margin ? 'breached' : c.ci[1] < margin ? 'ok' : 'inconclusive') : c.ci[1] < -margin ? 'breached' : c.ci[0] > -margin ? 'ok' : 'inconclusive';
    same(`guardrail ${g.name}`, [got.status, got.margin], [status, margin]);
  }
  return bad;
}

const aaFlags: Array<{ shape: string; comparisons: number; significant: number; collapsed: string[] }> = [];

describe.each(SHAPES.map((s, i) => [s.name, s, 9000 + i] as const))('%s', (_name, shape, seed) => {
  let run: { res: any; ref: Reference };
  beforeAll(async () => {
    if (shape.latency === 'two-buckets') expect(bucketIndex((shape.arms.control.latency * 80.5) / 79)).toBe(bucketIndex(shape.arms.control.latency) + 1);
    run = await runShape(shape, seed);
  });

  it('every estimate, quantile, comparison, adjustment, guardrail and the SRM check equal the independent computation', () => {
    expect(mismatches(run.ref, run.res)).toEqual([]);
  });

  it('gives every declared metric a comparison with an interval: none is reported as having no data', () => {
    const declared = [shape.metrics.primary.name, ...(shape.metrics.secondary ?? []).map((m) => m.name), ...(shape.metrics.guardrails ?? []).map((g) => g.name)];
    for (const name of declared) expect({ name, ci: run.res.comparisons.find((c: any) => c.metric === name).ci !== null }).toEqual({ name, ci: true });
    if (shape.aa && !shape.stats.sequential) {
      const tested = run.res.comparisons.filter((c: any) => c.pValue !== null);
      aaFlags.push({
        shape: shape.name,
        comparisons: tested.length,
        significant: tested.filter((c: any) => c.pValue < shape.stats.alpha).length,
        collapsed: tested.filter((c: any) => c.pValue === 0 || (c.ci && c.ci[0] === c.ci[1])).map((c: any) => c.metric),
      });
    }
  });
});

describe('the A/A runs through HTTP', () => {
  it('flag few comparisons at alpha (a sanity bound; calibration per metric is libs/analysis/aa-calibration.spec.ts)', () => {
    const comparisons = aaFlags.reduce((s, x) => s + x.comparisons, 0);
    const significant = aaFlags.reduce((s, x) => s + x.significant, 0);
    expect(aaFlags.length).toBe(SHAPES.filter((s) => s.aa && !s.stats.sequential).length);
    expect(comparisons).toBeGreaterThanOrEqual(30);
    // The regression this guards against: a zero-width quantile interval gave p = 0 and flagged every quantile.
    expect(aaFlags.flatMap((x) => x.collapsed)).toEqual([]);
    // The salt is random per experiment, so the split differs per run, and the metrics of one run move
    // together (latency mean and quantiles, success and errors): one unlucky split flags a cluster of them
    // (7 of 30 was seen on CI). The bound is loose on purpose; calibration is tested per metric elsewhere.
    expect(significant / comparisons).toBeLessThanOrEqual(0.4);
  });
});
