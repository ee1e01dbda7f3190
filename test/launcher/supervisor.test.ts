import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Supervisor, type RestartPolicy } from '../../apps/launcher/supervisor';
import { createLogger } from '../../libs/logging/logger';
import { eventually } from '../support/test-worker';

jest.setTimeout(60_000);

/** Short delays so that a crash loop shows its backoff in a second; the restart rule is the production one. */
const FAST: RestartPolicy = { initialDelayMs: 20, maxDelayMs: 160, resetAfterMs: 60_000, stopTimeoutMs: 10_000 };

function supervisor(policy: RestartPolicy) {
  const lines: Array<Record<string, any>> = [];
  const logger = createLogger('info', 'launcher', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { supervisor: new Supervisor(logger, policy), lines };
}

/** A Node child running `code`. */
const node = (name: string, code: string) => ({ name, command: process.execPath, args: ['-e', code] });

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let running: Supervisor | null = null;
afterEach(async () => {
  await running?.stop();
  running = null;
});

it('restarts a child that crashes in a loop with doubling delays up to the cap, and says so', async () => {
  const { supervisor: s, lines } = supervisor(FAST);
  running = s;
  s.add(node('worker', 'process.exit(3)'));
  const restarts = () => lines.filter((l) => l.child === 'worker' && l.restartInMs !== undefined);
  await eventually(async () => restarts().length >= 6, 30_000, 10);
  expect(restarts().slice(0, 6).map((l) => l.restartInMs)).toEqual([20, 40, 80, 160, 160, 160]);
  expect(restarts()[0]).toMatchObject({ level: 50, code: 3, signal: null, crashes: 1, msg: 'worker exited on its own (code 3); restarting in 0.02 s' });
  expect(await s.stop()).toBe(true);
  // Stopped for good: no restart after stop.
  const count = restarts().length;
  await new Promise((resolve) => setTimeout(resolve, 400));
  expect(restarts().length).toBe(count);
});

it('ends the crash streak of a child that stayed up long enough', async () => {
  const { supervisor: s, lines } = supervisor({ ...FAST, resetAfterMs: 100 });
  running = s;
  // Up for at least 300 ms, beyond resetAfterMs, each time.
  s.add(node('worker', 'setTimeout(() => process.exit(1), 300)'));
  const restarts = () => lines.filter((l) => l.restartInMs !== undefined);
  await eventually(async () => restarts().length >= 3, 30_000, 10);
  expect(restarts().map((l) => l.restartInMs).slice(0, 3)).toEqual([20, 20, 20]);
  expect(restarts().every((l) => l.uptimeMs >= 300)).toBe(true);
});

it('restarts only the child that died; the other keeps its process', async () => {
  const { supervisor: s, lines } = supervisor(FAST);
  running = s;
  const forever = 'setInterval(() => {}, 1000)';
  s.add(node('api', forever));
  s.add(node('worker', forever));
  const api = s.pid('api');
  const worker = s.pid('worker');
  process.kill(worker!, 'SIGKILL');
  await eventually(async () => s.pid('worker') !== undefined && s.pid('worker') !== worker, 30_000, 10);
  expect(s.pid('api')).toBe(api);
  expect(lines.find((l) => l.restartInMs !== undefined)).toMatchObject({ child: 'worker', pid: worker, code: null, signal: 'SIGKILL' });
  expect(lines.some((l) => l.child === 'api' && l.restartInMs !== undefined)).toBe(false);

  const pids = [s.pid('api'), s.pid('worker')];
  expect(await s.stop()).toBe(true);
  expect(pids.map(alive)).toEqual([false, false]);
  expect(lines.filter((l) => l.msg.endsWith('stopped')).map((l) => [l.child, l.signal, l.clean])).toEqual(
    expect.arrayContaining([
      ['api', 'SIGTERM', true],
      ['worker', 'SIGTERM', true],
    ]),
  );
});

it('kills a child that does not stop in time and reports the stop as unclean', async () => {
  const { supervisor: s, lines } = supervisor({ ...FAST, stopTimeoutMs: 500 });
  running = s;
  const ready = join(mkdtempSync(join(tmpdir(), 'verdict-supervisor-')), 'ready');
  s.add(node('stubborn', `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); require('fs').writeFileSync(${JSON.stringify(ready)}, '')`));
  const pid = s.pid('stubborn');
  // Ask it to stop only once it ignores SIGTERM.
  await eventually(async () => existsSync(ready), 30_000, 10);
  expect(await s.stop()).toBe(false);
  expect(alive(pid)).toBe(false);
  expect(lines.some((l) => l.msg === 'stubborn did not stop in time; killing it')).toBe(true);
  expect(lines.find((l) => l.msg === 'stubborn stopped')).toMatchObject({ signal: 'SIGKILL', clean: false });
  rmSync(dirname(ready), { recursive: true, force: true });
});
