export interface ServerSentEvent {
  event: string;
  data: string;
}

/**
 * Incremental parser for text/event-stream (WHATWG HTML, "server-sent events"): feed it
 * chunks as they arrive; it calls `onEvent` per dispatched event. Lines may end in LF,
 * CR or CRLF; several `data:` lines join with LF; comments (":") are ignored.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private skipLf = false;

  constructor(private readonly onEvent: (e: ServerSentEvent) => void) {}

  feed(chunk: string): void {
    // A CR that ended the previous chunk may be the first half of a CRLF.
    if (this.skipLf && chunk.startsWith('\n')) chunk = chunk.slice(1);
    this.skipLf = false;
    this.buffer += chunk;
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (match === null) return;
      if (match[0] === '\r' && match.index === this.buffer.length - 1) this.skipLf = true;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length > 0) this.onEvent({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
  }
}
