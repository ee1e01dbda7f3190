import type { INestApplicationContext } from '@nestjs/common';
import { createWorkerApp } from '../../apps/worker/create-worker-app';
import type { VerdictConfig } from '../../libs/config/config';
import { createLogger } from '../../libs/logging/logger';

/** The real worker, in-process, on the same database and Redis prefix as a test app. */
export async function startTestWorker(config: VerdictConfig): Promise<INestApplicationContext> {
  return createWorkerApp(config, createLogger(config.logLevel, 'worker-test'));
}

/** Polls `check` until it returns true or the time runs out. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
