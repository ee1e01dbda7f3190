import type { INestApplicationContext } from '@nestjs/common';
import * as ss from 'simple-statistics';
import { rng } from '../factories/seeded';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { AnalysisFixture } from './support/analysis-fixture';

/**
 * CUPED through the API (issue 20): users with a persistent level send baseline outcomes (no
 * experiment) days before the experiment, then take part in it. Every adjusted figure is checked
 * against a CUPED computation written here from the events sent: per unit the linearised
 * in-experiment ratio and pre-period ratio, theta from their covariance pooled over both arms.
 */
jest.setTimeout(180_000);

const ALPHA = 0.05;
const TUNING = 5000; // no plannedUnits: the default N* of the confidence sequence
const DAY = 86_400_000;

interface Sent {
  id: string;
  unitId: string;
  timestamp?: string;
  score: number;
  success: boolean;
  costUsd: number;
}
type Metric = (e: Sent) => [number, number];
const SCORE: Metric = (e) => [e.score, 1];
const COST_PER_SUCCESS: Metric = (e) => [e.costUsd, e.success ? 1 : 0];

let t: TestApp;
let worker: INestApplicationContext;
let f: AnalysisFixture;

afterAll(async () => {
  await worker?.close();
  await t?.close();
});

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  f = new AnalysisFixture(t);
});

const clamp01 = (x: number) => Math.round(Math.min(1, Math.max(0, x)) * 1000) / 1000;

/** A user's persistent behaviour: the same level before and during the experiment. */
function user(r: ReturnType<typeof rng>, shift = 0) {
  const level = 0.5 + shift + 0.15 * r.normal();
  return {
    level,
    event: (id: string, unitId: string, lift: number): Sent => ({
      id,
      unitId,
      score: clamp01(level + lift + 0.08 * r.normal()),
      success: r.next() < Math.min(0.95, Math.max(0.05, 0.3 + 0.6 * level)),
      costUsd: Math.round(0.01 * Math.max(0.1, 0.5 + level) * (0.8 + 0.4 * r.next()) * 1e6) / 1e6,
    }),
  };
}

/** Noon UTC `days` days ago. */
const daysAgo = (days: number) => new Date(Math.floor(Date.now() / DAY) * DAY - days * DAY + DAY / 2).toISOString();

async function sendBaseline(events: Sent[]): Promise<void> {
  const sdk = await f.sdk();
  for (let i = 0; i < events.length; i += 1000) {
    const res = await sdk.post('/v1/outcomes', { events: events.slice(i, i + 1000) });
    expect(res.status).toBe(202);
    expect(res.body.rejected).toEqual([]);
  }
  const [before] = await t.db.query(`SELECT COALESCE(sum(events), 0)::int AS n FROM baseline_unit_day`);
  await eventually(async () => {
    const [row] = await t.db.query(`SELECT COALESCE(sum(events), 0)::int AS n FROM baseline_unit_day WHERE unit_id = ANY($1::text[])`, [
      [...new Set(events.map((e) => e.unitId))],
    ]);
    return row.n === events.length;
  }, 60_000);
  expect(before.n).toBeGreaterThanOrEqual(0);
}

/**
 * One experiment: `units` users, `withHistory` of them with two baseline events before it (days -5 and -2), each with
 * 1 to 3 events in it; the treatment lifts the score by `lift`. Returns the events per unit, before and during.
 */
async function runExperiment(options: { seed: number; units: number; withHistory: (u: number) => boolean; lift: number; primary?: string }) {
  const exp = await f.start({
    metrics: { primary: { name: options.primary ?? 'score', goal: 'increase' }, secondary: [], guardrails: [] },
  });
  const r = rng(options.seed);
  const pre: Sent[] = [];
  const post: Sent[] = [];
  const variantOf = new Map<string, string>();
  const people = [];
  for (let u = 0; u < options.units; u++) {
    const unitId = `${exp.key}-u${u}`;
    const variant = exp.index.assign(exp.key, unitId).variant!;
    variantOf.set(unitId, variant);
    // Newcomers (no history) score a little higher: what the missing-data indicator absorbs.
    const person = user(r, options.withHistory(u) ? 0 : 0.1);
    people.push({ unitId, variant, level: person.level });
    if (options.withHistory(u)) {
      pre.push({ ...person.event(`${unitId}-pre5`, unitId, 0), timestamp: daysAgo(5) });
      pre.push({ ...person.event(`${unitId}-pre2`, unitId, 0), timestamp: daysAgo(2) });
    }
    const k = 1 + Math.floor(r.next() * 3);
    for (let j = 0; j < k; j++) post.push(person.event(`${unitId}-e${j}`, unitId, variant === 'treatment' ? options.lift : 0));
  }
  if (pre.length) await sendBaseline(pre);
  await f.expose(exp.key, people.map(({ unitId, variant }) => ({ unitId, variant })));
  await f.sendOutcomes(exp, post, post.length);
  return { exp, pre, post, variantOf, people };
}

/** Per-unit (in-experiment numerator, denominator, pre numerator, pre denominator) of one arm. */
function unitsOf(variant: string, metric: Metric, data: { pre: Sent[]; post: Sent[]; variantOf: Map<string, string> }, covariate?: Map<string, number>) {
  const units = new Map<string, [number, number, number, number]>();
  for (const e of data.post.filter((x) => data.variantOf.get(x.unitId) === variant)) {
    const [y, z] = metric(e);
    const u = units.get(e.unitId) ?? [0, 0, 0, 0];
    units.set(e.unitId, [u[0] + y, u[1] + z, 0, 0]);
  }
  if (covariate) {
    // A value over a denominator of 1 for the units that have one; the others have no history (0 and 0).
    for (const [unitId, u] of units) units.set(unitId, [u[0], u[1], covariate.get(unitId) ?? 0, covariate.has(unitId) ? 1 : 0]);
  } else {
    for (const e of data.pre.filter((x) => units.has(x.unitId))) {
      const [y, z] = metric(e);
      const u = units.get(e.unitId)!;
      units.set(e.unitId, [u[0], u[1], u[2] + y, u[3] + z]);
    }
  }
  return [...units.values()];
}

/**
 * CUPED written out: per unit, the linearised in-experiment ratio L = (y - R z)/mean(z), the pre-period
 * ratio P = (p - Rp q)/mean(q) and the indicator I of having pre-period data (units without it have
 * p = q = 0); theta from the covariances of L on (P, I) pooled over both arms (the 2x2 normal
 * equations); the adjusted arm value R - theta1 Rp - theta2 mean(I); the relative lift against the
 * unadjusted control ratio with its delta-method variance.
 */
function independentCuped(control: number[][], treatment: number[][]) {
  const arm = (units: number[][]) => {
    const col = (i: number) => units.map((u) => u[i]);
    const [y, z, p, q] = [col(0), col(1), col(2), col(3)];
    const R = ss.sum(y) / ss.sum(z);
    const Rp = ss.sum(p) / ss.sum(q);
    const L = units.map((u) => (u[0] - R * u[1]) / ss.mean(z));
    const P = units.map((u) => (u[2] - Rp * u[3]) / ss.mean(q));
    const I = units.map((u) => (u[2] !== 0 || u[3] !== 0 ? 1 : 0));
    return { n: units.length, R, Rp, L, P, I, meanI: ss.mean(I) };
  };
  const c = arm(control);
  const tr = arm(treatment);
  const pooled = (f: (a: typeof c) => number) => f(c) + f(tr);
  const vP = pooled((a) => ss.sampleVariance(a.P));
  const vI = pooled((a) => ss.sampleVariance(a.I));
  const cPI = pooled((a) => ss.sampleCovariance(a.P, a.I));
  const cLP = pooled((a) => ss.sampleCovariance(a.L, a.P));
  const cLI = pooled((a) => ss.sampleCovariance(a.L, a.I));
  const det = vP * vI - cPI * cPI;
  const [theta1, theta2] = vI > 0 ? [(cLP * vI - cLI * cPI) / det, (cLI * vP - cLP * cPI) / det] : [cLP / vP, 0];
  const adj = (a: typeof c) => a.R - theta1 * a.Rp - theta2 * a.meanI;
  const delta = adj(tr) - adj(c);
  const m = Math.abs(c.R);
  const perUnit = (a: typeof c, wL: number, wP: number, wI: number) => ss.sampleVariance(a.L.map((x, i) => wL * x - wP * a.P[i] - wI * a.I[i]));
  const absVariance = perUnit(tr, 1, theta1, theta2) / tr.n + perUnit(c, 1, theta1, theta2) / c.n;
  const relVariance = perUnit(tr, 1 / m, theta1 / m, theta2 / m) / tr.n + perUnit(c, (m + delta) / (m * m), theta1 / m, theta2 / m) / c.n;
  const unadjustedRel = (tr.R - c.R) / m;
  const unadjustedVariance = ss.sampleVariance(tr.L) / (tr.n * m * m) + (ss.sampleVariance(c.L) * ((m + tr.R - c.R) / (m * m)) ** 2) / c.n;
  // The squared multiple correlation of L with (P, I), pooled within arms: the share of variance a regression on them explains.
  const rSquared = (theta1 * cLP + theta2 * cLI) / pooled((a) => ss.sampleVariance(a.L));
  return { theta1, theta2, absolute: delta, absSe: Math.sqrt(absVariance), relative: delta / m, relSe: Math.sqrt(relVariance), unadjustedRel, unadjustedSe: Math.sqrt(unadjustedVariance), rSquared, n: c.n + tr.n };
}

/** GrowthBook's asymptotic confidence sequence (Waudby-Smith et al. 2023), written out. */
function sequential(d: number, se: number, n: number) {
  const l = -2 * Math.log(ALPHA);
  const rho2 = (l + Math.log(l + 1)) / TUNING;
  const a = n * rho2 + 1;
  const half = se * Math.sqrt(n) * Math.sqrt((2 * a * Math.log(Math.sqrt(a) / ALPHA)) / (n * n * rho2));
  const z2 = (d * d * n) / (se * se);
  return { ci: [d - half, d + half], pValue: Math.min(1, Math.sqrt(a) * Math.exp((-rho2 * z2) / (2 * a))) };
}

function expectClose(actual: number, expected: number, rel = 1e-7) {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(expected)));
}

function comparison(res: any, metric: string) {
  return res.comparisons.find((c: any) => c.variant === 'treatment' && c.metric === metric);
}

/** The adjusted comparison equals the computation above; the unadjusted one the plain delta method. */
function expectAdjusted(got: any, expected: ReturnType<typeof independentCuped>) {
  const seq = sequential(expected.relative, expected.relSe, expected.n);
  expectClose(got.cuped.relativeLift, expected.relative);
  expectClose(got.cuped.se, expected.relSe);
  expectClose(got.cuped.ci[0], seq.ci[0]);
  expectClose(got.cuped.ci[1], seq.ci[1]);
  expectClose(got.cuped.pValue, seq.pValue);
  expectClose(got.cuped.absoluteLift, expected.absolute);
  const unadjusted = sequential(expected.unadjustedRel, expected.unadjustedSe, expected.n);
  expectClose(got.relativeLift, expected.unadjustedRel);
  expectClose(got.se, expected.unadjustedSe);
  expectClose(got.ci[0], unadjusted.ci[0]);
  expectClose(got.pValue, unadjusted.pValue);
  expectClose(got.cuped.varianceReduction, 1 - expected.relSe ** 2 / expected.unadjustedSe ** 2);
}

describe('CUPED from baseline outcomes sent before the experiment', () => {
  let data: Awaited<ReturnType<typeof runExperiment>>;
  let res: any;
  const HISTORY = (u: number) => u % 5 !== 0; // one user in five has no pre-period data

  beforeAll(async () => {
    data = await runExperiment({ seed: 2026, units: 800, withHistory: HISTORY, lift: 0.02 });
    res = await f.results(data.exp.key);
  });

  it('accepts outcomes with no experiment as baseline logging, and still refuses what cannot be stored', async () => {
    const sdk = await f.sdk();
    const res2 = await sdk.post('/v1/outcomes', {
      events: [
        { id: 'b-ok', unitId: 'someone', score: 0.5, timestamp: daysAgo(1) },
        { id: 'b-variant', unitId: 'someone', variant: 'control' },
        { id: 'b-nounit', score: 0.5 },
        { id: 'b-score', unitId: 'someone', score: 1e300 },
      ],
    });
    expect(res2.status).toBe(202);
    expect(res2.body.accepted).toBe(1);
    expect(res2.body.rejected.map((r: any) => [r.index, r.errors[0].field])).toEqual([[1, 'variant'], [2, 'unitId'], [3, 'score']]);
  });

  it('keeps every unit, with or without pre-period data, and counts those with it', () => {
    const got = comparison(res, 'score');
    const units = new Set(data.post.map((e) => e.unitId));
    const withPre = new Set(data.pre.map((e) => e.unitId));
    expect(got.cuped).toMatchObject({ covariate: 'pre-period', units: units.size, unitsWithCovariate: [...units].filter((u) => withPre.has(u)).length, used: true });
    expect(withPre.size).toBeLessThan(units.size);
    // The indicator carries the newcomers' difference (its coefficient is far from 0); the adjusted figures match with it (next test).
    expect(independentCuped(unitsOf('control', SCORE, data), unitsOf('treatment', SCORE, data)).theta2).toBeLessThan(-0.05);
  });

  it('adjusts the score as an independent CUPED computation does (theta from the pooled covariance), and leaves the unadjusted figures as they were', () => {
    const expected = independentCuped(unitsOf('control', SCORE, data), unitsOf('treatment', SCORE, data));
    expectAdjusted(comparison(res, 'score'), expected);
  });

  it('removes about the squared (multiple) correlation of the in-experiment values with the pre-period ones from the variance', () => {
    const expected = independentCuped(unitsOf('control', SCORE, data), unitsOf('treatment', SCORE, data));
    const got = comparison(res, 'score').cuped.varianceReduction;
    expect(expected.rSquared).toBeGreaterThan(0.3);
    expect(Math.abs(got - expected.rSquared)).toBeLessThan(0.05);
  });

  it('adjusts a ratio metric (cost per success) in the ratio form', () => {
    const expected = independentCuped(unitsOf('control', COST_PER_SUCCESS, data), unitsOf('treatment', COST_PER_SUCCESS, data));
    expectAdjusted(comparison(res, 'cost_per_success'), expected);
  });

  it('decides and plans on the adjusted figures: fewer units still needed than without CUPED', () => {
    const got = comparison(res, 'score');
    expect(res.cuped).toMatchObject({ mode: 'auto', lookbackDays: 14, used: true });
    const plan = res.planning.find((p: any) => p.variant === 'treatment');
    expect(plan.varianceReduction).toBe(got.cuped.varianceReduction);
    expect(plan.additionalUnits).toBeLessThan(plan.additionalUnitsUnadjusted);
    if (res.decision.action === 'continue') expect(res.decision.unitsNeeded).toBe(Math.ceil(plan.additionalUnits));
    if (res.decision.action === 'ship') expect(got.cuped.significant).toBe(true);
  });

  it('takes the CUPED setting when the experiment is made, checked, and fixed once it starts', async () => {
    for (const cuped of [{ mode: 'sometimes' }, { lookbackDays: 0 }, { lookbackDays: 91 }, { lookbackDays: 1.5 }, { extra: 1 }]) {
      const made = await f.admin.post('/v1/experiments', { key: `bad-${Math.random().toString(36).slice(2, 8)}`, name: 'x', unitType: 'user',
        variants: [{ key: 'control', weight: 1, isControl: true }, { key: 'treatment', weight: 1 }], metrics: { primary: { name: 'score', goal: 'increase' } }, stats: { cuped } });
      expect({ cuped, status: made.status }).toEqual({ cuped, status: 400 });
    }
    const got = await f.admin.get(`/v1/experiments/${data.exp.key}`);
    expect(got.body.stats.cuped).toEqual({ mode: 'auto', lookbackDays: 14 });
    expect((await f.admin.patch(`/v1/experiments/${data.exp.key}`, { stats: { cuped: { mode: 'off' } } })).status).toBe(409);
  });
});

describe('an experiment whose users have no history', () => {
  it('has no CUPED figures and decides as before', async () => {
    const data = await runExperiment({ seed: 7, units: 300, withHistory: () => false, lift: 0 });
    const res = await f.results(data.exp.key);
    expect(res.comparisons.every((c: any) => c.cuped === null)).toBe(true);
    expect(res.cuped.used).toBe(false);
    const plan = res.planning.find((p: any) => p.variant === 'treatment');
    expect(plan.additionalUnitsUnadjusted).toBe(plan.additionalUnits);
    const expected = independentCuped(unitsOf('control', SCORE, data), unitsOf('treatment', SCORE, data));
    expectClose(comparison(res, 'score').relativeLift, expected.unadjustedRel);
  });
});

describe('request units', () => {
  it('are no one\'s history: their outcomes stay out of the baseline, and their results have no CUPED figures', async () => {
    const exp = await f.start({ unitType: 'request', metrics: { primary: { name: 'score', goal: 'increase' }, secondary: [], guardrails: [] } });
    const r = rng(5);
    const events = Array.from({ length: 40 }, (_, i) => user(r).event(`${exp.key}-r${i}`, `${exp.key}-r${i}`, 0));
    await f.sendOutcomes(exp, events, events.length);
    const [row] = await t.db.query('SELECT count(*)::int AS n FROM baseline_unit_day WHERE unit_id = ANY($1::text[])', [events.map((e) => e.unitId)]);
    expect(row.n).toBe(0);
    const res = await f.results(exp.key);
    expect(res.comparisons.every((c: any) => c.cuped === null)).toBe(true);
  });
});

describe('covariates the client supplies', () => {
  it('replaces the pre-period covariate of that metric with the values sent through POST /v1/covariates', async () => {
    const exp = await f.start({ metrics: { primary: { name: 'score', goal: 'increase' }, secondary: [], guardrails: [] } });
    const r = rng(99);
    const post: Sent[] = [];
    const variantOf = new Map<string, string>();
    const covariate = new Map<string, number>();
    const units: Array<{ unitId: string; variant: string }> = [];
    for (let u = 0; u < 500; u++) {
      const unitId = `${exp.key}-c${u}`;
      const variant = exp.index.assign(exp.key, unitId).variant!;
      variantOf.set(unitId, variant);
      units.push({ unitId, variant });
      const person = user(r);
      // A historical satisfaction score for nine users in ten.
      if (u % 10 !== 0) covariate.set(unitId, Math.round((person.level + 0.05 * r.normal()) * 1000) / 1000);
      const k = 1 + Math.floor(r.next() * 3);
      for (let j = 0; j < k; j++) post.push(person.event(`${unitId}-e${j}`, unitId, variant === 'treatment' ? 0.02 : 0));
    }
    const sdk = await f.sdk();
    const items = [...covariate].map(([unitId, value]) => ({ unitId, metric: 'score', value }));
    const sent = await sdk.post('/v1/covariates', { items: [...items, { unitId: 'x', metric: 'latency_p95', value: 1 }, { unitId: 'x', metric: 'score' }] });
    expect(sent.status).toBe(202);
    expect(sent.body.accepted).toBe(items.length);
    expect(sent.body.rejected.map((x: any) => x.errors[0].field)).toEqual(['metric', 'value']);
    expect((await f.admin.post('/v1/covariates', { items })).status).toBe(403);
    await f.expose(exp.key, units);
    await f.sendOutcomes(exp, post, post.length);
    const res = await f.results(exp.key);
    const got = comparison(res, 'score');
    expect(got.cuped).toMatchObject({ covariate: 'client', units: 500, unitsWithCovariate: covariate.size, used: true });
    const data = { pre: [], post, variantOf };
    expectAdjusted(got, independentCuped(unitsOf('control', SCORE, data, covariate), unitsOf('treatment', SCORE, data, covariate)));
    expect(got.cuped.varianceReduction).toBeGreaterThan(0.3);
  });
});
