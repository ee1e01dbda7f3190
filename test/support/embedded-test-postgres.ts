import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedPostgres } from '../../libs/embedded/embedded-postgres';

/** What global-setup started, for global-teardown (jest lets the two share globals, nothing else). */
interface Started {
  pg: EmbeddedPostgres;
  dataDir: string;
}
const KEY = '__verdictEmbeddedTestPostgres';
const shared = globalThis as unknown as Record<string, Started | undefined>;

/**
 * `npm test` needs no service: without TEST_POSTGRES_URL, when VERDICT_TEST_EMBEDDED=1 or
 * nothing answers on 127.0.0.1:5432, one embedded PostgreSQL (fsync off: test data only) runs
 * for the whole run in a temporary folder, and TEST_POSTGRES_URL points at it. With the
 * machine's PostgreSQL answering, nothing changes.
 */
export async function startTestPostgresIfNeeded(): Promise<void> {
  if (process.env.TEST_POSTGRES_URL) return;
  if (process.env.VERDICT_TEST_EMBEDDED !== '1' && (await answers('127.0.0.1', 5432))) return;
  const dataDir = mkdtempSync(join(tmpdir(), 'verdict-test-postgres-'));
  const pg = await EmbeddedPostgres.start({ dataDir, fast: true, database: 'postgres', settings: { max_connections: 400 } });
  shared[KEY] = { pg, dataDir };
  // Should jest die without its teardown, PostgreSQL still shuts down.
  process.once('exit', () => pg.stopNow());
  process.env.TEST_POSTGRES_URL = pg.url;
}

export async function stopTestPostgres(): Promise<void> {
  const started = shared[KEY];
  if (!started) return;
  shared[KEY] = undefined;
  await started.pg.stop();
  rmSync(started.dataDir, { recursive: true, force: true });
}

function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}
