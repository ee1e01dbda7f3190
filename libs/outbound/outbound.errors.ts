/**
 * How an outbound request ended when it did not end with an answer:
 * - refused: the policy forbade it (scheme, credentials, an internal address); nothing was sent;
 * - timed_out: no complete answer within the request's time bound (connect, headers or body);
 * - failed: anything else (DNS, connection, TLS, a response over the size cap).
 */
export type OutboundFailure = 'refused' | 'timed_out' | 'failed';

/** The message never contains the URL's path or query (they may hold secrets): only hosts and addresses. */
export class OutboundError extends Error {
  override readonly name = 'OutboundError';

  constructor(
    readonly kind: OutboundFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
