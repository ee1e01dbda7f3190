import { createHash } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ResultsService } from '../analysis/results.service';
import type { ExperimentResults } from '../analysis/results.types';
import type { Actor } from '../audit/audit.service';
import type { ExperimentEntity } from '../experiments/experiment.entity';
import { ExperimentsService } from '../experiments/experiments.service';
import { decideTrafficActions, pooledArms, primaryOf, type TrafficAction } from './traffic-policy';

/** The service acting on its own: audited under this name, with the numbers that triggered it. */
export const MONITOR_ACTOR: Actor = { keyId: null, name: 'traffic monitor' };

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
    const earlier: ExperimentResults[] = [];
    if (experiment.bandit) {
      for (let phase = 1; phase < experiment.phase; phase++) earlier.push(await this.results.results(experiment.projectId, experiment.key, phase));
    }
    return decideTrafficActions({
      variants: experiment.variants,
      ramp: experiment.ramp,
      bandit: experiment.bandit,
      guardrails: current.guardrails,
      srm: current.srm,
      phaseUnits: Object.values(current.srm.counts).reduce((sum, n) => sum + n, 0),
      primary: primaryOf(experiment.metrics),
      arms: experiment.bandit ? pooledArms(experiment.variants, experiment.metrics.primary.name, [...earlier, current]) : [],
      now,
      seed: seedOf(`${experiment.id}:${experiment.phase}`),
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
