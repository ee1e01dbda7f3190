import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { backendSettings, defaultTestBackend } from '../support/backends';
import { cloneTemplate } from '../support/databases';
import { testPrefix } from '../support/test-app';
import { eventually } from '../support/test-worker';
import { exited, freePort } from '../ingestion/support/processes';

jest.setTimeout(180_000);

const ROOT = join(__dirname, '..', '..');

let launcher: ChildProcess | null = null;
let database: { drop: () => Promise<void>; url: string };
const lines: Array<Record<string, any>> = [];

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The launcher's own lines (children's lines share its stdout). */
const own = () => lines.filter((l) => l.name === 'launcher');
const startedPids = (child: string) => own().filter((l) => l.child === child && l.msg === `${child} started`).map((l) => l.pid as number);

beforeAll(async () => {
  database = await cloneTemplate();
});
afterAll(async () => {
  // Whatever happened, leave no process behind.
  for (const pid of [...startedPids('api'), ...startedPids('worker')]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  if (launcher && launcher.exitCode === null) launcher.kill('SIGKILL');
  await database?.drop();
});

it('restarts a killed worker while the API keeps answering, and stops both cleanly on SIGTERM', async () => {
  const port = await freePort();
  // `npm start` runs dist/; the TypeScript through SWC is the same code, and the launcher starts its children the same way.
  launcher = spawn(process.execPath, ['-r', join(ROOT, 'scripts/register-swc.cjs'), join(ROOT, 'apps/launcher/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      ...backendSettings(defaultTestBackend()),
      VERDICT_REDIS_PREFIX: testPrefix(),
      VERDICT_ADMIN_KEY: `test-admin-${randomBytes(16).toString('hex')}`,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      NODE_NO_WARNINGS: '1',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let buffered = '';
  launcher.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    const complete = buffered.split('\n');
    buffered = complete.pop()!;
    for (const line of complete) if (line.startsWith('{')) lines.push(JSON.parse(line));
  });
  const health = async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.status === 200;
  const workersRunning = () => lines.filter((l) => l.name === 'worker' && l.msg === 'Verdict worker running').length;

  await eventually(async () => (await health()) && workersRunning() === 1, 120_000, 200);
  const [api] = startedPids('api');
  const [worker] = startedPids('worker');
  expect(alive(api) && alive(worker)).toBe(true);

  // Ask /health over and over while the worker dies and comes back.
  let polling = true;
  const answers: boolean[] = [];
  const poller = (async () => {
    while (polling) {
      answers.push(await health());
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();

  process.kill(worker, 'SIGKILL');
  await eventually(async () => startedPids('worker').length === 2 && workersRunning() === 2, 120_000, 100);
  polling = false;
  await poller;

  const [, restarted] = startedPids('worker');
  expect(restarted).not.toBe(worker);
  expect(alive(restarted)).toBe(true);
  expect(alive(worker)).toBe(false);
  expect(own().find((l) => l.restartInMs !== undefined)).toMatchObject({
    level: 50,
    child: 'worker',
    pid: worker,
    signal: 'SIGKILL',
    restartInMs: 1000,
    msg: 'worker exited on its own (signal SIGKILL); restarting in 1 s',
  });
  // The API was neither stopped nor restarted, and answered every time.
  expect(startedPids('api')).toEqual([api]);
  expect(answers.length).toBeGreaterThan(0);
  expect(answers.every(Boolean)).toBe(true);

  launcher.kill('SIGTERM');
  await exited(launcher);
  expect(launcher.exitCode).toBe(0);
  expect([api, worker, restarted].map(alive)).toEqual([false, false, false]);
  expect(own().filter((l) => l.msg.endsWith(' stopped')).map((l) => [l.child, l.clean])).toEqual(
    expect.arrayContaining([
      ['api', true],
      ['worker', true],
    ]),
  );
});
