import type { INestApplicationContext } from '@nestjs/common';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, outcomes, unitIn } from './support/gateway-fixture';

jest.setTimeout(90_000);

let t: TestApp;
let worker: INestApplicationContext;
let control: FakeUpstream;
let a: FakeUpstream;
let b: FakeUpstream;
let c: FakeUpstream;

beforeAll(async () => {
  [t, control, a, b, c] = await Promise.all([startTestApp(GATEWAY_TEST_SETTINGS), startFakeUpstream('ctl'), startFakeUpstream('A'), startFakeUpstream('B'), startFakeUpstream('C')]);
  worker = await startTestWorker(t.config);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([control, a, b, c].map((f) => f?.close()));
});
beforeEach(() => {
  for (const f of [control, a, b, c]) {
    f.options.firstTokenMs = 0;
    f.options.fail = undefined;
  }
});

/** An experiment whose `small` variant is served by the three instances A, B, C. */
async function pooled(upstream: Record<string, unknown> = {}) {
  const exp = await gatewayExperiment(t.url, t.adminKey, control, a, {}, {
    small: { baseUrl: undefined, instances: [{ baseUrl: a.url }, { baseUrl: b.url }, { baseUrl: c.url }], ...upstream },
  });
  return { ...exp, unit: await unitIn(exp.sdk, exp.key, 'small') };
}

async function call(exp: { sdkKey: string; key: string }, unit: string, text = 'hello') {
  const response = await fetch(`${t.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': unit },
    body: JSON.stringify({ model: exp.key, messages: [{ role: 'user', content: text }] }),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

const counts = () => [a.requests.length, b.requests.length, c.requests.length];
const delta = (before: number[]) => counts().map((n, i) => n - before[i]);

describe('instance pools', () => {
  it('spreads calls by calls in flight: a slower instance gets fewer', async () => {
    const exp = await pooled();
    a.options.firstTokenMs = 5;
    b.options.firstTokenMs = 5;
    // 60x slower: on a starved machine the gateway's own time per call must not hide the difference.
    c.options.firstTokenMs = 300;
    const before = counts();
    // 8 concurrent clients, 15 calls each, one after the other.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 15; i++) expect((await call(exp, exp.unit)).status).toBe(200);
      }),
    );
    const [na, nb, nc] = delta(before);
    expect(na + nb + nc).toBe(120);
    // In-flight counts stay level, so each instance's share follows its speed.
    expect(nc).toBeLessThan(na * 0.8);
    expect(nc).toBeLessThan(nb * 0.8);
    expect(nc).toBeGreaterThan(0);
  });

  it('peak_ewma: a 10x slower instance gets far fewer calls, even one call at a time (where least in flight draws at random)', async () => {
    const exp = await pooled({ balance: 'peak_ewma' });
    const stored = await exp.admin.get(`/v1/experiments/${exp.key}`);
    expect(stored.body.variants.find((v: any) => v.key === 'small').upstream).toMatchObject({ balance: 'peak_ewma', balanceOptions: { tauMs: 10_000 } });
    a.options.firstTokenMs = 10;
    b.options.firstTokenMs = 10;
    // 60x slower: on a starved machine the gateway's own time per call must not hide the difference.
    c.options.firstTokenMs = 300;
    const before = counts();
    // One client, 30 calls one after the other: every instance has 0 in flight at each pick, so
    // only the latency cost tells them apart. C is tried (unobserved, it ties with the best),
    // then its cost (100 ms+, held at its peak) keeps it out for ~tau x ln(10) = 23 s.
    for (let i = 0; i < 30; i++) expect((await call(exp, exp.unit)).status).toBe(200);
    const [na, nb, nc] = delta(before);
    expect(na + nb + nc).toBe(30);
    expect(nc).toBeLessThanOrEqual(4);
    expect(na).toBeGreaterThan(0);
    expect(nb).toBeGreaterThan(0);
  });

  it.each([
    [{ balance: 'peak_ewma', balanceOptions: { tauMs: 10 } }, 'variants.0.upstream.balanceOptions.tauMs'],
    [{ balance: 'peak_ewma', balanceOptions: { tau: 1000 } }, 'variants.0.upstream.balanceOptions.tau'],
    [{ balanceOptions: { tauMs: 1000 } }, 'variants.0.upstream.balanceOptions'],
    [{ balance: 'ewma' }, 'variants.0.upstream.balance'],
  ])('refuses balance settings %j with a 400 naming the field', async (settings, field) => {
    const body = experimentBody({
      variants: [
        { key: 'a', weight: 1, isControl: true, config: { model: 'm' }, upstream: { baseUrl: a.url, model: 'm', ...settings } },
        { key: 'b', weight: 1 },
      ],
    });
    const res = await client(t.url, t.adminKey).post('/v1/experiments', body);
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e: { field: string }) => e.field)).toEqual([field]);
  });

  it('sticky mode keeps a unit on one instance', async () => {
    const exp = await pooled({ balance: 'sticky' });
    const before = counts();
    for (let i = 0; i < 12; i++) expect((await call(exp, exp.unit)).status).toBe(200);
    const spread = delta(before);
    expect(spread.filter((n) => n > 0)).toEqual([12]);
  });

  it('a killed instance fails over with no client error, is cooled down, then comes back after one trial', async () => {
    // A cool-down long enough that the checks made while it lasts finish within it on a loaded machine.
    const exp = await pooled({ health: { failures: 2, windowMs: 10_000, coolDownMs: 6000 } });
    b.options.fail = 'reset';
    const before = counts();
    const results = await Promise.all(Array.from({ length: 30 }, () => call(exp, exp.unit)));
    expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
    // B saw a few calls (each retried elsewhere), then was cooled down.
    const [na, nb, nc] = delta(before);
    expect(na + nc).toBe(30);
    expect(nb).toBeGreaterThanOrEqual(2);
    expect(nb).toBeLessThan(10);

    const state = await exp.admin.get('/v1/gateway/upstreams');
    expect(state.status).toBe(200);
    const bState = state.body.instances.find((i: any) => i.experiment === exp.key && i.baseUrl === b.url);
    expect(bState).toMatchObject({ variant: 'small', inFlight: 0, coolDowns: 1 });
    expect(bState.cooledUntil).not.toBeNull();
    expect((await exp.sdk.get('/v1/gateway/upstreams')).status).toBe(403);

    // While cooled down, nothing goes to B.
    const during = b.requests.length;
    for (let i = 0; i < 6; i++) expect((await call(exp, exp.unit)).status).toBe(200);
    expect(b.requests.length).toBe(during);

    // Healed and past its cool-down: one trial, then B is in the pool again.
    expect(Date.now()).toBeLessThan(Date.parse(bState.cooledUntil));
    b.options.fail = undefined;
    await new Promise((resolve) => setTimeout(resolve, Date.parse(bState.cooledUntil) - Date.now() + 100));
    // Ties are broken at random: with 24 calls one after the other, B gets more than its trial.
    for (let i = 0; i < 24; i++) expect((await call(exp, exp.unit)).status).toBe(200);
    expect(b.requests.length).toBeGreaterThan(during + 1);
    const after = (await exp.admin.get('/v1/gateway/upstreams')).body.instances.find((i: any) => i.experiment === exp.key && i.baseUrl === b.url);
    expect(after).toMatchObject({ cooledUntil: null, coolDowns: 0 });

    // The operator's metrics count the failovers and the cool-down, and show each instance.
    const metrics = await exp.admin.get('/metrics');
    expect(metrics.status).toBe(200);
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics.body as string)?.[1]);
    expect(value('verdict_gateway_failovers_total')).toBeGreaterThanOrEqual(2);
    expect(value('verdict_gateway_cooldowns_total')).toBeGreaterThanOrEqual(1);
    expect(metrics.body).toContain(`verdict_gateway_upstream_cooled{project=`);
    expect(metrics.body).toMatch(/verdict_gateway_calls_total\{result="ok"\} \d+/);
  });

  it('every instance down: error by default; with whenDown fallback_control the control answers and the variant records a fallback', async () => {
    const failing = await pooled();
    for (const f of [a, b, c]) f.options.fail = '500';
    const refused = await call(failing, failing.unit);
    expect(refused.status).toBe(500);

    const exp = await pooled({ whenDown: 'fallback_control' });
    const served = await call(exp, exp.unit);
    expect(served.status).toBe(200);
    expect(served.body.choices[0].message.content).toBe('Hello from ctl');
    expect(served.headers.get('x-verdict-variant')).toBe('small');
    expect(served.headers.get('x-verdict-served-by')).toBe('big');
    const eventId = served.headers.get('x-verdict-event-id');
    await eventually(async () => (await outcomes(t.db, exp.id)).some((o) => o.event_id === eventId));
    const stored = (await outcomes(t.db, exp.id)).find((o) => o.event_id === eventId)!;
    expect(stored).toMatchObject({ variant: 'small', success: false, error: 'fallback', input_tokens: null, cost_usd: null });
  });

  it('a pool edited under load: no call fails, calls in flight finish on their instance, new calls use the new pool', async () => {
    const exp = await pooled();
    const startedAt = [a.requests.length, b.requests.length];
    for (const f of [a, b, c]) f.options.firstTokenMs = 30;
    const got = await exp.admin.get(`/v1/experiments/${exp.key}`);
    const variants = got.body.variants.map(({ rolledBack: _rolledBack, ...v }: any) => ({ ...v, upstream: v.upstream && { ...v.upstream } }));
    const small = variants.find((v: any) => v.key === 'small');
    small.upstream.instances = [{ baseUrl: c.url, weight: 1 }];
    let stop = false;
    const statuses: number[] = [];
    const load = Promise.all(
      Array.from({ length: 10 }, async () => {
        while (!stop) statuses.push((await call(exp, exp.unit)).status);
      }),
    );
    let before: number[];
    try {
      // Calls flowing before the change, however slow the machine.
      await eventually(async () => statuses.length >= 20, 10_000);
      const patched = await exp.admin.patch(`/v1/experiments/${exp.key}`, { variants });
      expect(patched.body.variants?.find((v: any) => v.key === 'small').upstream.instances).toHaveLength(1);
      // The change reaches this replica through the change bus; on a loaded machine that can take a moment.
      // Then a window of 400 ms under load must send nothing to A or B.
      await eventually(async () => {
        before = counts();
        await new Promise((resolve) => setTimeout(resolve, 400));
        return delta(before).slice(0, 2).every((n) => n === 0);
      }, 5_000, 0);
    } finally {
      stop = true;
      await load;
    }
    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const [na, nb] = delta(before!);
    expect(na + nb).toBe(0);
    // The calls that were running on A and B when the pool changed finished there.
    expect([...a.requests.slice(startedAt[0]), ...b.requests.slice(startedAt[1])].filter((r) => r.abandoned)).toHaveLength(0);
  });
});
