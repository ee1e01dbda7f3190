import type { ShadowResult } from './shadow-results';
import type { CupedMode, MetricGoal } from '../experiments/experiment.types';

export type Interval = [number, number];
export type DecisionAction = 'ship' | 'keep_control' | 'continue' | 'stop';

export interface QuantileEstimate {
  value: number;
  /** Standard error of the value (the outer interval's width over 2 z): use it, never rebuild it from `ci`. */
  se: number;
  ci: Interval | null;
}

export interface MetricEstimate {
  /** The arm's estimate: a mean per unit of analysis, or a ratio of per-unit sums. */
  mean: number | null;
  /** Its standard error (delta method for ratios), independent of alpha: `ci` is mean -+ z(alpha) se. */
  se: number | null;
  ci: Interval | null;
  /** Units (or, for request units, events) behind the estimate. */
  n: number;
  /** Metrics with quantiles (latency_ms, ttft_ms): each registry level, `p50` ... `p99`. */
  [level: `p${number}`]: QuantileEstimate | null | undefined;
}

export interface VariantResult {
  key: string;
  isControl: boolean;
  units: number;
  events: number;
  totalCostUsd: number;
  costUnknown: number;
  metrics: Record<string, MetricEstimate>;
}

export type MetricRole = 'primary' | 'secondary' | 'guardrail' | 'other';

export interface Comparison {
  variant: string;
  metric: string;
  role: MetricRole;
  lowerIsBetter: boolean;
  absoluteLift: number | null;
  absoluteCi: Interval | null;
  relativeLift: number | null;
  /** Standard error of the relative lift (delta method). */
  se: number | null;
  /** Interval of the relative lift (fixed-horizon or always-valid, as `method` says). */
  ci: Interval | null;
  pValue: number | null;
  /** Holm within the comparison's family (goal metrics, or all other metrics): docs/adr/0007. */
  adjustedPValue: number | null;
  chanceToBeatControl: number | null;
  significant: boolean;
  method: 'sequential' | 'fixed';
  /** Why no test could be run (too few units, no variance, zero baseline). */
  note?: string;
  /** The CUPED-adjusted comparison beside the unadjusted one (docs/cuped.md); null when the metric has no covariate. */
  cuped: CupedComparison | null;
}

export type CovariateSource = 'pre-period' | 'client';

/** A comparison adjusted by CUPED (ratio form, theta pooled over both arms): docs/adr/0026. */
export interface CupedComparison {
  covariate: CovariateSource;
  /** Units with a covariate, both arms; the others are kept with a covariate of 0. */
  unitsWithCovariate: number;
  units: number;
  absoluteLift: number | null;
  absoluteCi: Interval | null;
  relativeLift: number;
  se: number;
  ci: Interval;
  pValue: number;
  /** Holm within the family, beside the decision figures of the other members. */
  adjustedPValue: number | null;
  significant: boolean;
  /** 1 - var(adjusted) / var(unadjusted) of the relative lift: the share of variance CUPED removed. */
  varianceReduction: number;
  /** The decision rule, guardrails and planning use these figures (stats.cuped.mode and the covariate share). */
  used: boolean;
}

export type GuardrailStatus = 'ok' | 'breached' | 'inconclusive';

export interface GuardrailResult {
  variant: string;
  metric: string;
  /** 'increase' guards against the treatment being higher by more than `margin`, 'decrease' lower. */
  direction: 'increase' | 'decrease';
  margin: number;
  relativeLift: number | null;
  ci: Interval | null;
  status: GuardrailStatus;
}

export interface PlanningResult {
  variant: string;
  /** Units of this treatment and the control together. */
  units: number;
  plannedUnits: number | null;
  /** Relative lift the power refers to: the non-inferiority margin, or the observed lift (at least 1 %). */
  targetMde: number | null;
  power: number | null;
  /** More units (treatment and control together) for 80 % power at targetMde (with CUPED when the decision uses it). */
  additionalUnits: number | null;
  /** The same without CUPED, and the share of variance CUPED removed on the primary metric (null when not used). */
  additionalUnitsUnadjusted: number | null;
  varianceReduction: number | null;
}

export interface SrmSummary {
  phase: number;
  pValue: number;
  ok: boolean;
  tested: boolean;
  counts: Record<string, number>;
  weights: Record<string, number>;
}

export interface Decision {
  action: DecisionAction;
  winner?: string;
  reasons: string[];
  /** Units still needed before the rule can conclude (continue only). */
  unitsNeeded?: number | null;
  /** The offline stage: what the latest complete offline evaluation runs say of the treatments (docs/adr/0035). */
  offline: OfflineStage;
}

export type OfflineAction = 'ready_for_live' | 'not_ready' | 'not_evaluated';

/** One treatment's offline stage: the latest complete offline run that compared it with the current control. */
export interface OfflineCandidateStage {
  variant: string;
  action: OfflineAction;
  evaluationId: string | null;
  dataset: string | null;
  datasetVersion: number | null;
  finishedAt: string | null;
  reasons: string[];
}

/**
 * The offline stage of the decision. `action`: `not_ready` when some treatment's is, else
 * `not_evaluated` when some treatment has no run, else `ready_for_live`; `evaluationId` and
 * `finishedAt` name the latest run used (null without one); `reasons` are the treatments' reasons.
 */
export interface OfflineStage {
  action: OfflineAction;
  evaluationId: string | null;
  finishedAt: string | null;
  reasons: string[];
  candidates: OfflineCandidateStage[];
}

export interface ExperimentResults {
  experiment: string;
  unitType: string;
  phase: number;
  alpha: number;
  sequential: boolean;
  primaryMetric: { name: string; goal: MetricGoal; margin: number | null };
  srm: SrmSummary;
  variants: VariantResult[];
  comparisons: Comparison[];
  guardrails: GuardrailResult[];
  planning: PlanningResult[];
  decision: Decision;
  /** Shadow variants (docs/adr/0031): paired comparisons against what was served, and agreement; empty when the experiment never had one. */
  shadow: ShadowResult[];
  /** The CUPED setting and whether the decision used adjusted figures. */
  cuped: { mode: CupedMode; lookbackDays: number; minCovariateShare: number; used: boolean };
  computedAt: string;
  /** Version of the data the results were computed from (cache key). */
  dataVersion: string;
}
