import type { INestApplicationContext } from '@nestjs/common';
import { TrafficMonitorService } from '../../libs/traffic/traffic-monitor.service';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, outcomes } from './support/gateway-fixture';

/**
 * The traffic monitor's own decisions act on gateway traffic (issue 17, "Decisions act on
 * traffic"): an automatic ramp step and a bandit reallocation, decided by the monitor's pass
 * in the worker (TrafficMonitorService.runOnce, what the scheduled job runs, called directly
 * so each pass sees exactly the traffic sent before it). The change reaches the API's snapshot
 * through the change bus; once /v1/assign answers with the new phase, the very next gateway
 * calls are split per the new weights, streams kept running through the change all complete,
 * and every call is measured once.
 */
jest.setTimeout(90_000);

type Exp = Awaited<ReturnType<typeof gatewayExperiment>>;

let t: TestApp;
let worker: INestApplicationContext;
let monitor: TrafficMonitorService;
let big: FakeUpstream;
let small: FakeUpstream;

beforeAll(async () => {
  [t, big, small] = await Promise.all([
    // The scheduled pass stays out of the way (an hour): the test runs each pass itself.
    startTestApp({ ...GATEWAY_TEST_SETTINGS, RATE_LIMIT_PER_SECOND: '100000', MONITOR_INTERVAL_MS: '3600000' }),
    startFakeUpstream('70B'),
    startFakeUpstream('8B'),
  ]);
  worker = await startTestWorker(t.config);
  monitor = worker.get(TrafficMonitorService);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([big?.close(), small?.close()]);
});

/** What each variant's upstream calls itself in its answers (the fake's `name:model`). */
const UPSTREAM_OF: Record<string, string> = { big: '70B:llama-70b', small: '8B:llama-8b' };
const say = (text: string) => [{ role: 'user' as const, content: text }];

interface Served {
  unit: string;
  status: number;
  variant: string | null;
  eventId: string | null;
  /** The model named in the answer: which upstream actually answered. */
  answeredBy: string | null;
}

/** One non-streamed gateway call for `unit` (plain fetch, the unit in the x-verdict-unit header). */
async function callGateway(exp: Exp, unit: string): Promise<Served> {
  const response = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': unit },
    body: JSON.stringify({ model: exp.key, messages: say('hello') }),
  });
  const body = (await response.json()) as { model?: string };
  return {
    unit,
    status: response.status,
    variant: response.headers.get('x-verdict-variant'),
    eventId: response.headers.get('x-verdict-event-id'),
    answeredBy: body.model ?? null,
  };
}

/** Gateway calls for `units`, ten at a time. */
async function serve(exp: Exp, units: string[]): Promise<Served[]> {
  const results: Served[] = new Array(units.length);
  let next = 0;
  const lane = async () => {
    while (next < units.length) {
      const i = next++;
      results[i] = await callGateway(exp, units[i]);
    }
  };
  await Promise.all(Array.from({ length: 10 }, lane));
  return results;
}

/** What /v1/assign answers for `units` (the snapshot the gateway follows): unit -> variant, and the phase. */
async function assigned(exp: Exp, units: string[]): Promise<{ variants: Map<string, string>; phases: Set<number> }> {
  const variants = new Map<string, string>();
  const phases = new Set<number>();
  for (let i = 0; i < units.length; i += 500) {
    const items = units.slice(i, i + 500).map((unitId) => ({ experiment: exp.key, unitId }));
    const res = await exp.sdk.post('/v1/assign/batch', { items });
    expect(res.status).toBe(200);
    res.body.assignments.forEach((a: { variant: string; phase: number }, j: number) => {
      variants.set(items[j].unitId, a.variant);
      phases.add(a.phase);
    });
  }
  return { variants, phases };
}

/** Every call answered 200 by the upstream of the variant it names, and that variant is what /v1/assign gives the unit. */
async function expectSplitAsAssigned(exp: Exp, calls: Served[], phase: number): Promise<void> {
  const { variants, phases } = await assigned(exp, calls.map((c) => c.unit));
  expect([...phases]).toEqual([phase]);
  const wrong = calls.filter((c) => c.status !== 200 || c.variant !== variants.get(c.unit) || c.answeredBy !== UPSTREAM_OF[c.variant ?? '']);
  expect(wrong.map((c) => `${c.unit}: ${c.status} ${c.variant} answered by ${c.answeredBy}, assigned ${variants.get(c.unit)}`)).toEqual([]);
}

/** The share of `variant` among `calls` is within five binomial standard deviations of `weight` (plus one unit). */
function expectShare(calls: Served[], variant: string, weight: number): void {
  const n = calls.length;
  const count = calls.filter((c) => c.variant === variant).length;
  const tolerance = 5 * Math.sqrt(n * weight * (1 - weight)) + 1;
  expect(Math.abs(count - n * weight)).toBeLessThanOrEqual(tolerance);
}

const phaseOfSnapshot = async (exp: Exp) => (await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: 'phase-probe' })).body.phase as number;

interface StreamCall {
  unit: string;
  variant: string | null;
  eventId: string | null;
  models: Set<string>;
  text: string;
  done: boolean;
  error: string | null;
}

/** One streamed call through the official openai client, read to the end; `state` is filled in as it goes. */
function streamOnce(exp: Exp, unit: string, command: string): Promise<StreamCall> & { state: StreamCall } {
  const state: StreamCall = { unit, variant: null, eventId: null, models: new Set(), text: '', done: false, error: null };
  const run = (async () => {
    try {
      const { data: stream, response } = await exp.openai.chat.completions.create({ model: exp.key, messages: say(command), user: unit, stream: true }).withResponse();
      state.variant = response.headers.get('x-verdict-variant');
      state.eventId = response.headers.get('x-verdict-event-id');
      for await (const chunk of stream) {
        state.models.add(chunk.model);
        state.text += chunk.choices[0]?.delta?.content ?? '';
      }
      state.done = true;
    } catch (error) {
      state.error = String(error);
    }
    return state;
  })();
  return Object.assign(run, { state });
}

/**
 * Streamed calls through the official openai client, four at a time, each with a new unit,
 * paced by the fake (four chunks 15 ms apart) so some are in flight when the change lands;
 * runs until `stop`.
 */
function streamsInBackground(exp: Exp, prefix: string) {
  const calls: StreamCall[] = [];
  let stopped = false;
  let n = 0;
  const lane = async () => {
    while (!stopped) {
      const call = streamOnce(exp, `${prefix}-${n++}`, 'stream:4:15');
      calls.push(call.state);
      await call;
    }
  };
  const lanes = Array.from({ length: 4 }, lane);
  return {
    finished: () => calls.filter((c) => c.done || c.error !== null).length,
    async stop(): Promise<StreamCall[]> {
      stopped = true;
      await Promise.all(lanes);
      return calls;
    },
  };
}

/**
 * Runs the monitor's pass while streams flow, then waits (a condition, polled) until the API's
 * snapshot serves `phase` and a few more streams have finished after it.
 */
async function passDuringStreams(exp: Exp, phase: number) {
  const streams = streamsInBackground(exp, `${exp.key}-bg`);
  await eventually(async () => streams.finished() >= 8, 20_000, 10);
  const run = await monitor.runOnce();
  await eventually(async () => (await phaseOfSnapshot(exp)) === phase, 10_000, 10);
  const seen = streams.finished();
  await eventually(async () => streams.finished() >= seen + 8, 20_000, 10);
  return { run, streams: await streams.stop() };
}

/** No stream failed or was cut through the change, and each was answered by the upstream of the variant it was told. */
function expectStreamsWhole(streams: StreamCall[]): void {
  expect(streams.length).toBeGreaterThanOrEqual(16);
  const broken = streams.filter((s) => !s.done || s.error !== null || s.text !== 'w0 w1 w2 w3 ' || s.variant === null || [...s.models].join() !== UPSTREAM_OF[s.variant]);
  expect(broken.map((s) => `${s.unit}: ${s.variant} from ${[...s.models].join()}, ${JSON.stringify(s.text)}, ${s.error ?? (s.done ? 'done' : 'cut')}`)).toEqual([]);
}

/** Each call is one stored outcome event, under the variant its answer named. */
async function expectMeasuredOnce(exp: Exp, calls: Array<{ eventId: string | null; variant: string | null }>): Promise<void> {
  const deadline = Date.now() + 30_000;
  let rows = await outcomes(t.db, exp.id);
  while (rows.length < calls.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    rows = await outcomes(t.db, exp.id);
  }
  const stored = new Map(rows.map((r) => [r.event_id, r.variant]));
  expect(calls.filter((c) => c.eventId === null || stored.get(c.eventId) !== c.variant).map((c) => `${c.eventId}: ${c.variant}, stored ${stored.get(c.eventId ?? '')}`)).toEqual([]);
  expect(rows).toHaveLength(calls.length);
}

const units = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

it('an automatic ramp step: the next calls get the new step\'s split, no stream fails through it', async () => {
  const exp = await gatewayExperiment(t.url, t.adminKey, big, small, {
    metrics: { primary: { name: 'success_rate', goal: 'non_inferior', margin: 0.02 }, guardrails: [{ name: 'error_rate', maxRelativeIncrease: 0.5 }] },
    ramp: { steps: [0.1, 0.5], minMinutes: 0, minUnits: 200 },
  });

  // Step 1: 10 % of the units to the 8B model.
  const before = await serve(exp, units(`${exp.key}-s1`, 250));
  await expectSplitAsAssigned(exp, before, 1);
  expectShare(before, 'small', 0.1);
  // The monitor counts exposed units: wait until the gateway's exposures are stored.
  await eventually(async () => {
    const [row] = await t.db.query('SELECT COALESCE(sum(units), 0)::int AS n FROM exposure_count WHERE experiment_id = $1 AND phase = 1', [exp.id]);
    return row.n >= 250;
  }, 30_000, 100);

  // Held streams of 20 control units, half sent, released only after the step: some of their units move to the treatment meanwhile.
  let release!: () => void;
  big.options.gate = new Promise<void>((resolve) => (release = resolve));
  const heldUnits = before.filter((c) => c.variant === 'big').slice(0, 20).map((c) => c.unit);
  const heldBefore = big.requests.filter((r) => r.body.messages?.[0]?.content === 'gated:4:5').length;
  const held = heldUnits.map((unit) => streamOnce(exp, unit, 'gated:4:5'));
  await eventually(async () => big.requests.filter((r) => r.body.messages?.[0]?.content === 'gated:4:5').length === heldBefore + heldUnits.length, 10_000, 10);
  const { run, streams } = await passDuringStreams(exp, 2);
  release();
  const heldCalls = await Promise.all(held);
  delete big.options.gate;
  expect(run.actions).toContainEqual({ experiment: exp.key, action: 'advance_ramp' });
  const experiment = (await exp.admin.get(`/v1/experiments/${exp.key}`)).body;
  expect(experiment).toMatchObject({ phase: 2, ramp: { step: 1 } });
  expect(experiment.variants.find((v: any) => v.key === 'small').weight).toBeCloseTo(0.5, 10);

  // The next calls: new units split 50/50, as /v1/assign says for each.
  const after = await serve(exp, units(`${exp.key}-s2`, 300));
  await expectSplitAsAssigned(exp, after, 2);
  expectShare(after, 'small', 0.5);
  // The step-1 units again: the treatment grew, so every unit it had keeps it, and some of the control's move.
  const again = await serve(exp, before.map((c) => c.unit));
  await expectSplitAsAssigned(exp, again, 2);
  const wasSmall = new Set(before.filter((c) => c.variant === 'small').map((c) => c.unit));
  expect(again.filter((c) => wasSmall.has(c.unit) && c.variant !== 'small')).toEqual([]);
  expect(again.filter((c) => c.variant === 'small').length).toBeGreaterThan(wasSmall.size);

  // Through the change: every stream whole; a unit the treatment served keeps it (it only grew).
  expectStreamsWhole(streams);
  const now = (await assigned(exp, streams.map((s) => s.unit))).variants;
  expect(streams.filter((s) => s.variant === 'small' && now.get(s.unit) !== 'small')).toEqual([]);
  expect(streams.some((s) => s.variant === 'small')).toBe(true);

  // The held streams finish whole on the control, where they started, though some units are the treatment's now.
  expect(heldCalls.filter((s) => !s.done || s.error !== null || s.text !== 'w0 w1 w2 w3 ' || s.variant !== 'big').map((s) => `${s.unit}: ${s.variant}, ${s.error ?? ''}`)).toEqual([]);
  const heldNow = (await assigned(exp, heldUnits)).variants;
  expect(heldUnits.some((u) => heldNow.get(u) === 'small')).toBe(true);

  await expectMeasuredOnce(exp, [...before, ...streams, ...heldCalls, ...after, ...again]);
  // Each held call is measured in the phase and on the variant it was served in (a bug found by this test: they were refused).
  const rows: Array<{ event_id: string; variant: string; phase: number }> = await t.db.query('SELECT event_id, variant, phase FROM outcome_event WHERE experiment_id = $1', [exp.id]);
  const stored = new Map(rows.map((r) => [r.event_id, `${r.variant}@${r.phase}`]));
  expect(heldCalls.map((s) => stored.get(s.eventId ?? ''))).toEqual(heldCalls.map(() => 'big@1'));
});

it('a bandit reallocation: the next calls follow the new weights, no stream fails through it', async () => {
  // The 8B variant costs a tenth for the same tokens: the bandit moves the traffic to it.
  const exp = await gatewayExperiment(t.url, t.adminKey, big, small, {
    metrics: { primary: { name: 'cost_usd', goal: 'decrease' }, guardrails: [] },
    bandit: { floor: 0.05, minUnitsPerArm: 60, everyMinutes: 0 },
  });

  const before = await serve(exp, units(`${exp.key}-b1`, 200));
  await expectSplitAsAssigned(exp, before, 1);
  expectShare(before, 'small', 0.5);
  // The bandit reads the primary metric per arm: wait until every call's cost is in the results.
  await eventually(async () => {
    const results = (await exp.admin.get(`/v1/experiments/${exp.key}/results`)).body;
    return results.variants?.reduce((sum: number, v: any) => sum + (v.metrics.cost_usd?.n ?? 0), 0) === before.length;
  }, 30_000, 100);

  const { run, streams } = await passDuringStreams(exp, 2);
  expect(run.actions).toContainEqual({ experiment: exp.key, action: 'reallocate' });
  const experiment = (await exp.admin.get(`/v1/experiments/${exp.key}`)).body;
  expect(experiment.phase).toBe(2);
  const weights: Record<string, number> = Object.fromEntries(experiment.variants.map((v: any) => [v.key, v.weight]));
  expect(weights.small).toBeGreaterThan(0.9);
  expect(weights.big).toBeGreaterThanOrEqual(0.05 - 1e-9);
  const total = weights.big + weights.small;

  // The next calls: new units on the new weights, each as /v1/assign says.
  const after = await serve(exp, units(`${exp.key}-b2`, 300));
  await expectSplitAsAssigned(exp, after, 2);
  expectShare(after, 'small', weights.small / total);

  // Through the change: every stream whole; the 8B variant only grew, so a unit it served is still its own.
  expectStreamsWhole(streams);
  const now = (await assigned(exp, streams.map((s) => s.unit))).variants;
  expect(streams.filter((s) => s.variant === 'small' && now.get(s.unit) !== 'small')).toEqual([]);

  await expectMeasuredOnce(exp, [...before, ...streams, ...after]);
});
