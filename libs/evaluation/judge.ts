/**
 * LLM-as-judge: the prompt sent to the judge variant and the strict parsing of its
 * answer. The judge must answer with exactly one JSON object
 * `{"score": <integer in [min, max]>, "reason": "<text>"}` (optionally as the only fenced
 * code block); anything else (prose around it, a score out of range or not an integer,
 * other keys) is an evaluator error for that case, never a fail: a confused judge says
 * nothing about the answer it was judging.
 */
import type { JudgeEvaluator } from './evaluator-definition';
import { type EvaluatorOutcome, parseJsonAnswer, referenceText } from './evaluators';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export const JUDGE_REASON_MAX = 2000;

export interface JudgeInput {
  /** The conversation the judged variant answered. */
  messages: readonly ChatMessage[];
  answer: string;
  reference?: unknown;
}

/** The judge's conversation: a system message with the rubric and the format, a user message with the case. */
export function judgeMessages(e: JudgeEvaluator, input: JudgeInput): ChatMessage[] {
  const system = [
    'You grade an AI assistant answer against a rubric.',
    `Rubric:\n${e.rubric}`,
    `Answer with exactly one JSON object and nothing else: {"score": <integer from ${e.min} to ${e.max}>, "reason": "<one sentence>"}.`,
  ].join('\n\n');
  const conversation = input.messages.map((m) => `[${m.role}]\n${m.content}`).join('\n\n');
  const ref = referenceText(input.reference);
  const user = [`Conversation:\n${conversation}`, ...(ref === undefined ? [] : [`Reference answer:\n${ref}`]), `Answer to grade:\n${input.answer}`].join('\n\n');
  return [
    { role: 'system', content: system },
    { role: 'user', content: user },
  ];
}

/** Parses the judge's answer strictly; `score` is normalised to [0, 1] as (s - min)/(max - min). */
export function parseJudgeAnswer(e: JudgeEvaluator, text: string): EvaluatorOutcome {
  const parsed = parseJsonAnswer(text);
  const invalid = (why: string): EvaluatorOutcome => ({ passed: null, score: null, error: `the judge's answer does not parse: ${why}` });
  if ('error' in parsed) return invalid(parsed.error);
  const v = parsed.value;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return invalid('not a JSON object');
  const keys = Object.keys(v).sort();
  if (keys.join(',') !== 'reason,score') return invalid('the object must hold exactly "score" and "reason"');
  const { score, reason } = v as { score: unknown; reason: unknown };
  if (typeof score !== 'number' || !Number.isInteger(score) || score < e.min || score > e.max) return invalid(`score must be an integer from ${e.min} to ${e.max}`);
  if (typeof reason !== 'string' || reason.length > JUDGE_REASON_MAX) return invalid(`reason must be a string of at most ${JUDGE_REASON_MAX} characters`);
  return { passed: score >= e.passAt, score: (score - e.min) / (e.max - e.min), detail: `${score}/${e.max}: ${reason}` };
}
