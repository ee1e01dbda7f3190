import { createParser } from 'eventsource-parser';
import type { GatewayEndpoint } from './stream-meter';

/**
 * The final text of an answer, to compare a shadow's answer with the served one (docs/adr/0031).
 * Only the gateway holds both; it compares them in memory when both have finished and records
 * two flags on the shadow outcome. No answer text is ever stored.
 */

/** Bytes of an answer kept for the comparison at most; a longer answer's agreement is unknown (null). */
export const MAX_COMPARED_BYTES = 256 * 1024;

/** Collects an answer's bytes up to MAX_COMPARED_BYTES (then gives up: `overflow`). */
export class AnswerCapture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  overflow = false;
  /** Set by the reader when the answer is an SSE stream. */
  sse = false;

  feed(chunk: Buffer): void {
    if (this.overflow) return;
    this.size += chunk.length;
    if (this.size > MAX_COMPARED_BYTES) {
      this.overflow = true;
      this.chunks.length = 0;
      return;
    }
    this.chunks.push(chunk);
  }

  /** The final text of what was captured, or null when it overflowed or holds no text. */
  text(endpoint: GatewayEndpoint, stream: boolean): string | null {
    if (this.overflow) return null;
    const raw = Buffer.concat(this.chunks).toString('utf8');
    return stream ? streamText(endpoint, raw) : bodyText(endpoint, raw);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Tool calls as text (name and arguments in order), so that two answers calling the same tool alike agree. */
function toolCallsText(calls: unknown): string {
  if (!Array.isArray(calls)) return '';
  return calls
    .map((c) => (isRecord(c) && isRecord(c.function) ? `${String(c.function.name ?? '')}(${String(c.function.arguments ?? '')})` : ''))
    .join('');
}

/** The text of a non-streamed answer body: the first choice's message (chat) or text (completions), or a Responses call's output text. Embeddings: null. */
export function bodyText(endpoint: GatewayEndpoint, raw: string): string | null {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return null;
  }
  return parsedBodyText(endpoint, data);
}

export function parsedBodyText(endpoint: GatewayEndpoint, data: unknown): string | null {
  if (!isRecord(data) || endpoint === 'embeddings') return null;
  if (endpoint === 'responses') {
    if (!Array.isArray(data.output)) return null;
    let text = '';
    for (const item of data.output as unknown[]) {
      if (!isRecord(item) || !Array.isArray(item.content)) continue;
      for (const part of item.content as unknown[]) if (isRecord(part) && part.type === 'output_text' && typeof part.text === 'string') text += part.text;
    }
    return text;
  }
  const choice = Array.isArray(data.choices) ? (data.choices as unknown[]).find((c) => isRecord(c) && (c.index ?? 0) === 0) : undefined;
  if (!isRecord(choice)) return null;
  if (endpoint === 'completions') return typeof choice.text === 'string' ? choice.text : null;
  const message = choice.message;
  if (!isRecord(message)) return null;
  return (typeof message.content === 'string' ? message.content : '') + toolCallsText(message.tool_calls);
}

/** The text of an SSE answer: the content deltas of the first choice (chat, completions) or the output text deltas (Responses), in order. */
export function streamText(endpoint: GatewayEndpoint, raw: string): string | null {
  if (endpoint === 'embeddings') return null;
  let text = '';
  const tools: string[] = [];
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === '[DONE]') return;
      let data: unknown;
      try {
        data = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!isRecord(data)) return;
      if (endpoint === 'responses') {
        if (data.type === 'response.output_text.delta' && typeof data.delta === 'string') text += data.delta;
        return;
      }
      if (!Array.isArray(data.choices)) return;
      for (const choice of data.choices as unknown[]) {
        if (!isRecord(choice) || (choice.index ?? 0) !== 0) continue;
        if (endpoint === 'completions') {
          if (typeof choice.text === 'string') text += choice.text;
          continue;
        }
        const delta = choice.delta;
        if (!isRecord(delta)) continue;
        if (typeof delta.content === 'string') text += delta.content;
        if (Array.isArray(delta.tool_calls)) {
          for (const call of delta.tool_calls as unknown[]) {
            if (!isRecord(call)) continue;
            const i = typeof call.index === 'number' && call.index >= 0 && call.index < 128 ? call.index : 0;
            const fn = isRecord(call.function) ? call.function : {};
            tools[i] = (tools[i] ?? '') + (typeof fn.name === 'string' ? `${fn.name}(` : '') + (typeof fn.arguments === 'string' ? fn.arguments : '');
          }
        }
      }
    },
  });
  parser.feed(raw);
  parser.reset({ consume: true });
  // Same shape as toolCallsText: name(arguments) per call.
  return text + tools.map((t) => (t.includes('(') ? `${t})` : `(${t})`)).join('');
}

/** An object or array parsed from an answer (a surrounding ``` fence allowed), or undefined when the answer is not JSON. */
function jsonOf(text: string): unknown {
  try {
    const value: unknown = JSON.parse(unfenced(text) ?? text);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The body of an answer wrapped in one ``` fence (with an optional language name), or
 * undefined. By hand, not as a regex: the regex form is quadratic on a long answer.
 */
function unfenced(text: string): string | undefined {
  const trimmed = text.trim();
  const firstNewline = trimmed.indexOf('\n');
  if (!trimmed.startsWith('```') || !trimmed.endsWith('```') || firstNewline === -1 || firstNewline > trimmed.length - 4) return undefined;
  if (!/^[a-zA-Z]*$/.test(trimmed.slice(3, firstNewline).trim())) return undefined;
  return trimmed.slice(firstNewline + 1, trimmed.length - 3);
}

/** JSON with object keys sorted, so that two equal values print alike whatever their key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (isRecord(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface Agreement {
  /** The final texts are equal; null when either is unknown. */
  exactMatch: boolean | null;
  /** Both are JSON (object or array) and equal once parsed: true; one only is JSON: false; neither, or either unknown: null. */
  jsonMatch: boolean | null;
}

/** How the shadow's answer agrees with the served one. */
export function agreementOf(served: string | null, shadow: string | null): Agreement {
  if (served === null || shadow === null) return { exactMatch: null, jsonMatch: null };
  const a = jsonOf(served);
  const b = jsonOf(shadow);
  const jsonMatch = a === undefined && b === undefined ? null : a === undefined || b === undefined ? false : canonical(a) === canonical(b);
  return { exactMatch: served === shadow, jsonMatch };
}
