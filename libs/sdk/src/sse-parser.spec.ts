import { ServerSentEvent, SseParser } from './sse-parser';

describe('SseParser', () => {
  it('parses events split across chunks, any line ending, comments and multi-line data', () => {
    const events: ServerSentEvent[] = [];
    const p = new SseParser((e) => events.push(e));
    const text = ': comment\r\nevent: config\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata: plain\n\nevent: ping\rdata:x\r\r';
    for (const ch of text) p.feed(ch);
    expect(events).toEqual([
      { event: 'config', data: '{"a":\n1}' },
      { event: 'message', data: 'plain' },
      { event: 'ping', data: 'x' },
    ]);
  });

  it('dispatches nothing without data', () => {
    const events: ServerSentEvent[] = [];
    const p = new SseParser((e) => events.push(e));
    p.feed('event: config\n\n: keepalive\n\n');
    expect(events).toEqual([]);
  });
});
