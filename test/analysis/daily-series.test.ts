import type { INestApplicationContext } from '@nestjs/common';
import * as ss from 'simple-statistics';
import { rng } from '../factories/seeded';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { AnalysisFixture, behaviour, type SentEvent } from './support/analysis-fixture';

jest.setTimeout(120_000);

/**
 * GET /results/daily reads outcome_daily, which the worker maintains as events and feedback
 * land (docs/adr/0013). Every day's cumulative estimate is checked against a computation from
 * the events sent up to that day's end, here in the test.
 */
let t: TestApp;
let worker: INestApplicationContext;
let f: AnalysisFixture;

const Z975 = 1.959963984540054;
const DAY_MS = 86_400_000;
const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
/** Three days: two days ago, yesterday and today, at a time of day already past (so never in the future). */
const DAYS = [2, 1, 0].map((ago) => today - ago * DAY_MS);
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

type Dated = SentEvent & { day: number };

/** Per-unit (numerator, denominator) of each daily metric, with the success the event has after feedback. */
const METRICS: Record<string, (e: Dated) => [number, number]> = {
  success_rate: (e) => [e.success ? 1 : 0, 1],
  error_rate: (e) => [e.error ? 1 : 0, 1],
  latency_ms: (e) => [e.latencyMs, 1],
  cost_usd: (e) => [e.costUsd, 1],
  cost_per_success: (e) => [e.costUsd, e.success ? 1 : 0],
};

/** Delta-method estimate of one arm over the given events, units keyed by `unitOf`. */
function expected(events: Dated[], metric: string, unitOf: (e: Dated) => string) {
  const units = new Map<string, [number, number]>();
  for (const e of events) {
    const [y, z] = METRICS[metric](e);
    const u = units.get(unitOf(e)) ?? [0, 0];
    units.set(unitOf(e), [u[0] + y, u[1] + z]);
  }
  const ys = [...units.values()].map((u) => u[0]);
  const zs = [...units.values()].map((u) => u[1]);
  const [my, mz] = [ss.mean(ys), ss.mean(zs)];
  const variance = ss.sampleVariance(ys) / mz ** 2 - (2 * ss.sampleCovariance(ys, zs) * my) / mz ** 3 + (ss.sampleVariance(zs) * my ** 2) / mz ** 4;
  const mean = ss.sum(ys) / ss.sum(zs);
  const half = Z975 * Math.sqrt(variance / ys.length);
  return { units: units.size, mean, ci: [mean - half, mean + half] };
}

function expectClose(actual: number, wanted: number, rel = 1e-9) {
  expect(Math.abs(actual - wanted)).toBeLessThanOrEqual(rel * Math.max(1, Math.abs(wanted)));
}

/** Sends events with their timestamps and waits until the worker has them all. */
async function send(exp: { key: string; id: string }, events: Dated[], total: number): Promise<void> {
  await f.sendOutcomes(exp, events.map(({ variant: _v, day, ...e }) => ({ timestamp: new Date(day + 3_600_000).toISOString(), ...e })), total);
}

/** Flips `success` of the given events by late feedback and waits until it is applied. */
async function feedback(events: Dated[]): Promise<void> {
  const sdk = await f.sdk();
  for (const e of events) e.success = !e.success;
  expect((await sdk.post('/v1/feedback', { items: events.map((e) => ({ eventId: e.id, success: e.success })) })).status).toBe(202);
  await eventually(async () => {
    const [row] = await t.db.query(`SELECT count(*)::int AS n FROM outcome_event_key WHERE event_id = ANY($1) AND feedback_hash IS NOT NULL`, [events.map((e) => e.id)]);
    return row.n === events.length;
  }, 30_000);
}

/** Generates units with one to four events each, spread over the three days. */
function generate(exp: { key: string; index: { assign(key: string, unit: string): { variant: string | null } } }, units: number, seed: number): Dated[] {
  const r = rng(seed);
  const events: Dated[] = [];
  for (let u = 0; u < units; u++) {
    const unitId = `${exp.key}-u${u}`;
    const variant = exp.index.assign(exp.key, unitId).variant!;
    const arm = variant === 'control' ? { success: 0.6, latencyMedian: 700, costUsd: 0.01 } : { success: 0.7, latencyMedian: 600, costUsd: 0.006 };
    const k = 1 + Math.floor(r.next() * 4);
    for (let j = 0; j < k; j++) {
      events.push({ id: `${unitId}-e${j}`, unitId, variant, day: DAYS[Math.floor(r.next() * DAYS.length)], ...behaviour(r, arm) });
    }
  }
  return events;
}

/** Checks every day of the series against `expected` over the events up to that day. */
async function checkEveryDay(key: string, events: Dated[], unitOf: (e: Dated) => string): Promise<void> {
  const daily = await f.admin.get(`/v1/experiments/${key}/results/daily`);
  expect(daily.status).toBe(200);
  expect(daily.body.days.map((d: any) => d.date)).toEqual(DAYS.map(dayOf));
  DAYS.forEach((day, i) => {
    const point = daily.body.days[i];
    for (const variant of ['control', 'treatment']) {
      const upTo = events.filter((e) => e.variant === variant && e.day <= day);
      const got = point.variants.find((v: any) => v.key === variant);
      expect(got.events).toBe(upTo.length);
      for (const metric of Object.keys(METRICS)) {
        const want = expected(upTo, metric, unitOf);
        expect(got.units).toBe(want.units);
        expectClose(got.metrics[metric].mean, want.mean);
        expectClose(got.metrics[metric].ci[0], want.ci[0], 1e-7);
        expectClose(got.metrics[metric].ci[1], want.ci[1], 1e-7);
      }
    }
  });
}

beforeAll(async () => {
  t = await startTestApp();
  worker = await startTestWorker(t.config);
  f = new AnalysisFixture(t);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

describe('GET /v1/experiments/{key}/results/daily from the daily aggregate', () => {
  it('user units: each day equals the per-unit cumulative estimate when data arrive in day order, with late feedback', async () => {
    const exp = await f.start({}, { createdAt: new Date(DAYS[0]) });
    const events = generate(exp, 300, 7);
    await f.expose(exp.key, [...new Map(events.map((e) => [e.unitId, { unitId: e.unitId, variant: e.variant }])).values()]);
    let sent = 0;
    for (const day of DAYS) {
      const ofDay = events.filter((e) => e.day === day);
      sent += ofDay.length;
      await send(exp, ofDay, sent);
      // Feedback on the day's own events, before the next day's data.
      await feedback(ofDay.filter((_, i) => i % 7 === 0));
    }
    await checkEveryDay(exp.key, events, (e) => e.unitId);
    // The last day is the whole experiment: it agrees with /results.
    const res = await f.results(exp.key);
    const last = (await f.admin.get(`/v1/experiments/${exp.key}/results/daily`)).body.days.at(-1);
    for (const v of res.variants) expectClose(last.variants.find((x: any) => x.key === v.key).metrics.success_rate.mean, v.metrics.success_rate.mean);
  });

  it('request units: every day is exact whatever the arrival order and feedback', async () => {
    const exp = await f.start({ unitType: 'request' }, { createdAt: new Date(DAYS[0]) });
    const events = generate(exp, 200, 11);
    await f.expose(exp.key, [...new Map(events.map((e) => [e.unitId, { unitId: e.unitId, variant: e.variant }])).values()]);
    // Latest day first, then the others; feedback on old events last.
    const order = [...events].sort((a, b) => b.day - a.day);
    await send(exp, order, events.length);
    await feedback(events.filter((e, i) => e.day === DAYS[0] && i % 3 === 0));
    await checkEveryDay(exp.key, events, (e) => e.id);
  });
});
