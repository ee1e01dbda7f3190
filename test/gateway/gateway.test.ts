import type { INestApplicationContext } from '@nestjs/common';
import { APIError } from 'openai';
import { eventually, startTestWorker } from '../support/test-worker';
import { startTestApp, type TestApp } from '../support/test-app';
import { startFakeUpstream, USAGE, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, outcomes, unitIn, type StoredOutcome } from './support/gateway-fixture';

jest.setTimeout(60_000);

let t: TestApp;
let worker: INestApplicationContext;
let big: FakeUpstream;
let small: FakeUpstream;
let exp: Awaited<ReturnType<typeof gatewayExperiment>>;
let bigUnit: string;
let smallUnit: string;

beforeAll(async () => {
  [t, big, small] = await Promise.all([startTestApp(GATEWAY_TEST_SETTINGS), startFakeUpstream('70B'), startFakeUpstream('8B')]);
  worker = await startTestWorker(t.config);
  exp = await gatewayExperiment(t.url, t.adminKey, big, small);
  bigUnit = await unitIn(exp.sdk, exp.key, 'big');
  smallUnit = await unitIn(exp.sdk, exp.key, 'small');
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([big?.close(), small?.close()]);
});

/** The stored outcome of an event id, once the worker wrote it. */
async function outcomeOf(eventId: string): Promise<StoredOutcome> {
  let found: StoredOutcome | undefined;
  await eventually(async () => {
    found = (await outcomes(t.db, exp.id)).find((o) => o.event_id === eventId);
    return found !== undefined;
  });
  return found!;
}

const say = (text: string) => [{ role: 'user' as const, content: text }];

describe('chat completions through the openai client', () => {
  it('sends a unit to its variant upstream, with the upstream model and credential, and records one outcome with tokens and cost', async () => {
    const { data, response } = await exp.openai.chat.completions.create({ model: exp.key, messages: say('hello'), user: bigUnit }).withResponse();
    expect(data.choices[0].message.content).toBe('Hello from 70B');
    expect(response.headers.get('x-verdict-experiment')).toBe(exp.key);
    expect(response.headers.get('x-verdict-variant')).toBe('big');
    const eventId = response.headers.get('x-verdict-event-id')!;
    expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('x-request-id')).toBe(`req-70B-${big.requests.length}`);
    const sent = big.requests[big.requests.length - 1];
    expect(sent.path).toBe('/v1/chat/completions');
    expect(sent.body.model).toBe('llama-70b');
    expect(sent.headers.authorization).toBe('Bearer upstream-credential-for-tests');
    expect(sent.headers['accept-encoding']).toBe('identity');

    const stored = await outcomeOf(eventId);
    expect(stored).toMatchObject({ unit_id: bigUnit, variant: 'big', success: true, error: null, ttft_ms: null });
    expect(Number(stored.input_tokens)).toBe(USAGE.prompt_tokens);
    expect(Number(stored.output_tokens)).toBe(USAGE.completion_tokens);
    expect(stored.cost_usd).toBeCloseTo((11 * 1 + 7 * 2) / 1e6, 12);
    expect(stored.latency_ms).toBeGreaterThan(0);
  });

  it('streams the upstream bytes untouched, asks for usage, and measures TTFT at the first content chunk', async () => {
    const before = small.requests.length;
    const response = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': smallUnit },
      body: JSON.stringify({ model: exp.key, messages: say('stream:6:15'), stream: true }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-accel-buffering')).toBe('no');
    expect(response.headers.get('content-encoding')).toBeNull();
    expect(response.headers.get('x-ratelimit-remaining-tokens')).toBe('999');
    expect(response.headers.get('x-verdict-variant')).toBe('small');
    const received = Buffer.from(await response.arrayBuffer());
    const upstream = small.requests[before];
    expect(upstream.body.stream_options).toEqual({ include_usage: true });
    expect(received.equals(upstream.sent)).toBe(true);
    expect(received.toString()).toMatch(/data: \[DONE\]\n\n$/);

    const stored = await outcomeOf(response.headers.get('x-verdict-event-id')!);
    expect(stored).toMatchObject({ variant: 'small', success: true, error: null });
    expect(Number(stored.input_tokens)).toBe(11);
    expect(Number(stored.output_tokens)).toBe(6);
    // Six chunks 15 ms apart: the first content chunk comes ~15 ms in, the last byte ~90 ms in.
    expect(stored.ttft_ms).toBeGreaterThanOrEqual(10);
    expect(stored.latency_ms).toBeGreaterThanOrEqual(stored.ttft_ms! + 60);
  });

  it('streams through the openai client, tool-call deltas included', async () => {
    const stream = await exp.openai.chat.completions.create({ model: exp.key, messages: say('tools'), user: bigUnit, stream: true });
    let args = '';
    let name = '';
    for await (const part of stream) {
      const call = part.choices[0]?.delta?.tool_calls?.[0];
      if (call?.function?.name) name = call.function.name;
      if (call?.function?.arguments) args += call.function.arguments;
    }
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual({ city: 'Paris' });
  });
});

describe('upstream faults', () => {
  it('forwards an upstream 429 with its OpenAI error body, retry-after and rate-limit headers; outcome upstream_4xx', async () => {
    const error = await exp.openai.chat.completions.create({ model: exp.key, messages: say('rate-limited'), user: bigUnit }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    const api = error as APIError;
    expect(api.status).toBe(429);
    expect(api.message).toMatch(/Rate limit reached/);
    expect(api.headers?.get('retry-after')).toBe('7');
    expect(api.headers?.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(api.headers?.get('x-should-retry')).toBe('false');
    const stored = await outcomeOf(api.headers!.get('x-verdict-event-id')!);
    expect(stored).toMatchObject({ success: false, error: 'upstream_4xx', input_tokens: null, cost_usd: null });
  });

  it.each([
    ['html-502', 502, 'upstream_5xx'],
    ['not-json', 502, 'invalid_response'],
    ['reset-before', 502, 'connect'],
  ])('answers %s with an OpenAI-shaped %i and records %s', async (scenario, status, errorClass) => {
    const response = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': bigUnit },
      body: JSON.stringify({ model: exp.key, messages: say(scenario) }),
    });
    expect(response.status).toBe(status);
    const body = (await response.json()) as { error: Record<string, unknown> };
    expect(body.error).toEqual({ message: expect.any(String), type: 'upstream_error', param: null, code: errorClass });
    const stored = await outcomeOf(response.headers.get('x-verdict-event-id')!);
    expect(stored).toMatchObject({ success: false, error: errorClass, input_tokens: null, cost_usd: null });
  });

  it('ends a stream that broke off mid-way with an error event the openai client raises; usage unknown', async () => {
    const stream = await exp.openai.chat.completions.create({ model: exp.key, messages: say('reset:6:5'), user: bigUnit, stream: true }).withResponse();
    const parts: string[] = [];
    const error = await (async () => {
      for await (const part of stream.data) parts.push(part.choices[0]?.delta?.content ?? '');
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    expect(parts.join('')).toBe('w0 w1 w2 ');
    const stored = await outcomeOf(stream.response.headers.get('x-verdict-event-id')!);
    expect(stored).toMatchObject({ success: false, error: 'connect', input_tokens: null, output_tokens: null, cost_usd: null });
    expect(stored.ttft_ms).not.toBeNull();
  });
});

describe('backpressure', () => {
  it('reads from the upstream only as fast as the client reads', async () => {
    const before = big.requests.length;
    const { request } = await import('node:http');
    const url = new URL(`${t.url}/v1/chat/completions`);
    const body = JSON.stringify({ model: exp.key, messages: say('flood:2000'), stream: true, user: bigUnit });
    const response = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json' } }, resolve);
      req.on('error', reject);
      req.end(body);
    });
    response.pause();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // 2,000 events of 16 KiB are 32 MiB: only what the socket buffers hold has left the upstream.
    const upstream = big.requests[before];
    expect(upstream.written).toBeGreaterThan(0);
    expect(upstream.written).toBeLessThan(600);
    let received = 0;
    response.on('data', (c: Buffer) => (received += c.length));
    response.resume();
    await new Promise((resolve) => response.on('end', resolve));
    expect(upstream.written).toBe(2000);
    expect(received).toBeGreaterThan(2000 * 16 * 1024);
  });
});

describe('what a stream leaves unknown', () => {
  it.each([
    ['no-usage:3:5', true, null],
    ['mid-error:6:5', false, 'upstream_5xx'],
    ['truncated:6:5', false, 'invalid_response'],
  ])('%s: success %s, error %s, tokens and cost unknown (never 0)', async (command, success, errorClass) => {
    const response = await fetch(`${t.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': smallUnit },
      body: JSON.stringify({ model: exp.key, messages: say(command), stream: true }),
    });
    expect(response.status).toBe(200);
    const received = await response.text();
    expect(received).toBe(small.requests[small.requests.length - 1].sent.toString());
    const stored = await outcomeOf(response.headers.get('x-verdict-event-id')!);
    expect(stored).toMatchObject({ success, error: errorClass, input_tokens: null, output_tokens: null, cost_usd: null });
  });
});

describe('timeouts and cancellation', () => {
  it('answers 504 when the upstream never answers within its timeoutMs, and records timeout', async () => {
    // The small variant's timeout is lowered for this test (a PATCH while running keeps the phase).
    const patched = await exp.admin.patch(`/v1/experiments/${exp.key}`, {
      variants: [
        { key: 'big', weight: 1 },
        { key: 'small', weight: 1, upstream: { baseUrl: small.url, model: 'llama-8b', timeoutMs: 300 } },
      ],
    });
    expect(patched.status).toBe(200);
    expect(patched.body.variants.find((v: { key: string }) => v.key === 'small').upstream.timeoutMs).toBe(300);
    let response: Response | undefined;
    await eventually(async () => {
      response = await fetch(`${t.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${exp.sdkKey}`, 'content-type': 'application/json', 'x-verdict-unit': smallUnit },
        body: JSON.stringify({ model: exp.key, messages: say('hang') }),
      });
      return response.status === 504;
    }, 20_000, 10);
    const body = (await response!.json()) as { error: Record<string, unknown> };
    expect(body.error).toMatchObject({ type: 'timeout_error', code: 'timeout' });
    const stored = await outcomeOf(response!.headers.get('x-verdict-event-id')!);
    expect(stored).toMatchObject({ success: false, error: 'timeout' });
    expect(stored.latency_ms).toBeGreaterThanOrEqual(290);

    // A stream that stalls mid-way is cut after the same idle time.
    const stalled = await exp.openai.chat.completions.create({ model: exp.key, messages: say('stall:6:5'), user: smallUnit, stream: true }).withResponse();
    const error = await (async () => {
      for await (const part of stalled.data) void part;
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIError);
    expect((await outcomeOf(stalled.response.headers.get('x-verdict-event-id')!)).error).toBe('timeout');
  });

  it('aborts the upstream call at once when the client goes away mid-stream, and records client_cancelled', async () => {
    const before = big.requests.length;
    const controller = new AbortController();
    const stream = await exp.openai.chat.completions
      .create({ model: exp.key, messages: say('stream:200:20'), user: bigUnit, stream: true }, { signal: controller.signal })
      .withResponse();
    let seen = 0;
    await (async () => {
      for await (const part of stream.data) {
        if (part.choices[0]?.delta?.content) seen++;
        if (seen === 3) controller.abort();
      }
    })().catch(() => undefined);
    const upstream = big.requests[before];
    await eventually(async () => upstream.closedAt !== null, 5_000, 10);
    expect(upstream.abandoned).toBe(true);
    // Cut within a few chunks of the abort, not after the 200 the upstream would have sent.
    expect(upstream.sent.toString().split('data: ').length).toBeLessThan(20);
    const stored = await outcomeOf(stream.response.headers.get('x-verdict-event-id')!);
    expect(stored).toMatchObject({ error: 'client_cancelled', success: null, latency_ms: null, input_tokens: null, cost_usd: null });
    expect(stored.ttft_ms).not.toBeNull();
  });

  it('aborts a non-streamed upstream call when the client gives up waiting', async () => {
    const before = big.requests.length;
    const cancelled = async () => (await outcomes(t.db, exp.id)).filter((e) => e.error === 'client_cancelled' && e.ttft_ms === null).length;
    const cancelledBefore = await cancelled();
    const error = await exp.openai.chat.completions.create({ model: exp.key, messages: say('hang'), user: bigUnit }, { timeout: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    await eventually(async () => big.requests[before]?.closedAt != null, 5_000, 10);
    expect(big.requests[before].abandoned).toBe(true);
    await eventually(async () => (await cancelled()) === cancelledBefore + 1);
  });
});

describe('other operations', () => {
  it('serves completions (streamed and not), embeddings and the Responses API, with usage from each', async () => {
    const completion = await exp.openai.completions.create({ model: exp.key, prompt: 'hello', user: bigUnit }).withResponse();
    expect(completion.data.choices[0].text).toBe('Hello');
    expect(Number((await outcomeOf(completion.response.headers.get('x-verdict-event-id')!)).output_tokens)).toBe(7);

    const streamed = await exp.openai.completions.create({ model: exp.key, prompt: 'stream:4:5', user: bigUnit, stream: true }).withResponse();
    let text = '';
    for await (const part of streamed.data) text += part.choices[0]?.text ?? '';
    expect(text).toBe('t0t1t2t3');
    const streamedOutcome = await outcomeOf(streamed.response.headers.get('x-verdict-event-id')!);
    expect(Number(streamedOutcome.output_tokens)).toBe(4);
    expect(streamedOutcome.ttft_ms).not.toBeNull();

    const embedding = await exp.openai.embeddings.create({ model: exp.key, input: 'hello', user: smallUnit }).withResponse();
    expect(embedding.data.data[0].embedding.map((x) => Math.round(x * 10) / 10)).toEqual([0.1, 0.2, 0.3]);
    const embedded = await outcomeOf(embedding.response.headers.get('x-verdict-event-id')!);
    expect([Number(embedded.input_tokens), Number(embedded.output_tokens)]).toEqual([5, 0]);
    expect(embedded.cost_usd).toBeCloseTo((5 * 0.1) / 1e6, 12);

    const before = small.requests.length;
    const responses = await exp.openai.responses.create({ model: exp.key, input: 'stream:3:5', user: smallUnit, stream: true }).withResponse();
    const types: string[] = [];
    for await (const event of responses.data) types.push(event.type);
    expect(types).toEqual(['response.created', 'response.output_text.delta', 'response.output_text.delta', 'response.output_text.delta', 'response.completed']);
    // Never stream_options on the Responses API.
    expect(small.requests[before].body.stream_options).toBeUndefined();
    const responded = await outcomeOf(responses.response.headers.get('x-verdict-event-id')!);
    expect([Number(responded.input_tokens), Number(responded.output_tokens), responded.error]).toEqual([9, 3, null]);
    expect(responded.ttft_ms).not.toBeNull();
  });

  it('lists the experiments it serves as models', async () => {
    const models = await exp.openai.models.list();
    expect(models.data.map((m) => m.id)).toContain(exp.key);
  });
});
