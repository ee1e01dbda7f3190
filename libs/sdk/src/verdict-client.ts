import { randomUUID } from 'node:crypto';
import { SnapshotIndex } from '../../assignment/core/assign';
import { checkOutcomeEvent, defaultWindow, describeIssues, unitIdIssue, type StorableIssue } from '../../storable/storable';
import { endpoint } from './backoff';
import { ConfigSync, DEFAULT_REFRESH } from './config-sync';
import { EventQueue } from './event-queue';
import { ExposureCache } from './exposure-cache';
import type {
  Assignment,
  ClientOptions,
  ClientStats,
  ConfigSnapshot,
  ExposureEvent,
  OutcomeEvent,
  OutcomeInput,
  ReadyResult,
} from './types';
import { errorCode, extractUsage } from './usage';
import { VerdictError, safeCall } from './verdict-error';

export interface RunOptions<R> {
  /** Extra outcome fields from the result (score, success, custom metrics...). */
  outcome?(result: R, assignment: Assignment): Partial<OutcomeInput>;
}

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * The Verdict client: evaluates assignments locally from the config snapshot (the same
 * `assign()` as the service), logs each exposure once, and batches exposures and
 * outcomes to the service. Create it with `createClient`.
 */
export class VerdictClient {
  private index: SnapshotIndex;
  private current: ConfigSnapshot | null;
  private source: ReadyResult['source'];
  private readonly sync: ConfigSync;
  private readonly exposures: EventQueue<ExposureEvent>;
  private readonly outcomes: EventQueue<OutcomeEvent>;
  private readonly seen: ExposureCache;
  private readonly listeners = new Set<(snapshot: ConfigSnapshot) => void>();
  private readonly readyPromise: Promise<ReadyResult>;
  private readonly exitHandler: (() => void) | null;
  private closed = false;

  constructor(private readonly options: ClientOptions) {
    if (!options.baseUrl || !options.apiKey) throw new TypeError('createClient: baseUrl and apiKey are required');
    const fetchFn = options.fetch ?? globalThis.fetch;
    const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.current = options.snapshot ?? null;
    this.index = new SnapshotIndex(this.current);
    this.source = this.current ? 'snapshot' : 'none';
    this.seen = new ExposureCache(options.exposureCacheSize ?? 50_000);
    const onError = (e: Error) => this.reportError(e);
    const transport = (path: string) => ({ fetch: fetchFn, url: endpoint(options.baseUrl, path), apiKey: options.apiKey, requestTimeoutMs });
    this.exposures = new EventQueue('exposures', transport('/v1/exposures'), options.batch, onError);
    this.outcomes = new EventQueue('events', transport('/v1/outcomes'), options.batch, onError);
    this.sync = new ConfigSync({
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      fetch: fetchFn,
      refresh: { ...DEFAULT_REFRESH, ...options.refresh },
      requestTimeoutMs,
      onSnapshot: (s) => this.apply(s),
      onError,
    });
    this.readyPromise = this.sync.fetchOnce(options.readyTimeoutMs ?? 5000).then(() => {
      this.sync.start();
      return { source: this.source, version: this.current?.version ?? null };
    });
    if (options.flushOnExit !== false) {
      let exiting = false;
      // beforeExit fires again after async work: flush only once, then let the process go.
      this.exitHandler = () => {
        if (exiting || this.closed) return;
        exiting = true;
        void this.close();
      };
      process.on('beforeExit', this.exitHandler);
    } else {
      this.exitHandler = null;
    }
  }

  /**
   * Resolves once the first snapshot request has finished, successfully or not (then the
   * client serves the snapshot passed in, or the unknown-experiment answer). Never rejects.
   */
  ready(): Promise<ReadyResult> {
    return this.readyPromise;
  }

  /**
   * Assigns a unit, synchronously and locally: exactly the service's answer for the
   * same snapshot. An experiment the snapshot does not hold (or no snapshot yet) gives
   * `variant: null`, `reason: 'unknown_experiment'`: serve your default (control) path.
   * The first time a unit counted in the experiment is assigned (per phase), the
   * `onAssignment` hook runs and an exposure is queued. `attributes` are accepted for
   * parity with POST /v1/assign and not used yet (no targeting rules in snapshots).
   */
  assign(experimentKey: string, unitId: string, _attributes?: Record<string, unknown>): Assignment {
    const a = this.index.assign(experimentKey, unitId);
    if (a.inExperiment && this.seen.firstSeen(a, unitId)) {
      // The service would refuse to store this unit id (NUL, lone surrogate, length): served, never queued.
      const issue = typeof unitId === 'string' ? unitIdIssue(unitId) : 'must be a string';
      if (issue) this.refuse(this.exposures, 'exposure', [{ field: 'unitId', message: issue }]);
      else this.expose(a, unitId);
    }
    return a;
  }

  /** Queues an outcome; returns its idempotency id (for feedback). */
  track(event: OutcomeInput): string {
    if (typeof event?.unitId !== 'string' || (event.experiment !== undefined && typeof event.experiment !== 'string')) {
      throw new TypeError('track: unitId is a required string, experiment an optional one');
    }
    const out: OutcomeEvent = { ...event, id: event.id ?? randomUUID(), timestamp: event.timestamp ?? new Date().toISOString() };
    // No experiment: baseline logging (the unit's pre-exposure data for CUPED), sent as is.
    if (out.variant === undefined && event.experiment !== undefined) {
      const a = this.index.assign(event.experiment, event.unitId);
      if (a.inExperiment && a.variant !== null) out.variant = a.variant;
    }
    // What the service could not store is refused here, through onError, rather than sent and rejected
    // (or, from an older service, lost): the same definition the service checks (libs/storable/storable.ts).
    const issues: StorableIssue[] = [];
    checkOutcomeEvent(out, defaultWindow(Date.now()), issues);
    if (issues.length > 0) this.refuse(this.outcomes, 'outcome', issues, out.id);
    else this.outcomes.push(out);
    return out.id;
  }

  /**
   * Assigns the unit, calls `fn(assignment)` (the model call), and tracks its outcome
   * when the unit is in the experiment: latency, success or error code (the error is
   * rethrown), and tokens and cost read from the result (see `extractUsage`).
   */
  async run<R>(experimentKey: string, unitId: string, fn: (assignment: Assignment) => R | Promise<R>, options?: RunOptions<R>): Promise<R> {
    const a = this.assign(experimentKey, unitId);
    const started = performance.now();
    const base = { experiment: experimentKey, unitId, ...(a.variant !== null ? { variant: a.variant } : {}) };
    let result: R;
    try {
      result = await fn(a);
    } catch (err) {
      if (a.inExperiment) this.track({ ...base, latencyMs: round3(performance.now() - started), success: false, error: errorCode(err) });
      throw err;
    }
    if (a.inExperiment) {
      const latencyMs = round3(performance.now() - started);
      let extra: Partial<OutcomeInput> = {};
      try {
        extra = options?.outcome?.(result, a) ?? {};
      } catch (cause) {
        this.reportError(new VerdictError('hook_failed', `run outcome callback threw: ${String(cause)}`, { cause }));
      }
      this.track({ ...base, latencyMs, success: true, ...extractUsage(result), ...extra });
    }
    return result;
  }

  /** Sends everything buffered; resolves true when both queues are empty. */
  async flush(): Promise<boolean> {
    const [a, b] = await Promise.all([this.exposures.flush(), this.outcomes.flush()]);
    return a && b;
  }

  /** Stops refreshing, flushes, and refuses later events. Assignments keep working from the last snapshot. */
  async close(): Promise<boolean> {
    if (this.closed) return true;
    this.closed = true;
    this.sync.stop();
    if (this.exitHandler) process.off('beforeExit', this.exitHandler);
    const [a, b] = await Promise.all([this.exposures.close(), this.outcomes.close()]);
    return a && b;
  }

  /** The snapshot being served, or null. */
  snapshot(): ConfigSnapshot | null {
    return this.current;
  }

  /** Calls `listener` with each new snapshot; returns an unsubscribe function. */
  onSnapshot(listener: (snapshot: ConfigSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): ClientStats {
    return {
      exposures: this.exposures.snapshotStats(),
      outcomes: this.outcomes.snapshotStats(),
      snapshotVersion: this.current?.version ?? null,
      streamConnected: this.sync.streamConnected,
    };
  }

  private apply(snapshot: ConfigSnapshot): void {
    if (this.current !== null && this.source === 'service' && this.current.version === snapshot.version) return;
    this.index = new SnapshotIndex(snapshot);
    this.current = snapshot;
    this.source = 'service';
    this.seen.retain(new Set(snapshot.experiments.map((e) => e.key)));
    for (const listener of this.listeners) safeCall(listener, snapshot, (e) => this.reportError(e));
  }

  private expose(a: Assignment, unitId: string): void {
    const event: ExposureEvent = Object.freeze({
      experiment: a.experiment,
      unitId,
      variant: a.variant!,
      phase: a.phase,
      timestamp: new Date().toISOString(),
    });
    this.exposures.push(event);
    safeCall(this.options.hooks?.onAssignment, event, (e) => this.reportError(e));
  }

  private refuse(queue: EventQueue<unknown>, what: 'outcome' | 'exposure', errors: StorableIssue[], id?: string): void {
    queue.countRejected();
    const text = `${what}${id !== undefined ? ` ${id}` : ''} not queued: ${describeIssues(errors)}`;
    this.reportError(new VerdictError('invalid_event', text, { errors }));
  }

  private reportError(error: Error): void {
    try {
      this.options.hooks?.onError?.(error);
    } catch {
      // An onError hook that throws has nowhere left to report to.
    }
  }
}

/** Creates a client and starts fetching its config; `await client.ready()` before relying on it. */
export function createClient(options: ClientOptions): VerdictClient {
  return new VerdictClient(options);
}
