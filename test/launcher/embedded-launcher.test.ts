import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited, freePort } from '../ingestion/support/processes';
import { eventually } from '../support/test-worker';

jest.setTimeout(600_000);

const ROOT = join(__dirname, '..', '..');
const dataDir = mkdtempSync(join(tmpdir(), 'verdict-launcher-embedded-'));
const spawned: ChildProcess[] = [];

interface Run {
  launcher: ChildProcess;
  lines: Array<Record<string, any>>;
  stderr: () => string;
}

/** `npm start` with DATABASE_URL, REDIS_URL and VERDICT_ADMIN_KEY unset, in its own process group (like a terminal's job). */
function startLauncher(port: number, extra: Record<string, string> = {}): Run {
  const env: Record<string, string | undefined> = { ...process.env, VERDICT_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', NODE_NO_WARNINGS: '1', ...extra };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'QUEUE_BACKEND', 'VERDICT_ADMIN_KEY', 'NODE_ENV']) delete env[name];
  const launcher = spawn(process.execPath, ['-r', join(ROOT, 'scripts/register-swc.cjs'), join(ROOT, 'apps/launcher/main.ts')], {
    cwd: ROOT,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  spawned.push(launcher);
  const lines: Array<Record<string, any>> = [];
  let buffered = '';
  let stderr = '';
  launcher.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line));
  });
  launcher.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return { launcher, lines, stderr: () => stderr };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const postgresPid = () => Number(readFileSync(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
const ready = (run: Run) => run.lines.find((l) => l.name === 'launcher' && l.msg === 'Verdict is ready');

afterAll(() => {
  for (const child of spawned) if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
  try {
    process.kill(postgresPid(), 'SIGINT');
  } catch {
    // stopped already
  }
  rmSync(dataDir, { recursive: true, force: true });
});

it('runs on the embedded PostgreSQL, keeps its data through SIGTERM and a SIGKILL of the process group, and explains a busy port', async () => {
  const port = await freePort();
  const api = `http://127.0.0.1:${port}`;

  // First start: a data folder, a generated admin key (0600) that works, the banner as a log line without the key.
  const first = startLauncher(port);
  await eventually(async () => ready(first) !== undefined, 300_000, 200);
  const key = readFileSync(join(dataDir, 'admin-key'), 'utf8').trim();
  expect(statSync(join(dataDir, 'admin-key')).mode & 0o777).toBe(0o600);
  expect(ready(first)).toMatchObject({ data: dataDir, database: expect.stringMatching(/^embedded PostgreSQL 16 on 127\.0\.0\.1:\d+/), backends: expect.stringMatching(/queues on PostgreSQL/) });
  expect(JSON.stringify(first.lines)).not.toContain(key);
  const created = await fetch(`${api}/v1/api-keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'kept across restarts', scope: 'sdk' }),
  });
  expect(created.status).toBe(201);
  const firstPostgres = postgresPid();

  // SIGTERM: the API and the worker stop, then PostgreSQL; exit 0; no PostgreSQL left.
  first.launcher.kill('SIGTERM');
  await exited(first.launcher);
  expect(first.launcher.exitCode).toBe(0);
  expect(alive(firstPostgres)).toBe(false);
  const order = first.lines.filter((l) => l.name === 'launcher' && /stopped$/.test(l.msg)).map((l) => l.msg);
  expect(order[order.length - 1]).toBe('PostgreSQL stopped');

  // Second start: same data; then SIGKILL of the whole process group leaves PostgreSQL (its own group) orphaned.
  const second = startLauncher(port);
  await eventually(async () => ready(second) !== undefined, 300_000, 200);
  const orphan = postgresPid();
  process.kill(-second.launcher.pid!, 'SIGKILL');
  await exited(second.launcher);
  expect(alive(orphan)).toBe(true);

  // Third start: the orphan is stopped, a new PostgreSQL has the data.
  const third = startLauncher(port);
  await eventually(async () => ready(third) !== undefined, 300_000, 200);
  expect(alive(orphan)).toBe(false);
  const keys = (await (await fetch(`${api}/v1/api-keys`, { headers: { authorization: `Bearer ${key}` } })).json()) as any;
  expect(JSON.stringify(keys)).toContain('kept across restarts');
  third.launcher.kill('SIGINT');
  await exited(third.launcher);
  expect(third.launcher.exitCode).toBe(0);

  // A busy PostgreSQL port: one line naming it and the fix, exit 1, the data still there.
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const busy = (blocker.address() as { port: number }).port;
  const fourth = startLauncher(port, { VERDICT_PG_PORT: String(busy) });
  await exited(fourth.launcher);
  blocker.close();
  expect(fourth.launcher.exitCode).toBe(1);
  expect(fourth.stderr().trim()).toMatch(new RegExp(`^Port ${busy} on 127\\.0\\.0\\.1 is in use: .*VERDICT_PG_PORT[^\\n]*$`));
  expect(readFileSync(join(dataDir, 'postgres', 'PG_VERSION'), 'utf8').trim()).toBe('16');

  // A busy API port is found before anything starts (rather than an API restarting forever).
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const apiPort = (taken.address() as { port: number }).port;
  const fifth = startLauncher(apiPort);
  await exited(fifth.launcher);
  taken.close();
  expect(fifth.launcher.exitCode).toBe(1);
  expect(fifth.stderr().trim()).toMatch(new RegExp(`^Port ${apiPort} is in use, so the API cannot listen there: .*set PORT[^\\n]*$`));
});
