/**
 * Dataset uploads (`POST /v1/datasets`), checked before anything is stored: a JSON body
 * `{name, cases: [...]}` or JSONL (one case per line, the name in the query). Every case
 * has chat `messages` or a `prompt`, and optionally an `id`, a `reference` (any JSON
 * value), a JSON `schema`, `tags` and `metadata`. Problems name the case index (JSON:
 * `cases.3.messages`) or the line (JSONL: `line.4`); a case past its size bound is a 413.
 * Pure: no Nest, no database.
 */
import { createHash } from 'node:crypto';
import type { FieldError } from '../errors/domain-error';
import { isPlainObject } from '../errors/body-checks';
import { textIssue } from '../storable/storable';
import { compileJsonSchema } from './json-schema';
import type { ChatMessage } from './judge';

export const DATASET_LIMITS = {
  cases: 10_000,
  /** Bytes of one case as JSON (one JSONL line). */
  caseBytes: 65_536,
  messages: 100,
  tags: 20,
  tagLength: 64,
  idLength: 128,
  nameLength: 128,
  metadataKeys: 50,
} as const;

const ROLES = ['system', 'user', 'assistant'] as const;
const CASE_KEYS = ['id', 'messages', 'prompt', 'reference', 'schema', 'tags', 'metadata'];

/** A case as stored and sent to the variants. */
export interface DatasetCase {
  /** The case's own id (given, else `case-<index>`), unique in its dataset version. */
  caseId: string;
  messages: ChatMessage[];
  reference: unknown;
  schema: Record<string, unknown> | null;
  tags: string[];
  metadata: Record<string, unknown>;
}

export interface DatasetUpload {
  name: string;
  cases: DatasetCase[];
  /** sha256 of the cases as stored: the same upload twice is the same version. */
  contentHash: string;
}

export type UploadProblem = { status: 400 | 413; errors: FieldError[] };

/** Nesting a case may have (JSONL lines skip the API's JSON depth check). */
const MAX_DEPTH = 32;

/** Every string and property name inside a JSON value that Postgres could not hold; too deep a value. */
export function unstorable(value: unknown, field: string, errors: FieldError[], depth = 0): void {
  if (depth > MAX_DEPTH) {
    errors.push({ field, message: `nests arrays and objects deeper than ${MAX_DEPTH} levels` });
    return;
  }
  if (typeof value === 'string') {
    const issue = textIssue(value);
    if (issue) errors.push({ field, message: issue });
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => unstorable(v, `${field}.${i}`, errors, depth + 1));
  } else if (isPlainObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const issue = textIssue(k);
      if (issue) errors.push({ field, message: `property name ${issue}` });
      unstorable(v, `${field}.${k}`, errors, depth + 1);
    }
  } else if (typeof value === 'number' && !Number.isFinite(value)) {
    errors.push({ field, message: 'must be a finite number' });
  }
}

function checkCase(raw: unknown, index: number, at: string, errors: FieldError[]): DatasetCase | undefined {
  const fail = (field: string, message: string): void => {
    errors.push({ field: field ? `${at}.${field}` : at, message });
  };
  if (!isPlainObject(raw)) {
    fail('', 'must be an object with messages or a prompt');
    return undefined;
  }
  const before = errors.length;
  for (const key of Object.keys(raw)) if (!CASE_KEYS.includes(key)) fail(key, `property ${key} should not exist`);
  unstorable(raw, at, errors);
  if (errors.length > before) return undefined;

  let caseId = `case-${index}`;
  if (raw.id !== undefined) {
    if (typeof raw.id !== 'string' || !/^[A-Za-z0-9_.:-]+$/.test(raw.id) || raw.id.length > DATASET_LIMITS.idLength) fail('id', `must be 1-${DATASET_LIMITS.idLength} letters, digits, _ . : -`);
    else caseId = raw.id;
  }
  let messages: ChatMessage[] = [];
  if ((raw.messages === undefined) === (raw.prompt === undefined)) {
    fail('messages', 'give either messages or a prompt');
  } else if (raw.prompt !== undefined) {
    if (typeof raw.prompt !== 'string' || raw.prompt.length === 0) fail('prompt', 'must be a non-empty string');
    else messages = [{ role: 'user', content: raw.prompt }];
  } else if (!Array.isArray(raw.messages) || raw.messages.length === 0 || raw.messages.length > DATASET_LIMITS.messages) {
    fail('messages', `must be an array of 1-${DATASET_LIMITS.messages} messages`);
  } else {
    raw.messages.forEach((m, i) => {
      if (!isPlainObject(m) || !(ROLES as readonly string[]).includes(m.role as string) || typeof m.content !== 'string' || Object.keys(m).some((k) => k !== 'role' && k !== 'content')) {
        fail(`messages.${i}`, `must be {role: ${ROLES.join('|')}, content: string}`);
      } else {
        messages.push({ role: m.role as ChatMessage['role'], content: m.content });
      }
    });
    if (messages.length && messages[messages.length - 1].role === 'assistant') fail('messages', 'must not end with an assistant message: the variant answers it');
  }
  let schema: Record<string, unknown> | null = null;
  if (raw.schema !== undefined) {
    if (!isPlainObject(raw.schema)) fail('schema', 'must be a JSON schema object');
    else {
      try {
        compileJsonSchema(raw.schema);
        schema = raw.schema;
      } catch (error) {
        fail('schema', `is not a valid JSON schema: ${(error as Error).message}`);
      }
    }
  }
  let tags: string[] = [];
  if (raw.tags !== undefined) {
    if (!Array.isArray(raw.tags) || raw.tags.length > DATASET_LIMITS.tags || raw.tags.some((t) => typeof t !== 'string' || t.length === 0 || t.length > DATASET_LIMITS.tagLength)) {
      fail('tags', `must be at most ${DATASET_LIMITS.tags} strings of 1-${DATASET_LIMITS.tagLength} characters`);
    } else tags = raw.tags as string[];
  }
  let metadata: Record<string, unknown> = {};
  if (raw.metadata !== undefined) {
    if (!isPlainObject(raw.metadata) || Object.keys(raw.metadata).length > DATASET_LIMITS.metadataKeys) fail('metadata', `must be an object of at most ${DATASET_LIMITS.metadataKeys} keys`);
    else metadata = raw.metadata;
  }
  if (errors.length > before) return undefined;
  return { caseId, messages, reference: raw.reference ?? null, schema, tags, metadata };
}

function checkName(name: unknown, field: string): FieldError[] {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.length > DATASET_LIMITS.nameLength) {
    return [{ field, message: `is required: 1-${DATASET_LIMITS.nameLength} letters, digits, _ . - (starting with a letter or digit)` }];
  }
  return [];
}

function finish(name: string, raws: { value: unknown; at: string; bytes: number }[]): DatasetUpload | UploadProblem {
  if (raws.length === 0) return { status: 400, errors: [{ field: 'cases', message: 'must hold at least one case' }] };
  if (raws.length > DATASET_LIMITS.cases) return { status: 413, errors: [{ field: 'cases', message: `must hold at most ${DATASET_LIMITS.cases} cases` }] };
  const tooBig = raws.filter((r) => r.bytes > DATASET_LIMITS.caseBytes);
  if (tooBig.length) return { status: 413, errors: tooBig.slice(0, 20).map((r) => ({ field: r.at, message: `is larger than ${DATASET_LIMITS.caseBytes} bytes` })) };
  const errors: FieldError[] = [];
  const cases: DatasetCase[] = [];
  const seen = new Map<string, string>();
  raws.forEach((r, i) => {
    if (errors.length >= 50) return;
    const c = checkCase(r.value, i, r.at, errors);
    if (!c) return;
    const other = seen.get(c.caseId);
    if (other) errors.push({ field: `${r.at}.id`, message: `${c.caseId} is already the id of ${other}` });
    seen.set(c.caseId, r.at);
    cases.push(c);
  });
  if (errors.length) return { status: 400, errors: errors.slice(0, 50) };
  const contentHash = createHash('sha256').update(JSON.stringify(cases)).digest('hex');
  return { name, cases, contentHash };
}

/** A JSON upload: `{ name, cases: [...] }`. */
export function parseJsonUpload(body: unknown): DatasetUpload | UploadProblem {
  if (!isPlainObject(body)) return { status: 400, errors: [{ field: 'body', message: 'must be a JSON object {name, cases}' }] };
  const errors = [...checkName(body.name, 'name')];
  for (const key of Object.keys(body)) if (key !== 'name' && key !== 'cases') errors.push({ field: key, message: `property ${key} should not exist` });
  if (!Array.isArray(body.cases)) errors.push({ field: 'cases', message: 'must be an array of cases' });
  if (errors.length) return { status: 400, errors };
  const cases = body.cases as unknown[];
  return finish(body.name as string, cases.map((value, i) => ({ value, at: `cases.${i}`, bytes: Buffer.byteLength(JSON.stringify(value) ?? '') })));
}

/** A JSONL upload: one case per non-empty line; errors name the line (1-based). */
export function parseJsonlUpload(name: unknown, text: string): DatasetUpload | UploadProblem {
  const nameErrors = checkName(name, 'name');
  if (nameErrors.length) return { status: 400, errors: nameErrors };
  const raws: { value: unknown; at: string; bytes: number }[] = [];
  const errors: FieldError[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '') continue;
    const at = `line.${i + 1}`;
    if (raws.length >= DATASET_LIMITS.cases) return { status: 413, errors: [{ field: 'cases', message: `must hold at most ${DATASET_LIMITS.cases} cases` }] };
    const bytes = Buffer.byteLength(line);
    if (bytes > DATASET_LIMITS.caseBytes) {
      raws.push({ value: null, at, bytes });
      continue;
    }
    try {
      raws.push({ value: JSON.parse(line) as unknown, at, bytes });
    } catch (error) {
      errors.push({ field: at, message: `line ${i + 1} is not valid JSON (${(error as Error).message})` });
      if (errors.length >= 20) break;
    }
  }
  if (errors.length) return { status: 400, errors };
  return finish(name as string, raws);
}
