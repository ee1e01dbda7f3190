import { createHash } from 'node:crypto';
import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import type { CaptureSettings, ShadowSettings, Upstream } from '../experiments/experiment.types';
import { ExperimentsService, EXPERIMENTS_CHANGED } from '../experiments/experiments.service';
import { ChangeBus } from '../bus/change-bus';
import { SnapshotIndex } from './core/assign';
import type { ConfigSnapshot } from './core/snapshot';
import { toExperimentSnapshot } from './snapshot-mapper';

/** A project's snapshot, compiled for assignment, with its serialised form for SDKs. */
export interface ProjectSnapshot {
  snapshot: ConfigSnapshot;
  index: SnapshotIndex;
  json: string;
  etag: string;
  /** Experiment key -> id, for exposure records. */
  ids: Map<string, string>;
  /** Experiment key -> creation time (epoch ms): no exposure of it may be older (libs/storable/storable.ts). */
  created: Map<string, number>;
  /**
   * Experiment key -> variant key -> upstream, for the gateway (libs/gateway). Never part of
   * `snapshot` or `json`: SDKs do not receive upstreams.
   */
  upstreams: Map<string, Readonly<Record<string, Upstream>>>;
  /** Experiment key -> its shadow variant and sample rate, for the gateway (docs/adr/0031); absent when none. Not in `json` either. */
  shadows: Map<string, Readonly<ShadowSettings>>;
  /** Experiment key -> its prompt and answer capture settings, for the gateway (docs/adr/0039); absent when off. Not in `json` either. */
  captures: Map<string, Readonly<CaptureSettings>>;
  /** Changes whenever the etag or any upstream changes. */
  revision: string;
}

type Listener = (snapshot: ProjectSnapshot) => void;

/** Safety net: even if a pub/sub message is lost, every replica converges within this time. */
const FULL_REFRESH_MS = 30_000;

/**
 * In-memory config snapshots of every project, so that assignment never waits on
 * Postgres or Redis. Rebuilt for one project when any replica publishes a change.
 */
@Injectable()
export class SnapshotService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(SnapshotService.name);
  private readonly projects = new Map<string, ProjectSnapshot>();
  private readonly empty = new Map<string, ProjectSnapshot>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly experiments: ExperimentsService,
    private readonly bus: ChangeBus,
  ) {}

  async onModuleInit(): Promise<void> {
    this.experiments.onChange((projectId) => this.refresh(projectId));
    await this.bus.subscribe(EXPERIMENTS_CHANGED, (projectId) => {
      this.refresh(projectId).catch((error: unknown) => this.logger.error({ err: error, projectId }, 'snapshot refresh failed'));
    });
    await this.refreshAll();
    this.timer = setInterval(() => {
      this.refreshAll().catch((error: unknown) => this.logger.error({ err: error }, 'snapshot refresh failed'));
    }, FULL_REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The current snapshot of a project (an empty one when it serves nothing yet). */
  get(projectId: string): ProjectSnapshot {
    const found = this.projects.get(projectId);
    if (found) return found;
    let empty = this.empty.get(projectId);
    if (!empty) this.empty.set(projectId, (empty = this.build([])));
    return empty;
  }

  /** Every project's current snapshot (the gateway's health probes walk the pools in use). */
  all(): IterableIterator<[string, ProjectSnapshot]> {
    return this.projects.entries();
  }

  /** Calls `listener` with every new version of the project's snapshot; returns the unsubscribe. */
  watch(projectId: string, listener: Listener): () => void {
    let set = this.listeners.get(projectId);
    if (!set) this.listeners.set(projectId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(projectId) === set) this.listeners.delete(projectId);
    };
  }

  async refresh(projectId: string): Promise<void> {
    this.install(projectId, await this.experiments.listServed(projectId));
  }

  private async refreshAll(): Promise<void> {
    const served = await this.experiments.listServed();
    const byProject = new Map<string, ExperimentEntity[]>();
    for (const e of served) {
      const list = byProject.get(e.projectId) ?? [];
      list.push(e);
      byProject.set(e.projectId, list);
    }
    for (const projectId of new Set([...this.projects.keys(), ...byProject.keys()])) {
      this.install(projectId, byProject.get(projectId) ?? []);
    }
  }

  private install(projectId: string, experiments: ExperimentEntity[]): void {
    const next = this.build(experiments);
    const previous = this.projects.get(projectId);
    if (previous?.revision === next.revision) return;
    this.projects.set(projectId, next);
    // SDKs see the same snapshot when only an upstream changed: nothing to push.
    if (previous?.etag === next.etag) return;
    for (const listener of this.listeners.get(projectId) ?? []) listener(next);
  }

  private build(entities: ExperimentEntity[]): ProjectSnapshot {
    const experiments = entities.map(toExperimentSnapshot);
    // The version is a content hash: every replica computes the same ETag for the same config.
    const version = createHash('sha256').update(JSON.stringify(experiments)).digest('base64url').slice(0, 22);
    const snapshot: ConfigSnapshot = { version, generatedAt: new Date().toISOString(), experiments };
    const upstreams = new Map(entities.map((e) => [e.key, e.upstreams ?? {}]));
    const shadows = new Map(entities.filter((e) => e.shadow).map((e) => [e.key, e.shadow!]));
    const captures = new Map(entities.filter((e) => e.capture).map((e) => [e.key, e.capture!]));
    const gatewayOnly = shadows.size || captures.size ? [[...upstreams], [...shadows], [...captures]] : [...upstreams];
    const revision = `${version}:${createHash('sha256').update(JSON.stringify(gatewayOnly)).digest('base64url').slice(0, 22)}`;
    return {
      upstreams,
      shadows,
      captures,
      revision,
      snapshot,
      index: new SnapshotIndex(snapshot), json: JSON.stringify(snapshot),
      etag: `"${version}"`,
      ids: new Map(entities.map((e) => [e.key, e.id])),
      created: new Map(entities.map((e) => [e.key, e.createdAt.getTime()])),
    };
  }
}
