import { backendErrorCode } from '../errors/backend-error-code';

/**
 * Bounds a call to the queue backend (Redis or Postgres). Its failure, or no answer within
 * `ms`, becomes the caller's own error (a 503: nothing acknowledged), never a 500; on the
 * Postgres backend a database that went away fails the call at once (ECONNREFUSED). The
 * backend may still run a command that timed out: ids make the client's retry safe.
 */
export function boundedQueueCall<T>(
  promise: Promise<T>,
  ms: number,
  unavailable: { timedOut: () => Error; failed: (code: string) => Error },
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(unavailable.timedOut()), ms);
  });
  const failed = promise.catch((error: unknown) => {
    throw unavailable.failed(backendErrorCode(error));
  });
  return Promise.race([failed, timeout]).finally(() => clearTimeout(timer));
}
