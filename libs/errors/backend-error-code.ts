/** A short, secret-free name for a backend error (its code or class), for a 503's detail or a log line. */
export function backendErrorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code)) return code;
  return error instanceof Error ? error.name : 'unknown error';
}
