/**
 * What must never reach a log line, an error body's `instance`, a stored failure reason or
 * the audit log: API keys and their hashes, webhook secrets, results-page tokens, passwords
 * in URLs (SMTP_URL, DATABASE_URL, REDIS_URL), Authorization and Cookie headers, and the
 * parameters of failed queries (docs/adr/0018). Pure functions: the logger, the problem
 * filter, the worker runner and the audit writers call them.
 */

export const REDACTED = '[redacted]';

/** Field names whose values are secret at any depth of a logged object (compared in lower case). */
const SECRET_FIELDS = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'apikey',
  'api_key',
  'secret',
  'password',
  'passwd',
  'token',
  'accesstoken',
  'access_token',
  'refreshtoken',
  'refresh_token',
  'keyhash',
  'key_hash',
  'signature',
  'x-verdict-signature',
  'bootstrapadminkey',
]);

/** Query parameters whose values are harmless and worth keeping in a request line; every other value is redacted. */
const PLAIN_QUERY_PARAMS = new Set(['limit', 'offset', 'status', 'phase', 'hours']);

/** Fields holding a URL: their credentials and query values are redacted. */
const URL_FIELD = /(?:url|uri|href)$/i;

/** How deep a logged object is walked; anything deeper is replaced, not written unchecked. */
const MAX_DEPTH = 6;

/** Own properties of errors that carry data rather than describe the failure: never logged. */
const DROPPED_ERROR_FIELDS = new Set([
  // TypeORM's QueryFailedError: the SQL and its bound values (a webhook secret, a key hash...).
  'parameters',
  'query',
  'driverError',
  // Postgres: `detail` and `where` quote the offending values ("Key (key_hash)=(...)", "COPY ..., column unit_id: ...").
  'detail',
  'where',
  'internalQuery',
  // Node's HTTP parser: the raw bytes of a malformed request, headers included.
  'rawPacket',
]);

/** Runs of base64url characters and dots, where signed tokens live (linear: a run is scanned once). */
const TOKEN_RUN = /[A-Za-z0-9_.-]{27,}/g;
const WORD = /[A-Za-z0-9_]/;

/**
 * The spans of the signed tokens in a run of base64url characters and dots (results-page
 * links, JWTs): `eyJ` at a word start, at least 8 more characters, a dot, at least
 * `shape.second`, then a dot and at least `shape.third` (required or, when `optional`, taken
 * when there). By hand, not as a regex: the regex form rescans to the run's end from every
 * `eyJ` of 'eyJ-eyJ-...', quadratic in the run.
 */
export function signedTokenSpans(run: string, shape: { second: number; third: number; optional: boolean }): Array<[number, number]> {
  // nextDot[i]: the first dot at or after i (run.length when none).
  const nextDot = new Int32Array(run.length + 1);
  nextDot[run.length] = run.length;
  for (let i = run.length - 1; i >= 0; i--) nextDot[i] = run[i] === '.' ? i : nextDot[i + 1];
  const spans: Array<[number, number]> = [];
  let i = run.indexOf('eyJ');
  while (i !== -1) {
    let end = -1;
    if (i === 0 || !WORD.test(run[i - 1])) {
      const dot1 = nextDot[i + 3];
      const secondEnd = dot1 < run.length ? nextDot[dot1 + 1] : run.length;
      if (dot1 - (i + 3) >= 8 && dot1 < run.length && secondEnd - (dot1 + 1) >= shape.second) {
        const thirdEnd = secondEnd < run.length ? nextDot[secondEnd + 1] : -1;
        if (thirdEnd !== -1 && thirdEnd - (secondEnd + 1) >= shape.third) end = thirdEnd;
        else if (shape.optional) end = secondEnd;
      }
    }
    if (end !== -1) {
      spans.push([i, end]);
      i = run.indexOf('eyJ', end);
    } else i = run.indexOf('eyJ', i + 1);
  }
  return spans;
}

/** Whether text holds a three-part JWT (`eyJ` + 8 or more, `.`, 8 or more, `.`, 8 or more). */
export function containsJwt(text: string): boolean {
  if (!text.includes('eyJ')) return false;
  for (const [run] of text.matchAll(TOKEN_RUN)) if (signedTokenSpans(run, { second: 8, third: 8, optional: false }).length > 0) return true;
  return false;
}

/** Redacts the signed tokens (results-page links, JWTs) in free text: base64url JSON, a dot, a signature of 16 or more. */
function redactSignedTokens(text: string): string {
  if (!text.includes('eyJ')) return text;
  return text.replace(TOKEN_RUN, (run) => {
    const spans = signedTokenSpans(run, { second: 16, third: 1, optional: true });
    if (spans.length === 0) return run;
    let out = '';
    let at = 0;
    for (const [from, to] of spans) {
      out += run.slice(at, from) + REDACTED;
      at = to;
    }
    return out + run.slice(at);
  });
}

export function isSecretField(name: string): boolean {
  return SECRET_FIELDS.has(name.toLowerCase());
}

/**
 * Credentials, tokens and keys inside free text (an error message, a stack, a URL): the
 * userinfo of any URL, query-string values other than the plain ones, Bearer tokens,
 * Verdict API keys, and 64-hex-digit strings (key hashes).
 */
export function redactText(text: string): string {
  const redacted = text
    .replace(/:\/\/[^\s/?#@"'<>]+@/g, `://${REDACTED}@`)
    .replace(/([?&])([^\s=&#"'<>?]+)=([^\s&#"'<>]*)/g, (whole, sep: string, name: string, value: string) =>
      value === '' || value === REDACTED || PLAIN_QUERY_PARAMS.has(safeDecode(name).toLowerCase()) ? whole : `${sep}${name}=${REDACTED}`,
    )
    .replace(/\b(bearer\s+)(?!\[redacted\])[^\s"',;]+/gi, `$1${REDACTED}`)
    .replace(/\bvk_[a-z]+_[A-Za-z0-9_-]{16,}/g, REDACTED)
    .replace(/\b[0-9a-f]{64}\b/gi, REDACTED);
  return redactSignedTokens(redacted);
}

/**
 * The last net over a finished JSON log line: key material that has a recognisable shape
 * (API keys, signed tokens, Bearer values, URL passwords), whichever path wrote it. Matches
 * stop at quotes and backslashes, so the line stays valid JSON. (Key hashes have no cheap
 * shape test over a whole line; they only travel as query parameters, which errors drop.)
 */
export function redactKeyMaterial(line: string): string {
  if (!/vk_|eyJ|bearer|:\/\/[^\s/"\\]*@/i.test(line)) return line;
  const redacted = line
    .replace(/:\/\/[^\s/?#@"'<>\\]+@/g, `://${REDACTED}@`)
    .replace(/\b(bearer\s+)(?!\[redacted\])[A-Za-z0-9._~+/=-]+/gi, `$1${REDACTED}`)
    .replace(/\bvk_[a-z]+_[A-Za-z0-9_-]{16,}/g, REDACTED);
  return redactSignedTokens(redacted);
}

/** A request URL (path and query) or any URL as it may be logged; cheap when there is nothing to redact. */
export function redactUrl(url: string): string {
  return /[?@]|vk_/.test(url) || (url.length >= 64 && /[0-9a-f]{64}/i.test(url)) ? redactText(url) : url;
}

/** The path of a request URL, without its query string: what an error body's `instance` shows. */
export function pathOnly(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}

/**
 * A Postgres error message without the values it quotes. Postgres quotes identifiers
 * (constraint, relation, column, encoding names: kept, they help) and offending values
 * ("invalid input syntax for type uuid: "<value>"", "value "<value>" is out of range"):
 * redacted, as is any quoted text that is not an identifier or that came from a parameter.
 */
export function scrubDatabaseText(text: string, parameters: readonly string[] = []): string {
  let out = text;
  for (const value of parameters) if (value.length >= 4) out = out.split(value).join(REDACTED);
  return redactQuotedLineEnds(out)
    .replace(/\bvalue\s+"[^\n"]*"(?=\s+is out of range)/g, `value "${REDACTED}"`)
    .replace(/"([^"\n]*)"/g, (whole, inner: string) =>
      inner === REDACTED || (/^[A-Za-z_][A-Za-z0-9_$]*(?:\.[A-Za-z_][A-Za-z0-9_$]*)?$/.test(inner) && inner.length <= 63 && !parameters.some((p) => p.includes(inner)))
        ? whole
        : `"${REDACTED}"`,
    );
}

interface ErrorLike {
  message: string;
  stack?: unknown;
  [key: string]: unknown;
}

function isErrorLike(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null && typeof (value as { message?: unknown }).message === 'string';
}

/** A Postgres error (pg's DatabaseError) or TypeORM's wrapper of one. */
function isDatabaseError(err: ErrorLike): boolean {
  if (Array.isArray(err.parameters) || 'driverError' in err) return true;
  return typeof err.code === 'string' && /^[0-9A-Z]{5}$/.test(err.code) && typeof err.severity === 'string';
}

/** The string forms of a query's parameters (arrays flattened), the first thousand. */
function parameterStrings(parameters: unknown): string[] {
  if (!Array.isArray(parameters)) return [];
  const out: string[] = [];
  const add = (value: unknown): void => {
    if (out.length >= 1000) return;
    if (typeof value === 'string') out.push(value);
    else if (Array.isArray(value)) value.forEach(add);
    else if (Buffer.isBuffer(value)) out.push(value.toString('utf8'));
    else if (value !== null && typeof value === 'object' && !(value instanceof Date)) out.push(JSON.stringify(value));
  };
  parameters.forEach(add);
  return out;
}

/**
 * The log form of an error (pino's `err` serializer): type, message and stack with secrets
 * redacted, primitive fields that describe the failure (SQLSTATE `code`, `constraint`,
 * `table`, errno, `syscall`, SMTP `responseCode`...), causes and aggregated errors. Never a
 * query's parameters (their count instead) or text, Postgres' `detail`/`where`, raw packets,
 * or any object-valued field (request configs, headers, responses).
 */
export function serializeError(value: unknown, depth = 0): unknown {
  if (!isErrorLike(value)) return value;
  const err = value;
  const parameters = parameterStrings(err.parameters);
  const database = isDatabaseError(err);
  const scrub = (text: string) => redactText(database ? scrubDatabaseText(text, parameters) : text);
  const out: Record<string, unknown> = {
    type: typeof err.constructor === 'function' && err.constructor.name !== 'Object' ? err.constructor.name : String(err.name ?? 'Error'),
    message: scrub(err.message),
  };
  if (typeof err.stack === 'string') out.stack = scrub(err.stack);
  if (Array.isArray(err.parameters)) out.parameterCount = err.parameters.length;
  for (const key of Object.keys(err)) {
    if (key in out || DROPPED_ERROR_FIELDS.has(key) || isSecretField(key)) continue;
    const field = err[key];
    if (typeof field === 'string') out[key] = scrub(field);
    else if (typeof field === 'number' || typeof field === 'boolean') out[key] = field;
    else if (isErrorLike(field) && depth < 3) out[key] = serializeError(field, depth + 1);
  }
  if (isErrorLike(err.cause) && depth < 3) out.cause = serializeError(err.cause, depth + 1);
  if (Array.isArray(err.errors) && depth < 3) out.aggregateErrors = err.errors.slice(0, 10).map((e) => serializeError(e, depth + 1));
  return out;
}

/**
 * Redacts an error's message and stack where they are kept beyond a log line (BullMQ stores
 * them as a job's failure reason and stack trace), keeping the error's class so that
 * retry decisions (UnrecoverableError...) still work. Returns the same error.
 */
export function redactErrorInPlace<T>(error: T): T {
  if (!isErrorLike(error)) return error;
  const parameters = parameterStrings(error.parameters);
  const database = isDatabaseError(error);
  const scrub = (text: string) => redactText(database ? scrubDatabaseText(text, parameters) : text);
  try {
    error.message = scrub(error.message);
    if (typeof error.stack === 'string') error.stack = scrub(error.stack);
  } catch {
    // A frozen or exotic error: it is logged through serializeError anyway.
  }
  return error;
}

/**
 * A logged object with secret fields redacted at any depth (up to a bound), URL fields
 * stripped of credentials and query values, and errors anywhere in it serialized by
 * serializeError. Copy-on-write: an object without secrets is returned as is, so the
 * per-request line costs a loop over its few fields. `skip` names the top-level fields
 * that have their own serializer (pino runs those after this).
 */
export function censorFields(fields: Record<string, unknown>, skip: ReadonlySet<string> = new Set()): Record<string, unknown> {
  let out = fields;
  for (const key in fields) {
    if (skip.has(key)) continue;
    const value = fields[key];
    const censored = key === 'key' ? REDACTED : censorValue(key, value, 0);
    if (censored !== value) {
      if (out === fields) out = { ...fields };
      out[key] = censored;
    }
  }
  return out;
}

function censorValue(key: string, value: unknown, depth: number): unknown {
  if (value === null || value === undefined) return value;
  if (key !== '' && isSecretField(key)) return REDACTED;
  if (typeof value === 'string') return URL_FIELD.test(key) ? redactUrl(value) : value;
  if (typeof value !== 'object') return value;
  if (isErrorLike(value)) return serializeError(value);
  if (ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (depth >= MAX_DEPTH) return '[too deep to log]';
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const censored = censorValue('', value[i], depth + 1);
      if (censored !== value[i]) (copy ??= value.slice())[i] = censored;
    }
    return copy ?? value;
  }
  // Dates and the like say how they are written; other class instances (entities) are walked like plain objects.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  const plain = Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null;
  let copy: Record<string, unknown> | null = plain ? null : { ...(value as Record<string, unknown>) };
  const source = value as Record<string, unknown>;
  for (const k of Object.keys(source)) {
    const censored = censorValue(k, source[k], depth + 1);
    if (censored !== source[k]) (copy ??= { ...source })[k] = censored;
  }
  return copy ?? value;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * `...: "<value>"` at the end of a line, as Postgres ends "invalid input syntax" messages:
 * the value is redacted. By hand, not as one regex: that form rescans each line from every
 * colon, quadratic on a long hostile value.
 */
function redactQuotedLineEnds(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      let end = line.length;
      while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t')) end--;
      if (end === 0 || line[end - 1] !== '"') return line;
      const opening = /:\s*"/.exec(line);
      if (!opening || opening.index + opening[0].length > end - 1) return line;
      return `${line.slice(0, opening.index)}${opening[0].slice(0, -1)}"${REDACTED}"`;
    })
    .join('\n');
}
