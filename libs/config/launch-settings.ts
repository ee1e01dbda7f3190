import { resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config';

/**
 * What `npm start` and `npm run migration:run` decide before the other settings are read:
 * whether to run the embedded PostgreSQL (DATABASE_URL unset outside production) and where
 * it keeps its data. Read once, like the rest of the config (docs/adr/0021).
 */
const schema = z.object({
  DATABASE_URL: z.string().optional(),
  NODE_ENV: z.string().optional(),
  VERDICT_DATA_DIR: z.string().min(1).default('.verdict'),
  VERDICT_PG_PORT: z.coerce.number().int().min(0).max(65535).default(0),
  VERDICT_ADMIN_KEY: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
});

export interface LaunchSettings {
  /** Null when DATABASE_URL is set (an external PostgreSQL, as before) or NODE_ENV is production. */
  embedded: { dataDir: string; port: number } | null;
  /** Where the API will listen (PORT, HOST), checked free before anything starts in the embedded mode. */
  api: { port: number; host: string };
  /** VERDICT_ADMIN_KEY is set: the launcher generates none. */
  adminKeySet: boolean;
  logLevel: string;
}

export function loadLaunchSettings(env: Record<string, string | undefined> = process.env): LaunchSettings {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid settings:\n${lines.join('\n')}`);
  }
  const s = parsed.data;
  const embedded = !s.DATABASE_URL && s.NODE_ENV !== 'production';
  return {
    embedded: embedded ? { dataDir: resolve(s.VERDICT_DATA_DIR), port: s.VERDICT_PG_PORT } : null,
    adminKeySet: Boolean(s.VERDICT_ADMIN_KEY),
    logLevel: s.LOG_LEVEL,
    api: { port: s.PORT, host: s.HOST },
  };
}

/** The environment of a child process: this one's, with the launcher's additions (DATABASE_URL, VERDICT_ADMIN_KEY). */
export function childEnvironment(overrides: Record<string, string>): Record<string, string | undefined> {
  return { ...process.env, ...overrides };
}

/** What a helper program (PostgreSQL) needs of this environment to run, and nothing else: no secret reaches it. */
export function programEnvironment(): Record<string, string | undefined> {
  const { PATH, SYSTEMROOT, TZ } = process.env;
  return { PATH, SYSTEMROOT, TZ, LANG: 'C', LC_ALL: 'C' };
}
