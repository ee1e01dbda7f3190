import type { LookupAddress } from 'node:dns';
import { getEventListeners } from 'node:events';
import { OutboundClient, type Resolve } from '../../libs/outbound/outbound-client';
import { OutboundError } from '../../libs/outbound/outbound.errors';
import { startLoopbackListener, type LoopbackListener } from '../support/loopback-listener';

// Every request here goes to loopback only. Host names are resolved by a function the
// test gives the client (a DNS that answers what the test says), so that a name can
// point at loopback without touching the machine's resolver.

let ipv4: LoopbackListener;
let second: LoopbackListener;
let ipv6: LoopbackListener;
const clients: OutboundClient[] = [];

function client(options: { allowHttp?: boolean; allowedCidrs?: string[]; resolve?: Resolve } = {}): OutboundClient {
  const made = new OutboundClient({ allowHttp: options.allowHttp ?? true, allowedCidrs: options.allowedCidrs ?? [], resolve: options.resolve, connectTimeoutMs: 5_000 });
  clients.push(made);
  return made;
}

const answers =
  (table: Record<string, string[]>): Resolve =>
  async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address): LookupAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

async function failure(promise: Promise<unknown>): Promise<OutboundError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(OutboundError);
  return error as OutboundError;
}

beforeAll(async () => {
  ipv4 = await startLoopbackListener('127.0.0.1');
  second = await startLoopbackListener('127.0.0.2');
  ipv6 = await startLoopbackListener('::1');
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all([ipv4, second, ipv6].map((l) => l?.close()));
});

describe('refused before anything is sent', () => {
  it('refuses loopback in every spelling, names that resolve to it, and URLs with credentials; the listeners see no connection', async () => {
    const guarded = client({
      resolve: answers({ 'rebound.test': ['127.0.0.1'], 'six.test': ['::1'], 'mapped.test': ['::ffff:127.0.0.1'], 'mixed.test': ['127.0.0.2', '127.0.0.1'] }),
      allowedCidrs: ['127.0.0.2/32'],
    });
    const p = ipv4.port;
    const cases: Array<[string, RegExp]> = [
      [`http://127.0.0.1:${p}/`, /points to 127\.0\.0\.1, a loopback address/],
      [`http://2130706433:${p}/`, /points to 127\.0\.0\.1/],
      [`http://0x7f.1:${p}/`, /points to 127\.0\.0\.1/],
      [`http://127.1:${p}/`, /points to 127\.0\.0\.1/],
      [`http://[::ffff:7f00:1]:${p}/`, /points to 127\.0\.0\.1/],
      [`http://[::1]:${ipv6.port}/`, /points to ::1, a loopback address/],
      [`http://0.0.0.0:${p}/`, /points to 0\.0\.0\.0, an unspecified address/],
      [`http://rebound.test:${p}/`, /rebound\.test resolves to 127\.0\.0\.1, a loopback address/],
      [`http://six.test:${ipv6.port}/`, /six\.test resolves to ::1, a loopback address/],
      [`http://mapped.test:${p}/`, /mapped\.test resolves to 127\.0\.0\.1/],
      // One internal address among several refuses the name: no address is tried.
      [`http://mixed.test:${p}/`, /mixed\.test resolves to 127\.0\.0\.1/],
      [`http://user:secret@127.0.0.2:${second.port}/`, /must not contain credentials/],
    ];
    for (const [url, reason] of cases) {
      const error = await failure(guarded.request({ method: 'POST', url, body: '{}', timeoutMs: 5_000, maxResponseBytes: 1024 }));
      expect({ url, kind: error.kind }).toEqual({ url, kind: 'refused' });
      expect(error.message).toMatch(reason);
      expect(error.message).not.toMatch(/secret/);
    }
    expect([ipv4.connections, second.connections, ipv6.connections]).toEqual([0, 0, 0]);
  });

  it('refuses plain http unless the operator allows it', async () => {
    const strict = client({ allowHttp: false, allowedCidrs: ['127.0.0.2/32'] });
    const error = await failure(strict.request({ method: 'GET', url: `http://127.0.0.2:${second.port}/`, timeoutMs: 5_000, maxResponseBytes: 1024 }));
    expect(error).toMatchObject({ kind: 'refused', message: 'the URL must use https' });
    expect(second.connections).toBe(0);
  });

  it('checks a URL for configuration time with the real resolver: localhost is loopback', async () => {
    const guarded = client();
    expect(await guarded.check(`https://localhost:${ipv4.port}/hook`)).toEqual({ ok: false, reason: expect.stringMatching(/^localhost resolves to (127\.0\.0\.1|::1), a loopback address$/) });
    expect(await guarded.check(`https://127.0.0.1:${ipv4.port}/hook`)).toEqual({ ok: false, reason: 'points to 127.0.0.1, a loopback address' });
    expect(await guarded.check('https://8.8.8.8/hook')).toEqual({ ok: true });
    expect(ipv4.connections).toBe(0);
  });

  it('refuses a name that does not exist at configuration time, not one whose DNS is down', async () => {
    const nowhere = client({ resolve: answers({}) });
    expect(await nowhere.check('https://no-such-host.test/hook')).toEqual({ ok: false, reason: 'no-such-host.test does not resolve (ENOTFOUND)' });
    const down = client({ resolve: async () => Promise.reject(Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' })) });
    expect(await down.check('https://hooks.example.test/hook')).toEqual({ ok: true });
  });
});

describe('allowed destinations', () => {
  it('connects to the address it checked, resolving once per connection (no second answer can slip in)', async () => {
    let calls = 0;
    // A DNS that answers loopback (allowlisted) first, then another address: a rebinding attempt.
    const rebinding: Resolve = async () => [{ address: calls++ === 0 ? '127.0.0.1' : '127.0.0.3', family: 4 }];
    const guarded = client({ allowedCidrs: ['127.0.0.1/32'], resolve: rebinding });
    const before = ipv4.requests.length;
    const response = await guarded.request({
      method: 'POST',
      url: `http://receiver.test:${ipv4.port}/hook?x=1`,
      headers: { 'content-type': 'application/json' },
      body: '{"hello":1}',
      timeoutMs: 5_000,
      maxResponseBytes: 1024,
    });
    expect(response.status).toBe(204);
    expect(calls).toBe(1);
    expect(ipv4.requests.slice(before)).toEqual([
      { method: 'POST', url: '/hook?x=1', headers: expect.objectContaining({ host: `receiver.test:${ipv4.port}` }), body: '{"hello":1}' },
    ]);
  });

  it('never follows a redirect: the 3xx is the answer and its target hears nothing', async () => {
    const target = await startLoopbackListener('127.0.0.1');
    const redirecting = await startLoopbackListener('127.0.0.2', (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${target.port}/stolen` }).end());
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32', '127.0.0.2/32'] });
      const response = await guarded.request({ method: 'POST', url: `http://127.0.0.2:${redirecting.port}/hook`, body: '{}', timeoutMs: 5_000, maxResponseBytes: 1024 });
      expect(response.status).toBe(302);
      expect(response.headers.location).toBe(`http://127.0.0.1:${target.port}/stolen`);
      expect(redirecting.requests).toHaveLength(1);
      expect(target.connections).toBe(0);
    } finally {
      await Promise.all([target.close(), redirecting.close()]);
    }
  });
});

describe('bounded in time and size', () => {
  it('gives up on a receiver that never answers, and closes the connection', async () => {
    const silent = await startLoopbackListener('127.0.0.1', () => undefined);
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
      const error = await failure(guarded.request({ method: 'POST', url: `http://127.0.0.1:${silent.port}/`, body: '{}', timeoutMs: 300, maxResponseBytes: 1024 }));
      expect(error).toMatchObject({ kind: 'timed_out', message: 'no complete answer within 300 ms' });
      expect(silent.requests).toHaveLength(1);
      await silent.allClosed();
    } finally {
      await silent.close();
    }
  });

  it('cuts off an endless body at the size cap', async () => {
    let written = 0;
    const endless = await startLoopbackListener('127.0.0.1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(16 * 1024, 'x');
      const more = () => {
        while (!res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) break;
        }
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    });
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
      const error = await failure(guarded.request({ method: 'GET', url: `http://127.0.0.1:${endless.port}/`, timeoutMs: 30_000, maxResponseBytes: 64 * 1024 }));
      expect(error).toMatchObject({ kind: 'failed', message: 'the response is larger than 65536 bytes' });
      await endless.allClosed();
      expect(written).toBeGreaterThan(64 * 1024);
    } finally {
      await endless.close();
    }
  });

  it('cuts off a body that trickles on past the time bound', async () => {
    const trickle = await startLoopbackListener('127.0.0.1', (_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(timer));
    });
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
      const error = await failure(guarded.request({ method: 'GET', url: `http://127.0.0.1:${trickle.port}/`, timeoutMs: 400, maxResponseBytes: 1024 * 1024 }));
      expect(error).toMatchObject({ kind: 'timed_out' });
      await trickle.allClosed();
    } finally {
      await trickle.close();
    }
  });

  it('streams a body as it arrives (open), and a reader that stops early releases the connection', async () => {
    let release: () => void = () => undefined;
    const streaming = await startLoopbackListener('127.0.0.1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      release = () => res.write('data: second\n\n');
    });
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
      // The headers and the first chunk arrive while the server still holds the rest.
      const response = await guarded.open({ method: 'GET', url: `http://127.0.0.1:${streaming.port}/`, timeoutMs: 30_000, maxResponseBytes: 1024 });
      expect(response.status).toBe(200);
      const seen: string[] = [];
      for await (const chunk of response.body) {
        seen.push(chunk.toString('utf8'));
        if (seen.length === 1) release();
        if (seen.join('').includes('second')) break;
      }
      expect(seen.join('')).toBe('data: first\n\ndata: second\n\n');
      await streaming.allClosed();
    } finally {
      await streaming.close();
    }
  });

  it("stops when the caller's signal aborts", async () => {
    const silent = await startLoopbackListener('127.0.0.1', () => undefined);
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
      const controller = new AbortController();
      const pending = guarded.request({ method: 'GET', url: `http://127.0.0.1:${silent.port}/`, timeoutMs: 30_000, maxResponseBytes: 1024, signal: controller.signal });
      while (silent.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      controller.abort();
      expect(await failure(pending)).toMatchObject({ kind: 'failed' });
      await silent.allClosed();
    } finally {
      await silent.close();
    }
  });

  it("sends the URL's path and query; leaves nothing on the caller's signal once an exchange is over, read either way, answered or not", async () => {
    const answering = await startLoopbackListener('127.0.0.1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('data: one\n\n');
    });
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
      const controller = new AbortController();
      const url = `http://127.0.0.1:${answering.port}/v1/chat/completions?api-version=1#ignored`;
      const input = { method: 'GET' as const, url, timeoutMs: 30_000, maxResponseBytes: 1024, signal: controller.signal };
      expect((await guarded.request(input)).body.toString('utf8')).toBe('data: one\n\n');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      expect(answering.requests[0]).toMatchObject({ method: 'GET', url: '/v1/chat/completions?api-version=1', headers: { host: `127.0.0.1:${answering.port}` } });
      const chunks: string[] = [];
      await (await guarded.open(input)).consume((chunk) => chunks.push(chunk.toString('utf8')) > 0, () => undefined);
      expect(chunks.join('')).toBe('data: one\n\n');
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      // Refused (nothing listens on port 1).
      await failure(guarded.request({ ...input, url: 'http://127.0.0.1:1/' }));
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      // Aborting afterwards is harmless.
      controller.abort();
    } finally {
      await answering.close();
    }
  });

  it('bounds a body read with consume() by the same time limit, and says it was the deadline', async () => {
    const trickle = await startLoopbackListener('127.0.0.1', (_req, res) => {
      res.writeHead(200);
      const timer = setInterval(() => res.write('x'), 20);
      res.on('close', () => clearInterval(timer));
    });
    try {
      const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
      const response = await guarded.open({ method: 'GET', url: `http://127.0.0.1:${trickle.port}/`, timeoutMs: 300, idleTimeoutMs: 5_000, maxResponseBytes: 1024 * 1024 });
      const error = await failure(response.consume(() => true, () => undefined));
      expect(error).toMatchObject({ kind: 'timed_out', message: 'no complete answer within 300 ms' });
      await trickle.allClosed();
    } finally {
      await trickle.close();
    }
  });

  it('sends nothing when the caller has already given up', async () => {
    const guarded = client({ allowedCidrs: ['127.0.0.1/32'] });
    const [connections, requests] = [ipv4.connections, ipv4.requests.length];
    const error = await failure(guarded.request({ method: 'GET', url: `http://127.0.0.1:${ipv4.port}/`, timeoutMs: 30_000, maxResponseBytes: 1024, signal: AbortSignal.abort() }));
    expect(error.kind).toBe('failed');
    expect([ipv4.connections, ipv4.requests.length]).toEqual([connections, requests]);
  });
});
