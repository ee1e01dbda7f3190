import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../libs/config/config';
import { NODE_FLAGS } from '../../libs/config/node-flags';
import { migrate } from '../../libs/database/migrate';

/**
 * `npm start`: validates the settings, creates the database if needed, applies
 * pending migrations, then runs the API and one worker as child processes of this
 * one. SIGTERM/SIGINT are passed on so both shut down gracefully; if either child
 * dies, the other is stopped and the launcher exits with its code.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const applied = await migrate(config.database.url);
  if (applied.length) console.log(`Applied migrations: ${applied.join(', ')}`);
  const children: ChildProcess[] = ['api', 'worker'].map((name) =>
    spawn(process.execPath, [...NODE_FLAGS, join(__dirname, '..', name, 'main.js')], { stdio: 'inherit' }),
  );
  let signalled = false;
  const stop = () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      signalled = true;
      stop();
    });
  }
  const codes = await Promise.all(
    children.map(
      (child) =>
        new Promise<number>((resolve) =>
          child.on('exit', (code) => {
            stop();
            resolve(code ?? 1);
          }),
        ),
    ),
  );
  // Asked to stop: succeed if both stopped cleanly. A child that died on its own is a failure.
  process.exit(signalled && codes.every((c) => c === 0) ? 0 : Math.max(...codes, 1));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
