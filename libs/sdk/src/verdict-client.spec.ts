import { assign } from '../../assignment/core/assign';
import { FakeVerdictServer } from './testing/fake-verdict-server';
import { experiment, snapshot, waitFor } from './testing/fixtures';
import type { ClientOptions, ExposureEvent, OutcomeEvent } from './types';
import { VerdictClient, createClient } from './verdict-client';
import { VerdictError } from './verdict-error';

let server: FakeVerdictServer;
const clients: VerdictClient[] = [];

function client(extra: Partial<ClientOptions> = {}): VerdictClient {
  const c = createClient({
    baseUrl: server.url,
    apiKey: 'test-key',
    flushOnExit: false,
    batch: { flushIntervalMs: 50, retryBaseMs: 10, retryMaxMs: 2000 },
    ...extra,
  });
  clients.push(c);
  return c;
}

beforeEach(async () => {
  server = await new FakeVerdictServer(snapshot('v1')).start();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server.stop();
});

describe('config', () => {
  it('fetches the snapshot with the bearer key and assigns exactly like the core', async () => {
    const c = client();
    expect(await c.ready()).toEqual({ source: 'service', version: 'v1' });
    const get = server.requests.find((r) => r.path === '/v1/sdk/config')!;
    expect(get.headers.authorization).toBe('Bearer test-key');
    const e = server.snapshot.experiments[0];
    for (let i = 0; i < 500; i++) {
      const a = c.assign('model-ab', `user-${i}`);
      expect(a).toEqual(assign(e, 'model-ab', `user-${i}`));
      expect(a.config).toEqual({ model: `model-${a.variant}` });
    }
  });

  it('polls with If-None-Match and gets 304 while unchanged, then applies a change', async () => {
    server.streamEnabled = false;
    const c = client({ refresh: { mode: 'poll', pollIntervalMs: 30 } });
    await c.ready();
    await waitFor(() => server.requests.filter((r) => r.headers['if-none-match'] === '"v1"').length >= 2);
    expect(c.snapshot()!.version).toBe('v1');
    server.publish(snapshot('v2', [experiment({ state: 'paused' })]));
    await waitFor(() => c.assign('model-ab', 'u1').reason === 'paused');
    expect(c.stats().snapshotVersion).toBe('v2');
  });

  // How fast a change arrives end to end is bench/propagation.ts's to measure.
  it('applies stream updates (polling every 60 s, so only the stream can bring them)', async () => {
    const c = client({ refresh: { pollIntervalMs: 60_000 } });
    await c.ready();
    // Once connected, the client fetches once to catch up on changes made meanwhile; wait until that
    // request has reached the server so that it cannot be taken for a poll after the publish.
    await waitFor(() => c.stats().streamConnected && server.requests.filter((r) => r.path === '/v1/sdk/config').length >= 2);
    const published = Date.now();
    server.publish(snapshot('v2', [experiment({ state: 'concluded', winner: 'treatment' })]));
    await waitFor(() => c.assign('model-ab', 'u1').reason === 'concluded', 10_000);
    expect(c.assign('model-ab', 'u1').variant).toBe('treatment');
    // No poll: the only GETs allowed after the publish are the catch-up fetches of stream connections
    // opened after it (a loaded machine may drop and reopen the stream).
    const after = server.requests.filter((r) => r.at >= published);
    const reconnects = after.filter((r) => r.path === '/v1/sdk/config/stream').length;
    expect(after.filter((r) => r.path === '/v1/sdk/config').length).toBeLessThanOrEqual(reconnects);
  });

  it('reconnects the stream after it drops, polling meanwhile', async () => {
    const errors: Error[] = [];
    const c = client({ refresh: { reconnectBaseMs: 50, reconnectMaxMs: 100, pollIntervalMs: 30 }, hooks: { onError: (e) => errors.push(e) } });
    await c.ready();
    await waitFor(() => server.openStreams === 1);
    server.streamEnabled = false;
    server.dropStreams();
    server.publish(snapshot('v2', [experiment({ state: 'stopped' })]));
    // The stream is refused (404), so the ETag poll picks the change up.
    await waitFor(() => c.assign('model-ab', 'u1').reason === 'stopped');
    expect(errors.some((e) => e instanceof VerdictError && e.code === 'stream_failed')).toBe(true);
    server.streamEnabled = true;
    await waitFor(() => server.openStreams === 1 && c.stats().streamConnected);
    server.publish(snapshot('v3'));
    await waitFor(() => c.assign('model-ab', 'u1').reason === 'hashed');
  });

  it('starts offline serving the unknown-experiment answer (variant null), and reports the error', async () => {
    await server.stop();
    const errors: Error[] = [];
    const c = client({ hooks: { onError: (e) => errors.push(e) }, refresh: { mode: 'none' } });
    expect(await c.ready()).toEqual({ source: 'none', version: null });
    expect(c.assign('model-ab', 'u1')).toMatchObject({ variant: null, inExperiment: false, reason: 'unknown_experiment' });
    expect(errors[0]).toBeInstanceOf(VerdictError);
    expect((errors[0] as VerdictError).code).toBe('config_failed');
  });

  it('starts offline serving the snapshot passed in', async () => {
    await server.stop();
    const local = snapshot('local', [experiment({ state: 'paused' })]);
    const c = client({ snapshot: local, refresh: { mode: 'none' }, hooks: { onError: () => undefined } });
    expect(await c.ready()).toEqual({ source: 'snapshot', version: 'local' });
    expect(c.assign('model-ab', 'u1')).toMatchObject({ variant: 'control', reason: 'paused' });
  });

  it('keeps serving the last snapshot when the service goes away', async () => {
    const errors: Error[] = [];
    const c = client({ refresh: { reconnectBaseMs: 20, reconnectMaxMs: 50, pollIntervalMs: 20 }, hooks: { onError: (e) => errors.push(e) } });
    await c.ready();
    const before = c.assign('model-ab', 'u7');
    await server.stop();
    // Several refreshes have failed by now (each reports an error), not just some time passed.
    await waitFor(() => errors.length >= 3, 5000);
    expect(c.assign('model-ab', 'u7')).toBe(before);
    expect(before.inExperiment).toBe(true);
  });
});

describe('exposures and hooks', () => {
  it('calls onAssignment once per unit and experiment, and batches the exposures', async () => {
    const seen: ExposureEvent[] = [];
    const c = client({ hooks: { onAssignment: (e) => seen.push(e) } });
    await c.ready();
    for (let i = 0; i < 5; i++) {
      c.assign('model-ab', 'alice');
      c.assign('model-ab', 'bob');
    }
    expect(seen.map((e) => e.unitId)).toEqual(['alice', 'bob']);
    expect(seen[0]).toMatchObject({ experiment: 'model-ab', variant: c.assign('model-ab', 'alice').variant, phase: 1 });
    expect(Date.parse(seen[0].timestamp)).not.toBeNaN();
    await c.flush();
    expect(server.posts('/v1/exposures')).toHaveLength(1);
    expect(server.accepted<ExposureEvent>('/v1/exposures', 'exposures')).toEqual(seen);
  });

  it('logs again when the unit moves to a new phase, never for units not in the experiment', async () => {
    const seen: ExposureEvent[] = [];
    const c = client({ hooks: { onAssignment: (e) => seen.push(e) } });
    await c.ready();
    await waitFor(() => c.stats().streamConnected);
    c.assign('model-ab', 'alice');
    server.publish(snapshot('v2', [experiment({ phase: 2 })]));
    await waitFor(() => c.assign('model-ab', 'alice').phase === 2);
    expect(seen.map((e) => e.phase)).toEqual([1, 2]);
    server.publish(snapshot('v3', [experiment({ phase: 2, forced: { qa: 'treatment' }, trafficAllocation: 0.0001 })]));
    await waitFor(() => c.snapshot()!.version === 'v3');
    expect(c.assign('model-ab', 'qa').inExperiment).toBe(false);
    expect(seen).toHaveLength(2);
  });

  it('survives a throwing hook: the caller gets its assignment, onError the failure', async () => {
    const errors: Error[] = [];
    const c = client({
      hooks: {
        onAssignment: () => {
          throw new Error('boom');
        },
        onError: (e) => errors.push(e),
      },
    });
    await c.ready();
    expect(c.assign('model-ab', 'alice').inExperiment).toBe(true);
    expect(errors).toHaveLength(1);
    expect((errors[0] as VerdictError).code).toBe('hook_failed');
    await c.flush();
    expect(server.accepted('/v1/exposures', 'exposures')).toHaveLength(1);
  });

  it('survives a throwing onError too', async () => {
    await server.stop();
    const c = client({
      refresh: { mode: 'none' },
      hooks: {
        onError: () => {
          throw new Error('worse');
        },
      },
    });
    await expect(c.ready()).resolves.toMatchObject({ source: 'none' });
  });

  it('bounds the dedup memory per experiment', async () => {
    const seen: string[] = [];
    const c = client({ exposureCacheSize: 100, hooks: { onAssignment: (e) => seen.push(e.unitId) } });
    await c.ready();
    for (let i = 0; i < 1000; i++) c.assign('model-ab', `u${i}`);
    c.assign('model-ab', 'u999'); // recent: remembered
    c.assign('model-ab', 'u0'); // evicted long ago: logged again
    expect(seen).toHaveLength(1001);
    expect(seen[1000]).toBe('u0');
  });
});

describe('outcomes', () => {
  it('tracks outcomes with a generated idempotency id and timestamp, in size-bounded batches', async () => {
    const c = client({ batch: { maxBatchSize: 10, flushIntervalMs: 10_000 } });
    await c.ready();
    const ids = Array.from({ length: 25 }, (_, i) => c.track({ experiment: 'model-ab', unitId: `u${i}`, latencyMs: i, success: true }));
    expect(new Set(ids).size).toBe(25);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    await c.flush();
    const batches = server.posts('/v1/outcomes').map((r) => (JSON.parse(r.body) as { events: OutcomeEvent[] }).events.length);
    expect(batches).toEqual([10, 10, 5]);
    const events = server.accepted<OutcomeEvent>('/v1/outcomes', 'events');
    expect(events.map((e) => e.id)).toEqual(ids);
    expect(events[3]).toMatchObject({ experiment: 'model-ab', unitId: 'u3', latencyMs: 3, success: true, variant: c.assign('model-ab', 'u3').variant });
  });

  it('tracks baseline outcomes with no experiment (pre-exposure data for CUPED) as they are, without a variant', async () => {
    const c = client();
    await c.ready();
    const id = c.track({ unitId: 'u7', score: 0.8 });
    expect(() => c.track({ unitId: 'u7', experiment: 42 } as never)).toThrow(TypeError);
    await c.flush();
    const [event] = server.accepted<OutcomeEvent>('/v1/outcomes', 'events');
    expect(event).toEqual({ id, unitId: 'u7', score: 0.8, timestamp: expect.any(String) });
  });

  it('sends a partial batch after the time bound without flush()', async () => {
    const c = client({ batch: { flushIntervalMs: 50 } });
    await c.ready();
    c.track({ experiment: 'model-ab', unitId: 'u1' });
    await waitFor(() => server.accepted('/v1/outcomes', 'events').length === 1, 1000);
  });

  it('retries 503 after Retry-After with the same ids', async () => {
    server.script('/v1/outcomes', { status: 503, headers: { 'retry-after': '1' } });
    const c = client();
    await c.ready();
    const id = c.track({ experiment: 'model-ab', unitId: 'u1', success: true });
    await c.flush();
    const posts = server.posts('/v1/outcomes');
    expect(posts).toHaveLength(2);
    expect(posts[1].body).toBe(posts[0].body);
    expect((JSON.parse(posts[1].body) as { events: OutcomeEvent[] }).events[0].id).toBe(id);
    expect(posts[1].at - posts[0].at).toBeGreaterThanOrEqual(950);
    expect(server.accepted<OutcomeEvent>('/v1/outcomes', 'events').map((e) => e.id)).toEqual([id]);
  });

  it('retries 429, a dropped connection and 503, resending the same body', async () => {
    server.script('/v1/outcomes', { status: 429 }, { destroy: true }, { status: 503 });
    const c = client({ batch: { retryBaseMs: 40, retryMaxMs: 10_000 } });
    await c.ready();
    c.track({ experiment: 'model-ab', unitId: 'u1' });
    await c.flush();
    const posts = server.posts('/v1/outcomes');
    expect(posts).toHaveLength(4);
    expect(new Set(posts.map((p) => p.body)).size).toBe(1);
    expect(server.accepted('/v1/outcomes', 'events')).toHaveLength(1);
    expect(c.stats().outcomes).toMatchObject({ sent: 1, dropped: 0, buffered: 0 });
  });

  it('keeps a batch that exhausted its attempts for a later round', async () => {
    const errors: Error[] = [];
    server.script('/v1/outcomes', { status: 503 }, { status: 503 });
    const c = client({ batch: { maxAttempts: 2, retryBaseMs: 1 }, hooks: { onError: (e) => errors.push(e) } });
    await c.ready();
    const id = c.track({ experiment: 'model-ab', unitId: 'u1' });
    expect(await c.flush()).toBe(false);
    expect(errors.map((e) => (e as VerdictError).code)).toEqual(['send_failed']);
    expect(c.stats().outcomes.buffered).toBe(1);
    expect(await c.flush()).toBe(true);
    expect(server.accepted<OutcomeEvent>('/v1/outcomes', 'events').map((e) => e.id)).toEqual([id]);
  });

  it('drops a batch the service refuses (400) and reports rejected items', async () => {
    const errors: VerdictError[] = [];
    server.script('/v1/outcomes', { status: 400, body: { title: 'Bad Request' } }, { status: 202, body: { accepted: 0, rejected: [{ index: 0, errors: ['bad'] }] } });
    const c = client({ hooks: { onError: (e) => errors.push(e as VerdictError) } });
    await c.ready();
    c.track({ experiment: 'model-ab', unitId: 'u1' });
    await c.flush();
    c.track({ experiment: 'model-ab', unitId: 'u2' });
    await c.flush();
    expect(errors.map((e) => [e.code, e.details.status])).toEqual([
      ['send_failed', 400],
      ['rejected', undefined],
    ]);
    expect(server.posts('/v1/outcomes')).toHaveLength(2);
    expect(c.stats().outcomes).toMatchObject({ dropped: 1, rejected: 1 });
  });

  it('refuses an event the service could not store through onError, naming the field, and sends the rest', async () => {
    const errors: VerdictError[] = [];
    const c = client({ hooks: { onError: (e) => errors.push(e as VerdictError) } });
    await c.ready();
    const good = c.track({ experiment: 'model-ab', unitId: 'u1', latencyMs: 12 });
    c.track({ experiment: 'model-ab', unitId: 'u\u0000', latencyMs: 12 });
    c.track({ experiment: 'model-ab', unitId: 'u2', latencyMs: 1e200, metrics: { '\ud800': 1 } });
    c.track({ experiment: 'model-ab', unitId: 'u3', inputTokens: 2 ** 63, timestamp: '0000-01-01T00:00:00Z' });
    await c.flush();
    expect(server.accepted<OutcomeEvent>('/v1/outcomes', 'events').map((e) => e.id)).toEqual([good]);
    expect(errors.map((e) => e.code)).toEqual(['invalid_event', 'invalid_event', 'invalid_event']);
    expect(errors.map((e) => (e.details.errors as Array<{ field: string }>).map((x) => x.field))).toEqual([
      ['unitId'],
      ['latencyMs', 'metrics.\\ud800'],
      ['timestamp', 'inputTokens'],
    ]);
    expect(c.stats().outcomes).toMatchObject({ sent: 1, rejected: 3 });
  });

  it('run() refuses an outcome whose measured values cannot be stored', async () => {
    const errors: VerdictError[] = [];
    const c = client({ hooks: { onError: (e) => errors.push(e as VerdictError) } });
    await c.ready();
    await c.run('model-ab', 'alice', async () => ({ usage: { prompt_tokens: 1.5, completion_tokens: 2 } }));
    await c.flush();
    expect(server.accepted('/v1/outcomes', 'events')).toHaveLength(0);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/not queued: inputTokens: must be an integer/)]);
  });

  it('assigns a unit id it could not store but queues no exposure for it', async () => {
    const errors: VerdictError[] = [];
    const c = client({ hooks: { onError: (e) => errors.push(e as VerdictError) } });
    await c.ready();
    expect(c.assign('model-ab', 'bad\ud800').variant).not.toBeNull();
    c.assign('model-ab', 'fine');
    await c.flush();
    expect(server.accepted<ExposureEvent>('/v1/exposures', 'exposures').map((e) => e.unitId)).toEqual(['fine']);
    expect(errors.map((e) => e.code)).toEqual(['invalid_event']);
  });

  it('bounds the buffer, dropping the oldest with a counter and one onError', async () => {
    const errors: VerdictError[] = [];
    const c = client({ batch: { maxBufferSize: 5, maxBatchSize: 100, flushIntervalMs: 60_000 }, hooks: { onError: (e) => errors.push(e as VerdictError) } });
    await c.ready();
    const ids = Array.from({ length: 8 }, (_, i) => c.track({ experiment: 'model-ab', unitId: `u${i}` }));
    expect(c.stats().outcomes).toMatchObject({ buffered: 5, dropped: 3 });
    expect(errors.map((e) => e.code)).toEqual(['buffer_full']);
    await c.flush();
    expect(server.accepted<OutcomeEvent>('/v1/outcomes', 'events').map((e) => e.id)).toEqual(ids.slice(3));
  });

  it('flushes on close and refuses later events', async () => {
    const errors: VerdictError[] = [];
    const c = client({ batch: { flushIntervalMs: 60_000 }, hooks: { onError: (e) => errors.push(e as VerdictError) } });
    await c.ready();
    c.assign('model-ab', 'alice');
    c.track({ experiment: 'model-ab', unitId: 'alice' });
    expect(await c.close()).toBe(true);
    expect(server.accepted('/v1/exposures', 'exposures')).toHaveLength(1);
    expect(server.accepted('/v1/outcomes', 'events')).toHaveLength(1);
    c.track({ experiment: 'model-ab', unitId: 'alice' });
    expect(errors.map((e) => e.code)).toEqual(['closed']);
    expect(c.assign('model-ab', 'alice').inExperiment).toBe(true);
  });
});

describe('run', () => {
  it('measures latency and reads OpenAI-style usage from the result', async () => {
    const c = client();
    await c.ready();
    const result = await c.run('model-ab', 'alice', async (a) => {
      await new Promise((r) => setTimeout(r, 30));
      return { model: a.config!.model, usage: { prompt_tokens: 12, completion_tokens: 34 } };
    });
    expect(result.model).toBe(`model-${c.assign('model-ab', 'alice').variant}`);
    await c.flush();
    const [event] = server.accepted<OutcomeEvent>('/v1/outcomes', 'events');
    expect(event).toMatchObject({ experiment: 'model-ab', unitId: 'alice', success: true, inputTokens: 12, outputTokens: 34 });
    expect(event.variant).toBe(c.assign('model-ab', 'alice').variant);
    expect(event.latencyMs).toBeGreaterThanOrEqual(25);
  });

  it('adds fields from the outcome callback', async () => {
    const c = client();
    await c.ready();
    await c.run('model-ab', 'alice', () => ({ inputTokens: 1, outputTokens: 2, costUsd: 0.5, text: 'hi' }), {
      outcome: (r) => ({ score: r.text.length, metrics: { chars: 2 } }),
    });
    await c.flush();
    expect(server.accepted<OutcomeEvent>('/v1/outcomes', 'events')[0]).toMatchObject({
      inputTokens: 1,
      outputTokens: 2,
      costUsd: 0.5,
      score: 2,
      metrics: { chars: 2 },
    });
  });

  it('records errors and rethrows them', async () => {
    const c = client();
    await c.ready();
    const err = Object.assign(new Error('rate limited'), { status: 429 });
    await expect(c.run('model-ab', 'alice', () => Promise.reject(err))).rejects.toBe(err);
    await c.flush();
    expect(server.accepted<OutcomeEvent>('/v1/outcomes', 'events')[0]).toMatchObject({ success: false, error: 'http_429' });
  });

  it('tracks nothing for units outside the experiment', async () => {
    server.publish(snapshot('v2', [experiment({ state: 'paused' })]));
    const c = client();
    await c.ready();
    expect(await c.run('model-ab', 'alice', (a) => a.variant)).toBe('control');
    expect(await c.run('unknown', 'alice', (a) => a.variant)).toBeNull();
    await c.flush();
    expect(server.posts('/v1/outcomes')).toHaveLength(0);
  });
});
