import { connect, type Socket } from 'node:net';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually } from '../support/test-worker';

/**
 * Slow and greedy clients (docs/adr/0017): sockets that send headers or a body slowly, or
 * nothing at all, are closed after the configured timeouts (small here), whether or not
 * they carry a key; past HTTP_MAX_CONNECTIONS new connections are closed at once.
 */
jest.setTimeout(60_000);

interface Held {
  socket: Socket;
  closed: boolean;
  received: string;
  stop(): void;
}

/** Opens a connection that sends `head` and then one byte of `trickle` every `everyMs`, forever. */
async function hold(url: string, head: string, trickle = '', everyMs = 100): Promise<Held> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const held: Held = { socket, closed: false, received: '', stop: () => clearInterval(timer) };
  socket.on('data', (chunk) => (held.received += chunk.toString()));
  socket.on('error', () => undefined);
  socket.on('close', () => {
    held.closed = true;
    clearInterval(timer);
  });
  socket.write(head);
  let i = 0;
  const timer = setInterval(() => {
    if (trickle && !socket.destroyed) socket.write(trickle[i++ % trickle.length]);
  }, everyMs);
  return held;
}

async function allClosed(sockets: Held[]): Promise<void> {
  await eventually(async () => sockets.every((s) => s.closed), 30_000, 50);
}

describe('timeouts', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({
      HTTP_HEADERS_TIMEOUT_MS: '500',
      HTTP_REQUEST_TIMEOUT_MS: '1000',
      HTTP_KEEP_ALIVE_TIMEOUT_MS: '500',
      HTTP_CONNECTION_TIMEOUT_MS: '5000',
      CONFIG_STREAM_HEARTBEAT_MS: '1000',
    });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('closes many slow-body connections (no key needed) after the request timeout, and keeps serving', async () => {
    const head = 'POST /v1/api-keys HTTP/1.1\r\nHost: verdict\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"name": "';
    const sockets = await Promise.all(Array.from({ length: 200 }, () => hold(t.url, head, 'x', 100)));
    await allClosed(sockets);
    // Node answers what it can: 408 Request Timeout, then closes.
    expect(sockets.filter((s) => s.received.startsWith('HTTP/1.1 408')).length).toBeGreaterThan(0);
    expect((await client(t.url).get('/health')).status).toBe(200);
  });

  it('closes connections that trickle their headers, or send nothing at all', async () => {
    const trickling = await Promise.all(Array.from({ length: 50 }, () => hold(t.url, 'GET /health HTTP/1.1\r\nHost: verdict\r\nX-Slow: ', 'a', 50)));
    const silent = await Promise.all(Array.from({ length: 50 }, () => hold(t.url, '')));
    await allClosed([...trickling, ...silent]);
    expect((await client(t.url).get('/health')).status).toBe(200);
  });

  it('closes an idle keep-alive connection after a complete request', async () => {
    const socket = await hold(t.url, 'GET /health HTTP/1.1\r\nHost: verdict\r\n\r\n');
    await eventually(async () => socket.received.includes('"status":"ok"'), 10_000, 20);
    await allClosed([socket]);
  });
});

describe('connection cap', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp({ HTTP_MAX_CONNECTIONS: '20' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('closes connections past HTTP_MAX_CONNECTIONS at once, and accepts again when some go', async () => {
    const first = await Promise.all(Array.from({ length: 20 }, () => hold(t.url, '')));
    // Let the server accept them before the extra ones arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const extra = await Promise.all(Array.from({ length: 10 }, () => hold(t.url, '')));
    await allClosed(extra);
    expect(first.filter((s) => s.closed)).toHaveLength(0);
    await expect(fetch(`${t.url}/health`)).rejects.toThrow();
    for (const s of first) s.socket.destroy();
    await eventually(async () => (await fetch(`${t.url}/health`).then((r) => r.status, () => 0)) === 200, 10_000, 50);
  });
});
