import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createParser } from 'eventsource-parser';
import type { Upstream, UpstreamInstance } from '../experiments/experiment.types';
import { OutboundClient } from '../outbound/outbound-client';
import type { ChatMessage } from './judge';
import { UpstreamLimiter } from './upstream-limiter';

/** One answer of a variant's model, measured. */
export interface ModelAnswer {
  text: string;
  latencyMs: number;
  /** Time to the first content chunk of the stream (null when the upstream did not stream). */
  ttftMs: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
}

/**
 * Why a call failed for good. `unavailable`: the upstream could not be reached or kept
 * answering 429/5xx after the retries (the run pauses and resumes later); `rejected`: it
 * refused this request (another 4xx, a malformed answer): that answer is a failed call.
 */
export class UpstreamCallError extends Error {
  constructor(
    readonly kind: 'unavailable' | 'rejected',
    message: string,
  ) {
    super(message);
  }
}

export interface CallOptions {
  /** Retries after a 429, a 5xx or a connection failure (default 3). */
  retries?: number;
  /** Waits longer than this (Retry-After included) are capped to it (default 30 s). */
  maxDelayMs?: number;
  signal?: AbortSignal;
}

/** The largest answer read. */
const MAX_ANSWER_BYTES = 8 * 1024 * 1024;

/** What decides the answer of a variant: the cache key's config part (timeouts and credentials left out). */
export function upstreamConfigHash(upstream: Upstream): string {
  const decisive = {
    model: upstream.model,
    instances: upstream.instances.map((i) => ({ baseUrl: i.baseUrl, model: i.model, weight: i.weight })),
    params: upstream.params,
    systemPromptPrefix: upstream.systemPromptPrefix,
    headers: upstream.headers,
  };
  return createHash('sha256').update(stableJson(decisive)).digest('hex');
}

export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function messagesHash(messages: readonly ChatMessage[]): string {
  return createHash('sha256').update(stableJson(messages)).digest('hex');
}

/** The instance a case goes to: weighted, stable per case (the same case always meets the same instance). */
function pickInstance(instances: readonly UpstreamInstance[], key: string): UpstreamInstance {
  if (instances.length === 1) return instances[0];
  const point = (parseInt(createHash('sha256').update(key).digest('hex').slice(0, 8), 16) / 0x100000000) * instances.reduce((s, i) => s + i.weight, 0);
  let acc = 0;
  for (const instance of instances) {
    acc += instance.weight;
    if (point < acc) return instance;
  }
  return instances[instances.length - 1];
}

function withPrefix(messages: readonly ChatMessage[], prefix: string | null): ChatMessage[] {
  if (!prefix) return [...messages];
  const system = messages.findIndex((m) => m.role === 'system');
  if (system < 0) return [{ role: 'system', content: prefix }, ...messages];
  return messages.map((m, i) => (i === system ? { role: 'system', content: `${prefix}${m.content}` } : m));
}

function retryAfterMs(headers: Record<string, string | string[]>): number | null {
  const raw = headers['retry-after'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : null;
}

function tokens(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

/**
 * Calls variants' models for offline runs: OpenAI chat completions on the variant's
 * upstream (same model, params, system prompt prefix, headers, credential by environment
 * variable name and timeouts as the gateway), streamed so that the time to first token is
 * measured, through the outbound guard. Retries 429 and 5xx answers and connection failures,
 * waiting what Retry-After says (capped), else 0.25 s doubling. Each attempt holds a permit
 * of the instance's base URL from `limiter` (shared by every run of the worker process,
 * docs/adr/0040); the waits between attempts hold none.
 */
export class UpstreamCaller {
  constructor(
    private readonly outbound: OutboundClient,
    private readonly credential: (envName: string) => string | undefined,
    private readonly limiter: UpstreamLimiter | null = null,
  ) {}

  async complete(upstream: Upstream, messages: readonly ChatMessage[], caseKey: string, options: CallOptions = {}): Promise<ModelAnswer> {
    const retries = options.retries ?? 3;
    const maxDelayMs = options.maxDelayMs ?? 30_000;
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.once(upstream, messages, caseKey, options.signal);
      if ('answer' in outcome) return outcome.answer;
      if (!outcome.retry) throw new UpstreamCallError('rejected', outcome.reason);
      if (attempt >= retries) throw new UpstreamCallError('unavailable', `${outcome.reason} (after ${retries + 1} attempts)`);
      const wait = Math.min(maxDelayMs, outcome.retryAfterMs ?? 250 * 2 ** attempt);
      await new Promise((resolve) => setTimeout(resolve, wait));
      if (options.signal?.aborted) throw new UpstreamCallError('unavailable', 'cancelled');
    }
  }

  private async once(
    upstream: Upstream,
    messages: readonly ChatMessage[],
    caseKey: string,
    signal: AbortSignal | undefined,
  ): Promise<{ answer: ModelAnswer } | { reason: string; retry: boolean; retryAfterMs?: number | null }> {
    const instance = pickInstance(upstream.instances, caseKey);
    const headers: Record<string, string> = { ...upstream.headers, 'content-type': 'application/json', accept: 'text/event-stream', 'accept-encoding': 'identity' };
    const envName = instance.apiKeyEnv ?? upstream.apiKeyEnv;
    if (envName) {
      const credential = this.credential(envName);
      if (!credential) return { reason: `the credential variable ${envName} is unset or not allowed (GATEWAY_CREDENTIAL_ENVS)`, retry: false };
      headers.authorization = `Bearer ${credential}`;
    }
    if (!this.limiter) return this.send(upstream, instance, headers, messages, signal);
    try {
      return await this.limiter.run(instance.baseUrl, () => this.send(upstream, instance, headers, messages, signal), signal);
    } catch (error) {
      // Aborted while waiting for a permit: the run has stopped, nothing was sent.
      if (signal?.aborted) throw new UpstreamCallError('unavailable', 'cancelled');
      throw error;
    }
  }

  /** One attempt on one instance: the request, the streamed answer read to its end. */
  private async send(
    upstream: Upstream,
    instance: UpstreamInstance,
    headers: Record<string, string>,
    messages: readonly ChatMessage[],
    signal: AbortSignal | undefined,
  ): Promise<{ answer: ModelAnswer } | { reason: string; retry: boolean; retryAfterMs?: number | null }> {
    const body = JSON.stringify({
      model: instance.model ?? upstream.model,
      messages: withPrefix(messages, upstream.systemPromptPrefix),
      ...upstream.params,
      stream: true,
      ...(upstream.includeUsage ? { stream_options: { include_usage: true } } : {}),
    });
    const started = performance.now();
    let response;
    try {
      response = await this.outbound.open({
        method: 'POST',
        url: `${instance.baseUrl}/chat/completions`,
        headers,
        body,
        timeoutMs: upstream.totalTimeoutMs,
        idleTimeoutMs: upstream.timeoutMs,
        maxResponseBytes: MAX_ANSWER_BYTES,
        signal,
      });
    } catch (error) {
      return { reason: `the upstream could not be reached: ${(error as Error).message}`, retry: true };
    }
    const contentType = String(response.headers['content-type'] ?? '');
    let text = '';
    let ttftMs: number | null = null;
    let usage: unknown = null;
    let raw = '';
    let streamError: string | null = null;
    try {
      if (response.status < 300 && contentType.startsWith('text/event-stream')) {
        let ended = false;
        const parser = createParser({
          onEvent: (event) => {
            if (event.data === '[DONE]') {
              ended = true;
              return;
            }
            let data: Record<string, unknown>;
            try {
              data = JSON.parse(event.data) as Record<string, unknown>;
            } catch {
              return;
            }
            if (data.error) streamError = JSON.stringify(data.error).slice(0, 200);
            if (data.usage) usage = data.usage;
            const choice = Array.isArray(data.choices) ? (data.choices[0] as { delta?: { content?: unknown } } | undefined) : undefined;
            const piece = choice?.delta?.content;
            if (typeof piece === 'string' && piece.length > 0) {
              if (ttftMs === null) ttftMs = performance.now() - started;
              text += piece;
            }
          },
        });
        for await (const chunk of response.body) parser.feed(chunk.toString('utf8'));
        if (streamError) return { reason: `the upstream reported an error mid-stream: ${streamError}`, retry: true };
        if (!ended) return { reason: 'the stream ended without its [DONE] marker', retry: true };
      } else {
        for await (const chunk of response.body) raw += chunk.toString('utf8');
      }
    } catch (error) {
      return { reason: `the answer could not be read: ${(error as Error).message}`, retry: true };
    }
    const latencyMs = performance.now() - started;
    if (response.status === 429 || response.status >= 500) {
      return { reason: `the upstream answered ${response.status}`, retry: true, retryAfterMs: retryAfterMs(response.headers) };
    }
    if (response.status >= 300) return { reason: `the upstream answered ${response.status}: ${raw.slice(0, 200).replace(/\s+/g, ' ')}`, retry: false };
    if (!contentType.startsWith('text/event-stream')) {
      // An upstream that ignores `stream`: a whole chat completion.
      try {
        const parsed = JSON.parse(raw) as { choices?: Array<{ message?: { content?: unknown } }>; usage?: unknown };
        const content = parsed.choices?.[0]?.message?.content;
        if (typeof content !== 'string') return { reason: 'the answer holds no message content', retry: false };
        text = content;
        usage = parsed.usage ?? null;
      } catch {
        return { reason: 'the answer is not JSON', retry: false };
      }
    }
    const u = (usage ?? {}) as Record<string, unknown>;
    return { answer: { text, latencyMs, ttftMs, inputTokens: tokens(u.prompt_tokens), outputTokens: tokens(u.completion_tokens) } };
  }
}
