import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { ConfigStreams } from '../../libs/assignment/config-streams';
import { experimentBody } from '../factories/experiment.factory';
import { backendSettings, defaultTestBackend } from '../support/backends';
import { cloneTemplate } from '../support/databases';
import { client } from '../support/http-client';
import { startTestApp, testPrefix, type TestApp } from '../support/test-app';
import { eventually } from '../support/test-worker';
import { exited, freePort } from '../ingestion/support/processes';

/**
 * Config streams are bounded (docs/adr/0017): a cap per key and per replica, clients that
 * do not read are dropped rather than buffered, and nothing stays behind when they go.
 */
jest.setTimeout(180_000);

const ROOT = join(__dirname, '..', '..');

/** A config-stream client that sends its request and then never reads a byte. */
async function nonReader(url: string, key: string): Promise<{ socket: Socket; closed: () => boolean }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let closed = false;
  socket.on('close', () => (closed = true));
  socket.on('error', () => undefined);
  socket.write(`GET /v1/sdk/config/stream HTTP/1.1\r\nHost: verdict\r\nAuthorization: Bearer ${key}\r\n\r\n`);
  socket.pause();
  return { socket, closed: () => closed };
}

/** A config-stream client that reads every event, as the SDK does. */
async function reader(url: string, key: string) {
  const abort = new AbortController();
  const response = await fetch(`${url}/v1/sdk/config/stream`, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal });
  const state = { status: response.status, events: 0, last: null as any, ended: false, response };
  if (response.status !== 200) return { ...state, close: () => abort.abort() };
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk as Uint8Array, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const data = buffer.slice(0, end).split('\n').find((l) => l.startsWith('data: '));
          buffer = buffer.slice(end + 2);
          if (data) {
            state.events += 1;
            state.last = JSON.parse(data.slice(6));
          }
        }
      }
    } catch {
      // Aborted by the test.
    }
    state.ended = true;
  })();
  return Object.assign(state, { close: () => abort.abort() });
}

async function sdkKey(admin: ReturnType<typeof client>, name: string): Promise<string> {
  return (await admin.post('/v1/api-keys', { name, scope: 'sdk' })).body.key;
}

describe('caps per key and per replica', () => {
  let t: TestApp;
  let admin: ReturnType<typeof client>;

  beforeAll(async () => {
    t = await startTestApp({ CONFIG_STREAMS_PER_KEY: '3', CONFIG_STREAMS_MAX: '5' });
    admin = client(t.url, t.adminKey);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 429 past the per-key cap and 503 past the replica cap, both with Retry-After, and frees the slots on close', async () => {
    const [a, b, c] = [await sdkKey(admin, 'a'), await sdkKey(admin, 'b'), await sdkKey(admin, 'c')];
    const streams = t.app.get(ConfigStreams);
    const ofA = await Promise.all([reader(t.url, a), reader(t.url, a), reader(t.url, a)]);
    expect(ofA.map((s) => s.status)).toEqual([200, 200, 200]);
    const fourth = await reader(t.url, a);
    expect(fourth.status).toBe(429);
    expect(fourth.response.headers.get('retry-after')).toBe('30');
    expect(fourth.response.headers.get('content-type')).toMatch(/problem\+json/);

    const ofB = await Promise.all([reader(t.url, b), reader(t.url, b)]);
    expect(ofB.map((s) => s.status)).toEqual([200, 200]);
    const ofC = await reader(t.url, c);
    expect(ofC.status).toBe(503);
    expect(ofC.response.headers.get('retry-after')).toBe('30');
    expect(streams.size).toEqual({ streams: 5, keys: 2, projects: 1 });

    ofA[0].close();
    await eventually(async () => streams.size.streams === 4, 5000, 20);
    const again = await reader(t.url, c);
    expect(again.status).toBe(200);
    await eventually(async () => again.events === 1, 5000, 20);

    for (const s of [...ofA, ...ofB, again]) s.close();
    await eventually(async () => streams.size.streams === 0, 5000, 20);
    // Nothing stays behind: no key counts, no project watch.
    expect(streams.size).toEqual({ streams: 0, keys: 0, projects: 0 });
  });
});

describe('clients that leave before their stream opens', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ CONFIG_STREAMS_PER_KEY: '5' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('leaves no slot taken', async () => {
    const admin = client(t.url, t.adminKey);
    const streams = t.app.get(ConfigStreams);
    const { hostname, port } = new URL(t.url);
    for (let round = 0; round < 3; round++) {
      // A new key each round: its lookup (a database round trip) outlasts the client.
      const key = await sdkKey(admin, `gone-${round}`);
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const socket = connect(Number(port), hostname);
          socket.on('error', () => undefined);
          await new Promise<void>((resolve) => socket.once('connect', resolve));
          socket.end(`GET /v1/sdk/config/stream HTTP/1.1\r\nHost: verdict\r\nAuthorization: Bearer ${key}\r\n\r\n`);
          socket.destroy();
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    await eventually(async () => streams.size.streams === 0, 5000, 20);
    expect(streams.size).toEqual({ streams: 0, keys: 0, projects: 0 });
  });
});

describe('clients that do not read', () => {
  let api: ChildProcess;
  let url: string;
  let drop: () => Promise<void>;

  /** Resident set size of the API process, from /proc. */
  const rssMb = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${api.pid}/status`, 'utf8'))![1]) / 1024;

  beforeAll(async () => {
    // The API runs as its own process, so that its RSS is its own (not jest's).
    const database = await cloneTemplate();
    drop = database.drop;
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    api = spawn(process.execPath, ['-r', join(ROOT, 'scripts/register-swc.cjs'), join(ROOT, 'apps/api/main.ts')], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: String(port),
        HOST: '127.0.0.1',
        DATABASE_URL: database.url,
        ...backendSettings(defaultTestBackend()),
        VERDICT_REDIS_PREFIX: testPrefix(),
        VERDICT_ADMIN_KEY: 'config-stream-test-admin-key',
        LOG_LEVEL: process.env.STREAM_TEST_LOG_LEVEL ?? 'error',
        CONFIG_STREAM_HEARTBEAT_MS: '500',
        CONFIG_STREAMS_PER_KEY: '100',
        NODE_NO_WARNINGS: '1',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await eventually(async () => (await fetch(`${url}/health`).then((r) => r.status, () => 0)) === 200, 60_000, 100);
  });
  afterAll(async () => {
    api?.kill('SIGTERM');
    if (api) await exited(api);
    await drop?.();
  });

  it('drops them instead of buffering, keeps RSS flat, and keeps serving a client that reads', async () => {
    const admin = client(url, 'config-stream-test-admin-key');
    const key = await sdkKey(admin, 'fleet');
    // Four running experiments of four variants, each config just under 64 KiB: a ~1 MB snapshot.
    const keys: string[] = [];
    for (let e = 0; e < 4; e++) {
      const body = experimentBody({
        variants: Array.from({ length: 4 }, (_, v) => ({ key: `v${v}`, weight: 1, isControl: v === 0, config: { prompt: `${e}-${v}-`.padEnd(60_000, 'x') } })),
      });
      expect((await admin.post('/v1/experiments', body)).status).toBe(201);
      expect((await admin.post(`/v1/experiments/${body.key}/start`)).status).toBe(200);
      keys.push(body.key);
    }
    let allocation = 1;
    const change = async () => {
      allocation = allocation === 1 ? 0.99 : Math.round((allocation - 0.01) * 100) / 100;
      expect((await admin.patch(`/v1/experiments/${keys[0]}`, { trafficAllocation: allocation })).status).toBe(200);
    };
    // Warm-up: the same work once with a reading client, so that the baseline includes it.
    const warm = await reader(url, key);
    for (let i = 0; i < 5; i++) await change();
    warm.close();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const before = rssMb();

    const healthy = await reader(url, key);
    const stalled = await Promise.all(Array.from({ length: 40 }, () => nonReader(url, key)));
    for (let i = 0; i < 20; i++) await change();
    // Two heartbeats for the last drops, then the growth: buffered, 20 changes of a ~1 MB
    // snapshot for 40 clients would be ~800 MB; dropped, the process holds at most the
    // garbage of the snapshots built meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const after = rssMb();
    expect(after - before).toBeLessThan(250);
    // Every non-reader was disconnected by the server: reading now, each sees the reset (or
    // the end) of its connection; none was closed by this side.
    for (const s of stalled) s.socket.resume();
    await eventually(async () => stalled.every((s) => s.closed()), 30_000, 100);

    // The reading client was not dropped and has the newest snapshot.
    expect(healthy.status).toBe(200);
    await eventually(async () => healthy.last?.experiments.find((x: any) => x.key === keys[0]).trafficAllocation === allocation, 10_000, 50);
    expect(healthy.ended).toBe(false);
    healthy.close();
    console.log(`config-stream slow readers: RSS ${before.toFixed(0)} MB before, ${after.toFixed(0)} MB after (${healthy.events} events to the reader)`);
  });
});
