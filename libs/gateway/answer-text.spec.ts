import { agreementOf, AnswerCapture, bodyText, MAX_COMPARED_BYTES, streamText } from './answer-text';

const sse = (...events: unknown[]) => events.map((e) => `data: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`).join('');
const delta = (d: Record<string, unknown>, index = 0) => ({ choices: [{ index, delta: d }] });

describe('final texts', () => {
  it('of a chat stream: the first choice\'s content deltas, then its tool calls', () => {
    const raw = sse(delta({ role: 'assistant', content: '' }), delta({ content: 'Hel' }), delta({ content: 'other' }, 1), delta({ content: 'lo' }), { choices: [], usage: { prompt_tokens: 1 } }, '[DONE]');
    expect(streamText('chat', raw)).toBe('Hello');
    const tools = sse(delta({ tool_calls: [{ index: 0, function: { name: 'get', arguments: '' } }] }), delta({ tool_calls: [{ index: 0, function: { arguments: '{"a":' } }] }), delta({ tool_calls: [{ index: 0, function: { arguments: '1}' } }] }), '[DONE]');
    expect(streamText('chat', tools)).toBe('get({"a":1})');
  });

  it('of a stream equals the text of the same answer not streamed', () => {
    const streamed = sse(delta({ tool_calls: [{ index: 0, function: { name: 'get', arguments: '{"a":1}' } }] }), '[DONE]');
    const body = JSON.stringify({ choices: [{ index: 0, message: { content: null, tool_calls: [{ function: { name: 'get', arguments: '{"a":1}' } }] } }] });
    expect(streamText('chat', streamed)).toBe(bodyText('chat', body));
    expect(streamText('completions', sse({ choices: [{ index: 0, text: 'a' }] }, { choices: [{ index: 0, text: 'b' }] }))).toBe(bodyText('completions', JSON.stringify({ choices: [{ index: 0, text: 'ab' }] })));
    const responses = `event: response.output_text.delta\n${sse({ type: 'response.output_text.delta', delta: 'Hi' })}`;
    expect(streamText('responses', responses)).toBe(bodyText('responses', JSON.stringify({ output: [{ type: 'message', content: [{ type: 'output_text', text: 'Hi' }] }] })));
  });

  it('has none for embeddings or a body that is not an answer', () => {
    expect(bodyText('embeddings', JSON.stringify({ data: [{ embedding: [1] }] }))).toBeNull();
    expect(bodyText('chat', 'not json')).toBeNull();
  });

  it('is unknown past the capture bound', () => {
    const capture = new AnswerCapture();
    capture.feed(Buffer.from(JSON.stringify({ choices: [{ index: 0, message: { content: 'x' } }] })));
    expect(capture.text('chat', false)).toBe('x');
    capture.feed(Buffer.alloc(MAX_COMPARED_BYTES));
    expect(capture.overflow).toBe(true);
    expect(capture.text('chat', false)).toBeNull();
  });
});

describe('agreementOf', () => {
  it.each([
    ['same text', 'Paris.', 'Paris.', { exactMatch: true, jsonMatch: null }],
    ['different text', 'Paris.', 'Lyon.', { exactMatch: false, jsonMatch: null }],
    ['same JSON, other key order and spacing', '{"a": 1, "b": [1, {"c": 2}]}', '{"b":[1,{"c":2}],"a":1}', { exactMatch: false, jsonMatch: true }],
    ['JSON in a fence', '{"a": 1}', '```json\n{"a":1}\n```', { exactMatch: false, jsonMatch: true }],
    ['different JSON', '{"a": 1}', '{"a": 2}', { exactMatch: false, jsonMatch: false }],
    ['array order matters', '[1, 2]', '[2, 1]', { exactMatch: false, jsonMatch: false }],
    ['one JSON, one not', '{"a": 1}', 'a is 1', { exactMatch: false, jsonMatch: false }],
    ['numbers are not JSON answers', '42', '42.0', { exactMatch: false, jsonMatch: null }],
  ])('%s', (_name, served, shadow, expected) => {
    expect(agreementOf(served, shadow)).toEqual(expected);
  });

  it('is unknown when either text is', () => {
    expect(agreementOf(null, 'x')).toEqual({ exactMatch: null, jsonMatch: null });
  });
});
