/**
 * The body of `POST /v1/experiments/{key}/evaluations`, checked into a run definition or
 * field errors (pure). Variant and dataset existence are checked by the service.
 */
import type { FieldError } from '../errors/domain-error';
import { isPlainObject } from '../errors/body-checks';
import { unstorable } from './dataset-upload';
import { type EvaluatorDefinition, parseEvaluators } from './evaluator-definition';

export const RUN_LIMITS = { repetitions: 10, concurrency: 32, maxCostUsd: 1_000_000 } as const;

export interface RunRequest {
  dataset: string;
  datasetVersion?: number;
  variants?: string[];
  evaluators: EvaluatorDefinition[];
  repetitions: number;
  concurrency: number;
  maxCostUsd: number | null;
  margin: number;
  alpha: number;
}

const KEYS = ['dataset', 'datasetVersion', 'variants', 'evaluators', 'repetitions', 'concurrency', 'maxCostUsd', 'margin', 'alpha'];

export function parseRunRequest(body: unknown): { request?: RunRequest; errors: FieldError[] } {
  if (!isPlainObject(body)) return { errors: [{ field: 'body', message: 'must be a JSON object' }] };
  const errors: FieldError[] = [];
  // Text Postgres cannot hold (a NUL in a rubric) is refused here: this body has no DTO for the global pipe to scan.
  for (const [key, value] of Object.entries(body)) unstorable(value, key, errors);
  if (errors.length) return { errors };
  for (const key of Object.keys(body)) if (!KEYS.includes(key)) errors.push({ field: key, message: `property ${key} should not exist` });
  const int = (field: string, fallback: number, min: number, max: number): number => {
    const v = body[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) errors.push({ field, message: `must be an integer between ${min} and ${max}` });
    return typeof v === 'number' ? v : fallback;
  };
  const num = (field: string, fallback: number, min: number, max: number, exclusiveMin = false): number => {
    const v = body[field];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v) || v > max || (exclusiveMin ? v <= min : v < min)) errors.push({ field, message: `must be a number ${exclusiveMin ? 'above' : 'from'} ${min} to ${max}` });
    return typeof v === 'number' ? v : fallback;
  };
  if (typeof body.dataset !== 'string' || body.dataset.length === 0 || body.dataset.length > 128) errors.push({ field: 'dataset', message: 'is required: a dataset name' });
  const datasetVersion = body.datasetVersion === undefined ? undefined : int('datasetVersion', 1, 1, 1_000_000);
  let variants: string[] | undefined;
  if (body.variants !== undefined) {
    if (!Array.isArray(body.variants) || body.variants.length < 1 || body.variants.some((v) => typeof v !== 'string') || new Set(body.variants).size !== body.variants.length) {
      errors.push({ field: 'variants', message: 'must be distinct variant keys' });
    } else variants = body.variants as string[];
  }
  const parsed = parseEvaluators(body.evaluators);
  errors.push(...parsed.errors);
  const request: RunRequest = {
    dataset: String(body.dataset),
    datasetVersion,
    variants,
    evaluators: parsed.evaluators,
    repetitions: int('repetitions', 1, 1, RUN_LIMITS.repetitions),
    concurrency: int('concurrency', 4, 1, RUN_LIMITS.concurrency),
    maxCostUsd: body.maxCostUsd === undefined || body.maxCostUsd === null ? null : num('maxCostUsd', 0, 0, RUN_LIMITS.maxCostUsd, true),
    margin: num('margin', 0.05, 0, 1),
    alpha: num('alpha', 0.05, 0, 0.5, true),
  };
  return errors.length ? { errors } : { request, errors };
}
