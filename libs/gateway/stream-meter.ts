import { createParser, type EventSourceMessage, type EventSourceParser } from 'eventsource-parser';

/** Which OpenAI-compatible operation a call is: decides where content and usage are found. */
export type GatewayEndpoint = 'chat' | 'completions' | 'embeddings' | 'responses';

export interface Usage {
  inputTokens: number | null;
  outputTokens: number | null;
}

/** An SSE event's data is parsed only when it may matter: before the first token, or when it may carry usage or an error. */
const MAY_MATTER = /"usage"\s*:\s*\{|"error"\s*:|"type"\s*:\s*"(response\.(completed|failed|incomplete)|error)"/;
/** Events a client cannot need: the largest SSE event the meter buffers (eventsource-parser's maxBufferSize). */
const MAX_EVENT_BYTES = 8 * 1024 * 1024;

function tokens(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

/** Input and output tokens of a usage object, chat/completions (`prompt_tokens`) or Responses (`input_tokens`) style. */
export function usageOf(usage: unknown, endpoint: GatewayEndpoint): Usage | null {
  if (typeof usage !== 'object' || usage === null) return null;
  const u = usage as Record<string, unknown>;
  const inputTokens = tokens(u.prompt_tokens ?? u.input_tokens);
  // Embeddings produce no output tokens: a known 0, not an unknown.
  const outputTokens = endpoint === 'embeddings' ? (inputTokens === null ? null : 0) : tokens(u.completion_tokens ?? u.output_tokens);
  return { inputTokens, outputTokens };
}

/** True when a parsed chat/completions chunk or Responses event carries content or a tool call (not the empty role chunk). */
function hasContent(data: Record<string, unknown>, endpoint: GatewayEndpoint): boolean {
  if (endpoint === 'responses') {
    const type = data.type;
    return typeof type === 'string' && /^response\.(output_text|refusal|function_call_arguments|reasoning_summary_text|reasoning_text)\.delta$/.test(type);
  }
  const choices = data.choices;
  if (!Array.isArray(choices)) return false;
  for (const choice of choices as Array<Record<string, unknown> | null>) {
    if (!choice) continue;
    if (endpoint === 'completions') {
      if (typeof choice.text === 'string' && choice.text !== '') return true;
      continue;
    }
    const delta = choice.delta as Record<string, unknown> | undefined;
    if (!delta) continue;
    if (typeof delta.content === 'string' && delta.content !== '') return true;
    if (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) return true;
    if (typeof delta.refusal === 'string' && delta.refusal !== '') return true;
    if (typeof delta.reasoning_content === 'string' && delta.reasoning_content !== '') return true;
  }
  return false;
}

/**
 * Watches an SSE answer as it passes through (the bytes themselves are forwarded untouched):
 * the time of the first chunk with content or a tool call, the usage (the last chunk of a
 * chat stream with include_usage, `response.completed` of a Responses stream), an error
 * event, and whether the stream ended as it should (`data: [DONE]`, or a Responses terminal
 * event). Events are parsed by eventsource-parser; an event's JSON only when it may matter.
 */
export class StreamMeter {
  firstTokenAt: number | null = null;
  usage: Usage | null = null;
  complete = false;
  /** An error the upstream reported inside the stream (its message), or null. */
  streamError: string | null = null;
  private readonly parser: EventSourceParser;

  constructor(
    private readonly endpoint: GatewayEndpoint,
    private readonly now: () => number,
  ) {
    this.parser = createParser({ onEvent: (event) => this.onEvent(event), maxBufferSize: MAX_EVENT_BYTES });
  }

  /**
   * Read as latin1, not UTF-8: a byte per character, with no state across chunks and several
   * times cheaper. The framing (newlines, `data:`) and the JSON that matters here (usage
   * numbers, error messages, whether a delta is empty) are ASCII; a multi-byte character
   * split between chunks only becomes a few non-ASCII characters, which JSON still parses.
   */
  feed(chunk: Buffer): void {
    this.parser.feed(chunk.toString('latin1'));
  }

  /** Call at the end of the stream: an event without its final blank line still counts. */
  end(): void {
    this.parser.reset({ consume: true });
  }

  private onEvent(event: EventSourceMessage): void {
    const text = event.data;
    if (text === '[DONE]') {
      this.complete = true;
      return;
    }
    if (this.firstTokenAt !== null && !MAY_MATTER.test(text)) return;
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof data !== 'object' || data === null) return;
    const record = data as Record<string, unknown>;
    if (this.firstTokenAt === null && hasContent(record, this.endpoint)) this.firstTokenAt = this.now();
    if (this.endpoint === 'responses') {
      const type = record.type;
      if (type === 'response.completed' || type === 'response.incomplete') {
        this.complete = true;
        const usage = usageOf((record.response as Record<string, unknown> | undefined)?.usage, this.endpoint);
        if (usage) this.usage = usage;
      } else if (type === 'response.failed' || type === 'error') {
        this.complete = true;
        this.streamError = errorMessage(record) ?? 'the upstream reported a failure';
      }
      return;
    }
    if (record.error !== undefined && record.error !== null) {
      this.streamError = errorMessage(record) ?? 'the upstream reported an error';
      return;
    }
    const usage = usageOf(record.usage, this.endpoint);
    if (usage) this.usage = usage;
  }
}

function errorMessage(record: Record<string, unknown>): string | null {
  const error = (record.error ?? (record.response as Record<string, unknown> | undefined)?.error) as Record<string, unknown> | string | undefined;
  if (typeof error === 'string') return error.slice(0, 200);
  if (error && typeof error.message === 'string') return error.message.slice(0, 200);
  if (typeof record.message === 'string') return record.message.slice(0, 200);
  return null;
}
