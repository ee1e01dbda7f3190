import { StreamMeter } from './stream-meter';

const chunk = (delta: Record<string, unknown>) => `data: ${JSON.stringify({ choices: [{ index: 0, delta }] })}\n\n`;

function meterOf(endpoint: 'chat' | 'responses', parts: string[]): { meter: StreamMeter; times: number[] } {
  let now = 0;
  const meter = new StreamMeter(endpoint, () => now);
  const times: number[] = [];
  for (const part of parts) {
    now += 10;
    times.push(now);
    meter.feed(Buffer.from(part));
  }
  meter.end();
  return { meter, times };
}

describe('StreamMeter', () => {
  it('takes TTFT at the first content chunk, not the empty role chunk, and usage from the last chunk', () => {
    const usage = `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 12, completion_tokens: 3 } })}\n\n`;
    const { meter } = meterOf('chat', [chunk({ role: 'assistant', content: '' }), chunk({ content: 'Hé' }), chunk({ content: 'llo' }), usage, 'data: [DONE]\n\n']);
    expect(meter.firstTokenAt).toBe(20);
    expect(meter.usage).toEqual({ inputTokens: 12, outputTokens: 3 });
    expect(meter.complete).toBe(true);
  });

  it('counts a tool-call delta as the first token and finds events split across chunks, multi-byte characters included', () => {
    const text = chunk({ role: 'assistant', content: '' }) + chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '' } }] }) + chunk({ content: '日本' }) + 'data: [DONE]\n\n';
    const bytes = Buffer.from(text);
    const parts = [];
    for (let i = 0; i < bytes.length; i += 7) parts.push(bytes.subarray(i, i + 7));
    let now = 0;
    const meter = new StreamMeter('chat', () => now);
    parts.forEach((part, i) => {
      now = i + 1;
      meter.feed(part);
    });
    meter.end();
    const toolCallEnds = Buffer.byteLength(chunk({ role: 'assistant', content: '' }) + chunk({ tool_calls: [{ index: 0, function: { name: 'f', arguments: '' } }] }));
    // The event is complete with its blank line: the chunk holding byte toolCallEnds - 1.
    expect(meter.firstTokenAt).toBe(Math.floor((toolCallEnds - 1) / 7) + 1);
    expect(meter.complete).toBe(true);
  });

  it('leaves usage unknown and the stream incomplete when it ends without [DONE], and notes an error event', () => {
    const { meter } = meterOf('chat', [chunk({ content: 'a' }), `data: ${JSON.stringify({ error: { message: 'overloaded' } })}\n\n`]);
    expect(meter.complete).toBe(false);
    expect(meter.usage).toBeNull();
    expect(meter.streamError).toBe('overloaded');
  });

  it('reads Responses streams: output deltas for TTFT, usage from response.completed', () => {
    const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    const { meter } = meterOf('responses', [
      ev('response.created', { response: {} }),
      ev('response.output_text.delta', { delta: 'Hi' }),
      ev('response.completed', { response: { usage: { input_tokens: 9, output_tokens: 4 } } }),
    ]);
    expect(meter.firstTokenAt).toBe(20);
    expect(meter.usage).toEqual({ inputTokens: 9, outputTokens: 4 });
    expect(meter.complete).toBe(true);
  });
});
