import type { Assignment, ConfigSnapshot } from '../../assignment/core/snapshot';

export type { Assignment, ConfigSnapshot };

/** One exposure: the unit was served a variant while in the experiment. Sent to POST /v1/exposures. */
export interface ExposureEvent {
  experiment: string;
  unitId: string;
  variant: string;
  phase: number;
  /** ISO 8601. */
  timestamp: string;
}

/** An outcome as the application reports it: `id` and `timestamp` are filled in when absent. */
export interface OutcomeInput {
  /** Idempotency id; generated (crypto.randomUUID) when absent, reused on every retry. */
  id?: string;
  /** Absent: baseline logging, kept only as the unit's pre-exposure data for CUPED (no variant then). */
  experiment?: string;
  unitId: string;
  variant?: string;
  timestamp?: string;
  latencyMs?: number;
  ttftMs?: number;
  inputTokens?: number;
  outputTokens?: number;
  costUsd?: number;
  success?: boolean;
  score?: number;
  error?: string;
  metrics?: Record<string, number>;
}

/** An outcome as sent to POST /v1/outcomes. */
export interface OutcomeEvent extends OutcomeInput {
  id: string;
  timestamp: string;
}

export interface VerdictHooks {
  /** Called once per unit, experiment and phase, when a unit counted in an experiment is first assigned. */
  onAssignment?(event: ExposureEvent): void;
  /** Background failures (config, stream, sends, full buffer, hooks). Never thrown to the caller. */
  onError?(error: Error): void;
}

export interface RefreshOptions {
  /** 'stream' (server-sent events, ETag polling while the stream is down), 'poll', or 'none'. Default 'stream'. */
  mode?: 'stream' | 'poll' | 'none';
  /** ETag polling interval. Default 30 000 ms. */
  pollIntervalMs?: number;
  /** First stream reconnect delay, doubled per failure (with jitter). Default 1000 ms. */
  reconnectBaseMs?: number;
  /** Longest stream reconnect delay. Default 30 000 ms. */
  reconnectMaxMs?: number;
}

export interface BatchOptions {
  /** Events per request. Default 100. */
  maxBatchSize?: number;
  /** Longest wait before a partial batch is sent. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Events held in memory per queue; when full, the oldest are dropped. Default 10 000. */
  maxBufferSize?: number;
  /** Attempts per batch before it is put back for later. Default 6. */
  maxAttempts?: number;
  /** First retry delay, doubled per attempt, with full jitter. Default 200 ms. */
  retryBaseMs?: number;
  /** Longest retry delay (also caps Retry-After). Default 30 000 ms. */
  retryMaxMs?: number;
}

export interface ClientOptions {
  /** The service, e.g. http://localhost:3000 (routes are under /v1). */
  baseUrl: string;
  /** An API key with the `sdk` scope. */
  apiKey: string;
  hooks?: VerdictHooks;
  refresh?: RefreshOptions;
  batch?: BatchOptions;
  /** Served until (or instead of, when offline) the service's snapshot. */
  snapshot?: ConfigSnapshot;
  /** How long ready() waits for the first snapshot. Default 5000 ms. */
  readyTimeoutMs?: number;
  /** Timeout of each HTTP request. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Units remembered per experiment to log each exposure once. Default 50 000. */
  exposureCacheSize?: number;
  /** Flush when the process is about to exit (beforeExit). Default true. */
  flushOnExit?: boolean;
  /** Replaces the global fetch (tests, proxies). */
  fetch?: typeof fetch;
}

export interface ReadyResult {
  /** Where the snapshot being served came from. */
  source: 'service' | 'snapshot' | 'none';
  version: string | null;
}

export interface ClientStats {
  exposures: QueueStats;
  outcomes: QueueStats;
  snapshotVersion: string | null;
  streamConnected: boolean;
}

export interface QueueStats {
  buffered: number;
  sent: number;
  dropped: number;
  rejected: number;
}
