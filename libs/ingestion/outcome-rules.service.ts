import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { DEFAULT_SCORE_RANGE } from '../experiments/experiment-definition';
import type { Pricing } from '../experiments/experiment.types';
import { ExperimentsService, EXPERIMENTS_CHANGED } from '../experiments/experiments.service';
import { ChangeBus } from '../bus/change-bus';
import type { ExperimentOutcomeRules } from './outcome-rules';

const FULL_REFRESH_MS = 30_000;

type ProjectRules = Map<string, ExperimentOutcomeRules>;

function toRules(e: ExperimentEntity): ExperimentOutcomeRules {
  const pricing = new Map<string, Pricing>();
  for (const v of e.variants) if (v.pricing) pricing.set(v.key, v.pricing);
  return {
    experimentId: e.id,
    createdAt: e.createdAt.getTime(),
    scoreRange: e.metrics.scoreRange ?? DEFAULT_SCORE_RANGE,
    customMetrics: new Set((e.metrics.custom ?? []).map((c) => c.name)),
    pricing,
    shadowVariant: e.shadow?.variant ?? null,
  };
}

/**
 * Per project, what outcome validation needs beyond the assignment snapshot (score
 * range, custom metrics, prices), in memory and refreshed like the snapshots: on every
 * change notification and every 30 s. A project is loaded on first use, and reloaded
 * when the snapshot names an experiment whose rules are missing here, so a request
 * never reads stale rules for a new experiment.
 */
@Injectable()
export class OutcomeRulesService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(OutcomeRulesService.name);
  private readonly projects = new Map<string, ProjectRules>();
  private readonly loading = new Map<string, Promise<ProjectRules>>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly experiments: ExperimentsService,
    private readonly bus: ChangeBus,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.bus.subscribe(EXPERIMENTS_CHANGED, (projectId) => {
      this.load(projectId).catch((error: unknown) => this.logger.error({ err: error, projectId }, 'outcome rules refresh failed'));
    });
    this.timer = setInterval(() => {
      for (const projectId of this.projects.keys()) {
        this.load(projectId).catch((error: unknown) => this.logger.error({ err: error, projectId }, 'outcome rules refresh failed'));
      }
    }, FULL_REFRESH_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The project's rules, covering at least the given experiment keys when they exist. */
  async get(projectId: string, experimentKeys: Iterable<string>): Promise<ProjectRules> {
    const cached = this.projects.get(projectId);
    if (cached) {
      let complete = true;
      for (const key of experimentKeys) if (!cached.has(key)) complete = false;
      if (complete) return cached;
    }
    return this.load(projectId);
  }

  private load(projectId: string): Promise<ProjectRules> {
    let pending = this.loading.get(projectId);
    if (!pending) {
      pending = this.experiments
        .listServed(projectId)
        .then((list) => {
          const rules: ProjectRules = new Map(list.map((e) => [e.key, toRules(e)]));
          this.projects.set(projectId, rules);
          return rules;
        })
        .finally(() => this.loading.delete(projectId));
      this.loading.set(projectId, pending);
    }
    return pending;
  }
}
