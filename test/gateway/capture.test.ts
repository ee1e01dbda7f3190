import type { INestApplicationContext } from '@nestjs/common';
import { captureSampled } from '../../libs/gateway/capture';
import { CaptureWriter } from '../../libs/gateway/capture-writer';
import { client } from '../support/http-client';
import { startTestApp, type TestApp } from '../support/test-app';
import { eventually, startTestWorker } from '../support/test-worker';
import { startFakeUpstream, type FakeUpstream } from './support/fake-upstream';
import { gatewayExperiment, GATEWAY_TEST_SETTINGS, outcomes } from './support/gateway-fixture';

// Prompt and answer capture (issue #17, docs/adr/0039) on the real app, Postgres, worker and the
// openai client against fake upstreams: nothing stored unless the experiment asks; when it does,
// the stored prompt and answer are what the client sent and got (cut at maxChars, marked),
// sampled by event id; admin-only routes; bad settings named; expired captures pruned by the worker.
jest.setTimeout(120_000);

let t: TestApp;
let worker: INestApplicationContext;
let big: FakeUpstream;
let small: FakeUpstream;

beforeAll(async () => {
  [t, big, small] = await Promise.all([startTestApp({ ...GATEWAY_TEST_SETTINGS, GATEWAY_CAPTURE_PRUNE_INTERVAL_MS: '1000' }), startFakeUpstream('70B'), startFakeUpstream('8B')]);
  worker = await startTestWorker(t.config);
});
afterAll(async () => {
  await worker?.close();
  await t?.close();
  await Promise.all([big, small].map((f) => f?.close()));
});
beforeEach(() => {
  for (const f of [big, small]) f.options.reply = undefined;
});

const CAPTURE = { sampleRate: 1, maxChars: 10_000, retentionDays: 7 };
const say = (text: string) => [
  { role: 'system' as const, content: 'You are terse.' },
  { role: 'user' as const, content: text },
];

interface CaptureItem {
  eventId: string;
  variant: string;
  instance: string | null;
  endpoint: string;
  stream: boolean;
  prompt: string;
  promptTruncated: boolean;
  answer: string | null;
  answerTruncated: boolean;
  error: string | null;
  capturedAt: string;
  expiresAt: string;
}

/** Every capture the writer holds is in Postgres once this returns. */
async function flushed(): Promise<void> {
  await t.app.get(CaptureWriter).flush();
}

async function storedCount(experimentId: string): Promise<number> {
  const [{ n }] = await t.db.query(`SELECT count(*)::int AS n FROM gateway_capture WHERE experiment_id = $1`, [experimentId]);
  return n;
}

/** Every capture of the experiment through the API, page by page. */
async function allCaptures(admin: ReturnType<typeof client>, key: string, query = '', limit = 50): Promise<CaptureItem[]> {
  const items: CaptureItem[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const res: { status: number; body: { items: CaptureItem[]; nextCursor: string | null } } = await admin.get(`/v1/experiments/${key}/captures?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error('too many pages');
}

async function chat(exp: Awaited<ReturnType<typeof gatewayExperiment>>, text: string, unit: string) {
  const { data, response } = await exp.openai.chat.completions.create({ model: exp.key, messages: say(text), user: unit }).withResponse();
  return { eventId: response.headers.get('x-verdict-event-id')!, variant: response.headers.get('x-verdict-variant')!, answer: data.choices[0].message.content ?? '' };
}

async function chatStream(exp: Awaited<ReturnType<typeof gatewayExperiment>>, text: string, unit: string) {
  const { data: stream, response } = await exp.openai.chat.completions.create({ model: exp.key, messages: say(text), user: unit, stream: true }).withResponse();
  let answer = '';
  const tools: Array<{ name: string; args: string }> = [];
  for await (const chunk of stream) {
    const delta = chunk.choices[0]?.delta;
    answer += delta?.content ?? '';
    for (const call of delta?.tool_calls ?? []) {
      tools[call.index] ??= { name: '', args: '' };
      tools[call.index].name += call.function?.name ?? '';
      tools[call.index].args += call.function?.arguments ?? '';
    }
  }
  return { eventId: response.headers.get('x-verdict-event-id')!, variant: response.headers.get('x-verdict-variant')!, answer, tools };
}

describe('gateway capture', () => {
  it('stores nothing of the prompt or the answer when the experiment does not ask', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, big, small);
    expect((await exp.admin.get(`/v1/experiments/${exp.key}`)).body.capture).toBeNull();
    await chat(exp, 'hello', 'u-off-1');
    await chatStream(exp, 'stream:4:1', 'u-off-2');
    // Both calls are recorded (so they went through the gateway to the end), and the writer holds nothing back.
    await eventually(async () => (await outcomes(t.db, exp.id)).length === 2);
    await flushed();
    expect(await storedCount(exp.id)).toBe(0);
    expect((await exp.admin.get(`/v1/experiments/${exp.key}/captures`)).body).toEqual({ items: [], nextCursor: null });
  });

  it('with sampleRate 1 stores the prompt and the answer the client got, streamed and not, tool calls included', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, big, small, { capture: CAPTURE });
    expect((await exp.admin.get(`/v1/experiments/${exp.key}`)).body.capture).toEqual(CAPTURE);
    big.options.reply = 'Paris, of course. ünïcödé ✓ 🎉';
    small.options.reply = 'Paris, of course. ünïcödé ✓ 🎉';
    const plain = await chat(exp, 'hello', 'u-on-1');
    const streamed = await chatStream(exp, 'stream:5:1', 'u-on-2');
    big.options.reply = undefined;
    small.options.reply = undefined;
    const tools = await chatStream(exp, 'tools:1:1', 'u-on-3');
    expect(plain.answer).toBe('Paris, of course. ünïcödé ✓ 🎉');
    expect(streamed.answer).toBe('Paris, of course. ünïcödé ✓ 🎉');
    expect(tools.tools).toEqual([{ name: 'get_weather', args: '{"city":"Paris"}' }]);
    await flushed();
    const items = await allCaptures(exp.admin, exp.key);
    expect(items).toHaveLength(3);
    const byId = new Map(items.map((i) => [i.eventId, i]));
    const upstreamOf = (variant: string) => (variant === 'big' ? big.url : small.url).replace(/\/$/, '');
    for (const [call, text, stream, answer] of [
      [plain, 'hello', false, plain.answer],
      [streamed, 'stream:5:1', true, streamed.answer],
      [tools, 'tools:1:1', true, `${tools.tools[0].name}(${tools.tools[0].args})`],
    ] as const) {
      const item = byId.get(call.eventId)!;
      expect(item).toMatchObject({
        variant: call.variant,
        instance: upstreamOf(call.variant),
        endpoint: 'chat',
        stream,
        prompt: JSON.stringify(say(text)),
        promptTruncated: false,
        answer,
        answerTruncated: false,
        error: null,
      });
      expect(new Date(item.expiresAt).getTime() - new Date(item.capturedAt).getTime()).toBe(7 * 86_400_000);
    }
  });

  it('cuts the prompt and the answer at maxChars and marks them truncated (PATCH, audited)', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, big, small);
    const patched = await exp.admin.patch(`/v1/experiments/${exp.key}`, { capture: { ...CAPTURE, maxChars: 12 } });
    expect(patched.status).toBe(200);
    expect(patched.body.capture).toEqual({ ...CAPTURE, maxChars: 12 });
    const audit = await exp.admin.get(`/v1/experiments/${exp.key}/audit`);
    expect(JSON.stringify(audit.body)).toContain('"maxChars":12');
    const reply = 'A long answer that the capture cuts at twelve characters.';
    big.options.reply = reply;
    small.options.reply = reply;
    // The gateway's snapshot follows the PATCH: wait until a call is captured.
    let plain = await chat(exp, 'hello there', 'u-cut-1');
    await eventually(async () => {
      await flushed();
      if ((await storedCount(exp.id)) > 0) return true;
      plain = await chat(exp, 'hello there', 'u-cut-1');
      return false;
    });
    const streamed = await chatStream(exp, 'stream:3:1', 'u-cut-2');
    await flushed();
    const byId = new Map((await allCaptures(exp.admin, exp.key)).map((i) => [i.eventId, i]));
    for (const [call, text] of [
      [plain, 'hello there'],
      [streamed, 'stream:3:1'],
    ] as const) {
      expect(call.answer).toBe(reply);
      expect(byId.get(call.eventId)).toMatchObject({ prompt: JSON.stringify(say(text)).slice(0, 12), promptTruncated: true, answer: reply.slice(0, 12), answerTruncated: true });
    }
    // Off again: nothing more is stored.
    expect((await exp.admin.patch(`/v1/experiments/${exp.key}`, { capture: null })).body.capture).toBeNull();
    await eventually(async () => {
      const call = await chat(exp, 'hello', 'u-cut-3');
      await flushed();
      const [row] = await t.db.query(`SELECT 1 FROM gateway_capture WHERE experiment_id = $1 AND event_id = $2`, [exp.id, call.eventId]);
      return row === undefined;
    });
    const call = await chat(exp, 'hello', 'u-cut-4');
    await flushed();
    expect((await allCaptures(exp.admin, exp.key)).some((i) => i.eventId === call.eventId)).toBe(false);
  });

  it('with sampleRate 0.5 stores exactly the calls whose event id samples in (about half); pages and filters by variant', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, big, small, { capture: { ...CAPTURE, sampleRate: 0.5 } });
    const calls = [];
    for (let i = 0; i < 60; i++) calls.push(await chat(exp, 'hello', `u-half-${i}`));
    await flushed();
    const expected = calls.filter((c) => captureSampled(c.eventId, 0.5));
    expect(expected.length).toBeGreaterThanOrEqual(15);
    expect(expected.length).toBeLessThanOrEqual(45);
    // Pages of 7, newest first, no duplicate, nothing missing.
    const items = await allCaptures(exp.admin, exp.key, '', 7);
    expect(items.map((i) => i.eventId).sort()).toEqual(expected.map((c) => c.eventId).sort());
    const times = items.map((i) => new Date(i.capturedAt).getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
    const small_ = await allCaptures(exp.admin, exp.key, '&variant=small', 5);
    expect(small_.map((i) => i.eventId).sort()).toEqual(expected.filter((c) => c.variant === 'small').map((c) => c.eventId).sort());
    expect(small_.every((i) => i.variant === 'small')).toBe(true);
  });

  it('routes are admin-only; bad settings and cursors get a 400 naming the field; unknown experiment 404', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, big, small, { capture: CAPTURE });
    expect((await exp.sdk.get(`/v1/experiments/${exp.key}/captures`)).status).toBe(403);
    expect((await exp.sdk.delete(`/v1/experiments/${exp.key}/captures`)).status).toBe(403);
    expect((await exp.admin.get(`/v1/experiments/no-such-experiment/captures`)).status).toBe(404);
    const badCursor = await exp.admin.get(`/v1/experiments/${exp.key}/captures?cursor=not-a-cursor`);
    expect(badCursor.status).toBe(400);
    expect(badCursor.body.errors.map((e: { field: string }) => e.field)).toEqual(['cursor']);
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...CAPTURE, sampleRate: 0 }, 'capture.sampleRate'],
      [{ ...CAPTURE, sampleRate: 1.5 }, 'capture.sampleRate'],
      [{ ...CAPTURE, maxChars: 0 }, 'capture.maxChars'],
      [{ ...CAPTURE, maxChars: 2.5 }, 'capture.maxChars'],
      [{ ...CAPTURE, maxChars: 100_001 }, 'capture.maxChars'],
      [{ ...CAPTURE, retentionDays: 0 }, 'capture.retentionDays'],
      [{ ...CAPTURE, retentionDays: 366 }, 'capture.retentionDays'],
      [{ sampleRate: 0.5, maxChars: 100 }, 'capture.retentionDays'],
    ];
    for (const [capture, field] of cases) {
      const res = await exp.admin.patch(`/v1/experiments/${exp.key}`, { capture });
      expect(res.status).toBe(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const created = await exp.admin.post('/v1/experiments', { key: 'capture-bad', name: 'n', unitType: 'user', variants: [{ key: 'a', weight: 1, isControl: true }, { key: 'b', weight: 1 }], metrics: { primary: { name: 'success_rate', goal: 'increase' } }, capture: { ...CAPTURE, sampleRate: -1 } });
    expect(created.status).toBe(400);
    expect(created.body.errors.map((e: { field: string }) => e.field)).toEqual(['capture.sampleRate']);
    // Nothing changed by the refused PATCHes.
    expect((await exp.admin.get(`/v1/experiments/${exp.key}`)).body.capture).toEqual(CAPTURE);
  });

  it('the worker deletes expired captures and keeps the others; DELETE removes them all (audited)', async () => {
    const exp = await gatewayExperiment(t.url, t.adminKey, big, small, { capture: CAPTURE });
    const call = await chat(exp, 'hello', 'u-keep-1');
    await flushed();
    expect(await storedCount(exp.id)).toBe(1);
    const [{ project_id: projectId }] = await t.db.query(`SELECT project_id FROM experiment WHERE id = $1`, [exp.id]);
    // Two captures past their retention, as the writer would have stored them 8 days ago.
    for (const id of ['old-1', 'old-2']) {
      await t.db.query(
        `INSERT INTO gateway_capture (experiment_id, event_id, project_id, variant, instance, endpoint, stream, prompt, prompt_truncated, answer, answer_truncated, error, captured_at, expires_at)
         VALUES ($1, $2, $3, 'big', NULL, 'chat', false, 'p', false, 'a', false, NULL, now() - interval '8 days', now() - interval '1 day')`,
        [exp.id, id, projectId],
      );
    }
    expect(await storedCount(exp.id)).toBe(3);
    await eventually(async () => (await storedCount(exp.id)) === 1, 20_000);
    expect((await allCaptures(exp.admin, exp.key)).map((i) => i.eventId)).toEqual([call.eventId]);

    const deleted = await exp.admin.delete(`/v1/experiments/${exp.key}/captures`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: 1 });
    expect(await storedCount(exp.id)).toBe(0);
    const audit = await exp.admin.get(`/v1/experiments/${exp.key}/audit`);
    expect(JSON.stringify(audit.body)).toContain('experiment.captures_deleted');
  });
});
