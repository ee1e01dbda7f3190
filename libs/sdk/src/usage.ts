/** Tokens and cost read from a model call's result. */
export interface Usage {
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * Reads usage from the result shapes of common clients, first match wins per field:
 * - plain: `{ inputTokens, outputTokens, costUsd }` at the top level;
 * - OpenAI Chat Completions: `usage.prompt_tokens`, `usage.completion_tokens`;
 * - Anthropic Messages and OpenAI Responses: `usage.input_tokens`, `usage.output_tokens`;
 * - Vercel AI SDK: `usage.inputTokens` / `usage.outputTokens` (or `promptTokens` / `completionTokens`).
 * Anything else yields `{}`: the outcome is still tracked, without tokens.
 */
export function extractUsage(result: unknown): Usage {
  if (result === null || typeof result !== 'object') return {};
  const r = result as Record<string, unknown>;
  const u = (r.usage !== null && typeof r.usage === 'object' ? r.usage : {}) as Record<string, unknown>;
  const usage: Usage = {};
  const input = num(r.inputTokens) ?? num(u.prompt_tokens) ?? num(u.input_tokens) ?? num(u.inputTokens) ?? num(u.promptTokens);
  const output =
    num(r.outputTokens) ?? num(u.completion_tokens) ?? num(u.output_tokens) ?? num(u.outputTokens) ?? num(u.completionTokens);
  const cost = num(r.costUsd) ?? num(u.costUsd);
  if (input !== undefined) usage.inputTokens = input;
  if (output !== undefined) usage.outputTokens = output;
  if (cost !== undefined) usage.costUsd = cost;
  return usage;
}

/** A short error code for an outcome: the error's `code`, its HTTP status, its name, or "error". */
export function errorCode(err: unknown): string {
  if (err !== null && typeof err === 'object') {
    const e = err as { code?: unknown; status?: unknown; name?: unknown };
    if (typeof e.code === 'string' && e.code !== '') return e.code.slice(0, 100);
    if (typeof e.status === 'number') return `http_${e.status}`;
    if (typeof e.name === 'string' && e.name !== '' && e.name !== 'Error') return e.name.slice(0, 100);
  }
  return 'error';
}
