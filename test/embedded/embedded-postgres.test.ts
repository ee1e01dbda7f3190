import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DATA_FOLDER, EmbeddedPostgres, type EmbeddedPostgresOptions } from '../../libs/embedded/embedded-postgres';
import { EmbeddedPostgresError } from '../../libs/embedded/embedded-postgres.errors';

jest.setTimeout(120_000);

const folders: string[] = [];
const running: EmbeddedPostgres[] = [];
const asRoot = process.getuid?.() === 0;

/** A fresh data folder under the system temp folder (reachable by the account PostgreSQL runs as under root). */
function dataFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), 'verdict-embedded-'));
  folders.push(folder);
  return folder;
}

async function start(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const pg = await EmbeddedPostgres.start({ fast: true, database: 'postgres', ...options });
  running.push(pg);
  return pg;
}

async function query<T = Record<string, unknown>>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The real uid a process runs as (Linux). */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Uid:'))!;
  return Number(line.split(/\s+/)[1]);
}

async function faultOf(promise: Promise<unknown>): Promise<EmbeddedPostgresError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof EmbeddedPostgresError) return error;
    throw error;
  }
  throw new Error('expected an EmbeddedPostgresError');
}

afterAll(async () => {
  for (const pg of running) await pg.stop().catch(() => undefined);
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

it('initialises on the first start, keeps the data across a restart, and leaves no process behind', async () => {
  const dir = dataFolder();
  const first = await start({ dataDir: dir });
  expect(first.url).toMatch(/^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/);
  expect(statSync(join(dir, DATA_FOLDER.password)).mode & 0o777).toBe(0o600);
  expect((await query<{ version: string }>(first.url, 'SHOW server_version'))[0]).toEqual({ server_version: expect.stringMatching(/^16\./) });
  await query(first.url, 'CREATE TABLE kept (id int); INSERT INTO kept VALUES (1), (2), (3)');
  // A password is required: the same URL without it is refused.
  const withoutPassword = new URL(first.url);
  withoutPassword.password = '';
  await expect(query(withoutPassword.toString(), 'SELECT 1')).rejects.toThrow();
  const firstPid = first.pid;
  await first.stop();
  expect(alive(firstPid)).toBe(false);
  expect(existsSync(join(dir, DATA_FOLDER.pgdata, 'postmaster.pid'))).toBe(false);

  const second = await start({ dataDir: dir });
  expect(await query(second.url, 'SELECT count(*)::int AS n FROM kept')).toEqual([{ n: 3 }]);
  await second.stop();
  expect(alive(second.pid)).toBe(false);
});

it('as root runs PostgreSQL as an unprivileged account (nobody when asked), never as root', async () => {
  const pg = await start({ dataDir: dataFolder(), accounts: ['nobody'] });
  if (asRoot) {
    expect(pg.runAs?.user).toBe('nobody');
    expect(uidOf(pg.pid)).toBe(pg.runAs!.uid);
    expect(pg.runAs!.uid).not.toBe(0);
  } else {
    expect(pg.runAs).toBeNull();
    expect(uidOf(pg.pid)).toBe(process.getuid!());
  }
  expect(await query(pg.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  await pg.stop();
});

it('stops a PostgreSQL left running by a run that died (postmaster.pid), and keeps its data', async () => {
  const dir = dataFolder();
  // A launcher that starts PostgreSQL, writes a row, prints the pid, and is then SIGKILLed.
  const script = `
    require(${JSON.stringify(join(__dirname, '..', '..', 'scripts', 'register-swc.cjs'))});
    const { EmbeddedPostgres } = require(${JSON.stringify(join(__dirname, '..', '..', 'libs', 'embedded', 'embedded-postgres.ts'))});
    const { Client } = require('pg');
    EmbeddedPostgres.start({ dataDir: ${JSON.stringify(dir)}, database: 'postgres', fast: true }).then(async (pg) => {
      const client = new Client({ connectionString: pg.url });
      await client.connect();
      await client.query('CREATE TABLE kept (id int); INSERT INTO kept VALUES (42)');
      await client.end();
      process.stdout.write(pg.pid + '\\n');
    });`;
  const launcher = spawn(process.execPath, ['-e', script], { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit'] });
  const orphan = await new Promise<number>((resolve) => launcher.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  launcher.kill('SIGKILL');
  await new Promise((resolve) => launcher.once('exit', resolve));
  expect(alive(orphan)).toBe(true);

  const pg = await start({ dataDir: dir });
  expect(alive(orphan)).toBe(false);
  expect(await query(pg.url, 'SELECT id FROM kept')).toEqual([{ id: 42 }]);
  await pg.stop();
});

describe('faults: a one-line error naming the cause and the fix, nothing deleted', () => {
  let initialised: string;
  beforeAll(async () => {
    initialised = dataFolder();
    await (await start({ dataDir: initialised })).stop();
  });

  function expectOneLine(error: EmbeddedPostgresError, fault: string, pattern: RegExp): void {
    expect(error.fault).toBe(fault);
    expect(error.message).toMatch(pattern);
    expect(error.message).not.toMatch(/\n/);
  }

  it('a busy port', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      expectOneLine(await faultOf(start({ dataDir: initialised, port })), 'port_busy', new RegExp(`Port ${port} .*in use.*VERDICT_PG_PORT`));
    } finally {
      server.close();
    }
    expect(existsSync(join(initialised, DATA_FOLDER.pgdata, 'PG_VERSION'))).toBe(true);
  });

  it('a data folder that cannot be written', async () => {
    const file = join(dataFolder(), 'a-file');
    writeFileSync(file, 'not a folder');
    expectOneLine(await faultOf(start({ dataDir: join(file, 'data') })), 'data_folder_unwritable', /cannot be written.*VERDICT_DATA_DIR/);
    expect(readFileSync(file, 'utf8')).toBe('not a folder');
  });

  it('a data folder the unprivileged account cannot reach (as root), named with the fix', async () => {
    const closed = dataFolder();
    chmodSync(closed, 0o700);
    const inside = join(closed, 'data');
    mkdirSync(inside);
    const attempt = start({ dataDir: inside, accounts: ['nobody'] });
    if (asRoot) {
      expectOneLine(await faultOf(attempt), 'data_folder_unreachable', new RegExp(`user "nobody".*cannot reach ${inside}.*VERDICT_DATA_DIR.*non-root`));
    } else {
      await (await attempt).stop(); // not root: PostgreSQL runs as this user, who owns the folder
    }
  });

  it('a data folder made by another PostgreSQL major', async () => {
    const dir = dataFolder();
    mkdirSync(join(dir, DATA_FOLDER.pgdata), { mode: 0o700 });
    writeFileSync(join(dir, DATA_FOLDER.pgdata, 'PG_VERSION'), '15\n');
    writeFileSync(join(dir, DATA_FOLDER.pgdata, 'base-data'), 'precious');
    expectOneLine(await faultOf(start({ dataDir: dir })), 'other_major', /made by PostgreSQL 15.*runs PostgreSQL 16.*VERDICT_DATA_DIR/);
    expect(readFileSync(join(dir, DATA_FOLDER.pgdata, 'base-data'), 'utf8')).toBe('precious');
  });

  it('a stale lock held by a process that is not this folder\'s PostgreSQL', async () => {
    const lockFile = join(initialised, DATA_FOLDER.pgdata, 'postmaster.pid');
    const stranger = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    writeFileSync(lockFile, `${stranger.pid}\n${join(initialised, DATA_FOLDER.pgdata)}\n`);
    try {
      expectOneLine(await faultOf(start({ dataDir: initialised })), 'stale_lock', new RegExp(`${lockFile} names pid ${stranger.pid}.*delete that lock file`));
      expect(existsSync(lockFile)).toBe(true);
      expect(alive(stranger.pid!)).toBe(true);
    } finally {
      stranger.kill('SIGKILL');
      rmSync(lockFile);
    }
  });

  it('binaries that cannot run on this system (their loader is missing)', async () => {
    const dir = dataFolder();
    const initdb = join(dir, 'initdb');
    writeFileSync(initdb, '#!/nonexistent/loader\n', { mode: 0o755 });
    const binaries = { packageName: '@embedded-postgres/test', version: '16.14.0-beta.17', major: 16, initdb, postgres: initdb, root: dir };
    expectOneLine(await faultOf(start({ dataDir: dir, binaries })), 'broken_install', /cannot run on this system .*ENOENT.*npm rebuild/);
  });

  it('another Verdict already running on the folder', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    writeFileSync(join(initialised, DATA_FOLDER.lock), `${other.pid}\n`);
    try {
      expectOneLine(await faultOf(start({ dataDir: initialised })), 'already_running', new RegExp(`Another Verdict \\(pid ${other.pid}\\)`));
    } finally {
      other.kill('SIGKILL');
    }
    // Once that process is gone, its lock is stale and the start goes ahead.
    await new Promise((resolve) => other.once('exit', resolve));
    await (await start({ dataDir: initialised })).stop();
  });
});
