import type { INestApplicationContext } from '@nestjs/common';
import type { QueueEvents } from 'bullmq';
import { QueueRegistry } from '../../libs/queue/queue.module';
import { createClient, type VerdictClient } from '../../libs/sdk/src';
import { seededRng, type Rng } from '../../libs/stats/rng';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startReplica, startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';

/**
 * The traffic monitor against the running service: two API replicas, a worker whose
 * monitor runs every 300 ms, an SDK client, and a seeded traffic generator.
 */
let t: TestApp;
let replica: Awaited<ReturnType<typeof startReplica>>;
let worker: INestApplicationContext;
let admin: ReturnType<typeof client>;
let sdkKey: string;
let sdkA: ReturnType<typeof client>;
let sdkB: ReturnType<typeof client>;
let sdkClient: VerdictClient;
let monitorEvents: QueueEvents;
/** Monitor runs completed since the start (the traffic queue's completed events). */
let monitorRuns = 0;

beforeAll(async () => {
  t = await startTestApp({ MONITOR_INTERVAL_MS: '300' });
  replica = await startReplica(t);
  worker = await startTestWorker(t.config);
  admin = client(t.url, t.adminKey);
  sdkKey = (await admin.post('/v1/api-keys', { name: 'generator', scope: 'sdk' })).body.key;
  sdkA = client(t.url, sdkKey);
  sdkB = client(replica.url, sdkKey);
  sdkClient = createClient({ baseUrl: replica.url, apiKey: sdkKey, flushOnExit: false });
  await sdkClient.ready();
  monitorEvents = t.app.get(QueueRegistry).events('traffic');
  monitorEvents.on('completed', () => (monitorRuns += 1));
  await monitorEvents.waitUntilReady();
}, 60_000);
afterAll(async () => {
  await monitorEvents?.close();
  await sdkClient?.close();
  await worker?.close();
  await replica?.close();
  await t?.close();
});

/** Sends one round of traffic: `users` new units assigned through replica A, one outcome each. */
async function round(rng: Rng, key: string, offset: number, users: number, errorRate: Record<string, number>) {
  const items = Array.from({ length: users }, (_, i) => ({ experiment: key, unitId: `${key}-u${offset + i}` }));
  const assignments = (await sdkA.post('/v1/assign/batch', { items })).body.assignments;
  const events = assignments
    .map((a: any, i: number) => ({ a, unitId: items[i].unitId }))
    .filter(({ a }: any) => a.inExperiment)
    .map(({ a, unitId }: any) => {
      const failed = rng.uniform() < errorRate[a.variant];
      return {
        id: `${unitId}-e1`,
        experiment: key,
        unitId,
        latencyMs: 400 + 200 * rng.uniform(),
        success: !failed,
        ...(failed ? { error: 'timeout' } : {}),
      };
    });
  for (let i = 0; i < events.length; i += 1000) {
    const res = await sdkA.post('/v1/outcomes', { events: events.slice(i, i + 1000) });
    expect(res.status).toBe(202);
  }
  return { assignments: assignments as Array<{ variant: string; inExperiment: boolean }>, events: events.length };
}

/**
 * Waits until the round's events are stored, then until a monitor run has started and finished
 * after that (two completions: one may have been under way with older data): a condition, not a sleep.
 */
async function monitorSaw(key: string, events: number): Promise<void> {
  await eventually(async () => {
    const [row] = await t.db.query(
      `SELECT COALESCE(sum(m.n), 0)::int AS n FROM outcome_moment m JOIN experiment e ON e.id = m.experiment_id WHERE e.key = $1 AND m.metric = '$events'`,
      [key],
    );
    return row.n >= events;
  }, 30_000);
  const seen = monitorRuns;
  await eventually(async () => monitorRuns >= seen + 2, 30_000, 20);
}

it('rolls back a variant with three times the error rate, and every replica and the SDK stop serving it', async () => {
  const body = experimentBody({
    unitType: 'request',
    metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails: [{ name: 'error_rate', maxRelativeIncrease: 0.2 }] },
    stats: { alpha: 0.05, sequential: true, plannedUnits: 4000 },
  });
  await admin.post('/v1/experiments', body);
  await admin.post(`/v1/experiments/${body.key}/start`);
  const rng = seededRng(42);
  let rolledBack = false;
  let users = 0;
  let sent = 0;
  let rounds = 0;
  for (; rounds < 40 && !rolledBack; rounds++) {
    sent += (await round(rng, body.key, users, 250, { control: 0.05, small: 0.15 })).events;
    users += 250;
    await monitorSaw(body.key, sent);
    const experiment = (await admin.get(`/v1/experiments/${body.key}`)).body;
    rolledBack = experiment.variants.find((v: any) => v.key === 'small').rolledBack;
  }
  expect(rolledBack).toBe(true);
  // Bounded: the breach was caught within a few rounds of 250 requests (each checked by the monitor).
  expect(rounds).toBeLessThanOrEqual(20);

  const audit = (await admin.get(`/v1/experiments/${body.key}/audit`)).body.items;
  const rollback = audit.find((e: any) => e.action === 'experiment.variant_rolled_back');
  expect(rollback).toMatchObject({ actor: 'traffic monitor', actorKeyId: null });
  expect(rollback.after.evidence.guardrail).toMatchObject({ variant: 'small', metric: 'error_rate', status: 'breached', margin: 0.2 });
  expect(rollback.after.evidence.guardrail.ci[0]).toBeGreaterThan(0.2);

  // Units that hashed into the treatment now get the control, on both replicas and in the SDK.
  const probe = Array.from({ length: 200 }, (_, i) => ({ experiment: body.key, unitId: `${body.key}-probe-${i}` }));
  for (const api of [sdkA, sdkB]) {
    await eventually(async () => {
      const answers = (await api.post('/v1/assign/batch', { items: probe })).body.assignments;
      return answers.every((a: any) => a.variant === 'control') && answers.some((a: any) => a.reason === 'rolled_back');
    }, 2000, 50);
  }
  await eventually(async () => probe.every((p) => sdkClient.assign(body.key, p.unitId).variant === 'control'), 3000, 50);
});

it('climbs a healthy ramp to its last step, one phase per step', async () => {
  const body = experimentBody({
    unitType: 'request',
    metrics: { primary: { name: 'success_rate', goal: 'increase' }, guardrails: [{ name: 'error_rate', maxRelativeIncrease: 0.5 }] },
    ramp: { steps: [0.1, 0.3, 0.5], minMinutes: 0, minUnits: 150 },
  });
  await admin.post('/v1/experiments', body);
  const started = (await admin.post(`/v1/experiments/${body.key}/start`)).body;
  expect(started.variants.find((v: any) => v.key === 'small').weight).toBeCloseTo(0.1, 10);
  const rng = seededRng(7);
  let users = 0;
  let step = 0;
  let sent = 0;
  for (let r = 0; r < 40 && step < 2; r++) {
    sent += (await round(rng, body.key, users, 200, { control: 0.05, small: 0.05 })).events;
    users += 200;
    await monitorSaw(body.key, sent);
    step = (await admin.get(`/v1/experiments/${body.key}`)).body.ramp.step;
  }
  expect(step).toBe(2);
  const phases = (await admin.get(`/v1/experiments/${body.key}/phases`)).body;
  expect(phases.map((p: any) => p.weights.small)).toEqual([0.1, 0.3, 0.5].map((w) => expect.closeTo(w, 10)));
  const audit = (await admin.get(`/v1/experiments/${body.key}/audit`)).body.items;
  expect(audit.filter((e: any) => e.action === 'experiment.ramp_advanced' && e.actor === 'traffic monitor')).toHaveLength(2);
  expect(audit.some((e: any) => e.action === 'experiment.variant_rolled_back')).toBe(false);
});

it('lets a person roll back, hold and advance', async () => {
  const body = experimentBody({ ramp: { steps: [0.2, 0.6], minMinutes: 600, minUnits: 1_000_000 } });
  await admin.post('/v1/experiments', body);
  const path = `/v1/experiments/${body.key}`;
  expect((await admin.post(`${path}/ramp/advance`)).status).toBe(409);
  await admin.post(`${path}/start`);
  expect((await admin.post(`${path}/ramp/hold`)).body.ramp.held).toBe(true);
  const advanced = (await admin.post(`${path}/ramp/advance`)).body;
  expect(advanced).toMatchObject({ phase: 2, ramp: { step: 1 } });
  expect((await admin.post(`${path}/ramp/advance`)).status).toBe(409);
  expect((await admin.post(`${path}/variants/control/rollback`)).status).toBe(400);
  const rolled = (await admin.post(`${path}/variants/small/rollback`)).body;
  expect(rolled.variants.find((v: any) => v.key === 'small').rolledBack).toBe(true);
  expect(rolled.phase).toBe(3);
  const phases = (await admin.get(`${path}/phases`)).body;
  expect(phases[2].weights).toEqual({ control: 1, small: 0 });
  expect((await admin.post(`${path}/variants/small/rollback`)).status).toBe(409);
});
