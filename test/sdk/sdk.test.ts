import type { INestApplicationContext } from '@nestjs/common';
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { createClient, type Assignment, type ClientOptions, type ExposureEvent, type VerdictClient } from '../../libs/sdk/src';
import { experimentBody } from '../factories/experiment.factory';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';

// The SDK (imported from its source) against the real API and worker on a cloned database.
jest.setTimeout(60_000);

let t: TestApp;
let worker: INestApplicationContext;
let admin: ReturnType<typeof client>;
let sdkKey: string;
const clients: VerdictClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ RATE_LIMIT_PER_SECOND: '100000' });
  worker = await startTestWorker(t.config);
  admin = client(t.url, t.adminKey);
  sdkKey = (await admin.post('/v1/api-keys', { name: 'sdk-test', scope: 'sdk' })).body.key;
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await worker?.close();
  await t?.close();
});

function sdkClient(options: Partial<ClientOptions> = {}): VerdictClient {
  const c = createClient({ baseUrl: t.url, apiKey: sdkKey, flushOnExit: false, ...options });
  clients.push(c);
  return c;
}

async function runningExperiment(overrides: Record<string, unknown> = {}, base = admin) {
  const body = experimentBody(overrides);
  expect((await base.post('/v1/experiments', body)).status).toBe(201);
  expect((await base.post(`/v1/experiments/${body.key}/start`)).status).toBe(200);
  return body;
}

async function experimentId(key: string, db = t.db): Promise<string> {
  return (await db.query('SELECT id FROM experiment WHERE key = $1', [key]))[0].id;
}

/** Waits until the client serves the version the service serves now. */
async function caughtUp(c: VerdictClient): Promise<void> {
  const version = (await client(t.url, sdkKey).get('/v1/sdk/config')).body.version;
  await eventually(async () => c.snapshot()?.version === version, 5000, 10);
}

const answer = (a: Assignment) => ({ variant: a.variant, config: a.config, inExperiment: a.inExperiment, phase: a.phase, reason: a.reason });

describe('assignment parity with the service', () => {
  it('gives the service answer for 100,000 units across every layout', async () => {
    const three = [
      { key: 'control', weight: 1, isControl: true, config: { model: 'a' } },
      { key: 'b', weight: 1, config: { model: 'b' } },
      { key: 'c', weight: 2, config: { model: 'c' } },
    ];
    const exps = [
      await runningExperiment(),
      await runningExperiment({ variants: [{ key: 'control', weight: 9, isControl: true }, { key: 'small', weight: 1, config: { model: '8b' } }] }),
      await runningExperiment({ variants: three }),
      await runningExperiment({ trafficAllocation: 0.3 }),
      await runningExperiment({ layer: { key: 'sdk-parity', start: 0, end: 0.4 } }),
      await runningExperiment({ layer: { key: 'sdk-parity', start: 0.4, end: 1 } }),
      await runningExperiment({ forced: { 'u-6': 'small', 'u-15': 'control', 'u-24': 'small' } }),
      await runningExperiment(),
      await runningExperiment(),
    ];
    await admin.post(`/v1/experiments/${exps[7].key}/pause`);
    await admin.post(`/v1/experiments/${exps[8].key}/conclude`, { winner: 'small' });
    // A ramp as well: phase 2 with new weights.
    await admin.patch(`/v1/experiments/${exps[0].key}`, { variants: [{ key: 'control', weight: 3, isControl: true }, { key: 'small', weight: 1 }] });

    const c = sdkClient({ batch: { maxBatchSize: 1000, maxBufferSize: 200_000 } });
    expect((await c.ready()).source).toBe('service');
    await caughtUp(c);

    // Unit i is asked of experiment i mod 9; the two layer experiments are both asked of each of their units.
    const items: Array<{ experiment: string; unitId: string }> = [];
    for (let i = 0; i < 100_000; i++) {
      const e = i % exps.length;
      items.push({ experiment: exps[e].key, unitId: `u-${i}` });
      if (e === 4) items.push({ experiment: exps[5].key, unitId: `u-${i}` });
    }
    const sdk = client(t.url, sdkKey);
    const reasons = new Map<string, number>();
    const chunks = Array.from({ length: Math.ceil(items.length / 1000) }, (_, k) => items.slice(k * 1000, (k + 1) * 1000));
    for (let k = 0; k < chunks.length; k += 4) {
      const answers = await Promise.all(chunks.slice(k, k + 4).map((chunk) => sdk.post('/v1/assign/batch', { items: chunk })));
      answers.forEach((res, j) => {
        expect(res.status).toBe(200);
        const chunk = chunks[k + j];
        res.body.assignments.forEach((server: Assignment, n: number) => {
          const local = c.assign(chunk[n].experiment, chunk[n].unitId);
          if (JSON.stringify(answer(local)) !== JSON.stringify(answer(server))) {
            expect({ ...chunk[n], ...answer(local) }).toEqual({ ...chunk[n], ...answer(server) });
          }
          reasons.set(local.reason, (reasons.get(local.reason) ?? 0) + 1);
        });
      });
    }
    // Every layout was exercised.
    for (const reason of ['hashed', 'not_allocated', 'other_layer_slot', 'forced', 'paused', 'concluded']) {
      expect({ reason, n: reasons.get(reason) ?? 0 }).toEqual({ reason, n: expect.any(Number) });
      expect(reasons.get(reason)).toBeGreaterThan(0);
    }
    expect(c.assign(exps[0].key, 'u-0').phase).toBe(2);
    expect(c.assign(exps[2].key, 'u-2').config).toEqual(three.find((v) => v.key === c.assign(exps[2].key, 'u-2').variant)!.config);
  });
});

describe('exposures', () => {
  it('calls onAssignment once per unit and experiment and stores each unit once', async () => {
    const a = await runningExperiment();
    const b = await runningExperiment({ trafficAllocation: 0.5, forced: { 'qa-1': 'small' } });
    const events: ExposureEvent[] = [];
    const c = sdkClient({ hooks: { onAssignment: (e) => events.push(e) }, batch: { flushIntervalMs: 100 } });
    await c.ready();
    await caughtUp(c);
    const before = Date.now();
    const expected = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 1500; i++) {
        for (const exp of [a, b]) {
          const r = round === 2 ? await c.run(exp.key, `x-${i}`, async (x) => x.variant) : c.assign(exp.key, `x-${i}`).variant;
          const again = c.assign(exp.key, `x-${i}`);
          expect(again.variant).toBe(r);
          if (again.inExperiment) expected.set(`${exp.key}|x-${i}`, again.variant!);
        }
      }
    }
    c.assign(b.key, 'qa-1');
    const keys = events.map((e) => `${e.experiment}|${e.unitId}`);
    expect(new Set(keys).size).toBe(keys.length);
    expect(new Map(events.map((e) => [`${e.experiment}|${e.unitId}`, e.variant]))).toEqual(expected);
    for (const e of events) {
      expect(e).toEqual({ experiment: expect.any(String), unitId: expect.any(String), variant: expect.any(String), phase: 1, timestamp: expect.any(String) });
      expect(Date.parse(e.timestamp)).toBeGreaterThanOrEqual(before - 1);
    }
    expect(events.some((e) => e.unitId === 'qa-1')).toBe(false);

    expect(await c.flush()).toBe(true);
    const perExperiment = async (key: string) => {
      const id = await experimentId(key);
      const [row] = await t.db.query('SELECT count(*)::int AS units, COALESCE(sum(exposures), 0)::int AS seen FROM exposure WHERE experiment_id = $1', [id]);
      return row as { units: number; seen: number };
    };
    const inA = [...expected.keys()].filter((k) => k.startsWith(`${a.key}|`)).length;
    const inB = expected.size - inA;
    expect(inA).toBe(1500);
    expect(inB).toBeGreaterThan(500);
    await eventually(async () => (await perExperiment(a.key)).units === inA && (await perExperiment(b.key)).units === inB);
    // Sent once per unit: the service counts every exposure it receives, and saw one each.
    expect(await perExperiment(a.key)).toEqual({ units: inA, seen: inA });
    expect(await perExperiment(b.key)).toEqual({ units: inB, seen: inB });
    const stored = await t.db.query('SELECT unit_id, variant FROM exposure WHERE experiment_id = $1', [await experimentId(b.key)]);
    for (const row of stored) expect(expected.get(`${b.key}|${row.unit_id}`)).toBe(row.variant);
  });
});

/** A TCP proxy that a test can cut: `blackhole` forwards requests but drops the answers, `down` cuts and refuses. */
class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  mode: 'open' | 'blackhole' | 'down' = 'open';
  swallowed = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<string> {
    this.server = createServer((downstream) => {
      if (this.mode === 'down') return downstream.destroy();
      const upstream = createConnection(this.target.port, this.target.host);
      for (const s of [downstream, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      downstream.on('data', (d) => (this.mode === 'down' ? undefined : upstream.write(d)));
      upstream.on('data', (d) => {
        if (this.mode === 'open') downstream.write(d);
        else this.swallowed++;
      });
      downstream.on('close', () => upstream.destroy());
      upstream.on('close', () => downstream.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  set(mode: CuttableProxy['mode']): void {
    this.mode = mode;
    if (mode === 'down') for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.set('down');
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

describe('outcomes through an outage', () => {
  it('delivers every tracked outcome exactly once', async () => {
    const exp = await runningExperiment();
    const { port } = new URL(t.url);
    const proxy = new CuttableProxy({ host: '127.0.0.1', port: Number(port) });
    const url = await proxy.start();
    const errors: Error[] = [];
    const c = sdkClient({
      baseUrl: url,
      requestTimeoutMs: 700,
      hooks: { onError: (e) => errors.push(e) },
      refresh: { reconnectBaseMs: 100, reconnectMaxMs: 500, pollIntervalMs: 200 },
      batch: { maxBatchSize: 50, flushIntervalMs: 50, retryBaseMs: 50, retryMaxMs: 400, maxAttempts: 8 },
    });
    await c.ready();
    await caughtUp(c);
    try {
      const ids: string[] = [];
      const started = Date.now();
      const schedule = [
        [1000, 'blackhole'],
        [2500, 'down'],
        [5000, 'open'],
      ] as const;
      let step = 0;
      for (let tick = 0; Date.now() - started < 6500; tick++) {
        const elapsed = Date.now() - started;
        if (step < schedule.length && elapsed >= schedule[step][0]) proxy.set(schedule[step++][1]);
        for (let j = 0; j < 10; j++) {
          const unitId = `o-${(tick * 10 + j) % 400}`;
          if (j % 2 === 0) ids.push(c.track({ experiment: exp.key, unitId, latencyMs: 100 + j, success: j !== 4, score: 0.5 }));
          else ids.push(await c.run(exp.key, unitId, async () => ({ usage: { prompt_tokens: 10, completion_tokens: 5 } })).then(() => ''));
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(proxy.mode).toBe('open');
      for (let i = 0; i < 20 && !(await c.flush()); i++);
      expect(c.stats().outcomes).toMatchObject({ buffered: 0, dropped: 0, rejected: 0 });
      expect(proxy.swallowed).toBeGreaterThan(0);
      expect(errors.some((e) => /outcomes/.test(e.message))).toBe(true);

      const tracked = ids.filter(Boolean);
      const total = ids.length;
      const id = await experimentId(exp.key);
      await eventually(async () => {
        const [row] = await t.db.query('SELECT count(*)::int AS n FROM outcome_event_key WHERE experiment_id = $1', [id]);
        return row.n >= total;
      }, 20_000);
      const rows: Array<{ event_id: string; n: number }> = await t.db.query(
        'SELECT event_id, count(*)::int AS n FROM outcome_event WHERE experiment_id = $1 GROUP BY event_id',
        [id],
      );
      expect(rows.length).toBe(total);
      expect(rows.filter((r) => r.n !== 1)).toEqual([]);
      const stored = new Set(rows.map((r) => r.event_id));
      expect(tracked.filter((x) => !stored.has(x))).toEqual([]);
      // The aggregates counted each event once too.
      await eventually(async () => {
        const [m] = await t.db.query(`SELECT COALESCE(sum(n), 0)::int AS n FROM outcome_moment WHERE experiment_id = $1 AND metric = '$events'`, [id]);
        return m.n === total;
      });
      // The config stream came back by itself.
      await eventually(async () => c.stats().streamConnected, 5000);
    } finally {
      await c.close();
      await proxy.stop();
    }
  });
});

describe('config refresh', () => {
  it('receives a weight change through the stream (how fast: bench/propagation.ts)', async () => {
    const exp = await runningExperiment();
    const c = sdkClient({ refresh: { pollIntervalMs: 60_000 } });
    await c.ready();
    await eventually(async () => c.stats().streamConnected, 5000, 10);
    await caughtUp(c);
    let seen = false;
    c.onSnapshot((s) => {
      if (s.experiments.find((x) => x.key === exp.key)?.phase === 2) seen = true;
    });
    const res = await admin.patch(`/v1/experiments/${exp.key}`, { variants: [{ key: 'control', weight: 1, isControl: true }, { key: 'small', weight: 9 }] });
    expect(res.status).toBe(200);
    await eventually(async () => seen, 15_000, 5);
    // Through the stream, not a poll (polling every 60 s here).
    expect(c.stats().streamConnected).toBe(true);
    const weights = c.snapshot()!.experiments.find((e) => e.key === exp.key)!.variants.map((v) => [v.key, v.weight]);
    expect(weights).toEqual([['control', 0.1], ['small', 0.9]]);
    const items = Array.from({ length: 200 }, (_, i) => ({ experiment: exp.key, unitId: `w-${i}` }));
    const server = (await client(t.url, sdkKey).post('/v1/assign/batch', { items })).body.assignments;
    items.forEach((item, i) => expect(answer(c.assign(item.experiment, item.unitId))).toEqual(answer(server[i])));
  });
});

describe('without the service', () => {
  it('keeps serving the last snapshot when the service stops, and a passed snapshot when it never answers', async () => {
    const t2 = await startTestApp();
    let stopped = false;
    try {
      const admin2 = client(t2.url, t2.adminKey);
      const key = (await admin2.post('/v1/api-keys', { name: 'offline', scope: 'sdk' })).body.key;
      const exp = await runningExperiment({ variants: [{ key: 'control', weight: 1, isControl: true }, { key: 'small', weight: 1 }, { key: 'tiny', weight: 1 }] }, admin2);
      const errors: Error[] = [];
      const c = createClient({
        baseUrl: t2.url, apiKey: key, flushOnExit: false,
        refresh: { reconnectBaseMs: 100, reconnectMaxMs: 300, pollIntervalMs: 100 },
        hooks: { onError: (e) => errors.push(e) },
      });
      clients.push(c);
      expect((await c.ready()).source).toBe('service');
      await eventually(async () => c.stats().streamConnected, 5000, 10);
      const units = Array.from({ length: 1000 }, (_, i) => `s-${i}`);
      const online = units.map((u) => answer(c.assign(exp.key, u)));
      expect(new Set(online.map((a) => a.variant))).toEqual(new Set(['control', 'small', 'tiny']));
      const last = c.snapshot()!;

      await t2.close();
      stopped = true;
      await eventually(async () => !c.stats().streamConnected && errors.length > 2, 5000);
      // Polls and reconnects keep failing (three more failures reported); the answers do not change.
      const failures = errors.length;
      await eventually(async () => errors.length >= failures + 3, 10_000);
      expect(units.map((u) => answer(c.assign(exp.key, u)))).toEqual(online);
      expect(c.snapshot()).toBe(last);

      // A process that starts while the service is away: the passed snapshot, or no variant (serve the control).
      const cold = createClient({ baseUrl: t2.url, apiKey: key, flushOnExit: false, snapshot: last, readyTimeoutMs: 500, hooks: { onError: () => undefined } });
      const bare = createClient({ baseUrl: t2.url, apiKey: key, flushOnExit: false, readyTimeoutMs: 500, hooks: { onError: () => undefined } });
      clients.push(cold, bare);
      expect(await cold.ready()).toEqual({ source: 'snapshot', version: last.version });
      expect(units.map((u) => answer(cold.assign(exp.key, u)))).toEqual(online);
      expect(await bare.ready()).toEqual({ source: 'none', version: null });
      expect(bare.assign(exp.key, 's-1')).toMatchObject({ variant: null, inExperiment: false, reason: 'unknown_experiment' });
    } finally {
      if (!stopped) await t2.close();
    }
  });
});
