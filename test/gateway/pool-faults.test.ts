import type { INestApplicationContext } from '@nestjs/common';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { startFakeUpstream, startRawUpstream, type FakeRequest, type FakeUpstream, type RawUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, outcomes, unitIn, type Client } from './support/gateway-fixture';

/**
 * The pool faults of issue #18 ("Bad input and faults", "Tests and proof") that pools.test.ts
 * does not cover: a pool edited while 100 streams are in flight, an instance that accepts
 * connections and never answers, and sticky mode measured as (simulated) prompt-cache hits.
 * Memory under pool faults is in pool-memory.test.ts (a process of its own, no worker).
 */
jest.setTimeout(90_000);

let t: TestApp;
let worker: INestApplicationContext;
let control: FakeUpstream;
let a: FakeUpstream;
let b: FakeUpstream;
let c: FakeUpstream;
let d: FakeUpstream;
let hung: RawUpstream;
let hung2: RawUpstream;

beforeAll(async () => {
  [t, control, a, b, c, d, hung, hung2] = await Promise.all([
    startTestApp(GATEWAY_TEST_SETTINGS),
    startFakeUpstream('ctl'),
    startFakeUpstream('A'),
    startFakeUpstream('B'),
    startFakeUpstream('C'),
    startFakeUpstream('D'),
    startRawUpstream('hang'),
    startRawUpstream('hang'),
  ]);
  worker = await startTestWorker(t.config);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([control, a, b, c, d, hung, hung2].map((f) => f?.close()));
});

type Experiment = Awaited<ReturnType<typeof gatewayExperiment>>;

/** An experiment whose `small` variant is served by a pool of these instances. */
async function pooled(instances: Array<{ baseUrl: string; weight?: number }>, upstream: Record<string, unknown> = {}): Promise<Experiment & { unit: string }> {
  const exp = await gatewayExperiment(t.url, t.adminKey, control, a, {}, { small: { baseUrl: undefined, instances, ...upstream } });
  return { ...exp, unit: await unitIn(exp.sdk, exp.key, 'small') };
}

interface Answer {
  status: number;
  eventId: string | null;
  /** The upstream's request id, passed through: `req-<instance name>-<n>`. */
  upstreamRequestId: string | null;
  bytes: Buffer;
}

async function call(exp: { sdkKey: string; key: string }, unit: string, messages: Array<{ role: string; content: string }>, options: { stream?: boolean; signal?: AbortSignal } = {}): Promise<Answer> {
  const response = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': unit },
    body: JSON.stringify({ model: exp.key, messages, ...(options.stream ? { stream: true } : {}) }),
    signal: options.signal,
  });
  const bytes = Buffer.from(await response.arrayBuffer());
  return { status: response.status, eventId: response.headers.get('x-verdict-event-id'), upstreamRequestId: response.headers.get('x-request-id'), bytes };
}

const say = (text: string) => [{ role: 'user', content: text }];

/** The requests an instance received whose last message is `text`. */
const received = (f: FakeUpstream, text: string): FakeRequest[] => f.requests.filter((r) => r.body.messages?.at(-1)?.content === text);

/** Waits until the worker stored an outcome for each of these event ids, then returns them (all rows of the experiment). */
async function storedOutcomes(experimentId: string, eventIds: string[]) {
  const wanted = new Set(eventIds);
  await eventually(async () => (await outcomes(t.db, experimentId)).filter((o) => wanted.has(o.event_id)).length === wanted.size, 30_000, 100);
  return outcomes(t.db, experimentId);
}

async function editPool(admin: Client, key: string, instances: Array<{ baseUrl: string; weight: number }>) {
  const got = await admin.get(`/v1/experiments/${key}`);
  const variants = got.body.variants.map(({ rolledBack: _rolledBack, ...v }: any) => ({ ...v, upstream: v.upstream && { ...v.upstream } }));
  variants.find((v: any) => v.key === 'small').upstream.instances = instances;
  return admin.patch(`/v1/experiments/${key}`, { variants });
}

describe('a pool edited while 100 streams are in flight', () => {
  it('fails no call: the streams finish byte-exact on their instance, new calls use the new pool, every outcome is recorded once', async () => {
    const exp = await pooled([{ baseUrl: a.url }, { baseUrl: b.url }, { baseUrl: c.url }]);
    const fakes = [a, b, c, d];
    const startedAt = fakes.map((f) => f.requests.length);
    const newRequests = () => fakes.map((f, i) => f.requests.slice(startedAt[i]));

    // 100 streams of 20 chunks 50 ms apart, each with its own text to find it upstream. Each one
    // sends half its chunks, then waits at a gate (opened once the new pool is in force) for the rest.
    let open = () => {};
    const gate = new Promise<void>((resolve) => (open = resolve));
    for (const f of fakes) f.options.gate = gate;
    const texts = Array.from({ length: 100 }, (_, i) => `gated:20:50:s${i}`);
    let finished = 0;
    const streams = texts.map((text) =>
      call(exp, exp.unit, say(text), { stream: true }).then((answer) => {
        finished++;
        return answer;
      }),
    );
    // Every stream reached its instance (and is being answered) before the pool changes.
    await eventually(async () => newRequests().flat().length === 100, 30_000, 10);
    let inFlightAtPatch: number | undefined;
    const probes: Answer[] = [];
    try {
      // Remove A, re-weight B (3), keep C, add D.
      const patched = await editPool(exp.admin, exp.key, [
        { baseUrl: b.url, weight: 3 },
        { baseUrl: c.url, weight: 1 },
        { baseUrl: d.url, weight: 1 },
      ]);
      expect(patched.status).toBe(200);
      inFlightAtPatch = 100 - finished;

      // The change reaches this replica through the change bus: short streams (10 at once) until one is
      // answered by D; calls made meanwhile may still use the old pool, and must not fail either.
      let round = 0;
      await eventually(
        async () => {
          round++;
          const batch = await Promise.all(Array.from({ length: 10 }, (_, i) => call(exp, exp.unit, say(`stream:3:20:p${round}-${i}`), { stream: true })));
          probes.push(...batch);
          return batch.some((p) => p.upstreamRequestId?.startsWith('req-D-'));
        },
        20_000,
        0,
      );
      expect(finished).toBe(0);
    } finally {
      // The streams that were in flight go on to their end (drain).
      open();
    }
    // Then new calls, 50 streams at once: none to A, the rest spread over B, C and D by calls in
    // flight per weight (B weighs 3, C and D 1 each).
    const answers = await Promise.all(streams);
    const before = fakes.map((f) => f.requests.length);
    const fresh = await Promise.all(Array.from({ length: 50 }, (_, i) => call(exp, exp.unit, say(`stream:5:40:n${i}`), { stream: true })));
    const [na, nb, nc, nd] = fakes.map((f, i) => f.requests.length - before[i]);

    // The pool changed while the 100 streams ran: none had ended when the PATCH returned.
    console.log(`pool edit: ${inFlightAtPatch} of 100 streams in flight when the PATCH returned; then new calls A ${na}, B ${nb}, C ${nc}, D ${nd}`);
    expect(inFlightAtPatch).toBe(100);

    // Zero failed calls.
    const all = [...answers, ...probes, ...fresh];
    expect(all.map((x) => x.status).filter((s) => s !== 200)).toEqual([]);

    // Each of the 100 streams went to one instance of the old pool, once (no retry), and the client
    // got exactly the bytes that instance sent, to the end.
    texts.forEach((text, i) => {
      const where = fakes.map((f) => received(f, text));
      expect(where.map((r) => r.length).reduce((x, y) => x + y)).toBe(1);
      expect(where[3]).toEqual([]);
      const [request] = where.flat();
      expect(request.abandoned).toBe(false);
      expect(request.sent.toString('utf8')).toMatch(/data: \[DONE\]\n\n$/);
      expect(answers[i].bytes.equals(request.sent)).toBe(true);
    });
    // The old pool's three instances all carried some of them (A included, which was then removed).
    for (const f of [a, b, c]) expect(newRequests()[fakes.indexOf(f)].filter((r) => /^gated:20:50:/.test(r.body.messages.at(-1).content)).length).toBeGreaterThan(0);

    // After the change reached this replica: nothing to A, the new instance D is used, B (weight 3) gets more than C or D.
    expect(na).toBe(0);
    expect(nd).toBeGreaterThan(0);
    expect(nb).toBeGreaterThan(nc);
    expect(nb).toBeGreaterThan(nd);
    for (const answer of fresh) expect(answer.upstreamRequestId).toMatch(/^req-[BCD]-/);

    // One outcome per call: each event id stored once, as a success of `small`.
    const ids = all.map((x) => x.eventId!);
    expect(new Set(ids).size).toBe(all.length);
    const stored = await storedOutcomes(exp.id, ids);
    expect(stored).toHaveLength(all.length);
    expect(new Set(stored.map((o) => o.event_id))).toEqual(new Set(ids));
    expect(stored.filter((o) => !(o.success === true && o.error === null && o.variant === 'small'))).toEqual([]);
  });
});

describe('an instance that accepts connections and never answers', () => {
  // Long enough that A and B always send their answer headers within it on a loaded machine.
  const TIMEOUT_MS = 1500;

  it('holds no call past its timeout: calls fail over before the first byte with no client error, are recorded once, and the instance is cooled down', async () => {
    const exp = await pooled([{ baseUrl: a.url }, { baseUrl: hung.url }, { baseUrl: b.url }], {
      timeoutMs: TIMEOUT_MS,
      health: { failures: 2, windowMs: 30_000, coolDownMs: 60_000 },
    });
    const before = [a.requests.length, b.requests.length];
    const hungBefore = hung.requests;
    // A client-side bound: a call that hangs (no timeout upstream) fails the test instead of stalling it.
    const bound = () => AbortSignal.timeout(2 * TIMEOUT_MS + 10_000);

    // 30 calls at once, half of them streams: about a third are sent to the silent instance first.
    const texts = Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? `stream:4:10:h${i}` : `hello h${i}`));
    const answers = await Promise.all(texts.map((text, i) => call(exp, exp.unit, say(text), { stream: i % 2 === 0, signal: bound() })));
    expect(answers.map((x) => x.status)).toEqual(Array(30).fill(200));
    const sentToHung = hung.requests - hungBefore;
    console.log(`silent instance: ${sentToHung} of 30 calls sent to it first, all answered by another instance`);
    expect(sentToHung).toBeGreaterThanOrEqual(2);

    // Every call was answered by A or B, once, and streams arrived whole (never a half-retried stream).
    texts.forEach((text, i) => {
      const where = [...received(a, text), ...received(b, text)];
      expect(where).toHaveLength(1);
      expect(answers[i].bytes.equals(where[0].sent)).toBe(true);
    });
    expect(a.requests.length - before[0] + (b.requests.length - before[1])).toBe(30);

    // One outcome per call, a success; the calls that waited for the silent instance took at least its timeout.
    const ids = answers.map((x) => x.eventId!);
    const stored = await storedOutcomes(exp.id, ids);
    expect(stored).toHaveLength(30);
    expect(stored.filter((o) => !(o.success === true && o.error === null))).toEqual([]);
    expect(stored.filter((o) => (o.latency_ms ?? 0) >= TIMEOUT_MS).length).toBeGreaterThanOrEqual(sentToHung);

    // Cooled down, and while it is, no call is sent to it.
    const state = await exp.admin.get('/v1/gateway/upstreams');
    const hungState = state.body.instances.find((i: any) => i.experiment === exp.key && i.baseUrl === hung.url);
    expect(hungState).toMatchObject({ variant: 'small', inFlight: 0, coolDowns: 1 });
    expect(hungState.cooledUntil).not.toBeNull();
    const during = hung.requests;
    for (let i = 0; i < 10; i++) expect((await call(exp, exp.unit, say('hello'), { signal: bound() })).status).toBe(200);
    expect(hung.requests).toBe(during);
  });

  it('when every instance is silent: the call ends with a 504 after one failover, recorded once with class timeout', async () => {
    const exp = await pooled([{ baseUrl: hung.url }, { baseUrl: hung2.url }], { timeoutMs: TIMEOUT_MS });
    const before = [hung.requests, hung2.requests];
    const answer = await call(exp, exp.unit, say('hello'), { signal: AbortSignal.timeout(2 * TIMEOUT_MS + 10_000) });
    expect(answer.status).toBe(504);
    expect(JSON.parse(answer.bytes.toString('utf8')).error).toMatchObject({ type: 'timeout_error', code: 'timeout' });
    // Tried on both, once each.
    expect([hung.requests - before[0], hung2.requests - before[1]]).toEqual([1, 1]);
    const stored = await storedOutcomes(exp.id, [answer.eventId!]);
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ event_id: answer.eventId, variant: 'small', success: false, error: 'timeout' });
    expect(stored[0].latency_ms).toBeGreaterThanOrEqual(2 * TIMEOUT_MS);
  });
});

describe('sticky mode measured as prompt-cache hits', () => {
  const UNITS = 24;
  const REPEATS = 4;
  const INSTANCES = 3;

  /** `count` distinct units that the experiment assigns to `small`. */
  async function unitsInSmall(exp: Experiment, count: number): Promise<string[]> {
    const units: string[] = [];
    for (let i = 0; units.length < count && i < 20 * count; i++) {
      const assigned = await exp.sdk.post('/v1/assign', { experiment: exp.key, unitId: `cache-${i}` });
      if (assigned.body.variant === 'small' && assigned.body.inExperiment) units.push(`cache-${i}`);
    }
    if (units.length < count) throw new Error('not enough units in small');
    return units;
  }

  /** Each unit sends its own long system prompt `REPEATS` times (rounds over the units, one call at a time); the share of prompt-cache hits the client was told of. */
  async function hitRate(balance: 'sticky' | 'least_in_flight'): Promise<{ rate: number; instanceHits: number }> {
    const pool = [a, b, c];
    for (const f of pool) {
      f.options.promptCache = true;
      f.cache.prefixes.clear();
      f.cache.hits = 0;
      f.cache.misses = 0;
    }
    const exp = await pooled(
      pool.map((f) => ({ baseUrl: f.url })),
      { balance },
    );
    const units = await unitsInSmall(exp, UNITS);
    let hits = 0;
    for (let round = 0; round < REPEATS; round++) {
      for (const unit of units) {
        const answer = await call(exp, unit, [
          { role: 'system', content: `You are the assistant of ${unit}. ${'Follow the house style. '.repeat(20)}` },
          { role: 'user', content: `question ${round}` },
        ]);
        expect(answer.status).toBe(200);
        if (JSON.parse(answer.bytes.toString('utf8')).usage.prompt_tokens_details.cached_tokens > 0) hits++;
      }
    }
    for (const f of pool) f.options.promptCache = false;
    return { rate: hits / (UNITS * REPEATS), instanceHits: pool.reduce((n, f) => n + f.cache.hits, 0) };
  }

  it('with sticky on, units repeating their prompt hit the cache far more often than with it off', async () => {
    const sticky = await hitRate('sticky');
    const spread = await hitRate('least_in_flight');
    console.log(`prompt-cache hit rate: sticky ${sticky.rate.toFixed(3)}, least in flight ${spread.rate.toFixed(3)} (${UNITS} units x ${REPEATS} calls, ${INSTANCES} instances)`);
    // The hits the client was told of are the instances' own count.
    expect(sticky.instanceHits).toBe(Math.round(sticky.rate * UNITS * REPEATS));
    expect(spread.instanceHits).toBe(Math.round(spread.rate * UNITS * REPEATS));

    // Sticky: a unit stays on its instance, so every call but its first is a hit: (R - 1) / R.
    expect(sticky.rate).toBe((REPEATS - 1) / REPEATS);
    // Not sticky, one call at a time: each call goes to an instance at random (ties), so a unit
    // misses once per distinct instance it meets: expected hit rate (R - N (1 - (1 - 1/N)^R)) / R,
    // 0.40 for R = 4, N = 3 (standard deviation about 0.03 over 24 units).
    const expected = (REPEATS - INSTANCES * (1 - (1 - 1 / INSTANCES) ** REPEATS)) / REPEATS;
    expect(Math.abs(spread.rate - expected)).toBeLessThan(0.15);
    expect(sticky.rate).toBeGreaterThan(spread.rate + 0.2);
  });
});
