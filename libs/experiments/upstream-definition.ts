import { containsJwt } from '../logging/redaction';
import type { FieldError } from '../errors/domain-error';
import { DEFAULT_PEAK_EWMA_TAU_MS, DEFAULT_UPSTREAM_HEALTH, DEFAULT_UPSTREAM_PROBE, type Upstream, type UpstreamBalance, type UpstreamHealth, type UpstreamInstance, type UpstreamProbe } from './experiment.types';

/** An upstream as a client sends it (docs/gateway.md): `baseUrl` or `instances`, the rest optional. */
export interface UpstreamInput {
  baseUrl?: string;
  instances?: Array<{ baseUrl: string; weight?: number; model?: string; apiKeyEnv?: string }>;
  model: string;
  apiKeyEnv?: string;
  params?: Record<string, unknown>;
  systemPromptPrefix?: string;
  headers?: Record<string, unknown>;
  includeUsage?: boolean;
  timeoutMs?: number;
  totalTimeoutMs?: number;
  balance?: UpstreamBalance;
  balanceOptions?: { tauMs?: number };
  health?: Partial<Omit<UpstreamHealth, 'probe'>> & { probe?: Partial<UpstreamProbe> | null };
  whenDown?: 'error' | 'fallback_control';
}

export const UPSTREAM_LIMITS = {
  instances: 16,
  params: 32,
  headers: 16,
  headerValueLength: 1024,
  systemPromptPrefixLength: 16_384,
  urlLength: 2048,
  modelLength: 256,
  minTimeoutMs: 100,
  maxTimeoutMs: 3_600_000,
  defaultTimeoutMs: 60_000,
  defaultTotalTimeoutMs: 600_000,
  minTauMs: 100,
  maxTauMs: 600_000,
} as const;

const L = UPSTREAM_LIMITS;

/** Headers the gateway owns or that would carry a credential: refused in `headers`. */
const RESERVED_HEADERS = new Set([
  'authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie', 'host', 'content-length', 'content-type',
  'connection', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'accept-encoding', 'expect',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;
const PARAM_NAME = /^[a-z][a-z0-9_]{0,63}$/;
/** Body fields the gateway owns: params may not set them. */
const RESERVED_PARAMS = new Set(['model', 'stream', 'stream_options', 'messages', 'prompt', 'input', 'user']);

/**
 * Strings that are credentials whatever field holds them: provider key formats, bearer
 * tokens, private keys, JWTs, URLs with a password. Deliberately specific: a model name or
 * a prompt must not trip it.
 */
export const SECRET_VALUES: ReadonlyArray<[RegExp, string]> = [
  [/\b(sk|rk|pk)-[A-Za-z0-9_-]{16,}/, 'an API key (sk-...)'],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/i, 'a bearer token'],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key'],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/, 'a GitHub token'],
  [/\bxox[abprs]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/\bAIza[0-9A-Za-z_-]{35}/, 'a Google API key'],
  [/\b(hf|gsk|xai|pplx)_[A-Za-z0-9]{20,}/, 'an API key'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  // From '://', not from the scheme: a scheme pattern rescans a long run of letters from
  // every start, quadratic (a 60 KB prompt took seconds).
  [/:\/\/[^/\s:@]+:[^/\s@]+@/, 'a URL with a password'],
];

/** Field names whose string value is a credential (normalised: lower case, letters and digits only). */
const SECRET_NAMES = ['apikey', 'secret', 'password', 'passwd', 'token', 'accesskey', 'privatekey', 'authorization', 'credential', 'credentials', 'bearer'];

function secretName(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_NAMES.some((name) => k.endsWith(name));
}

/** What a string looks like when it is a literal secret, or null. */
export function secretValueIssue(value: string): string | null {
  for (const [pattern, what] of SECRET_VALUES) if (pattern.test(value)) return what;
  // By hand (linear): as a regex, 'eyJ-eyJ-...' is rescanned from every start.
  if (containsJwt(value)) return 'a JWT';
  return null;
}

/**
 * Refuses what looks like a literal secret anywhere in a JSON value: a credential-shaped
 * string, or a non-empty string under a credential-named field (`apiKey`, `token`,
 * `password`...). Variant configs reach every SDK key holder, upstreams the audit log: a
 * credential belongs in an environment variable the gateway reads (apiKeyEnv). Reports at
 * most one problem per field path, and stops after 10.
 */
export function checkNoLiteralSecrets(value: unknown, field: string, errors: FieldError[], depth = 0): void {
  if (errors.length >= 10 || depth > 32) return;
  if (typeof value === 'string') {
    const what = secretValueIssue(value);
    if (what) errors.push({ field, message: `looks like ${what}: put credentials in an environment variable and name it in upstream.apiKeyEnv` });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => checkNoLiteralSecrets(item, `${field}.${i}`, errors, depth + 1));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === 'string' && item !== '' && secretName(key)) {
        errors.push({ field: `${field}.${key}`, message: 'holds a credential: put it in an environment variable and name it in upstream.apiKeyEnv' });
      } else {
        checkNoLiteralSecrets(item, `${field}.${key}`, errors, depth + 1);
      }
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkUrl(value: unknown, field: string, errors: FieldError[]): string | null {
  if (typeof value !== 'string' || value.length < 1 || value.length > L.urlLength) {
    errors.push({ field, message: `is required: an http(s) URL of at most ${L.urlLength} characters` });
    return null;
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    errors.push({ field, message: 'is not a URL' });
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') errors.push({ field, message: 'must be an http or https URL' });
  else if (url.username || url.password) errors.push({ field, message: 'must not carry credentials (user:password@): use apiKeyEnv' });
  else if (url.search || url.hash) errors.push({ field, message: 'must have no query or fragment (a key in a query string is a literal secret): use apiKeyEnv' });
  else return withoutTrailingSlashes(url.href);
  return null;
}

function checkEnvName(value: unknown, field: string, errors: FieldError[], envIssue: (name: string) => string | null): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') {
    errors.push({ field, message: 'must be the name of an environment variable' });
    return null;
  }
  const issue = envIssue(value);
  if (issue) errors.push({ field, message: issue });
  return issue ? null : value;
}

function checkTimeout(value: unknown, field: string, fallback: number, errors: FieldError[]): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < L.minTimeoutMs || value > L.maxTimeoutMs) {
    errors.push({ field, message: `must be an integer from ${L.minTimeoutMs} to ${L.maxTimeoutMs} (ms)` });
    return fallback;
  }
  return value;
}

/**
 * Checks a variant's upstream and fills in its defaults. `envIssue` says why an environment
 * variable may not be named as a credential (libs/config credentialEnvIssue with the
 * operator's allowlist). Reachability of the URLs (the outbound guard) is checked by the caller.
 */
export function checkUpstream(input: unknown, field: string, errors: FieldError[], envIssue: (name: string) => string | null): Upstream | null {
  if (!isRecord(input)) {
    errors.push({ field, message: 'must be an object' });
    return null;
  }
  const before = errors.length;
  const known = new Set(['baseUrl', 'instances', 'model', 'apiKeyEnv', 'params', 'systemPromptPrefix', 'headers', 'includeUsage', 'timeoutMs', 'totalTimeoutMs', 'balance', 'balanceOptions', 'health', 'whenDown']);
  for (const key of Object.keys(input)) if (!known.has(key)) errors.push({ field: `${field}.${key}`, message: 'is not a known upstream field' });

  const instances: UpstreamInstance[] = [];
  if (input.baseUrl !== undefined && input.instances !== undefined) {
    errors.push({ field, message: 'needs baseUrl or instances, not both' });
  } else if (input.instances !== undefined) {
    if (!Array.isArray(input.instances) || input.instances.length < 1 || input.instances.length > L.instances) {
      errors.push({ field: `${field}.instances`, message: `must be 1-${L.instances} instances` });
    } else {
      input.instances.forEach((raw: unknown, i) => {
        const f = `${field}.instances.${i}`;
        if (!isRecord(raw)) return void errors.push({ field: f, message: 'must be an object' });
        for (const key of Object.keys(raw)) if (!['baseUrl', 'weight', 'model', 'apiKeyEnv'].includes(key)) errors.push({ field: `${f}.${key}`, message: 'is not a known instance field' });
        const baseUrl = checkUrl(raw.baseUrl, `${f}.baseUrl`, errors);
        const weight = raw.weight ?? 1;
        if (typeof weight !== 'number' || !(weight > 0 && weight <= 1e6)) errors.push({ field: `${f}.weight`, message: 'must be a number in (0, 1e6]' });
        const model = raw.model ?? null;
        if (model !== null && (typeof model !== 'string' || model.length < 1 || model.length > L.modelLength)) {
          errors.push({ field: `${f}.model`, message: `must be a string of 1-${L.modelLength} characters` });
        }
        const apiKeyEnv = checkEnvName(raw.apiKeyEnv, `${f}.apiKeyEnv`, errors, envIssue);
        if (baseUrl) instances.push({ baseUrl, weight: typeof weight === 'number' ? weight : 1, model: typeof model === 'string' ? model : null, apiKeyEnv });
      });
    }
  } else {
    const baseUrl = checkUrl(input.baseUrl, `${field}.baseUrl`, errors);
    if (baseUrl) instances.push({ baseUrl, weight: 1, model: null, apiKeyEnv: null });
  }

  const model = input.model;
  if (typeof model !== 'string' || model.length < 1 || model.length > L.modelLength) {
    errors.push({ field: `${field}.model`, message: `is required: the upstream's model name, 1-${L.modelLength} characters` });
  }
  const apiKeyEnv = checkEnvName(input.apiKeyEnv, `${field}.apiKeyEnv`, errors, envIssue);

  const params: Record<string, string | number | boolean> = {};
  if (input.params !== undefined) {
    if (!isRecord(input.params) || Object.keys(input.params).length > L.params) {
      errors.push({ field: `${field}.params`, message: `must be an object of at most ${L.params} fields` });
    } else {
      for (const [key, value] of Object.entries(input.params)) {
        const f = `${field}.params.${key.slice(0, 64)}`;
        if (!PARAM_NAME.test(key)) errors.push({ field: f, message: 'must be a lower_snake_case body field' });
        else if (RESERVED_PARAMS.has(key)) errors.push({ field: f, message: 'is set by the gateway itself' });
        else if (typeof value === 'number' ? !Number.isFinite(value) : typeof value === 'string' ? value.length > 1024 : typeof value !== 'boolean') {
          errors.push({ field: f, message: 'must be a finite number, a boolean or a string of at most 1024 characters' });
        } else params[key] = value as string | number | boolean;
      }
    }
  }

  let systemPromptPrefix: string | null = null;
  if (input.systemPromptPrefix !== undefined && input.systemPromptPrefix !== null) {
    if (typeof input.systemPromptPrefix !== 'string' || input.systemPromptPrefix.length > L.systemPromptPrefixLength) {
      errors.push({ field: `${field}.systemPromptPrefix`, message: `must be a string of at most ${L.systemPromptPrefixLength} characters` });
    } else systemPromptPrefix = input.systemPromptPrefix;
  }

  const headers: Record<string, string> = {};
  if (input.headers !== undefined) {
    if (!isRecord(input.headers) || Object.keys(input.headers).length > L.headers) {
      errors.push({ field: `${field}.headers`, message: `must be an object of at most ${L.headers} headers` });
    } else {
      for (const [name, value] of Object.entries(input.headers)) {
        const f = `${field}.headers.${name.slice(0, 64)}`;
        const lower = name.toLowerCase();
        if (!HEADER_NAME.test(name)) errors.push({ field: f, message: 'is not a header name' });
        else if (RESERVED_HEADERS.has(lower) || lower.startsWith('x-verdict-')) {
          errors.push({ field: f, message: lower.includes('auth') || lower.includes('key') || lower === 'cookie' ? 'would carry a credential: use apiKeyEnv' : 'is set by the gateway itself' });
        } else if (typeof value !== 'string' || value.length > L.headerValueLength || /[\r\n\0]/.test(value)) {
          errors.push({ field: f, message: `must be a string of at most ${L.headerValueLength} characters, without line breaks` });
        } else headers[lower] = value;
      }
    }
  }

  const includeUsage = input.includeUsage ?? true;
  if (typeof includeUsage !== 'boolean') errors.push({ field: `${field}.includeUsage`, message: 'must be a boolean' });
  const timeoutMs = checkTimeout(input.timeoutMs, `${field}.timeoutMs`, L.defaultTimeoutMs, errors);
  const totalTimeoutMs = checkTimeout(input.totalTimeoutMs, `${field}.totalTimeoutMs`, Math.max(L.defaultTotalTimeoutMs, timeoutMs), errors);
  if (totalTimeoutMs < timeoutMs) errors.push({ field: `${field}.totalTimeoutMs`, message: 'must not be shorter than timeoutMs' });

  const balance = input.balance ?? 'least_in_flight';
  if (balance !== 'least_in_flight' && balance !== 'sticky' && balance !== 'peak_ewma') {
    errors.push({ field: `${field}.balance`, message: 'must be least_in_flight, sticky or peak_ewma' });
  }
  const balanceOptions = checkBalanceOptions(input.balanceOptions, balance, `${field}.balanceOptions`, errors);
  const whenDown = input.whenDown ?? 'error';
  if (whenDown !== 'error' && whenDown !== 'fallback_control') errors.push({ field: `${field}.whenDown`, message: 'must be error or fallback_control' });
  const health = checkHealth(input.health, `${field}.health`, errors);

  checkNoLiteralSecrets({ params: input.params, headers: input.headers, systemPromptPrefix: input.systemPromptPrefix, model: input.model }, field, errors);
  if (errors.length > before) return null;
  return {
    instances,
    model: model as string,
    apiKeyEnv,
    params,
    systemPromptPrefix,
    headers,
    includeUsage: includeUsage as boolean,
    timeoutMs,
    totalTimeoutMs,
    balance: balance as UpstreamBalance,
    ...(balanceOptions ? { balanceOptions } : {}),
    health,
    whenDown: whenDown as 'error' | 'fallback_control',
  };
}

/** `balanceOptions` (docs/adr/0037): for `peak_ewma` only, `tauMs` an integer within bounds (default 10 s). */
function checkBalanceOptions(input: unknown, balance: unknown, field: string, errors: FieldError[]): { tauMs: number } | null {
  if (input === undefined || input === null) return balance === 'peak_ewma' ? { tauMs: DEFAULT_PEAK_EWMA_TAU_MS } : null;
  if (!isRecord(input)) {
    errors.push({ field, message: 'must be an object' });
    return null;
  }
  if (balance !== 'peak_ewma') {
    errors.push({ field, message: 'is only for balance peak_ewma' });
    return null;
  }
  for (const key of Object.keys(input)) if (key !== 'tauMs') errors.push({ field: `${field}.${key.slice(0, 64)}`, message: 'is not a balance option' });
  const tauMs = input.tauMs ?? DEFAULT_PEAK_EWMA_TAU_MS;
  if (typeof tauMs !== 'number' || !Number.isInteger(tauMs) || tauMs < L.minTauMs || tauMs > L.maxTauMs) {
    errors.push({ field: `${field}.tauMs`, message: `must be an integer from ${L.minTauMs} to ${L.maxTauMs} (ms)` });
    return null;
  }
  return { tauMs };
}

/** The passive health settings: whole numbers within bounds, defaults for what is left out. */
function checkHealth(input: unknown, field: string, errors: FieldError[]): UpstreamHealth {
  const health = { ...DEFAULT_UPSTREAM_HEALTH };
  if (input === undefined || input === null) return health;
  if (!isRecord(input)) {
    errors.push({ field, message: 'must be an object' });
    return health;
  }
  type Bounded = Exclude<keyof UpstreamHealth, 'probe'>;
  const bounds: Record<Bounded, [number, number]> = { failures: [1, 1000], windowMs: [100, 3_600_000], coolDownMs: [10, 3_600_000], maxCoolDownMs: [10, 86_400_000] };
  for (const key of Object.keys(input)) {
    if (key === 'probe') {
      const probe = checkProbe(input.probe, `${field}.probe`, errors);
      if (probe) health.probe = probe;
      continue;
    }
    if (!(key in bounds)) {
      errors.push({ field: `${field}.${key.slice(0, 64)}`, message: 'is not a known health field' });
      continue;
    }
    const [min, max] = bounds[key as Bounded];
    const value = input[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) errors.push({ field: `${field}.${key}`, message: `must be a whole number in [${min}, ${max}]` });
    else health[key as Bounded] = value;
  }
  if (health.maxCoolDownMs < health.coolDownMs) errors.push({ field: `${field}.maxCoolDownMs`, message: 'must not be shorter than coolDownMs' });
  return health;
}

export const PROBE_LIMITS = { minIntervalMs: 1000, maxIntervalMs: 3_600_000, minTimeoutMs: 100, maxTimeoutMs: 60_000, pathLength: 256 } as const;
/** A path (no query, no `..` segment) appended to the base URL. */
const PROBE_PATH = /^(\/[A-Za-z0-9._~-]+)+\/?$/;

/** Active health probes: off when absent or null; the defaults for what is left out; `timeoutMs` within `intervalMs`. */
function checkProbe(input: unknown, field: string, errors: FieldError[]): UpstreamProbe | undefined {
  if (input === undefined || input === null) return undefined;
  if (!isRecord(input)) {
    errors.push({ field, message: 'must be an object {intervalMs, path, timeoutMs} or null' });
    return undefined;
  }
  const probe = { ...DEFAULT_UPSTREAM_PROBE };
  const L = PROBE_LIMITS;
  const bounds = { intervalMs: [L.minIntervalMs, L.maxIntervalMs], timeoutMs: [L.minTimeoutMs, L.maxTimeoutMs] } as const;
  const before = errors.length;
  for (const key of Object.keys(input)) {
    const value = input[key];
    if (key === 'path') {
      if (typeof value !== 'string' || value.length > L.pathLength || !PROBE_PATH.test(value) || value.split('/').some((s) => s === '..' || s === '.')) {
        errors.push({ field: `${field}.path`, message: `must be a path of at most ${L.pathLength} characters starting with "/" (letters, digits, ".", "_", "~", "-"; no query, no ".." segment), appended to the baseUrl` });
      } else probe.path = value;
    } else if (key === 'intervalMs' || key === 'timeoutMs') {
      const [min, max] = bounds[key];
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) errors.push({ field: `${field}.${key}`, message: `must be a whole number in [${min}, ${max}]` });
      else probe[key] = value;
    } else {
      errors.push({ field: `${field}.${key.slice(0, 64)}`, message: 'is not a known probe field (intervalMs, path, timeoutMs)' });
    }
  }
  // Left out, the timeout fits the interval.
  if (!('timeoutMs' in input)) probe.timeoutMs = Math.min(probe.timeoutMs, probe.intervalMs);
  if (errors.length === before && probe.timeoutMs > probe.intervalMs) errors.push({ field: `${field}.timeoutMs`, message: 'must not exceed intervalMs' });
  return probe;
}

/** Every base URL of an upstream (for the outbound guard's check at configuration time). */
export function upstreamUrls(upstream: Upstream): string[] {
  return upstream.instances.map((i) => i.baseUrl);
}

/** By hand: `/\/+$/` rescans a run of slashes from each of them. */
function withoutTrailingSlashes(href: string): string {
  let end = href.length;
  while (end > 0 && href[end - 1] === '/') end--;
  return href.slice(0, end);
}
