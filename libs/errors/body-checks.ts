import type { FieldError } from './domain-error';

/**
 * Hand-written checks for the hot routes' bodies (assignment, outcomes), which skip the
 * global class-validator pipe for speed; the messages are the pipe's, so clients see one
 * style whichever route they call.
 */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks `{ [field]: [...] }`: no other property, an array of `min` to `max` items. */
export function checkBatch(body: unknown, field: string, min: number, max: number): { items: unknown[]; errors: FieldError[] } {
  if (!isPlainObject(body)) return { items: [], errors: [{ field, message: 'must be an array' }] };
  const errors: FieldError[] = [];
  for (const key of Object.keys(body)) if (key !== field) errors.push({ field: key, message: `property ${key} should not exist` });
  const items = body[field];
  if (!Array.isArray(items)) errors.push({ field, message: 'must be an array' });
  else if (items.length < min) errors.push({ field, message: `must contain at least ${min} elements` });
  else if (items.length > max) errors.push({ field, message: `must contain no more than ${max} elements` });
  return { items: Array.isArray(items) ? items : [], errors };
}
