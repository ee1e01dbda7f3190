import { spawnSync } from 'node:child_process';

/** The machine's Redis, used when TEST_REDIS_URL is not given and it answers (as the tests always did). */
const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379/0';

export type Backend = 'redis' | 'postgres';

let probed: string | null | undefined;

/**
 * The test Redis: TEST_REDIS_URL when given (`off`: none, as on a machine without Redis), else the machine's Redis when something answers on
 * its port, else null (then only the Postgres backend is tested). Decided once per test file, before
 * the tests are collected, hence a synchronous probe in a child process.
 */
export function testRedisUrl(): string | null {
  if (process.env.TEST_REDIS_URL === 'off') return null;
  if (process.env.TEST_REDIS_URL) return process.env.TEST_REDIS_URL;
  if (probed !== undefined) return probed;
  const url = new URL(LOCAL_REDIS_URL);
  const probe = `const s=require('net').connect(${Number(url.port)},'${url.hostname}');s.setTimeout(500);` +
    `s.on('data',d=>process.exit(String(d).startsWith('+PONG')?0:1));s.on('connect',()=>s.write('PING\\r\\n'));` +
    `s.on('error',()=>process.exit(1));s.on('timeout',()=>process.exit(1));`;
  probed = spawnSync(process.execPath, ['-e', probe], { timeout: 3000 }).status === 0 ? LOCAL_REDIS_URL : null;
  return probed;
}

/** Every backend this run can test: Postgres always, Redis when a test Redis answers. */
export function testBackends(): Backend[] {
  return testRedisUrl() ? ['postgres', 'redis'] : ['postgres'];
}

/**
 * The backend ordinary test files run on: TEST_QUEUE_BACKEND when given, else Redis when a test
 * Redis answers (as before), else Postgres, so `npm test` needs no Redis.
 */
export function defaultTestBackend(): Backend {
  const chosen = process.env.TEST_QUEUE_BACKEND;
  if (chosen === 'redis' || chosen === 'postgres') return chosen;
  return testRedisUrl() ? 'redis' : 'postgres';
}

/** The settings that put an app or worker on `backend`. */
export function backendSettings(backend: Backend): Record<string, string> {
  if (backend === 'postgres') return { QUEUE_BACKEND: 'postgres' };
  return { QUEUE_BACKEND: 'redis', REDIS_URL: testRedisUrl() ?? LOCAL_REDIS_URL };
}
