import type { Pricing } from '../experiments/experiment.types';

/** What validating and pricing an experiment's outcomes needs and the assignment snapshot lacks. */
export interface ExperimentOutcomeRules {
  experimentId: string;
  /** Epoch ms: no event of the experiment may be older (less clock skew; libs/storable/storable.ts). */
  createdAt: number;
  scoreRange: { min: number; max: number };
  customMetrics: ReadonlySet<string>;
  /** Variant key -> prices per million tokens (absent when the variant declares none). */
  pricing: ReadonlyMap<string, Pricing>;
  /** The experiment's shadow variant (docs/adr/0031), the only variant a shadow outcome may name; null when none. */
  shadowVariant: string | null;
}

/** Cost of an event from its variant's prices, or null when it cannot be computed (then it is unknown, never 0). */
export function computeCost(pricing: Pricing | undefined, inputTokens: number | null, outputTokens: number | null): number | null {
  if (!pricing || inputTokens === null || outputTokens === null) return null;
  return (inputTokens * pricing.inputPer1M + outputTokens * pricing.outputPer1M) / 1_000_000;
}
