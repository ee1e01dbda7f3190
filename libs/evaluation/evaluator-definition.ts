/**
 * Evaluator definitions of an offline evaluation run (`evaluators` in
 * `POST /v1/experiments/{key}/evaluations`): objects with a `type` and their options,
 * checked here into typed definitions or field errors (pure: no Nest, no I/O).
 */
import type { FieldError } from '../errors/domain-error';
import { isPlainObject } from '../errors/body-checks';
import { compileRegexEvaluator } from './bounded-regex';
import { compileJsonSchema } from './json-schema';

export const EVALUATOR_TYPES = ['exact', 'contains', 'regex', 'json_schema', 'numeric', 'similarity', 'judge'] as const;
export type EvaluatorType = (typeof EVALUATOR_TYPES)[number];

/** Evaluators per run, and the longest texts an option may hold. */
/**
 * The per-answer measurements a run compares between variants beside its evaluators
 * (docs/adr/0040); their names are reserved, so an evaluator's comparison never shares one.
 */
export const METRIC_COMPARISONS = ['latency_ms', 'ttft_ms', 'tokens', 'cost_usd'] as const;
export type MetricName = (typeof METRIC_COMPARISONS)[number];

export const EVALUATOR_LIMITS = { perRun: 20, nameLength: 64, valueLength: 4096, rubricLength: 8192, schemaBytes: 65_536 } as const;

interface Named {
  /** Key of the evaluator in results; defaults to its type, must be unique in a run. */
  name: string;
}
export interface ExactEvaluator extends Named {
  type: 'exact';
  /** Default true. */
  caseSensitive: boolean;
  /** Trim surrounding whitespace of answer and reference first (default true). */
  trim: boolean;
}
export interface ContainsEvaluator extends Named {
  type: 'contains';
  /** The text to look for; defaults to the case's reference. */
  value?: string;
  caseSensitive: boolean;
}
export interface RegexEvaluator extends Named {
  type: 'regex';
  pattern: string;
  /** Any of `i`, `m`, `s`, `u`. */
  flags: string;
}
export interface JsonSchemaEvaluator extends Named {
  type: 'json_schema';
  /** The schema; defaults to the case's `schema`; with neither, the answer need only be valid JSON. */
  schema?: Record<string, unknown>;
}
export interface NumericEvaluator extends Named {
  type: 'numeric';
  /** Absolute tolerance (default 0). */
  tolerance: number;
  /** Relative tolerance as a fraction of |reference| (default 0); the answer passes within either. */
  relativeTolerance: number;
}
export interface SimilarityEvaluator extends Named {
  type: 'similarity';
  /** Pass when the similarity score is at least this (default 0.8). */
  threshold: number;
  caseSensitive: boolean;
}
export interface JudgeEvaluator extends Named {
  type: 'judge';
  /** Key of the experiment's variant whose upstream answers as the judge. */
  variant: string;
  rubric: string;
  /** Inclusive integer score range the judge must answer in (default 1..5). */
  min: number;
  max: number;
  /** Pass when the score is at least this (default max - 1, at least min). */
  passAt: number;
}

export type EvaluatorDefinition =
  | ExactEvaluator
  | ContainsEvaluator
  | RegexEvaluator
  | JsonSchemaEvaluator
  | NumericEvaluator
  | SimilarityEvaluator
  | JudgeEvaluator;

/** Evaluators that score on a scale (their results carry `mean`); the others give pass/fail (`passRate`). */
export function isScored(e: EvaluatorDefinition): boolean {
  return e.type === 'similarity' || e.type === 'judge';
}

const OPTIONS: Record<EvaluatorType, readonly string[]> = {
  exact: ['caseSensitive', 'trim'],
  contains: ['value', 'caseSensitive'],
  regex: ['pattern', 'flags'],
  json_schema: ['schema'],
  numeric: ['tolerance', 'relativeTolerance'],
  similarity: ['threshold', 'caseSensitive'],
  judge: ['variant', 'rubric', 'min', 'max', 'passAt'],
};

class Reader {
  constructor(
    private readonly item: Record<string, unknown>,
    private readonly prefix: string,
    private readonly errors: FieldError[],
  ) {}

  fail(field: string, message: string): void {
    this.errors.push({ field: `${this.prefix}.${field}`, message });
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.item[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') this.fail(field, 'must be a boolean');
    return v === true;
  }

  text(field: string, max: number, required: true): string;
  text(field: string, max: number, required: false): string | undefined;
  text(field: string, max: number, required: boolean): string | undefined {
    const v = this.item[field];
    if (v === undefined) {
      if (required) this.fail(field, 'is required');
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0) this.fail(field, 'must be a non-empty string');
    else if (v.length > max) this.fail(field, `must be at most ${max} characters`);
    return typeof v === 'string' ? v : undefined;
  }

  number(field: string, fallback: number, min: number, max: number, integer = false): number {
    const v = this.item[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      this.fail(field, `must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}`);
      return fallback;
    }
    return v;
  }
}

function parseOne(raw: unknown, index: number, errors: FieldError[]): EvaluatorDefinition | undefined {
  const prefix = `evaluators.${index}`;
  if (!isPlainObject(raw)) {
    errors.push({ field: prefix, message: 'must be an object with a type' });
    return undefined;
  }
  const type = raw.type;
  if (typeof type !== 'string' || !(EVALUATOR_TYPES as readonly string[]).includes(type)) {
    errors.push({ field: `${prefix}.type`, message: `must be one of ${EVALUATOR_TYPES.join(', ')}` });
    return undefined;
  }
  const t = type as EvaluatorType;
  const r = new Reader(raw, prefix, errors);
  for (const key of Object.keys(raw)) {
    if (key !== 'type' && key !== 'name' && !OPTIONS[t].includes(key)) r.fail(key, `property ${key} should not exist`);
  }
  const name = r.text('name', EVALUATOR_LIMITS.nameLength, false) ?? t;
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) r.fail('name', 'must hold only letters, digits, _ . -');
  else if ((METRIC_COMPARISONS as readonly string[]).includes(name)) r.fail('name', `${name} is reserved for the per-answer measurement of that name (reserved: ${METRIC_COMPARISONS.join(', ')})`);
  switch (t) {
    case 'exact':
      return { type: t, name, caseSensitive: r.bool('caseSensitive', true), trim: r.bool('trim', true) };
    case 'contains':
      return { type: t, name, value: r.text('value', EVALUATOR_LIMITS.valueLength, false), caseSensitive: r.bool('caseSensitive', true) };
    case 'regex': {
      const pattern = r.text('pattern', EVALUATOR_LIMITS.valueLength, true) ?? '';
      const flags = raw.flags === undefined ? '' : raw.flags;
      if (typeof flags !== 'string' || !/^[imsu]*$/.test(flags) || new Set(flags).size !== flags.length) {
        r.fail('flags', 'must be distinct flags among i, m, s, u');
        return undefined;
      }
      if (pattern) {
        const refused = compileRegexEvaluator(pattern, flags);
        if ('reason' in refused) r.fail('pattern', refused.reason);
      }
      return { type: t, name, pattern, flags };
    }
    case 'json_schema': {
      const schema = raw.schema;
      if (schema !== undefined && !isPlainObject(schema)) r.fail('schema', 'must be a JSON schema object');
      else if (schema !== undefined && JSON.stringify(schema).length > EVALUATOR_LIMITS.schemaBytes) r.fail('schema', `must be at most ${EVALUATOR_LIMITS.schemaBytes} bytes`);
      else if (schema !== undefined) {
        try {
          compileJsonSchema(schema as Record<string, unknown>);
        } catch (error) {
          r.fail('schema', `is not a valid JSON schema: ${(error as Error).message}`);
        }
      }
      return { type: t, name, schema: isPlainObject(schema) ? schema : undefined };
    }
    case 'numeric':
      return { type: t, name, tolerance: r.number('tolerance', 0, 0, Number.MAX_VALUE), relativeTolerance: r.number('relativeTolerance', 0, 0, 1) };
    case 'similarity':
      return { type: t, name, threshold: r.number('threshold', 0.8, 0, 1), caseSensitive: r.bool('caseSensitive', true) };
    case 'judge': {
      const variant = r.text('variant', EVALUATOR_LIMITS.nameLength, true) ?? '';
      const rubric = r.text('rubric', EVALUATOR_LIMITS.rubricLength, true) ?? '';
      const min = r.number('min', 1, 0, 100, true);
      const max = r.number('max', 5, 1, 100, true);
      if (max <= min) r.fail('max', 'must be greater than min');
      const passAt = r.number('passAt', Math.max(min, max - 1), min, max);
      return { type: t, name, variant, rubric, min, max, passAt };
    }
  }
}

/** Checks the `evaluators` array of a run request into definitions, or field errors naming the index. */
export function parseEvaluators(input: unknown): { evaluators: EvaluatorDefinition[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (!Array.isArray(input) || input.length === 0) return { evaluators: [], errors: [{ field: 'evaluators', message: 'must be a non-empty array' }] };
  if (input.length > EVALUATOR_LIMITS.perRun) return { evaluators: [], errors: [{ field: 'evaluators', message: `must contain no more than ${EVALUATOR_LIMITS.perRun} elements` }] };
  const evaluators: EvaluatorDefinition[] = [];
  input.forEach((raw, i) => {
    const e = parseOne(raw, i, errors);
    if (!e) return;
    if (evaluators.some((o) => o.name === e.name)) errors.push({ field: `evaluators.${i}.name`, message: `${e.name} is used twice; give each evaluator its own name` });
    evaluators.push(e);
  });
  return { evaluators: errors.length ? [] : evaluators, errors };
}
