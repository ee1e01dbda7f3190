import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceParser } from 'eventsource-parser';
import { murmur3 } from '../assignment/core/murmur3';
import { parsedBodyText } from './answer-text';
import type { GatewayEndpoint } from './stream-meter';

/**
 * Prompt and answer capture (issue #17, docs/adr/0039): which calls are captured, what of the
 * request is kept, and the answer's final text collected as the stream passes, bounded by the
 * experiment's maxChars. Pure: the gateway feeds it, the capture writer stores its result.
 */

/** Whether a call is captured: murmur3("capture." + event id) / 2^32 below the sample rate, so a given call is always in or always out. */
export function captureSampled(eventId: string, sampleRate: number): boolean {
  if (!(sampleRate > 0)) return false;
  if (sampleRate >= 1) return true;
  return murmur3(`capture.${eventId}`, 0) / 4294967296 < sampleRate;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Text cut to at most `maxChars` UTF-16 code units (never inside a surrogate pair), NUL replaced (Postgres text refuses it). */
export function cut(text: string, maxChars: number): { text: string; truncated: boolean } {
  let out = text;
  let truncated = false;
  if (out.length > maxChars) {
    truncated = true;
    let end = maxChars;
    const last = out.charCodeAt(end - 1);
    if (last >= 0xd800 && last <= 0xdbff) end--;
    out = out.slice(0, end);
  }
  // Lone surrogates (a client may send them inside JSON strings) become U+FFFD as well.
  if (out.includes('\u0000')) out = out.replaceAll('\u0000', '\ufffd');
  out = out.replace(LONE_SURROGATE, '\ufffd');
  return { text: out, truncated };
}

/**
 * What of the request is kept: the chat's messages, the completion's prompt, the input of an
 * embeddings or Responses call (with the Responses instructions), as the client sent them
 * (before any system prompt prefix of the variant): the string itself when it is one, JSON otherwise.
 */
export function promptOf(endpoint: GatewayEndpoint, body: Record<string, unknown>): string {
  let value: unknown;
  if (endpoint === 'chat') value = body.messages;
  else if (endpoint === 'completions') value = body.prompt;
  else if (endpoint === 'responses' && body.instructions !== undefined) value = { instructions: body.instructions, input: body.input };
  else value = body.input;
  if (typeof value === 'string') return value;
  return JSON.stringify(value ?? null);
}

/** Bounded SSE event buffer of the collector (as the stream meter's). */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Collects the final text of one answer for a capture, as it passes: the content deltas of the
 * first choice (chat, completions) then its tool calls as name(arguments), or the output text
 * deltas of a Responses stream; a non-streamed answer's text from its parsed body. The same
 * text the shadow agreement compares (answer-text.ts). Holds at most about maxChars characters:
 * past them it stops collecting and the text is marked truncated.
 */
export class CaptureCollector {
  private content = '';
  private readonly tools: string[] = [];
  private size = 0;
  private full = false;
  private parser: EventSourceParser | null = null;
  private decoder: StringDecoder | null = null;
  private bodyText: string | null = null;
  /** Whether anything that carries text was seen (a stream's event, or a body with text). */
  private seen = false;

  constructor(
    private readonly endpoint: GatewayEndpoint,
    readonly maxChars: number,
  ) {}

  /** A chunk of an SSE answer, as forwarded to the client. */
  feed(chunk: Buffer): void {
    if (this.full || this.endpoint === 'embeddings') return;
    if (!this.parser) {
      this.decoder = new StringDecoder('utf8');
      this.parser = createParser({ onEvent: (event) => this.onEvent(event.data), maxBufferSize: MAX_EVENT_BYTES });
    }
    this.parser.feed(this.decoder!.write(chunk));
  }

  /** A non-streamed answer's parsed JSON body. */
  body(parsed: unknown): void {
    this.bodyText = parsedBodyText(this.endpoint, parsed);
  }

  /** The answer's text (null when it had none, e.g. embeddings or an error), cut at maxChars. */
  result(): { text: string | null; truncated: boolean } {
    if (this.bodyText !== null) return cut(this.bodyText, this.maxChars);
    if (this.parser && !this.full) {
      this.parser.feed(this.decoder!.end());
      this.parser.reset({ consume: true });
    }
    if (!this.seen) return { text: null, truncated: false };
    const tools = this.tools.map((t) => (t.includes('(') ? `${t})` : `(${t})`)).join('');
    const { text, truncated } = cut(this.content + tools, this.maxChars);
    return { text, truncated: truncated || this.full };
  }

  private add(piece: string, tool: number | null): void {
    if (piece === '' || this.full) return;
    if (tool === null) this.content += piece;
    else this.tools[tool] = (this.tools[tool] ?? '') + piece;
    this.size += piece.length;
    if (this.size > this.maxChars) this.full = true;
  }

  private onEvent(text: string): void {
    if (this.full || text === '[DONE]') return;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    if (!isRecord(data)) return;
    if (this.endpoint === 'responses') {
      if (data.type === 'response.output_text.delta' && typeof data.delta === 'string') {
        this.seen = true;
        this.add(data.delta, null);
      }
      return;
    }
    if (!Array.isArray(data.choices)) return;
    for (const choice of data.choices as unknown[]) {
      if (!isRecord(choice) || (choice.index ?? 0) !== 0) continue;
      this.seen = true;
      if (this.endpoint === 'completions') {
        if (typeof choice.text === 'string') this.add(choice.text, null);
        continue;
      }
      const delta = choice.delta;
      if (!isRecord(delta)) continue;
      if (typeof delta.content === 'string') this.add(delta.content, null);
      if (Array.isArray(delta.tool_calls)) {
        for (const call of delta.tool_calls as unknown[]) {
          if (!isRecord(call)) continue;
          const i = typeof call.index === 'number' && call.index >= 0 && call.index < 128 ? call.index : 0;
          const fn = isRecord(call.function) ? call.function : {};
          if (this.tools[i] === undefined) this.tools[i] = '';
          this.add((typeof fn.name === 'string' ? `${fn.name}(` : '') + (typeof fn.arguments === 'string' ? fn.arguments : ''), i);
        }
      }
    }
  }
}
