import type { UpstreamHealth, UpstreamInstance } from '../experiments/experiment.types';

/** What is known of one instance on this replica (passive health: only real calls feed it). */
interface InstanceState {
  baseUrl: string;
  inFlight: number;
  /** Finish times and whether each failed, within the health window (bounded: at most MAX_RECENT). */
  recent: Array<{ at: number; failed: boolean }>;
  /** Exponentially weighted latency of successful answers (ms), null before the first. */
  latencyMs: number | null;
  /** The latest successful latencies (ms), a ring of at most MAX_LATENCIES, for p50/p95. */
  latencies: number[];
  latencyNext: number;
  /** Cooled down until this time (ms since epoch); 0 when healthy. */
  cooledUntil: number;
  /** How many cool-downs in a row (each one twice as long as the last). */
  coolDowns: number;
  /** Cool-downs of this instance since this replica started (GET /metrics, the results page). */
  coolDownsTotal: number;
  /** After a cool-down, one trial call is let through; the others wait for its verdict. */
  trialInFlight: boolean;
  lastUsed: number;
  /** Peak-EWMA cost (ms) of the instance's time to first byte (docs/adr/0037), null before the first observation. */
  cost: number | null;
  /** When `cost` was last updated (ms since epoch). */
  costAt: number;
  /**
   * Peak-EWMA mode: the calls started here that have not yet had their first byte (or their
   * end), oldest first; entries are marked done and dropped from the front. The oldest one's
   * age is a lower bound of the instance's cost (docs/adr/0037, "Waiting calls").
   */
  waiting: Array<{ at: number; done: boolean }>;
}

/** One instance's state as `GET /v1/gateway/upstreams` shows it. */
export interface InstanceView {
  experiment: string;
  variant: string;
  baseUrl: string;
  inFlight: number;
  latencyMs: number | null;
  /** Median and 95th percentile of the latest successful calls (ms), null before the first. */
  latencyP50Ms: number | null;
  latencyP95Ms: number | null;
  errorRate: number | null;
  calls: number;
  cooledUntil: string | null;
  coolDowns: number;
  /** Cool-downs since this replica started. */
  coolDownsTotal: number;
}

/** A call started on an instance: finish it once with its verdict. */
export interface Lease {
  instance: UpstreamInstance;
  /**
   * `ok` false for a connect error, a timeout or a 5xx (not for a 4xx, nor a client that went away).
   * `firstByteMs`: the time to the first token of a stream, when known; the peak-EWMA cost
   * observes it rather than the total latency (docs/adr/0037).
   */
  finish(ok: boolean | null, latencyMs: number | null, firstByteMs?: number | null): void;
  /**
   * The first token of a stream arrived after `firstByteMs`: in peak-EWMA mode the cost learns
   * it at once, not at the stream's end, and the call stops counting as waiting (idempotent).
   */
  firstByte(firstByteMs: number): void;
}

/** How `acquire` picks among the usable instances (docs/adr/0030, 0037). */
export interface AcquireOptions {
  sticky: boolean;
  panic: boolean;
  exclude?: ReadonlySet<string>;
  /** Peak-EWMA balance (docs/adr/0037) with this decay time (ms); absent: the fewest in flight per weight. */
  peakEwma?: { tauMs: number };
}

const MAX_RECENT = 256;
const MAX_LATENCIES = 128;
const MAX_STATES = 10_000;
const LATENCY_ALPHA = 0.2;
/** A failed call is observed as this many times the instance's (or the pool's) cost, at least the failed call's own latency (docs/adr/0037). */
const FAILURE_PENALTY_FACTOR = 5;
/** The cost floor (ms): decayed costs never reach 0, so the calls in flight keep counting. */
const MIN_COST_MS = 1;

/** An instance's peak-EWMA cost at `now`: its last value decayed toward 0 with time constant tau (Finagle's read). */
export function decayedCost(cost: number, costAt: number, now: number, tauMs: number): number {
  return cost * Math.exp(-Math.max(0, now - costAt) / tauMs);
}

/** One observation: a peak is taken at once, a lower time is blended in with weight 1 - exp(-dt/tau). */
export function observeCost(cost: number | null, costAt: number, now: number, tauMs: number, rttMs: number): number {
  if (cost === null || rttMs > cost) return rttMs;
  const w = Math.exp(-Math.max(0, now - costAt) / tauMs);
  return cost * w + rttMs * (1 - w);
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = values.slice().sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function stickyHash(unitId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < unitId.length; i++) {
    hash ^= unitId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) / 0x100000000;
}

/** A stable pick among weighted instances for a unit (FNV-1a of the unit id): a unit keeps its instance while it is usable. */
export function stickyPick(instances: readonly UpstreamInstance[], unitId: string): UpstreamInstance {
  if (instances.length === 1) return instances[0];
  const total = instances.reduce((sum, x) => sum + x.weight, 0);
  let point = stickyHash(unitId) * total;
  for (const instance of instances) {
    point -= instance.weight;
    if (point < 0) return instance;
  }
  return instances[instances.length - 1];
}

/**
 * The instances of every variant upstream, as this replica sees them (docs/adr/0030): how
 * many calls each has in flight, its recent latency and failures, and whether it is cooled
 * down. Picks the instance with the fewest calls in flight per unit of weight (ties at
 * random), or, in sticky mode, the unit's own instance among the usable ones. State is keyed
 * by experiment, variant and base URL, so a pool edited by a PATCH keeps the state of the
 * instances it keeps, and calls in flight finish on the instance they started on.
 */
export class InstancePools {
  private readonly states = new Map<string, InstanceState>();
  /** Cool-downs begun on this replica since start (GET /metrics). */
  coolDownsTotal = 0;

  constructor(
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
    /** Told of every call's end that says something of the instance's health (metrics: the latency histogram). */
    private readonly observer?: (pool: string, baseUrl: string, ok: boolean, latencyMs: number | null) => void,
  ) {}

  /**
   * Starts a call on an instance of the pool, or returns null when none is usable (every one
   * cooled down, or excluded because it already failed this call). With `panic`, a pool
   * whose every instance is cooled down is used anyway (the client then gets the upstream's
   * own answer, error or not, rather than a refusal of the gateway).
   */
  acquire(
    pool: string,
    instances: readonly UpstreamInstance[],
    health: UpstreamHealth,
    unitId: string,
    options: AcquireOptions,
  ): Lease | null {
    const now = this.now();
    const exclude = options.exclude ?? new Set<string>();
    let usable: Array<{ instance: UpstreamInstance; state: InstanceState; trial: boolean }> = [];
    const cooled: typeof usable = [];
    for (const instance of instances) {
      if (exclude.has(instance.baseUrl)) continue;
      const state = this.state(pool, instance.baseUrl, now);
      const trial = state.cooledUntil > 0 && state.cooledUntil <= now;
      if (state.cooledUntil > now || (trial && state.trialInFlight)) cooled.push({ instance, state, trial: false });
      else usable.push({ instance, state, trial });
    }
    if (usable.length === 0 && options.panic) usable = cooled;
    if (usable.length === 0) return null;
    const sticky = options.sticky;
    let chosen = usable[0];
    if (sticky) {
      const instance = stickyPick(
        usable.map((u) => u.instance),
        unitId,
      );
      chosen = usable.find((u) => u.instance === instance) ?? usable[0];
    } else if (usable.length > 1) {
      const costs = options.peakEwma ? this.costs(usable, now, options.peakEwma.tauMs) : null;
      let best = Infinity;
      let ties = 0;
      for (let i = 0; i < usable.length; i++) {
        const candidate = usable[i];
        const load = ((candidate.state.inFlight + 1) / candidate.instance.weight) * (costs ? costs[i] : 1);
        if (load < best) {
          best = load;
          chosen = candidate;
          ties = 1;
        } else if (load === best) {
          // Reservoir choice among equals: each tie is kept with the same chance.
          ties++;
          if (this.random() * ties < 1) chosen = candidate;
        }
      }
    }
    const { state, trial } = chosen;
    state.inFlight++;
    state.lastUsed = now;
    if (trial) state.trialInFlight = true;
    let waiting: { at: number; done: boolean } | null = null;
    if (options.peakEwma) {
      waiting = { at: now, done: false };
      // Bounded: entries behind a long-waiting call are dropped once they outnumber the calls in flight.
      if (state.waiting.length > 2 * state.inFlight + 16) state.waiting = state.waiting.filter((w) => !w.done);
      state.waiting.push(waiting);
    }
    let done = false;
    let firstByteSeen = false;
    return {
      instance: chosen.instance,
      firstByte: (firstByteMs) => {
        if (done || firstByteSeen || !waiting || !options.peakEwma) return;
        firstByteSeen = true;
        waiting.done = true;
        // A trial that answers ends a cool-down: the failures' penalty is forgotten with them.
        if (trial) state.cost = null;
        this.observe(pool, instances, state, options.peakEwma.tauMs, true, firstByteMs);
      },
      finish: (ok, latencyMs, firstByteMs) => {
        if (done) return;
        done = true;
        if (waiting) waiting.done = true;
        state.inFlight--;
        if (trial) state.trialInFlight = false;
        if (ok === null) return;
        // A success whose first token was already observed has nothing new for the cost.
        if (options.peakEwma && !(ok && firstByteSeen)) {
          if (trial && ok) state.cost = null;
          this.observe(pool, instances, state, options.peakEwma.tauMs, ok, firstByteMs ?? latencyMs);
        }
        this.settle(state, health, ok, latencyMs, trial);
        this.observer?.(pool, state.baseUrl, ok, latencyMs);
      },
    };
  }

  /**
   * Every instance state of a project's experiments (`GET /v1/gateway/upstreams`), or of all
   * projects. `quantiles: false` skips p50/p95 (a sort per instance; GET /metrics needs none).
   */
  view(projectId: string | null, options: { quantiles: boolean } = { quantiles: true }): Array<InstanceView & { projectId: string }> {
    const now = this.now();
    const out: Array<InstanceView & { projectId: string }> = [];
    const prefix = projectId === null ? '' : `${projectId}\u0000`;
    for (const [key, state] of this.states) {
      if (!key.startsWith(prefix)) continue;
      const [project, experiment, variant] = key.split('\u0000');
      const calls = state.recent.length;
      const [p50, p95] = options.quantiles ? quantiles(state.latencies, [0.5, 0.95]) : [null, null];
      out.push({
        projectId: project,
        experiment,
        variant,
        baseUrl: state.baseUrl,
        inFlight: state.inFlight,
        latencyMs: state.latencyMs === null ? null : Math.round(state.latencyMs * 10) / 10,
        latencyP50Ms: p50,
        latencyP95Ms: p95,
        errorRate: calls === 0 ? null : state.recent.filter((r) => r.failed).length / calls,
        calls,
        cooledUntil: state.cooledUntil > now ? new Date(state.cooledUntil).toISOString() : null,
        coolDowns: state.coolDowns,
        coolDownsTotal: state.coolDownsTotal,
      });
    }
    return out.sort((a, b) => a.experiment.localeCompare(b.experiment) || a.variant.localeCompare(b.variant) || a.baseUrl.localeCompare(b.baseUrl));
  }

  /**
   * An active probe's verdict (docs/adr/0034): a failure counts as a failed call (and, when the
   * instance waits for its trial call, as a failed trial); a success ends a cool-down at once.
   */
  probed(pool: string, baseUrl: string, health: UpstreamHealth, ok: boolean): void {
    const now = this.now();
    const state = this.state(pool, baseUrl, now);
    if (ok) {
      if (state.cooledUntil > 0) {
        state.cooledUntil = 0;
        state.coolDowns = 0;
        state.recent = [];
        // Back: its peak-EWMA penalty goes too (it counts as not yet observed).
        state.cost = null;
      }
      return;
    }
    this.settle(state, health, false, null, state.cooledUntil > 0 && state.cooledUntil <= now && !state.trialInFlight);
  }

  /**
   * The peak-EWMA costs (ms) of the usable instances at `now`: decayed toward 0 since their last
   * observation; an instance not yet observed (or waiting for its trial) gets the lowest of the others (1 ms when none is): a
   * new instance ties with the best one, so it gets traffic at once (the median would starve it
   * under sequential calls, the most recently observed instance always being above it), yet it is
   * not flooded before its first answer as with a cost of 0.
   */
  private costs(usable: ReadonlyArray<{ state: InstanceState; trial: boolean }>, now: number, tauMs: number): number[] {
    // An instance waiting for its trial after a cool-down counts as not yet observed: its failures' penalty must not hold the trial off.
    const known = usable.map((u) => (u.state.cost === null || u.trial ? null : Math.max(MIN_COST_MS, decayedCost(u.state.cost, u.state.costAt, now, tauMs))));
    let lowest = Infinity;
    for (const c of known) if (c !== null && c < lowest) lowest = c;
    const unknown = lowest === Infinity ? MIN_COST_MS : lowest;
    return known.map((c, i) => Math.max(c ?? unknown, this.oldestWaitMs(usable[i].state, now)));
  }

  /**
   * How long the oldest call still waiting for its first byte on this instance has waited
   * (0 when none): an instance that turned slow shows it at once, not only when its first slow
   * answer ends (by then a stream of calls has gone there).
   */
  private oldestWaitMs(state: InstanceState, now: number): number {
    const waiting = state.waiting;
    let head = 0;
    while (head < waiting.length && waiting[head].done) head++;
    if (head > 0) waiting.splice(0, head);
    return waiting.length === 0 ? 0 : now - waiting[0].at;
  }

  /** Feeds one finished call to its instance's peak-EWMA cost; a failure is observed as a penalty. */
  private observe(pool: string, instances: readonly UpstreamInstance[], state: InstanceState, tauMs: number, ok: boolean, rttMs: number | null): void {
    const now = this.now();
    let rtt = rttMs;
    if (!ok) {
      const own = state.cost === null ? null : decayedCost(state.cost, state.costAt, now, tauMs);
      const others: number[] = [];
      for (const instance of instances) {
        const other = this.states.get(`${pool}\u0000${instance.baseUrl}`);
        if (other && other !== state && other.cost !== null) others.push(decayedCost(other.cost, other.costAt, now, tauMs));
      }
      const reference = Math.max(own ?? 0, median(others) ?? 0, MIN_COST_MS);
      rtt = Math.max(rttMs ?? 0, FAILURE_PENALTY_FACTOR * reference);
    }
    if (rtt === null || !Number.isFinite(rtt) || rtt < 0) return;
    state.cost = observeCost(state.cost, state.costAt, now, tauMs, rtt);
    state.costAt = now;
  }

  /** The pool key of a variant's upstream. */
  static poolOf(projectId: string, experiment: string, variant: string): string {
    return `${projectId}\u0000${experiment}\u0000${variant}`;
  }

  private settle(state: InstanceState, health: UpstreamHealth, ok: boolean, latencyMs: number | null, trial: boolean): void {
    const now = this.now();
    state.recent.push({ at: now, failed: !ok });
    while (state.recent.length > MAX_RECENT || (state.recent.length > 0 && state.recent[0].at < now - health.windowMs)) state.recent.shift();
    if (ok) {
      if (latencyMs !== null) {
        state.latencyMs = state.latencyMs === null ? latencyMs : state.latencyMs + LATENCY_ALPHA * (latencyMs - state.latencyMs);
        state.latencies[state.latencyNext] = latencyMs;
        state.latencyNext = (state.latencyNext + 1) % MAX_LATENCIES;
      }
      if (trial) {
        // The trial answered: the instance is back, its failures forgotten.
        state.cooledUntil = 0;
        state.coolDowns = 0;
        state.recent = [];
      }
      return;
    }
    // Calls that started before the cool-down and fail now say nothing new: no second cool-down.
    if (state.cooledUntil > now) return;
    const failures = state.recent.reduce((n, r) => n + (r.failed ? 1 : 0), 0);
    if (trial || failures >= health.failures) {
      const period = Math.min(health.coolDownMs * 2 ** state.coolDowns, health.maxCoolDownMs);
      state.coolDowns++;
      state.coolDownsTotal++;
      this.coolDownsTotal++;
      state.cooledUntil = now + period;
      state.recent = [];
    }
  }

  private state(pool: string, baseUrl: string, now: number): InstanceState {
    const key = `${pool}\u0000${baseUrl}`;
    let state = this.states.get(key);
    if (!state) {
      if (this.states.size >= MAX_STATES) this.forgetIdle(now);
      state = { baseUrl, inFlight: 0, recent: [], latencyMs: null, latencies: [], latencyNext: 0, cooledUntil: 0, coolDowns: 0, coolDownsTotal: 0, trialInFlight: false, lastUsed: now, cost: null, costAt: now, waiting: [] };
      this.states.set(key, state);
    }
    return state;
  }

  /** Bounded memory: states of instances idle for an hour (removed from their pool, or of a finished experiment) are forgotten. */
  private forgetIdle(now: number): void {
    for (const [key, state] of this.states) {
      if (state.inFlight === 0 && state.lastUsed < now - 3_600_000 && state.cooledUntil < now) this.states.delete(key);
    }
  }
}

/** The q-quantiles (nearest rank) of some latencies, rounded to 0.1 ms, from one sort; nulls when there are none. */
function quantiles(values: readonly number[], qs: readonly number[]): Array<number | null> {
  if (values.length === 0) return qs.map(() => null);
  const sorted = Float64Array.from(values).sort();
  return qs.map((q) => Math.round(sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] * 10) / 10);
}
