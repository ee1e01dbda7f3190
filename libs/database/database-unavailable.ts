/**
 * Whether an error means Postgres could not be reached or would not serve, rather than that
 * the request was wrong: the API answers such a failure 503 with Retry-After (a load balancer
 * retries it elsewhere, a client knows to come back) instead of a 500.
 *
 * Recognised: socket errors of the connection (refused, reset, timed out, broken pipe, no
 * route), node-postgres' own messages for a connection that ended or could not be made in
 * time, and SQLSTATE class 08 (connection exception), 57P01-57P03 (shutting down, starting
 * up) and 53300 (too many connections). TypeORM wraps driver errors in `driverError`;
 * Node wraps the attempts of a dual-stack connect in an AggregateError: both are looked into.
 */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const PG_MESSAGES = [/^Connection terminated/, /^timeout exceeded when trying to connect/, /^Client has encountered a connection error/, /^Connection ended/];

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const e = error as { code?: unknown; message?: unknown; driverError?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (SOCKET_CODES.has(e.code) || SQLSTATES.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))) return true;
  if (typeof e.message === 'string' && PG_MESSAGES.some((pattern) => pattern.test(e.message as string))) return true;
  const inner = [e.driverError, e.cause, ...(Array.isArray(e.errors) ? e.errors : [])];
  return inner.some((x) => isDatabaseUnavailable(x, depth + 1));
}
