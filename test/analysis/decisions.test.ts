import type { INestApplicationContext } from '@nestjs/common';
import { startTestApp, type TestApp } from '../support/test-app';
import { startTestWorker } from '../support/test-worker';
import { AnalysisFixture, type ArmModel } from './support/analysis-fixture';

jest.setTimeout(120_000);

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

const base: ArmModel = { success: 0.7, latencyMedian: 800, costUsd: 0.01 };
const guardrails = [
  { name: 'latency_p95', maxRelativeIncrease: 0.1 },
  { name: 'error_rate', maxRelativeIncrease: 0.5 },
];
const twoOrThree = (r: { next(): number }) => 2 + (r.next() < 0.5 ? 1 : 0);

describe('the decision from live outcomes', () => {
  it('ships a clearly better treatment, and concludes with it on request', async () => {
    const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails } });
    await f.run(exp, { units: 2000, eventsPerUnit: twoOrThree, seed: 1, arms: { control: base, treatment: { ...base, success: 0.8 } } });
    const res = await f.results(exp.key);
    expect(res.srm.ok).toBe(true);
    expect(res.decision.action).toBe('ship');
    expect(res.decision.winner).toBe('treatment');
    expect(res.decision.reasons.join(' ')).toMatch(/treatment improves success_rate by \+\d/);
    expect(res.guardrails.every((g: any) => g.status !== 'breached')).toBe(true);

    const concluded = await f.admin.post(`/v1/experiments/${exp.key}/conclude-recommended`);
    expect(concluded.status).toBe(200);
    expect(concluded.body).toMatchObject({ status: 'concluded', winner: 'treatment' });
    const audit = (await f.admin.get(`/v1/experiments/${exp.key}/audit`)).body.items.map((i: any) => i.action);
    expect(audit).toEqual(expect.arrayContaining(['decision.changed', 'experiment.concluded', 'decision.applied']));
  });

  it('keeps a clearly worse treatment out', async () => {
    const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails } });
    await f.run(exp, { units: 2000, eventsPerUnit: twoOrThree, seed: 2, arms: { control: base, treatment: { ...base, success: 0.58 } } });
    const res = await f.results(exp.key);
    expect(res.decision).toMatchObject({ action: 'keep_control', winner: 'control' });
    expect(res.decision.reasons[0]).toMatch(/significantly worse/);
  });

  it('ships an equally good treatment that is 40 % cheaper under a non-inferiority goal', async () => {
    const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.05 }, guardrails } });
    const good = { ...base, success: 0.92 };
    await f.run(exp, { units: 2000, eventsPerUnit: () => 3, seed: 3, arms: { control: good, treatment: { ...good, costUsd: 0.006 } } });
    const res = await f.results(exp.key);
    const cost = res.comparisons.find((c: any) => c.metric === 'cost_usd');
    expect(cost.relativeLift).toBeGreaterThan(-0.45);
    expect(cost.relativeLift).toBeLessThan(-0.35);
    expect(res.decision).toMatchObject({ action: 'ship', winner: 'treatment' });
    expect(res.decision.reasons[0]).toMatch(/non-inferior on success_rate within the 5\.0 % margin .* significantly cheaper/);
  });

  it('stops when a latency guardrail breaks', async () => {
    const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails } });
    await f.run(exp, { units: 2000, eventsPerUnit: twoOrThree, seed: 4, arms: { control: base, treatment: { ...base, latencyMedian: 1300 } } });
    const res = await f.results(exp.key);
    const latency = res.guardrails.find((g: any) => g.metric === 'latency_p95');
    expect(latency.status).toBe('breached');
    expect(latency.ci[0]).toBeGreaterThan(0.1);
    expect(res.decision.action).toBe('stop');
    expect(res.decision.reasons[0]).toMatch(/Guardrail latency_p95 broken by treatment/);
    // Nothing to roll out: concluding "with the recommendation" is refused.
    expect((await f.admin.post(`/v1/experiments/${exp.key}/conclude-recommended`)).status).toBe(409);
  });

  it('flags a 52/48 split under 50/50 weights as SRM and stops', async () => {
    const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'increase' } } });
    const byVariant: Record<string, string[]> = { control: [], treatment: [] };
    for (let u = 0; byVariant.control.length < 5200 || byVariant.treatment.length < 4800; u++) {
      const unitId = `srm-${u}`;
      byVariant[exp.index.assign(exp.key, unitId).variant!].push(unitId);
    }
    await f.expose(exp.key, [
      ...byVariant.control.slice(0, 5200).map((unitId) => ({ unitId, variant: 'control' })),
      ...byVariant.treatment.slice(0, 4800).map((unitId) => ({ unitId, variant: 'treatment' })),
    ]);
    const res = await f.results(exp.key);
    expect(res.srm).toMatchObject({ ok: false, counts: { control: 5200, treatment: 4800 } });
    expect(res.srm.pValue).toBeLessThan(0.001);
    expect(res.decision.action).toBe('stop');
    expect(res.decision.reasons[0]).toMatch(/Sample ratio mismatch/);
  });

  it('mostly continues in A/A experiments', async () => {
    const actions: string[] = [];
    for (let seed = 10; seed < 15; seed++) {
      const exp = await f.start({ metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails } });
      await f.run(exp, { units: 400, eventsPerUnit: twoOrThree, seed, arms: { control: base, treatment: base } });
      const res = await f.results(exp.key);
      actions.push(res.decision.action);
      if (res.decision.action === 'continue') expect(res.decision.unitsNeeded).toBeGreaterThan(0);
    }
    expect(actions.filter((a) => a === 'continue').length).toBeGreaterThanOrEqual(4);
  });
});
