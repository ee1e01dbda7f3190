import { Logger } from '@nestjs/common';
import type { ProjectSnapshot } from '../assignment/snapshot.service';
import type { ExperimentSnapshot } from '../assignment/core/snapshot';
import { DEFAULT_UPSTREAM_HEALTH, type Upstream, type UpstreamInstance, type UpstreamProbe } from '../experiments/experiment.types';
import type { OutboundClient } from '../outbound/outbound-client';
import { InstancePools } from './instance-pool';

/** How often the prober looks for due probes and for pools that changed (probe intervals are at least 1 s). */
const TICK_MS = 250;
/** Probes in flight on this replica at most (one per instance in any case). */
const MAX_PROBES_IN_FLIGHT = 64;
/** A probe's answer is read up to this size (a model list); larger fails the probe. */
const MAX_PROBE_BYTES = 1024 * 1024;

interface Target {
  pool: string;
  instance: UpstreamInstance;
  upstream: Upstream;
  probe: UpstreamProbe;
  /** Identity of the settings, to notice a PATCH that changed them. */
  signature: string;
  nextAt: number;
  inFlight: AbortController | null;
}

export interface ProberDeps {
  pools: InstancePools;
  /** Every project's current snapshot. */
  snapshots: () => Iterable<[string, ProjectSnapshot]>;
  outbound: OutboundClient;
  credential: (envName: string) => string | undefined;
  /** Told of each probe's verdict (metrics). */
  onResult?: (ok: boolean) => void;
  now?: () => number;
}

/**
 * Active health probes (docs/adr/0034), off unless a variant's upstream sets `health.probe`:
 * a GET of `baseUrl + path` per instance every `intervalMs`, through the gateway's outbound
 * client (so under the same outbound guard as calls). A probe that fails (connect error,
 * timeout, 5xx) counts as a failed call; one that answers (any status below 500) ends a
 * cool-down early. Only pools in use are probed: every variant of a running experiment, the
 * control of a paused or stopped one, the winner of a concluded one; a pool that leaves use or
 * whose settings change has its probe aborted. Bounded: one probe per instance, at most
 * MAX_PROBES_IN_FLIGHT, one unref'd timer, all stopped by `stop()`.
 */
export class HealthProber {
  private readonly logger = new Logger(HealthProber.name);
  private readonly targets = new Map<string, Target>();
  private timer: NodeJS.Timeout | null = null;
  private revisions = '';
  private inFlight = 0;
  private readonly now: () => number;

  constructor(private readonly deps: ProberDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const target of this.targets.values()) target.inFlight?.abort();
    this.targets.clear();
    this.revisions = '';
  }

  /** Instances probed now (tests, metrics). */
  get size(): number {
    return this.targets.size;
  }

  tick(): void {
    this.refreshTargets();
    const now = this.now();
    for (const target of this.targets.values()) {
      if (this.inFlight >= MAX_PROBES_IN_FLIGHT) break;
      if (target.inFlight || target.nextAt > now) continue;
      target.nextAt = now + target.probe.intervalMs;
      void this.probe(target);
    }
  }

  /** Rebuilds the targets when any project's snapshot changed (experiments started, PATCHed, concluded). */
  private refreshTargets(): void {
    const snapshots = [...this.deps.snapshots()];
    const revisions = snapshots.map(([projectId, s]) => `${projectId}:${s.revision}`).join(',');
    if (revisions === this.revisions) return;
    this.revisions = revisions;
    const wanted = new Map<string, Omit<Target, 'nextAt' | 'inFlight'>>();
    for (const [projectId, snapshot] of snapshots) {
      for (const experiment of snapshot.snapshot.experiments) {
        const upstreams = snapshot.upstreams.get(experiment.key);
        if (!upstreams) continue;
        for (const variant of variantsInUse(experiment)) {
          const upstream = upstreams[variant];
          const probe = upstream?.health?.probe;
          if (!probe) continue;
          const pool = InstancePools.poolOf(projectId, experiment.key, variant);
          for (const instance of upstream.instances) {
            const signature = JSON.stringify([probe, instance, upstream.apiKeyEnv, upstream.headers, upstream.health]);
            wanted.set(`${pool}\u0000${instance.baseUrl}`, { pool, instance, upstream, probe, signature });
          }
        }
      }
    }
    for (const [key, target] of this.targets) {
      const next = wanted.get(key);
      if (!next || next.signature !== target.signature) {
        target.inFlight?.abort();
        this.targets.delete(key);
      }
    }
    const now = this.now();
    for (const [key, next] of wanted) {
      // A new instance is probed at once, then at its interval.
      if (!this.targets.has(key)) this.targets.set(key, { ...next, nextAt: now, inFlight: null });
    }
  }

  private async probe(target: Target): Promise<void> {
    const abort = new AbortController();
    target.inFlight = abort;
    this.inFlight++;
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity', ...target.upstream.headers };
    const envName = target.instance.apiKeyEnv ?? target.upstream.apiKeyEnv;
    const credential = envName ? this.deps.credential(envName) : undefined;
    if (credential) headers.authorization = `Bearer ${credential}`;
    let ok: boolean;
    try {
      const answer = await this.deps.outbound.request({
        method: 'GET',
        url: target.instance.baseUrl + target.probe.path,
        headers,
        timeoutMs: target.probe.timeoutMs,
        maxResponseBytes: MAX_PROBE_BYTES,
        signal: abort.signal,
      });
      ok = answer.status < 500;
    } catch (error) {
      ok = false;
      if (!abort.signal.aborted) this.logger.debug({ instance: target.instance.baseUrl, err: error }, 'health probe failed');
    } finally {
      this.inFlight--;
      if (target.inFlight === abort) target.inFlight = null;
    }
    // A probe aborted because its pool left use (or on shutdown) says nothing.
    if (abort.signal.aborted || this.targets.get(`${target.pool}\u0000${target.instance.baseUrl}`) !== target) return;
    this.deps.pools.probed(target.pool, target.instance.baseUrl, target.upstream.health ?? DEFAULT_UPSTREAM_HEALTH, ok);
    this.deps.onResult?.(ok);
  }
}

/** The variants whose pools take traffic now: every one of a running experiment, the control when paused or stopped, the winner when concluded. */
function variantsInUse(experiment: ExperimentSnapshot): string[] {
  const control = experiment.variants.find((v) => v.isControl)?.key;
  switch (experiment.state) {
    case 'running':
      return experiment.variants.map((v) => v.key);
    case 'concluded':
      return [experiment.winner ?? control].filter((v): v is string => v !== undefined);
    default:
      return control ? [control] : [];
  }
}
