import { z } from 'zod';
import ipaddr from 'ipaddr.js';

/**
 * Every setting Verdict reads, validated once at start-up. Nothing else in the
 * code base reads process.env: it asks for a `VerdictConfig` instead.
 */
const schema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' })
    .default('postgres://postgres@127.0.0.1:5432/verdict'),
  NODE_ENV: z.string().optional(),
  // Unset: the queues and the change bus run on Postgres (docs/adr/0023); set: on this Redis, as before.
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// URL' }).optional(),
  QUEUE_BACKEND: z.enum(['redis', 'postgres'], { error: 'must be redis or postgres' }).optional(),
  VERDICT_QUEUE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a Postgres schema name: lower-case letters, digits and "_", at most 63')
    .default('verdict_queue'),
  VERDICT_REDIS_PREFIX: z
    .string()
    .regex(/^[a-zA-Z0-9:_-]+$/, 'letters, digits, ":", "_" and "-" only')
    .default('verdict'),
  VERDICT_ADMIN_KEY: z
    .string({ error: 'is required: the bootstrap admin API key (at least 16 characters)' })
    .min(16, 'must be at least 16 characters'),
  // GET /metrics (docs/adr/0033): a bearer token that grants the operator metrics only, for a Prometheus scraper.
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').max(512).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').optional(),
  SMTP_URL: z.url({ protocol: /^smtps?$/, error: 'must be an smtp:// URL' }).default('smtp://127.0.0.1:1025'),
  REPORT_FROM: z.string().min(3).default('Verdict <verdict@localhost>'),
  VERDICT_PUBLIC_URL: z.url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(1_048_576),
  RATE_LIMIT_PER_SECOND: z.coerce.number().int().positive().default(2000),
  INGEST_MAX_QUEUE_DEPTH: z.coerce.number().int().positive().default(200_000),
  WORKER_CONCURRENCY: z.coerce.number().int().positive().max(64).default(2),
  MONITOR_INTERVAL_MS: z.coerce.number().int().min(200).default(60_000),
  OUTBOUND_ALLOW_HTTP: z.enum(['true', 'false'], { error: 'must be true or false' }).default('false'),
  OUTBOUND_ALLOWED_CIDRS: z
    .string()
    .default('')
    .transform((value, ctx) => {
      const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
      for (const item of items) {
        const issue = cidrIssue(item);
        if (issue) ctx.addIssue({ code: 'custom', message: `${issue} (comma-separated CIDRs or addresses)` });
      }
      return items;
    }),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  // Bounded resources (docs/adr/0017): timeouts, connection and stream caps, body depth, report pace, key floods.
  HTTP_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(30_000),
  HTTP_CONNECTION_TIMEOUT_MS: z.coerce.number().int().min(100).default(120_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).default(72_000),
  HTTP_MAX_CONNECTIONS: z.coerce.number().int().positive().default(10_000),
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/, 'true, false, or proxy addresses/CIDRs separated by commas')
    .default('false'),
  BODY_MAX_DEPTH: z.coerce.number().int().min(2).max(1000).default(32),
  CONFIG_STREAMS_PER_KEY: z.coerce.number().int().positive().default(50),
  CONFIG_STREAMS_MAX: z.coerce.number().int().positive().default(2000),
  CONFIG_STREAM_HEARTBEAT_MS: z.coerce.number().int().min(100).default(15_000),
  UNKNOWN_KEY_LOOKUPS_PER_MINUTE: z.coerce.number().int().positive().default(60),
  REPORT_MIN_INTERVAL_SECONDS: z.coerce.number().int().positive().default(3600),
  REPORT_MANUAL_SENDS_PER_HOUR: z.coerce.number().int().positive().default(10),
  // Gateway (docs/gateway.md, docs/adr/0024): which environment variables upstream credentials may name.
  GATEWAY_CREDENTIAL_ENVS: z
    .string()
    .default('*_API_KEY')
    .transform((value, ctx) => {
      const items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
      for (const item of items) {
        if (!/^\*?[A-Za-z0-9_]+\*?$/.test(item) || (item.startsWith('*') && item.endsWith('*'))) {
          ctx.addIssue({ code: 'custom', message: `"${item}" is not a variable name, PREFIX* or *SUFFIX (comma-separated)` });
        }
      }
      return items;
    }),
  GATEWAY_MAX_STREAMS: z.coerce.number().int().positive().default(4096),
  GATEWAY_BODY_LIMIT_BYTES: z.coerce.number().int().positive().default(8 * 1_048_576),
  GATEWAY_CONNECTIONS_PER_UPSTREAM: z.coerce.number().int().positive().max(4096).default(256),
  // Offline evaluation's answer cache (docs/adr/0035): answers older than this many days are pruned (0: kept for ever).
  EVAL_ANSWER_CACHE_DAYS: z.coerce.number().int().min(0).max(36_500).default(30),
  EVAL_ANSWER_PRUNE_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
  // Offline evaluation calls in flight per upstream base URL in one worker process, all runs together (docs/adr/0040).
  EVAL_UPSTREAM_MAX_IN_FLIGHT: z.coerce.number().int().min(1).max(256).default(8),
  GATEWAY_SHADOW_MAX_IN_FLIGHT: z.coerce.number().int().min(0).max(4096).default(32),
  GATEWAY_OUTCOME_BUFFER_MAX: z.coerce.number().int().min(0).max(1_000_000).default(10_000),
  // How often the worker deletes expired gateway captures (docs/adr/0039).
  GATEWAY_CAPTURE_PRUNE_INTERVAL_MS: z.coerce.number().int().min(1000).default(3_600_000),
})
  .refine((s) => !(s.QUEUE_BACKEND === 'redis' && !s.REDIS_URL && s.NODE_ENV === 'production'), {
    path: ['QUEUE_BACKEND'],
    message: 'is redis but REDIS_URL is not set (required in production); set REDIS_URL or QUEUE_BACKEND=postgres',
  })
  .refine((s) => s.HTTP_HEADERS_TIMEOUT_MS <= s.HTTP_REQUEST_TIMEOUT_MS, {
    path: ['HTTP_HEADERS_TIMEOUT_MS'],
    message: 'must not exceed HTTP_REQUEST_TIMEOUT_MS',
  })
  .refine((s) => s.CONFIG_STREAM_HEARTBEAT_MS < s.HTTP_CONNECTION_TIMEOUT_MS, {
    path: ['CONFIG_STREAM_HEARTBEAT_MS'],
    message: 'must be shorter than HTTP_CONNECTION_TIMEOUT_MS (an idle stream is closed)',
  });

export interface VerdictConfig {
  http: {
    port: number;
    host: string;
    bodyLimitBytes: number;
    publicUrl: string;
    /** Deepest nesting of arrays and objects a JSON body may have. */
    bodyMaxDepth: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    connectionTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    /** Fastify's trustProxy: which proxies' X-Forwarded-For to believe for the client address. */
    trustProxy: boolean | string;
  };
  database: { url: string };
  /**
   * Where the queues run and the change bus travels (docs/adr/0023): `redis` when REDIS_URL is set
   * (or QUEUE_BACKEND=redis), else `postgres` (BullMQ's Postgres backend in `schema` of the app's
   * database, and LISTEN/NOTIFY). The bus always follows the queue backend: Redis is used for both or neither.
   */
  queue: { backend: QueueBackend; schema: string };
  /** Read only when queue.backend is `redis`; the prefix also namespaces the change bus's channels on either backend. */
  redis: { url: string; prefix: string };
  auth: { bootstrapAdminKey: string; rateLimitPerSecond: number; unknownKeyLookupsPerMinute: number };
  streams: { perKey: number; max: number; heartbeatMs: number };
  reports: { minIntervalSeconds: number; manualSendsPerHour: number };
  smtp: { url: string; from: string };
  ingest: { maxQueueDepth: number; workerConcurrency: number };
  traffic: { monitorIntervalMs: number };
  /** Requests to URLs a user configured (webhooks): docs/adr/0016. */
  outbound: { allowHttp: boolean; allowedCidrs: string[]; webhookTimeoutMs: number };
  gateway: {
    /** Names (or PREFIX* / *SUFFIX patterns) of environment variables an upstream's apiKeyEnv may name. */
    credentialEnvs: string[];
    /** The credential held by an allowed environment variable, read when a call needs it; undefined when unset or not allowed. */
    credential: (name: string) => string | undefined;
    /** Gateway calls in flight per replica at most; past it, 429 with Retry-After. */
    maxInFlight: number;
    connectionsPerUpstream: number;
    /** Request bodies of the gateway routes (prompts with images are large); larger get a 413. */
    bodyLimitBytes: number;
    /** Shadow copies in flight per replica at most (docs/adr/0031); past it a copy is dropped, never queued. 0 turns shadows off. */
    shadowMaxInFlight: number;
    /** Outcome events (served and shadow) held per replica for retry while ingestion refuses them (docs/adr/0038); 0: none held. */
    outcomeBufferMax: number;
    /** How often the worker deletes captures past their retention (docs/adr/0039). */
    capturePruneIntervalMs: number;
  };
  /** Offline evaluation: the answer cache's retention (docs/adr/0035). */
  evaluation: {
    /** Answers older than this are deleted by the worker's prune job; 0 keeps them for ever. */
    answerCacheDays: number;
    /** How often the worker prunes. */
    answerPruneIntervalMs: number;
    /** Calls in flight per upstream base URL in one worker process, shared by every run (docs/adr/0040). */
    upstreamMaxInFlight: number;
  };
  /** GET /metrics: a bearer token equal to `token` reads the operator metrics (as the bootstrap admin key does); null: none. */
  metrics: { token: string | null };
  logLevel: string;
}

export type QueueBackend = 'redis' | 'postgres';

/** Used by QUEUE_BACKEND=redis without REDIS_URL outside production. */
const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379/0';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Parses the environment; throws a ConfigError that names every bad or missing setting. */
export function loadConfig(env: Record<string, string | undefined> = process.env): VerdictConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid settings:\n${lines.join('\n')}`);
  }
  const s = parsed.data;
  return {
    http: {
      port: s.PORT,
      host: s.HOST,
      bodyLimitBytes: s.BODY_LIMIT_BYTES,
      publicUrl: s.VERDICT_PUBLIC_URL ?? `http://localhost:${s.PORT}`,
      bodyMaxDepth: s.BODY_MAX_DEPTH,
      headersTimeoutMs: s.HTTP_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: s.HTTP_REQUEST_TIMEOUT_MS,
      connectionTimeoutMs: s.HTTP_CONNECTION_TIMEOUT_MS,
      keepAliveTimeoutMs: s.HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: s.HTTP_MAX_CONNECTIONS,
      trustProxy: parseTrustProxy(s.TRUST_PROXY),
    },
    database: { url: s.DATABASE_URL },
    queue: { backend: s.QUEUE_BACKEND ?? (s.REDIS_URL ? 'redis' : 'postgres'), schema: s.VERDICT_QUEUE_SCHEMA },
    redis: { url: s.REDIS_URL ?? LOCAL_REDIS_URL, prefix: s.VERDICT_REDIS_PREFIX },
    auth: {
      bootstrapAdminKey: s.VERDICT_ADMIN_KEY,
      rateLimitPerSecond: s.RATE_LIMIT_PER_SECOND,
      unknownKeyLookupsPerMinute: s.UNKNOWN_KEY_LOOKUPS_PER_MINUTE,
    },
    streams: { perKey: s.CONFIG_STREAMS_PER_KEY, max: s.CONFIG_STREAMS_MAX, heartbeatMs: s.CONFIG_STREAM_HEARTBEAT_MS },
    reports: { minIntervalSeconds: s.REPORT_MIN_INTERVAL_SECONDS, manualSendsPerHour: s.REPORT_MANUAL_SENDS_PER_HOUR },
    smtp: { url: s.SMTP_URL, from: s.REPORT_FROM },
    ingest: {
      maxQueueDepth: s.INGEST_MAX_QUEUE_DEPTH,
      workerConcurrency: s.WORKER_CONCURRENCY,
    },
    traffic: { monitorIntervalMs: s.MONITOR_INTERVAL_MS },
    outbound: { allowHttp: s.OUTBOUND_ALLOW_HTTP === 'true', allowedCidrs: s.OUTBOUND_ALLOWED_CIDRS, webhookTimeoutMs: s.WEBHOOK_TIMEOUT_MS },
    gateway: {
      credentialEnvs: s.GATEWAY_CREDENTIAL_ENVS,
      credential: (name) => (credentialEnvIssue(name, s.GATEWAY_CREDENTIAL_ENVS) === null ? env[name] || undefined : undefined),
      maxInFlight: s.GATEWAY_MAX_STREAMS,
      connectionsPerUpstream: s.GATEWAY_CONNECTIONS_PER_UPSTREAM,
      bodyLimitBytes: s.GATEWAY_BODY_LIMIT_BYTES,
      shadowMaxInFlight: s.GATEWAY_SHADOW_MAX_IN_FLIGHT,
      outcomeBufferMax: s.GATEWAY_OUTCOME_BUFFER_MAX,
      capturePruneIntervalMs: s.GATEWAY_CAPTURE_PRUNE_INTERVAL_MS,
    },
    evaluation: { answerCacheDays: s.EVAL_ANSWER_CACHE_DAYS, answerPruneIntervalMs: s.EVAL_ANSWER_PRUNE_INTERVAL_MS, upstreamMaxInFlight: s.EVAL_UPSTREAM_MAX_IN_FLIGHT },
    metrics: { token: s.METRICS_TOKEN ?? null },
    logLevel: s.LOG_LEVEL,
  };
}

const CREDENTIAL_ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Why an upstream may not name this environment variable as its credential, or null when it may:
 * a variable name, allowed by GATEWAY_CREDENTIAL_ENVS, and none of Verdict's own settings (an
 * experiment admin could otherwise send, say, the database URL to an upstream of their choice).
 */
export function credentialEnvIssue(name: string, allowed: readonly string[]): string | null {
  if (!CREDENTIAL_ENV_NAME.test(name)) return 'must be an environment variable name (letters, digits, "_"; at most 128)';
  if (name in schema.shape || name.startsWith('VERDICT_') || name.startsWith('GATEWAY_')) return `names one of Verdict's own settings`;
  const ok = allowed.some((pattern) =>
    pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern.startsWith('*') ? name.endsWith(pattern.slice(1)) : name === pattern,
  );
  return ok ? null : `is not allowed by the operator's GATEWAY_CREDENTIAL_ENVS (${allowed.join(', ') || 'empty'})`;
}

/** Why an allowlist entry is not a CIDR or an address (the outbound guard parses it the same way: libs/outbound/address-policy.ts). */
function cidrIssue(value: string): string | null {
  if (value.includes('/')) return ipaddr.isValidCIDR(value) ? null : `"${value}" is not a CIDR range`;
  return ipaddr.isValid(value) ? null : `"${value}" is not an IP address or CIDR range`;
}

function parseTrustProxy(value: string): boolean | string {
  return value === 'true' ? true : value === 'false' ? false : value;
}

/** Injection token for the validated config. */
export const VERDICT_CONFIG = Symbol('VERDICT_CONFIG');

/** Only the database URL, for tools (migrations) that need no other setting. */
export function loadDatabaseUrl(env: Record<string, string | undefined> = process.env): string {
  const parsed = schema.shape.DATABASE_URL.safeParse(env.DATABASE_URL);
  if (!parsed.success) throw new ConfigError(`Invalid settings:\n  DATABASE_URL: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
