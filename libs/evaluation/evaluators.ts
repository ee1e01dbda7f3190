/**
 * The deterministic evaluators (all but `judge`, which needs a model call: judge.ts).
 * Each gives, per case and variant, pass/fail and a score in [0, 1], or an evaluator
 * error when it cannot judge (no reference, a schema that does not compile, a regex that
 * ran out of time, a text too long to compare): an error is neither a pass nor a fail and
 * is left out of the statistics.
 */
import type { ValidateFunction } from 'ajv';
import leven from 'leven';
import { boundedRegexTest, compileRegexEvaluator } from './bounded-regex';
import { compileJsonSchema } from './json-schema';
import type { EvaluatorDefinition, JsonSchemaEvaluator, NumericEvaluator, SimilarityEvaluator } from './evaluator-definition';

export interface EvaluatorOutcome {
  passed: boolean | null;
  /** 1/0 for pass/fail evaluators; the similarity or normalised judge score for scored ones. */
  score: number | null;
  /** Why the evaluator could not judge this answer. */
  error?: string;
  /** A short explanation for a person reading a failure (e.g. the first schema violation). */
  detail?: string;
}

export interface EvaluationInput {
  answer: string;
  /** The case's reference answer, if any (text, number or any JSON value). */
  reference?: unknown;
  /** The case's JSON schema, if any. */
  schema?: Record<string, unknown>;
}

/** Similarity compares texts up to this many characters each (Levenshtein is O(n m)). */
export const SIMILARITY_MAX_CHARS = 10_000;

const pass = (passed: boolean, detail?: string): EvaluatorOutcome => ({ passed, score: passed ? 1 : 0, ...(detail ? { detail } : {}) });
const failure = (error: string): EvaluatorOutcome => ({ passed: null, score: null, error });

/** The reference as text: strings as they are, numbers and other JSON values serialised. */
export function referenceText(reference: unknown): string | undefined {
  if (reference === undefined || reference === null) return undefined;
  return typeof reference === 'string' ? reference : JSON.stringify(reference);
}

function fold(text: string, caseSensitive: boolean): string {
  return caseSensitive ? text : text.toLowerCase();
}

/**
 * The answer as JSON: the whole trimmed answer must parse, or be exactly one fenced code
 * block (```json ... ```) whose content parses. Nothing else is extracted from prose.
 */
export function parseJsonAnswer(answer: string): { value: unknown } | { error: string } {
  const trimmed = answer.trim();
  const fenced = /^```(?:json)?[ \t]*\r?\n([\s\S]*?)\r?\n?```$/.exec(trimmed);
  const text = fenced ? fenced[1] : trimmed;
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (error) {
    return { error: `not valid JSON (${(error as Error).message})` };
  }
}

function jsonSchema(e: JsonSchemaEvaluator, input: EvaluationInput): EvaluatorOutcome {
  const parsed = parseJsonAnswer(input.answer);
  if ('error' in parsed) return pass(false, parsed.error);
  const schema = e.schema ?? input.schema;
  if (!schema) return pass(true);
  let validate: ValidateFunction;
  try {
    validate = compileJsonSchema(schema);
  } catch (error) {
    return failure(`the JSON schema does not compile: ${(error as Error).message}`);
  }
  if (validate(parsed.value)) return pass(true);
  const first = validate.errors?.[0];
  return pass(false, first ? `${first.instancePath || '/'} ${first.message ?? 'is invalid'}` : 'does not match the schema');
}

const NUMBER = /[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/g;

/** The number an answer gives: the whole answer when it is one, else the last number in it (thousands separators dropped). */
export function extractNumber(answer: string): number | undefined {
  const text = answer.trim().replace(/(\d),(?=\d{3}\b)/g, '$1');
  if (text !== '' && Number.isFinite(Number(text))) return Number(text);
  const all = text.match(NUMBER);
  if (!all) return undefined;
  const value = Number(all[all.length - 1]);
  return Number.isFinite(value) ? value : undefined;
}

function numeric(e: NumericEvaluator, input: EvaluationInput): EvaluatorOutcome {
  const ref = typeof input.reference === 'number' ? input.reference : typeof input.reference === 'string' ? Number(input.reference.trim()) : NaN;
  if (!Number.isFinite(ref) || (typeof input.reference === 'string' && input.reference.trim() === '')) return failure('the case has no numeric reference');
  const value = extractNumber(input.answer);
  if (value === undefined) return pass(false, 'the answer holds no number');
  const allowed = Math.max(e.tolerance, e.relativeTolerance * Math.abs(ref));
  const ok = Math.abs(value - ref) <= allowed;
  return pass(ok, ok ? undefined : `${value} is not within ${allowed} of ${ref}`);
}

/** Normalised Levenshtein similarity 1 - distance / max(length) (1 for two empty texts). */
export function similarity(a: string, b: string): number {
  const longest = Math.max(a.length, b.length);
  return longest === 0 ? 1 : 1 - leven(a, b) / longest;
}

function similar(e: SimilarityEvaluator, input: EvaluationInput): EvaluatorOutcome {
  const ref = referenceText(input.reference);
  if (ref === undefined) return failure('the case has no reference');
  const a = input.answer.trim();
  const b = ref.trim();
  if (a.length > SIMILARITY_MAX_CHARS || b.length > SIMILARITY_MAX_CHARS) return failure(`texts longer than ${SIMILARITY_MAX_CHARS} characters are not compared`);
  const score = similarity(fold(a, e.caseSensitive), fold(b, e.caseSensitive));
  return { passed: score >= e.threshold, score };
}

/** Runs a deterministic evaluator on one answer. `judge` is not deterministic: see judge.ts. */
export function evaluate(e: Exclude<EvaluatorDefinition, { type: 'judge' }>, input: EvaluationInput): EvaluatorOutcome {
  switch (e.type) {
    case 'exact': {
      const ref = referenceText(input.reference);
      if (ref === undefined) return failure('the case has no reference');
      const norm = (s: string): string => fold(e.trim ? s.trim() : s, e.caseSensitive);
      return pass(norm(input.answer) === norm(ref));
    }
    case 'contains': {
      const needle = e.value ?? referenceText(input.reference);
      if (needle === undefined) return failure('the case has no reference and the evaluator no value');
      return pass(fold(input.answer, e.caseSensitive).includes(fold(needle, e.caseSensitive)));
    }
    case 'regex': {
      const compiledRegex = compileRegexEvaluator(e.pattern, e.flags);
      if ('reason' in compiledRegex) return failure(`the pattern ${compiledRegex.reason}`);
      const result = boundedRegexTest(compiledRegex.regex, input.answer);
      return result === 'timeout' ? failure('the regular expression ran out of time on this answer') : pass(result);
    }
    case 'json_schema':
      return jsonSchema(e, input);
    case 'numeric':
      return numeric(e, input);
    case 'similarity':
      return similar(e, input);
  }
}
