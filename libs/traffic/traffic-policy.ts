import { thompsonAllocation, type BanditArm } from '../stats/thompson';
import type { BanditSettings, MetricsSpec, RampState, Variant } from '../experiments/experiment.types';
import type { ExperimentResults, GuardrailResult, SrmSummary } from '../analysis/results.types';
import { MetricCatalog, lowerIsBetterForGoal } from '../metrics/metric-registry';

/** One arm's data on the primary metric, pooled over all phases (what the bandit posterior needs). */
export interface ArmEvidence {
  variant: string;
  units: number;
  /** Units in the current phase only: the bandit waits for each arm to have enough here. */
  phaseUnits: number;
  mean: number | null;
  /** Standard error of the mean (Gaussian rewards). */
  se: number | null;
}

export interface TrafficInput {
  variants: Variant[];
  ramp: RampState | null;
  bandit: BanditSettings | null;
  guardrails: GuardrailResult[];
  srm: SrmSummary;
  /** Exposed units in the current phase. */
  phaseUnits: number;
  primary: { name: string; rate: boolean; lowerIsBetter: boolean };
  arms: ArmEvidence[];
  now: Date;
  seed: number;
}

/**
 * The bandit's view of the primary metric, from the registry: a rate (Beta-Bernoulli) or not
 * (Gaussian), and which way is better for the goal. The same rule as the results' decision:
 * a non-inferior goal on cost or latency rewards the cheaper or faster arm.
 */
export function primaryOf(metrics: Pick<MetricsSpec, 'primary' | 'custom'>): TrafficInput['primary'] {
  const { name, goal } = metrics.primary;
  const definition = new MetricCatalog(metrics.custom ?? []).get(name);
  return { name, rate: definition?.kind === 'proportion', lowerIsBetter: lowerIsBetterForGoal(goal, definition) };
}

/**
 * The bandit's evidence per arm, pooled over phases (the last is the current one): an arm's
 * outcomes do not depend on how much traffic it got, so phases add up for the posterior.
 * Mean = sum n_p m_p / sum n_p, se = sqrt(sum n_p^2 se_p^2) / sum n_p, from each estimate's
 * own standard error (whatever the experiment's alpha).
 */
export function pooledArms(variants: Variant[], metric: string, phases: ExperimentResults[]): ArmEvidence[] {
  const current = phases[phases.length - 1];
  return variants.map((variant) => {
    let units = 0;
    let sum = 0;
    let varianceSum = 0;
    for (const results of phases) {
      const estimate = results.variants.find((v) => v.key === variant.key)?.metrics[metric];
      if (!estimate || estimate.mean === null || estimate.n === 0) continue;
      units += estimate.n;
      sum += estimate.mean * estimate.n;
      varianceSum += ((estimate.se ?? 0) * estimate.n) ** 2;
    }
    const phaseUnits = current?.variants.find((v) => v.key === variant.key)?.metrics[metric]?.n ?? 0;
    return { variant: variant.key, units, phaseUnits, mean: units > 0 ? sum / units : null, se: units > 0 ? Math.sqrt(varianceSum) / units : null };
  });
}

export type TrafficAction =
  | { kind: 'rollback'; variant: string; evidence: { guardrail: GuardrailResult; srm: SrmSummary } }
  | { kind: 'advance_ramp'; evidence: { fromStep: number; phaseUnits: number; minutesAtStep: number; srmPValue: number } }
  | { kind: 'reallocate'; weights: Record<string, number>; evidence: { probabilityBest: Record<string, number>; arms: ArmEvidence[] } };

/**
 * What the traffic monitor does with one experiment, fixed in advance and pure:
 * 1. every treatment with a guardrail significantly beyond its margin (always-valid
 *    interval entirely past it) is rolled back, and nothing else happens this run;
 * 2. a ramp that is not held advances once the step has lasted `minMinutes`, has
 *    `minUnits` exposed units, SRM is clear and no guardrail is breached;
 * 3. a bandit reallocates by Thompson sampling once every arm has `minUnitsPerArm`
 *    units in the current phase and `everyMinutes` have passed since the last time.
 */
export function decideTrafficActions(input: TrafficInput): TrafficAction[] {
  const live = new Set(input.variants.filter((v) => !v.isControl && !v.rolledBack).map((v) => v.key));
  const rollbacks: TrafficAction[] = [];
  for (const guardrail of input.guardrails) {
    if (guardrail.status === 'breached' && live.has(guardrail.variant)) {
      live.delete(guardrail.variant);
      rollbacks.push({ kind: 'rollback', variant: guardrail.variant, evidence: { guardrail, srm: input.srm } });
    }
  }
  if (rollbacks.length) return rollbacks;

  const ramp = input.ramp;
  if (ramp && !ramp.held && ramp.step < ramp.steps.length - 1 && live.size === 1) {
    const minutesAtStep = (input.now.getTime() - Date.parse(ramp.stepStartedAt)) / 60_000;
    if (minutesAtStep >= ramp.minMinutes && input.phaseUnits >= ramp.minUnits && input.srm.ok) {
      return [{ kind: 'advance_ramp', evidence: { fromStep: ramp.step, phaseUnits: input.phaseUnits, minutesAtStep, srmPValue: input.srm.pValue } }];
    }
  }

  const bandit = input.bandit;
  if (bandit) {
    const arms = input.arms.filter((a) => input.variants.some((v) => v.key === a.variant && !v.rolledBack));
    const since = bandit.lastReallocatedAt ? (input.now.getTime() - Date.parse(bandit.lastReallocatedAt)) / 60_000 : Infinity;
    const ready = arms.length >= 2 && arms.every((a) => a.phaseUnits >= bandit.minUnitsPerArm && a.mean !== null);
    if (ready && since >= bandit.everyMinutes) {
      const posterior: BanditArm[] = arms.map((a) =>
        input.primary.rate
          ? { kind: 'bernoulli', successes: Math.round((a.mean ?? 0) * a.units), n: a.units }
          : { kind: 'gaussian', mean: a.mean ?? 0, sd: Math.max(a.se ?? 0, 1e-12) },
      );
      const result = thompsonAllocation(posterior, {
        floor: bandit.floor,
        lowerIsBetter: input.primary.lowerIsBetter,
        method: 'monte-carlo',
        draws: 20_000,
        seed: input.seed,
      });
      const weights = Object.fromEntries(input.variants.map((v) => [v.key, 0]));
      arms.forEach((a, i) => (weights[a.variant] = result.allocation[i]));
      return [
        {
          kind: 'reallocate',
          weights,
          evidence: { probabilityBest: Object.fromEntries(arms.map((a, i) => [a.variant, result.probabilityBest[i]])), arms },
        },
      ];
    }
  }
  return [];
}
