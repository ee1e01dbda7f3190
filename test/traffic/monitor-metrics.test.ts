import type { INestApplicationContext } from '@nestjs/common';
import * as ss from 'simple-statistics';
import { TrafficMonitorService } from '../../libs/traffic/traffic-monitor.service';
import { AnalysisFixture } from '../analysis/support/analysis-fixture';
import { rng } from '../factories/seeded';
import { startTestApp, type TestApp } from '../support/test-app';
import { startTestWorker } from '../support/test-worker';

/**
 * The traffic monitor on metrics it got wrong (issue 15): a latency guardrail on clustered
 * latencies, and a bandit on a non-inferior cost primary with alpha 0.01. The monitor's own
 * pass (TrafficMonitorService.runOnce, what the scheduled job runs) is called directly, so
 * each check sees exactly the data sent before it.
 */
jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;
let f: AnalysisFixture;
let monitor: TrafficMonitorService;

beforeAll(async () => {
  t = await startTestApp({ MONITOR_INTERVAL_MS: '3600000' });
  worker = await startTestWorker(t.config);
  f = new AnalysisFixture(t);
  monitor = worker.get(TrafficMonitorService);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
});

type Exp = Awaited<ReturnType<AnalysisFixture['start']>>;

/** `n` request-units per arm (chosen by the assignment), one event each with the fields `event(variant, i)` gives. */
async function sendPerArm(exp: Exp, n: number, event: (variant: string, i: number) => Record<string, unknown>) {
  const perArm: Record<string, number> = { control: 0, treatment: 0 };
  const events: Array<Record<string, unknown> & { variant: string }> = [];
  for (let u = 0; perArm.control < n || perArm.treatment < n; u++) {
    const unitId = `${exp.key}-r${u}`;
    const variant = exp.index.assign(exp.key, unitId).variant!;
    if (perArm[variant] >= n) continue;
    events.push({ id: `${unitId}-e`, unitId, variant, ...event(variant, perArm[variant]++) });
  }
  await f.sendOutcomes(exp, events.map(({ variant: _v, ...e }) => e), events.length);
  return events;
}

const variantOf = async (key: string, variant: string) => (await f.admin.get(`/v1/experiments/${key}`)).body.variants.find((v: any) => v.key === variant);

describe('a latency guardrail on clustered latencies', () => {
  it('rolls back a treatment 4x slower, every latency in one histogram bucket', async () => {
    const exp = await f.start({
      unitType: 'request',
      metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }] },
    });
    await sendPerArm(exp, 200, (variant, i) => ({ latencyMs: variant === 'control' ? 20 : 80, success: i % 4 !== 0 }));
    const run = await monitor.runOnce();
    expect(run.actions).toContainEqual({ experiment: exp.key, action: 'rollback', variant: 'treatment' });
    expect((await variantOf(exp.key, 'treatment')).rolledBack).toBe(true);
    const audit = (await f.admin.get(`/v1/experiments/${exp.key}/audit`)).body.items.find((e: any) => e.action === 'experiment.variant_rolled_back');
    expect(audit.after.evidence.guardrail).toMatchObject({ metric: 'latency_p95', status: 'breached' });
    expect(audit.after.evidence.guardrail.ci[0]).toBeGreaterThan(0.1);
  });

  it('leaves a treatment 4x faster in, with the guardrail ok', async () => {
    const exp = await f.start({
      unitType: 'request',
      metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails: [{ name: 'latency_p95', maxRelativeIncrease: 0.1 }] },
    });
    await sendPerArm(exp, 200, (variant, i) => ({ latencyMs: variant === 'control' ? 80 : 20, success: i % 4 !== 0 }));
    const run = await monitor.runOnce();
    expect(run.actions.filter((a) => a.experiment === exp.key)).toEqual([]);
    expect((await variantOf(exp.key, 'treatment')).rolledBack).toBe(false);
    expect((await f.results(exp.key)).guardrails).toEqual([expect.objectContaining({ metric: 'latency_p95', status: 'ok' })]);
  });
});

describe('a bandit on a non-inferior cost primary, alpha 0.01', () => {
  it('sends the traffic to the cheaper arm, with each arm\'s standard error as the results compute it', async () => {
    const exp = await f.start({
      unitType: 'request',
      metrics: { primary: { name: 'cost_usd', goal: 'non_inferior', margin: 0.05 } },
      stats: { alpha: 0.01, sequential: true },
      bandit: { floor: 0.05, minUnitsPerArm: 300, everyMinutes: 0 },
    });
    const r = rng(4);
    const events = await sendPerArm(exp, 300, (variant) => ({
      costUsd: Math.round((variant === 'control' ? 0.01 : 0.006) * (0.5 + r.next()) * 1e6) / 1e6,
      success: true,
    }));
    const run = await monitor.runOnce();
    expect(run.actions).toContainEqual({ experiment: exp.key, action: 'reallocate' });
    const treatment = await variantOf(exp.key, 'treatment');
    expect(treatment.weight).toBeGreaterThan(0.9);

    const audit = (await f.admin.get(`/v1/experiments/${exp.key}/audit`)).body.items.find((e: any) => e.action === 'experiment.reallocated');
    for (const arm of audit.after.evidence.arms) {
      const costs = events.filter((e) => e.variant === arm.variant).map((e) => e.costUsd as number);
      expect(arm.units).toBe(costs.length);
      expect(arm.mean).toBeCloseTo(ss.mean(costs), 12);
      // The standard error of the mean, whatever the alpha of the experiment's intervals.
      expect(Math.abs(arm.se / (ss.sampleStandardDeviation(costs) / Math.sqrt(costs.length)) - 1)).toBeLessThan(1e-9);
    }
  });
});
