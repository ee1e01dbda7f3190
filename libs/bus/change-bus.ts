export type ChangeHandler = (message: string) => void;

/**
 * Change notifications between processes (docs/adr/0023): experiment changes (so every API
 * replica and config stream refreshes its snapshot) and key revocations. Fire and forget: a
 * notification missed while a connection was down is made good by each subscriber's periodic
 * full refresh. Channels are namespaced by the configured prefix so test runs never cross.
 * Runs on Redis pub/sub or on Postgres LISTEN/NOTIFY, whichever the queue backend is.
 */
export abstract class ChangeBus {
  abstract readonly backend: 'redis' | 'postgres';
  abstract publish(name: string, message: string): Promise<void>;
  abstract subscribe(name: string, handler: ChangeHandler): Promise<void>;
  /** Resolves when the bus's server answers; for readiness checks. */
  abstract ping(): Promise<void>;
}

/**
 * A window per key shared by every replica: the first `acquire` in `ttlMs` gets it (0),
 * the others learn how many ms are left. For "one per project every 10 s" rules.
 */
export abstract class SharedThrottle {
  abstract acquire(key: string, ttlMs: number): Promise<number>;
}
