import type { FieldError } from '../../../libs/errors/domain-error';
import { textIssue } from '../../../libs/storable/storable';

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
      const reason = textIssue(node);
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
      const reason = textIssue(key);
      if (reason && errors.length < MAX_REPORTED) errors.push({ field: at || 'body', message: `property name ${JSON.stringify(key)} ${reason}` });
      visit(item, at ? `${at}.${key}` : key);
    }
  };
  visit(value, path);
  return errors;
}
