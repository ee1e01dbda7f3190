import { Worker } from 'node:worker_threads';

/**
 * Runs JavaScript `source` in a worker thread and resolves with the first message it posts,
 * or rejects when it has not posted one within the deadline. For guards against catastrophic
 * regex backtracking: a quadratic scan blocks the thread it runs on, so only a worker can be
 * stopped at a deadline and reported as a failure instead of hanging the test run.
 * `source` runs as CommonJS with `parentPort` and `workerData` in scope.
 */
export async function runInWorker<T>(source: string, workerData: unknown, deadlineMs = 20_000): Promise<T> {
  const worker = new Worker(`const { parentPort, workerData } = require('node:worker_threads');\n${source}`, { eval: true, workerData });
  const deadline = setTimeout(() => void worker.terminate(), deadlineMs);
  try {
    return await new Promise<T>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', () => reject(new Error(`the worker did not finish within ${deadlineMs} ms`)));
    });
  } finally {
    clearTimeout(deadline);
    await worker.terminate();
  }
}

/**
 * Source for runInWorker that loads a self-contained TypeScript module (no imports), calls
 * `workerData.exportName(workerData.input)` and posts the result.
 */
export const CALL_EXPORT_OF_MODULE = `
const ts = require('typescript');
const { readFileSync } = require('node:fs');
const { outputText } = ts.transpileModule(readFileSync(workerData.modulePath, 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } });
const mod = { exports: {} };
new Function('module', 'exports', 'require', outputText)(mod, mod.exports, require);
parentPort.postMessage(mod.exports[workerData.exportName](workerData.input));
`;
