export type VerdictErrorCode =
  | 'config_failed'
  | 'stream_failed'
  | 'send_failed'
  | 'rejected'
  | 'invalid_event'
  | 'buffer_full'
  | 'hook_failed'
  | 'closed';

/** Every error the SDK reports through `onError`. */
export class VerdictError extends Error {
  override readonly name = 'VerdictError';

  constructor(
    readonly code: VerdictErrorCode,
    message: string,
    readonly details: { status?: number; cause?: unknown; [key: string]: unknown } = {},
  ) {
    super(message);
  }
}

/** Calls a hook and reports, never throws: application hooks must not break the SDK's caller. */
export function safeCall<A>(fn: ((arg: A) => void) | undefined, arg: A, onError: (e: Error) => void): void {
  if (fn === undefined) return;
  try {
    fn(arg);
  } catch (cause) {
    onError(new VerdictError('hook_failed', `hook threw: ${cause instanceof Error ? cause.message : String(cause)}`, { cause }));
  }
}
