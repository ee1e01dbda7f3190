import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, type EntityManager, In, IsNull, Not, Repository } from 'typeorm';
import { AuditService, type Actor } from '../audit/audit.service';
import { ValidationFailedError, type FieldError } from '../errors/domain-error';
import { ChangeBus } from '../bus/change-bus';
import { credentialEnvIssue, VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { OutboundClient } from '../outbound/outbound-client';
import { checkUpstream, upstreamUrls } from './upstream-definition';
import type { UnitType } from '../assignment/core/snapshot';
import {
  checkForced,
  checkMetrics,
  checkShadow,
  checkCapture,
  checkVariants,
  DEFAULT_CUPED,
  DEFAULT_STATS,
  effectiveWeights,
  type MetricsInput,
  type VariantInput,
} from './experiment-definition';
import { ExperimentPhaseEntity } from './experiment-phase.entity';
import { ExperimentEntity } from './experiment.entity';
import type { BanditSettings, ExperimentStatus, LayerSpec, RampPlan, CupedSettings, ShadowSettings, CaptureSettings, StatsSettings, Upstream, Variant } from './experiment.types';
import {
  ExperimentExistsError,
  ExperimentLockedError,
  ExperimentNotFoundError,
  InvalidTransitionError,
  LayerOverlapError,
} from './experiments.errors';

export const EXPERIMENTS_CHANGED = 'experiments:changed';

export interface CreateExperimentInput {
  key: string;
  name: string;
  hypothesis?: string | null;
  unitType: UnitType;
  trafficAllocation?: number;
  variants: VariantInput[];
  metrics: MetricsInput;
  stats?: Partial<Omit<StatsSettings, 'cuped'>> & { cuped?: Partial<CupedSettings> };
  layer?: LayerSpec | null;
  forced?: Record<string, string>;
  ramp?: RampPlan | null;
  bandit?: Pick<BanditSettings, 'floor' | 'minUnitsPerArm' | 'everyMinutes'> | null;
  /** A shadow variant for the gateway (docs/adr/0031). */
  shadow?: ShadowSettings | null;
  /** Prompt and answer capture by the gateway (docs/adr/0039); absent or null: off. */
  capture?: CaptureSettings | null;
}

export interface UpdateExperimentInput {
  name?: string;
  hypothesis?: string | null;
  unitType?: UnitType;
  trafficAllocation?: number;
  variants?: VariantInput[];
  metrics?: MetricsInput;
  stats?: Partial<Omit<StatsSettings, 'cuped'>> & { cuped?: Partial<CupedSettings> };
  layer?: LayerSpec | null;
  forced?: Record<string, string>;
  /** Adds, changes (absent keeps) or, with null, removes the shadow variant (docs/adr/0031). */
  shadow?: ShadowSettings | null;
  /** Turns capture on or changes it; null turns it off (stored captures stay until their retention or DELETE .../captures). */
  capture?: CaptureSettings | null;
}

export type Transition = 'start' | 'pause' | 'resume' | 'stop';

/** Which states each transition leaves from, and where it goes. */
const TRANSITIONS: Record<Transition, { from: ExperimentStatus[]; to: ExperimentStatus }> = {
  start: { from: ['draft'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  stop: { from: ['running', 'paused'], to: 'stopped' },
};
const CONCLUDABLE: ExperimentStatus[] = ['running', 'paused', 'stopped'];
/** Fields fixed once the experiment has started: they define the analysis. */
const FIXED_AFTER_START = ['unitType', 'metrics', 'stats', 'layer'] as const;

export interface ListQuery {
  status?: ExperimentStatus;
  limit: number;
  offset: number;
}

@Injectable()
export class ExperimentsService {
  private readonly listeners: Array<(projectId: string) => Promise<void>> = [];

  constructor(
    @InjectRepository(ExperimentEntity) private readonly experiments: Repository<ExperimentEntity>,
    @InjectRepository(ExperimentPhaseEntity) private readonly phases: Repository<ExperimentPhaseEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly bus: ChangeBus,
    private readonly outbound: OutboundClient,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  /**
   * The upstreams of the variants (docs/gateway.md): each checked and given its defaults, its
   * URLs checked by the outbound guard now (every call checks again). A variant whose input
   * omits `upstream` keeps the one it had; `null` removes it.
   */
  private async checkUpstreams(inputs: VariantInput[], existing: Record<string, Upstream>): Promise<{ upstreams: Record<string, Upstream>; errors: FieldError[] }> {
    const errors: FieldError[] = [];
    const upstreams: Record<string, Upstream> = {};
    const envIssue = (name: string) => credentialEnvIssue(name, this.config.gateway.credentialEnvs);
    for (const [i, v] of inputs.entries()) {
      if (v.upstream === null) continue;
      if (v.upstream === undefined) {
        if (existing[v.key]) upstreams[v.key] = existing[v.key];
        continue;
      }
      const field = `variants.${i}.upstream`;
      const upstream = checkUpstream(v.upstream, field, errors, envIssue);
      if (!upstream) continue;
      let reachable = true;
      for (const [j, url] of upstreamUrls(upstream).entries()) {
        const checked = await this.outbound.check(url);
        if (!checked.ok) {
          reachable = false;
          errors.push({ field: v.upstream.instances ? `${field}.instances.${j}.baseUrl` : `${field}.baseUrl`, message: checked.reason });
        }
      }
      if (reachable) upstreams[v.key] = upstream;
    }
    return { upstreams, errors };
  }

  async create(projectId: string, actor: Actor, input: CreateExperimentInput): Promise<ExperimentEntity> {
    const shadow = input.shadow ?? null;
    const { variants, errors: variantErrors } = checkVariants(input.variants, undefined, shadow?.variant ?? null);
    const { metrics, errors: metricErrors } = checkMetrics(input.metrics);
    const { upstreams, errors: upstreamErrors } = await this.checkUpstreams(input.variants, {});
    const forced = input.forced ?? {};
    const errors = [
      ...variantErrors,
      ...upstreamErrors,
      ...(shadow ? checkShadow(shadow, variants, upstreams, { ramp: !!input.ramp, bandit: !!input.bandit }) : []),
      ...(input.capture ? checkCapture(input.capture) : []),
      ...metricErrors,
      ...checkForced(forced, variants),
      ...checkTrafficPlan(variants, input.ramp ?? null, input.bandit ?? null),
    ];
    if (errors.length) throw new ValidationFailedError(errors);
    const saved = await this.dataSource.transaction(async (manager) => {
      const exists = await manager.exists(ExperimentEntity, { where: { projectId, key: input.key } });
      if (exists) throw new ExperimentExistsError(input.key);
      if (input.layer) await this.assertLayerFree(manager, projectId, input.layer, null);
      const experiment = manager.create(ExperimentEntity, {
        projectId,
        key: input.key,
        name: input.name,
        hypothesis: input.hypothesis ?? null,
        unitType: input.unitType,
        status: 'draft',
        salt: `${input.key}:${randomBytes(8).toString('hex')}`,
        trafficAllocation: input.trafficAllocation ?? 1,
        variants,
        upstreams,
        shadow: shadow ? { variant: shadow.variant, sampleRate: shadow.sampleRate } : null,
        capture: input.capture ? captureOf(input.capture) : null,
        metrics,
        stats: { ...DEFAULT_STATS, ...input.stats, cuped: { ...DEFAULT_CUPED, ...input.stats?.cuped } },
        layer: input.layer ?? null,
        forced,
        winner: null,
        ramp: input.ramp ? { ...input.ramp, step: 0, held: false, stepStartedAt: new Date(0).toISOString() } : null,
        bandit: input.bandit ? { ...input.bandit, lastReallocatedAt: null } : null,
        phase: 0,
        revision: 1,
        startedAt: null,
        endedAt: null,
      });
      const row = await manager.save(ExperimentEntity, experiment).catch((error: { code?: string }) => {
        if (error.code === '23505') throw new ExperimentExistsError(input.key);
        throw error;
      });
      await this.audit.record(
        { projectId, actor, action: 'experiment.created', targetType: 'experiment', targetId: row.id, after: describe(row) },
        manager,
      );
      return row;
    });
    await this.notify(projectId);
    return saved;
  }

  async list(projectId: string, query: ListQuery): Promise<{ items: ExperimentEntity[]; total: number }> {
    const [items, total] = await this.experiments.findAndCount({
      where: { projectId, ...(query.status ? { status: query.status } : {}) },
      order: { createdAt: 'DESC', id: 'ASC' },
      take: query.limit,
      skip: query.offset,
    });
    return { items, total };
  }

  async get(projectId: string, key: string): Promise<ExperimentEntity> {
    const experiment = await this.experiments.findOne({ where: { projectId, key } });
    if (!experiment) throw new ExperimentNotFoundError(key);
    return experiment;
  }

  async listPhases(projectId: string, key: string): Promise<ExperimentPhaseEntity[]> {
    const experiment = await this.get(projectId, key);
    return this.phasesOf(experiment.id);
  }

  /**
   * By id, for other contexts that hold an id they got from this one (an alert row, an
   * aggregate): they read experiments through this service, never by SQL on its tables.
   */
  async getById(id: string): Promise<ExperimentEntity> {
    const experiment = await this.experiments.findOne({ where: { id } });
    if (!experiment) throw new ExperimentNotFoundError(id);
    return experiment;
  }

  /** The allocation phases of an experiment, in order (SRM is checked per phase against its weights). */
  async phasesOf(experimentId: string): Promise<ExperimentPhaseEntity[]> {
    return this.phases.find({ where: { experimentId }, order: { phase: 'ASC' } });
  }

  async auditLog(projectId: string, key: string, limit: number, offset: number) {
    const experiment = await this.get(projectId, key);
    return this.audit.list(projectId, 'experiment', experiment.id, limit, offset);
  }

  /** Experiments that SDKs and /v1/assign serve: everything but drafts. */
  async listServed(projectId?: string): Promise<ExperimentEntity[]> {
    return this.experiments.find({
      where: { status: Not('draft'), ...(projectId ? { projectId } : {}) },
      order: { key: 'ASC' },
    });
  }

  async update(projectId: string, actor: Actor, key: string, patch: UpdateExperimentInput): Promise<ExperimentEntity> {
    const updated = await this.change(projectId, key, actor, 'experiment.updated', async (experiment, manager) => {
      const started = experiment.status !== 'draft';
      const ended = experiment.status === 'stopped' || experiment.status === 'concluded';
      const errors: FieldError[] = [];
      if (started) {
        const locked = FIXED_AFTER_START.filter((field) => patch[field] !== undefined);
        if (locked.length) {
          throw new ExperimentLockedError(
            `${locked.join(', ')} cannot change once the experiment has started: they define its analysis.`,
            locked.map((field) => ({ field, message: 'is fixed once the experiment has started' })),
          );
        }
      }
      if (ended && (patch.variants || patch.trafficAllocation !== undefined || patch.forced)) {
        throw new ExperimentLockedError(`A ${experiment.status} experiment serves no more traffic to reallocate.`);
      }
      let reallocated = false;
      if (patch.variants) {
        if (started) {
          const before = experiment.variants.map((v) => v.key).sort().join(',');
          const after = patch.variants.map((v) => v.key).sort().join(',');
          if (before !== after) {
            throw new ExperimentLockedError('Variant keys cannot change once the experiment has started.', [
              { field: 'variants', message: `must keep exactly the keys ${before}` },
            ]);
          }
          const control = experiment.variants.find((v) => v.isControl)?.key;
          const newControl = patch.variants.find((v) => v.isControl)?.key;
          if (newControl !== undefined && newControl !== control) {
            throw new ExperimentLockedError('The control cannot change once the experiment has started.');
          }
          // Keep the control flag as it was when a running patch omits it.
          patch.variants = patch.variants.map((v) => ({ ...v, isControl: v.key === control }));
        }
        const shadowKey = patch.shadow === undefined ? (experiment.shadow?.variant ?? null) : (patch.shadow?.variant ?? null);
        const { variants, errors: variantErrors } = checkVariants(patch.variants, experiment.variants, shadowKey);
        errors.push(...variantErrors);
        reallocated ||= JSON.stringify(effectiveWeights(variants)) !== JSON.stringify(effectiveWeights(experiment.variants));
        experiment.variants = variants;
        const { upstreams, errors: upstreamErrors } = await this.checkUpstreams(patch.variants, experiment.upstreams ?? {});
        errors.push(...upstreamErrors);
        experiment.upstreams = upstreams;
      }
      if (patch.shadow !== undefined || patch.variants) {
        const shadow = patch.shadow === undefined ? experiment.shadow : patch.shadow;
        if (shadow) errors.push(...checkShadow(shadow, experiment.variants, experiment.upstreams ?? {}, { ramp: !!experiment.ramp, bandit: !!experiment.bandit }));
        // A variant of weight 0 is a shadow or nothing: removing the shadow gives it a weight in the same PATCH.
        experiment.variants.forEach((v, i) => {
          if (v.weight === 0 && !v.rolledBack && v.key !== shadow?.variant && !errors.some((e) => e.field.startsWith('variants'))) {
            errors.push({ field: patch.variants ? `variants.${i}.weight` : 'shadow', message: `"${v.key}" has weight 0, allowed only for the shadow variant: give it a weight in the same PATCH` });
          }
        });
        experiment.shadow = shadow ? { variant: shadow.variant, sampleRate: shadow.sampleRate } : null;
      }
      if (patch.capture !== undefined) {
        if (patch.capture) errors.push(...checkCapture(patch.capture));
        experiment.capture = patch.capture ? captureOf(patch.capture) : null;
      }
      if (patch.metrics) {
        const { metrics, errors: metricErrors } = checkMetrics(patch.metrics);
        errors.push(...metricErrors);
        experiment.metrics = metrics;
      }
      if (patch.forced) experiment.forced = patch.forced;
      errors.push(...checkForced(experiment.forced, experiment.variants));
      if (errors.length) throw new ValidationFailedError(errors);
      if (patch.trafficAllocation !== undefined && patch.trafficAllocation !== experiment.trafficAllocation) {
        reallocated = true;
        experiment.trafficAllocation = patch.trafficAllocation;
      }
      if (patch.layer !== undefined) {
        if (patch.layer) await this.assertLayerFree(manager, projectId, patch.layer, experiment.id);
        experiment.layer = patch.layer;
      }
      if (patch.name !== undefined) experiment.name = patch.name;
      if (patch.hypothesis !== undefined) experiment.hypothesis = patch.hypothesis;
      if (patch.unitType !== undefined) experiment.unitType = patch.unitType;
      if (patch.stats) experiment.stats = { ...experiment.stats, ...patch.stats, cuped: { ...DEFAULT_CUPED, ...experiment.stats.cuped, ...patch.stats.cuped } };
      if (started && reallocated) await this.startPhase(manager, experiment, 'reallocation');
    });
    return updated;
  }

  async transition(projectId: string, actor: Actor, key: string, transition: Transition): Promise<ExperimentEntity> {
    const rule = TRANSITIONS[transition];
    return this.change(projectId, key, actor, `experiment.${transition}`, async (experiment, manager) => {
      if (!rule.from.includes(experiment.status)) {
        throw new InvalidTransitionError(
          `Cannot ${transition} an experiment that is ${experiment.status}; ${transition} applies to ${rule.from.join(' or ')} experiments.`,
        );
      }
      experiment.status = rule.to;
      if (transition === 'start') {
        experiment.startedAt = new Date();
        if (experiment.ramp) {
          experiment.variants = withTreatmentWeight(experiment.variants, experiment.ramp.steps[0]);
          experiment.ramp = { ...experiment.ramp, step: 0, stepStartedAt: experiment.startedAt.toISOString() };
        }
        await this.startPhase(manager, experiment, 'start');
      }
      if (transition === 'stop') await this.endExperiment(manager, experiment);
    });
  }

  async conclude(projectId: string, actor: Actor, key: string, winner: string): Promise<ExperimentEntity> {
    return this.change(projectId, key, actor, 'experiment.concluded', async (experiment, manager) => {
      if (!CONCLUDABLE.includes(experiment.status)) {
        throw new InvalidTransitionError(
          `Cannot conclude an experiment that is ${experiment.status}; conclude applies to ${CONCLUDABLE.join(', ')} experiments.`,
        );
      }
      if (!experiment.variants.some((v) => v.key === winner)) {
        throw new ValidationFailedError([{ field: 'winner', message: `"${winner}" is not a variant of this experiment` }]);
      }
      experiment.status = 'concluded';
      experiment.winner = winner;
      await this.endExperiment(manager, experiment);
    });
  }

  /**
   * Rolls a variant back: its units are served the control from now on (a new phase),
   * no other unit moves. A ramp is held. `evidence` is audited with the change.
   */
  async rollbackVariant(projectId: string, actor: Actor, key: string, variant: string, evidence?: object): Promise<ExperimentEntity> {
    return this.change(
      projectId,
      key,
      actor,
      'experiment.variant_rolled_back',
      async (experiment, manager) => {
        assertServing(experiment, 'roll back a variant of');
        const target = experiment.variants.find((v) => v.key === variant);
        if (!target) throw new ValidationFailedError([{ field: 'variant', message: `"${variant}" is not a variant of this experiment` }]);
        if (target.isControl) throw new ValidationFailedError([{ field: 'variant', message: 'the control cannot be rolled back' }]);
        if (target.rolledBack) throw new InvalidTransitionError(`Variant "${variant}" is already rolled back.`);
        experiment.variants = experiment.variants.map((v) => (v.key === variant ? { ...v, rolledBack: true } : v));
        if (experiment.ramp) experiment.ramp = { ...experiment.ramp, held: true };
        await this.startPhase(manager, experiment, `rollback of ${variant}`);
      },
      evidence,
    );
  }

  /** Moves a ramp to its next step (a new phase), by a person or by the monitor. */
  async advanceRamp(projectId: string, actor: Actor, key: string, evidence?: object): Promise<ExperimentEntity> {
    return this.change(
      projectId,
      key,
      actor,
      'experiment.ramp_advanced',
      async (experiment, manager) => {
        assertServing(experiment, 'advance the ramp of');
        const ramp = experiment.ramp;
        if (!ramp) throw new InvalidTransitionError('This experiment has no ramp plan.');
        if (experiment.variants.some((v) => v.rolledBack)) throw new InvalidTransitionError('The treatment is rolled back.');
        if (ramp.step >= ramp.steps.length - 1) throw new InvalidTransitionError('The ramp is already at its last step.');
        const step = ramp.step + 1;
        experiment.variants = withTreatmentWeight(experiment.variants, ramp.steps[step]);
        experiment.ramp = { ...ramp, step, stepStartedAt: new Date().toISOString() };
        await this.startPhase(manager, experiment, `ramp step ${step + 1} of ${ramp.steps.length}`);
      },
      evidence,
    );
  }

  /** Holds a ramp where it is (the monitor stops advancing it), or releases the hold. */
  async holdRamp(projectId: string, actor: Actor, key: string, held: boolean): Promise<ExperimentEntity> {
    return this.change(projectId, key, actor, held ? 'experiment.ramp_held' : 'experiment.ramp_released', async (experiment) => {
      if (!experiment.ramp) throw new InvalidTransitionError('This experiment has no ramp plan.');
      experiment.ramp = { ...experiment.ramp, held };
    });
  }

  /** Bandit reallocation: new weights (a new phase), with the posterior that chose them as evidence. */
  async reallocate(projectId: string, actor: Actor, key: string, weights: Record<string, number>, evidence: object): Promise<ExperimentEntity> {
    return this.change(
      projectId,
      key,
      actor,
      'experiment.reallocated',
      async (experiment, manager) => {
        assertServing(experiment, 'reallocate');
        if (!experiment.bandit) throw new InvalidTransitionError('This experiment does not use bandit allocation.');
        experiment.variants = experiment.variants.map((v) => ({ ...v, weight: weights[v.key] ?? 0 }));
        experiment.bandit = { ...experiment.bandit, lastReallocatedAt: new Date().toISOString() };
        await this.startPhase(manager, experiment, 'bandit reallocation');
      },
      evidence,
    );
  }

  /** Running experiments of every project: what the traffic monitor evaluates. */
  async listRunning(): Promise<ExperimentEntity[]> {
    return this.experiments.find({ where: { status: 'running' }, order: { createdAt: 'ASC' } });
  }

  /** Loads the experiment under a row lock, applies `apply`, saves, audits before/after and notifies replicas. */
  private async change(
    projectId: string,
    key: string,
    actor: Actor,
    action: string,
    apply: (experiment: ExperimentEntity, manager: EntityManager) => Promise<void>,
    evidence?: object,
  ): Promise<ExperimentEntity> {
    const saved = await this.dataSource.transaction(async (manager) => {
      const experiment = await manager.findOne(ExperimentEntity, {
        where: { projectId, key },
        lock: { mode: 'pessimistic_write' },
      });
      if (!experiment) throw new ExperimentNotFoundError(key);
      const before = describe(experiment);
      await apply(experiment, manager);
      experiment.revision += 1;
      const row = await manager.save(ExperimentEntity, experiment);
      await this.audit.record(
        {
          projectId,
          actor,
          action,
          targetType: 'experiment',
          targetId: row.id,
          before,
          after: evidence ? { ...describe(row), evidence } : describe(row),
        },
        manager,
      );
      return row;
    });
    await this.notify(projectId);
    return saved;
  }

  private async startPhase(manager: EntityManager, experiment: ExperimentEntity, reason: string): Promise<void> {
    const now = new Date();
    if (experiment.phase > 0) {
      await manager.update(ExperimentPhaseEntity, { experimentId: experiment.id, phase: experiment.phase }, { endedAt: now });
    }
    experiment.phase += 1;
    await manager.insert(ExperimentPhaseEntity, {
      experimentId: experiment.id,
      phase: experiment.phase,
      startedAt: now,
      endedAt: null,
      trafficAllocation: experiment.trafficAllocation,
      weights: effectiveWeights(experiment.variants),
      reason,
    });
  }

  private async endExperiment(manager: EntityManager, experiment: ExperimentEntity): Promise<void> {
    const now = new Date();
    experiment.endedAt ??= now;
    if (experiment.phase > 0) {
      await manager.update(
        ExperimentPhaseEntity,
        { experimentId: experiment.id, phase: experiment.phase, endedAt: IsNull() },
        { endedAt: now },
      );
    }
  }

  private async assertLayerFree(manager: EntityManager, projectId: string, layer: LayerSpec, selfId: string | null) {
    const others = await manager.find(ExperimentEntity, {
      where: { projectId, status: In(['draft', 'running', 'paused']) },
    });
    for (const other of others) {
      if (other.id === selfId || !other.layer || other.layer.key !== layer.key) continue;
      if (layer.start < other.layer.end && other.layer.start < layer.end) {
        throw new LayerOverlapError(
          `Layer "${layer.key}" [${layer.start}, ${layer.end}) overlaps experiment "${other.key}" [${other.layer.start}, ${other.layer.end}).`,
          [{ field: 'layer', message: `overlaps experiment "${other.key}" in the same layer` }],
        );
      }
    }
  }

  /**
   * Runs `listener` after every change, on this replica, before the change is answered:
   * the replica that made a change serves it at once (read your writes); the others
   * hear of it through Redis pub/sub within milliseconds.
   */
  onChange(listener: (projectId: string) => Promise<void>): void {
    this.listeners.push(listener);
  }

  private async notify(projectId: string): Promise<void> {
    await Promise.all(this.listeners.map((listener) => listener(projectId)));
    await this.bus.publish(EXPERIMENTS_CHANGED, projectId);
  }
}

function assertServing(experiment: ExperimentEntity, what: string): void {
  if (experiment.status !== 'running' && experiment.status !== 'paused') {
    throw new InvalidTransitionError(`Cannot ${what} an experiment that is ${experiment.status}.`);
  }
}

/** Two-variant layout with the treatment at `weight` and the control at the rest. */
export function withTreatmentWeight(variants: Variant[], weight: number): Variant[] {
  return variants.map((v) => ({ ...v, weight: v.isControl ? 1 - weight : weight }));
}

/** Ramps need exactly one treatment and increasing steps; ramps and bandits exclude each other. */
export function checkTrafficPlan(
  variants: Variant[],
  ramp: RampPlan | null,
  bandit: Pick<BanditSettings, 'floor'> | null,
): FieldError[] {
  const errors: FieldError[] = [];
  if (ramp && bandit) errors.push({ field: 'ramp', message: 'cannot be combined with bandit allocation' });
  if (ramp) {
    if (variants.length !== 2) errors.push({ field: 'ramp', message: 'needs exactly two variants (control and treatment)' });
    ramp.steps.forEach((step, i) => {
      if (!(step > 0 && step <= 1)) errors.push({ field: `ramp.steps.${i}`, message: 'must be in (0, 1]' });
      if (i > 0 && !(step > ramp.steps[i - 1])) errors.push({ field: `ramp.steps.${i}`, message: 'must be larger than the step before' });
    });
  }
  if (bandit && bandit.floor * variants.length > 1) {
    errors.push({ field: 'bandit.floor', message: `times ${variants.length} arms must not exceed 1` });
  }
  return errors;
}

/** Only the known fields of capture settings are kept. */
function captureOf(c: CaptureSettings): CaptureSettings {
  return { sampleRate: c.sampleRate, maxChars: c.maxChars, retentionDays: c.retentionDays };
}

/** What the audit log keeps of an experiment. */
function describe(e: ExperimentEntity) {
  return {
    key: e.key,
    name: e.name,
    hypothesis: e.hypothesis,
    status: e.status,
    unitType: e.unitType,
    trafficAllocation: e.trafficAllocation,
    variants: e.variants,
    upstreams: e.upstreams,
    shadow: e.shadow,
    capture: e.capture,
    metrics: e.metrics,
    stats: e.stats,
    layer: e.layer,
    forced: e.forced,
    winner: e.winner,
    ramp: e.ramp,
    bandit: e.bandit,
    phase: e.phase,
  };
}
