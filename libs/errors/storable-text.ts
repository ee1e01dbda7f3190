import type { FieldError } from './domain-error';

/** Cheap first test: a NUL or any surrogate; most strings have neither. */
// eslint-disable-next-line no-control-regex -- NUL is what it looks for
const SUSPECT = /[\u0000\ud800-\udfff]/;
/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why Postgres cannot hold this string as sent, or null when it can: text and jsonb refuse
 * NUL, jsonb refuses a lone surrogate's escape, and text silently turns one into U+FFFD.
 */
export function unstorableTextReason(value: string): string | null {
  if (!SUSPECT.test(value)) return null;
  if (value.includes('\u0000')) return 'must not contain a NUL character (\\u0000)';
  if (LONE_SURROGATE.test(value)) return 'must not contain a lone UTF-16 surrogate (\\ud800-\\udfff unpaired)';
  return null;
}

/** At most this many problems are reported: a body full of them gets a short answer. */
const MAX_REPORTED = 20;

/**
 * Every string (and property name) in a parsed JSON value, a path parameter or a query that
 * Postgres could not hold, named by its path: `variants.0.config.prompt`, `key`. A bad
 * property name is reported on the object that holds it. Numbers too large for JSON (1e400
 * parses as Infinity, which would be stored as null) are refused on the way.
 */
export function findUnstorableText(value: unknown, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const visit = (node: unknown, at: string): void => {
    if (errors.length >= MAX_REPORTED) return;
    if (typeof node === 'string') {
      const reason = unstorableTextReason(node);
      if (reason) errors.push({ field: at || 'body', message: reason });
      return;
    }
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) errors.push({ field: at || 'body', message: 'must be a finite number' });
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    if (Array.isArray(node)) {
      node.forEach((item, i) => visit(item, at ? `${at}.${i}` : String(i)));
      return;
    }
    for (const [key, item] of Object.entries(node)) {
      const reason = unstorableTextReason(key);
      if (reason && errors.length < MAX_REPORTED) errors.push({ field: at || 'body', message: `property name ${JSON.stringify(key)} ${reason}` });
      visit(item, at ? `${at}.${key}` : key);
    }
  };
  visit(value, path);
  return errors;
}
