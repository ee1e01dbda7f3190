import { streamText } from './answer-text';
import { CaptureCollector, captureSampled, cut, promptOf } from './capture';

const sse = (events: unknown[]) => events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('');
const chunk = (delta: Record<string, unknown>) => ({ choices: [{ index: 0, delta }] });

describe('captureSampled', () => {
  it('is a pure function of the event id: the same id is always in or out, about the rate of ids are in', () => {
    const ids = Array.from({ length: 4000 }, (_, i) => `event-${i}`);
    const inHalf = ids.filter((id) => captureSampled(id, 0.5));
    expect(ids.filter((id) => captureSampled(id, 0.5))).toEqual(inHalf);
    expect(inHalf.length).toBeGreaterThan(1800);
    expect(inHalf.length).toBeLessThan(2200);
    // Nested: an id sampled at 0.1 is sampled at 0.5.
    expect(ids.filter((id) => captureSampled(id, 0.1)).every((id) => captureSampled(id, 0.5))).toBe(true);
    expect(ids.every((id) => captureSampled(id, 1))).toBe(true);
    expect(ids.some((id) => captureSampled(id, 0))).toBe(false);
  });
});

describe('cut', () => {
  it('keeps short text, cuts long text at maxChars, never inside a surrogate pair, replaces NUL and lone surrogates', () => {
    expect(cut('hello', 5)).toEqual({ text: 'hello', truncated: false });
    expect(cut('hello!', 5)).toEqual({ text: 'hello', truncated: true });
    expect(cut('ab🎉cd', 3)).toEqual({ text: 'ab', truncated: true });
    expect(cut('a\u0000b\ud800c', 10)).toEqual({ text: 'a\ufffdb\ufffdc', truncated: false });
  });
});

describe('promptOf', () => {
  it('keeps what the client sent: messages as JSON, a string prompt as it is, Responses instructions with the input', () => {
    const messages = [{ role: 'user', content: 'hi' }];
    expect(promptOf('chat', { messages })).toBe(JSON.stringify(messages));
    expect(promptOf('completions', { prompt: 'Say hi' })).toBe('Say hi');
    expect(promptOf('completions', { prompt: ['a', 'b'] })).toBe('["a","b"]');
    expect(promptOf('embeddings', { input: 'text' })).toBe('text');
    expect(promptOf('responses', { input: 'q', instructions: 'be brief' })).toBe('{"instructions":"be brief","input":"q"}');
  });
});

describe('CaptureCollector', () => {
  const stream = sse([
    chunk({ role: 'assistant', content: '' }),
    chunk({ content: 'Hé' }),
    chunk({ content: 'llo 🎉' }),
    chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] }),
    '[DONE]',
  ]);

  it('assembles the same text as the shadow comparison, whatever the chunk boundaries (split inside UTF-8 characters too)', () => {
    const bytes = Buffer.from(stream);
    for (const size of [1, 3, 7, bytes.length]) {
      const c = new CaptureCollector('chat', 1000);
      for (let i = 0; i < bytes.length; i += size) c.feed(bytes.subarray(i, i + size));
      expect(c.result()).toEqual({ text: streamText('chat', stream), truncated: false });
    }
    expect(streamText('chat', stream)).toBe('Héllo 🎉f({"a":1})');
  });

  it('stops collecting past maxChars and marks the text truncated', () => {
    const c = new CaptureCollector('chat', 4);
    c.feed(Buffer.from(stream));
    expect(c.result()).toEqual({ text: 'Héll', truncated: true });
    const long = new CaptureCollector('chat', 10);
    long.feed(Buffer.from(sse(Array.from({ length: 1000 }, () => chunk({ content: 'abcdefgh' })))));
    expect(long.result()).toEqual({ text: 'abcdefghab', truncated: true });
  });

  it('reads a non-streamed body; no text (embeddings, no choice) is null', () => {
    const c = new CaptureCollector('chat', 100);
    c.body({ choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' } }] });
    expect(c.result()).toEqual({ text: 'Hi', truncated: false });
    const e = new CaptureCollector('embeddings', 100);
    e.body({ data: [] });
    expect(e.result()).toEqual({ text: null, truncated: false });
    expect(new CaptureCollector('chat', 100).result()).toEqual({ text: null, truncated: false });
  });

  it('reads Responses output text deltas and completions text', () => {
    const r = new CaptureCollector('responses', 100);
    r.feed(Buffer.from(sse([{ type: 'response.output_text.delta', delta: 'He' }, { type: 'response.output_text.delta', delta: 'y' }, { type: 'response.completed', response: {} }])));
    expect(r.result()).toEqual({ text: 'Hey', truncated: false });
    const t = new CaptureCollector('completions', 100);
    t.feed(Buffer.from(sse([{ choices: [{ index: 0, text: 'a' }] }, { choices: [{ index: 0, text: 'b' }] }, '[DONE]'])));
    expect(t.result()).toEqual({ text: 'ab', truncated: false });
  });
});
