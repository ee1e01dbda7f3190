import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ResultsService } from '../analysis/results.service';
import type { ExperimentResults } from '../analysis/results.types';
import type { Actor } from '../audit/audit.service';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { ExperimentsService } from '../experiments/experiments.service';
import { decideTrafficActions, type ArmEvidence, type TrafficAction } from './traffic-policy';

/** The service acting on its own: audited under this name, with the numbers that triggered it. */
export const MONITOR_ACTOR: Actor = { keyId: null, name: 'traffic monitor' };

const RATE_METRICS = new Set(['success_rate', 'error_rate']);

export interface MonitorRun {
  evaluated: number;
  actions: Array<{ experiment: string; action: TrafficAction['kind']; variant?: string }>;
}

/**
 * One pass over every running experiment: guardrail rollbacks, ramp steps and bandit
 * reallocations, decided by `decideTrafficActions` from the always-valid results.
 */
@Injectable()
export class TrafficMonitorService {
  private readonly logger = new Logger(TrafficMonitorService.name);

  constructor(
    private readonly experiments: ExperimentsService,
    private readonly results: ResultsService,
  ) {}

  async runOnce(now = new Date()): Promise<MonitorRun> {
    const running = await this.experiments.listRunning();
    const run: MonitorRun = { evaluated: 0, actions: [] };
    for (const experiment of running) {
      try {
        const actions = await this.evaluate(experiment, now);
        run.evaluated += 1;
        for (const action of actions) {
          await this.apply(experiment, action);
          run.actions.push({ experiment: experiment.key, action: action.kind, ...(action.kind === 'rollback' ? { variant: action.variant } : {}) });
        }
      } catch (error) {
        // One broken experiment must not stop the monitor for the others.
        this.logger.error({ err: error, experiment: experiment.key }, 'traffic monitor failed for an experiment');
      }
    }
    if (run.actions.length) this.logger.log(run, 'traffic monitor acted');
    return run;
  }

  private async evaluate(experiment: ExperimentEntity, now: Date): Promise<TrafficAction[]> {
    const current = await this.results.results(experiment.projectId, experiment.key);
    const primary = experiment.metrics.primary;
    const custom = experiment.metrics.custom.find((c) => c.name === primary.name);
    return decideTrafficActions({
      variants: experiment.variants,
      ramp: experiment.ramp,
      bandit: experiment.bandit,
      guardrails: current.guardrails,
      srm: current.srm,
      phaseUnits: Object.values(current.srm.counts).reduce((sum, n) => sum + n, 0),
      primary: {
        name: primary.name,
        rate: RATE_METRICS.has(primary.name),
        lowerIsBetter: primary.goal === 'decrease' || custom?.lowerIsBetter === true,
      },
      arms: experiment.bandit ? await this.pooledArms(experiment, current) : [],
      now,
      seed: seedOf(`${experiment.id}:${experiment.phase}`),
    });
  }

  /**
   * The bandit's evidence per arm, pooled over every phase: an arm's outcomes do not
   * depend on how much traffic it got, so phases add up for the posterior.
   */
  private async pooledArms(experiment: ExperimentEntity, current: ExperimentResults): Promise<ArmEvidence[]> {
    const metric = experiment.metrics.primary.name;
    const phases: ExperimentResults[] = [];
    for (let phase = 1; phase < experiment.phase; phase++) {
      phases.push(await this.results.results(experiment.projectId, experiment.key, phase));
    }
    phases.push(current);
    return experiment.variants.map((variant) => {
      let units = 0;
      let sum = 0;
      let varianceSum = 0;
      for (const results of phases) {
        const estimate = results.variants.find((v) => v.key === variant.key)?.metrics[metric];
        if (!estimate || estimate.mean === null || estimate.n === 0) continue;
        units += estimate.n;
        sum += estimate.mean * estimate.n;
        // Standard error from the interval's half-width (normal approximation).
        const se = estimate.ci ? (estimate.ci[1] - estimate.ci[0]) / (2 * 1.96) : 0;
        varianceSum += (se * estimate.n) ** 2;
      }
      const phaseUnits = current.variants.find((v) => v.key === variant.key)?.metrics[metric]?.n ?? 0;
      return {
        variant: variant.key,
        units,
        phaseUnits,
        mean: units > 0 ? sum / units : null,
        se: units > 0 ? Math.sqrt(varianceSum) / units : null,
      };
    });
  }

  private async apply(experiment: ExperimentEntity, action: TrafficAction): Promise<void> {
    const { projectId, key } = experiment;
    if (action.kind === 'rollback') {
      await this.experiments.rollbackVariant(projectId, MONITOR_ACTOR, key, action.variant, action.evidence);
    } else if (action.kind === 'advance_ramp') {
      await this.experiments.advanceRamp(projectId, MONITOR_ACTOR, key, action.evidence);
    } else {
      await this.experiments.reallocate(projectId, MONITOR_ACTOR, key, action.weights, action.evidence);
    }
  }
}

/** A reproducible seed per experiment and phase (mt19937 wants 1..2^32-1). */
function seedOf(text: string): number {
  return (createHash('sha256').update(text).digest().readUInt32BE(0) % 0xfffffffe) + 1;
}
