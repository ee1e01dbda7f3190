import { spawn } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * wrk (Debian package `wrk`) when installed and not turned off with BENCH_LOADER=node: a node
 * client spends far more CPU per request, on the same 2 cores as the system under test.
 */
export function wrkPath(): string | null {
  return existsSync('/usr/bin/wrk') && process.env.BENCH_LOADER !== 'node' ? '/usr/bin/wrk' : null;
}

/**
 * Runs wrk with a Lua script whose `done` writes one line `JSON {...}` to stdout, and
 * resolves with that object.
 */
export function runWrk<T>(wrk: string, script: string, args: string[]): Promise<T> {
  const file = join(tmpdir(), `verdict-wrk-${process.pid}-${Date.now()}.lua`);
  writeFileSync(file, script);
  return new Promise<T>((resolve, reject) => {
    const child = spawn(wrk, [...args.slice(0, -1), '-s', file, args[args.length - 1]], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      rmSync(file, { force: true });
      const line = out.split('\n').find((l) => l.startsWith('JSON '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited ${code}: ${out}`));
      resolve(JSON.parse(line.slice(5)) as T);
    });
  });
}
