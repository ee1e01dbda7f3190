import type { FieldError } from '../errors/domain-error';
import { STORABLE_LIMITS } from '../storable/storable';
import { BUILT_IN_METRIC_NAMES, isBuiltInMetric, normaliseCustom, reservedMetricName, type CustomMetricDeclaration } from '../metrics/metric-registry';
import {
  type GuardrailSpec,
  type MetricSpec,
  type MetricsSpec,
  type Pricing,
  type ShadowSettings,
  type CaptureSettings,
  type CupedSettings,
  type StatsSettings,
  type Variant,
} from './experiment.types';
import { checkNoLiteralSecrets, type UpstreamInput } from './upstream-definition';

/** Variants as a client sends them: weights are any positive numbers, normalised here. */
export interface VariantInput {
  key: string;
  name?: string;
  weight: number;
  isControl?: boolean;
  config?: Record<string, unknown> | null;
  pricing?: Pricing | null;
  /** Where the gateway sends this variant's traffic; null removes it, absent keeps it (PATCH). */
  upstream?: UpstreamInput | null;
}

export interface MetricsInput {
  primary: MetricSpec;
  secondary?: MetricSpec[];
  guardrails?: GuardrailSpec[];
  custom?: CustomMetricDeclaration[];
  scoreRange?: { min: number; max: number };
}

export const DEFAULT_CUPED: CupedSettings = { mode: 'auto', lookbackDays: 14 };
export const DEFAULT_STATS: StatsSettings = { alpha: 0.05, sequential: true, plannedUnits: null, cuped: DEFAULT_CUPED };
/** Longest CUPED lookback window, days. */
export const MAX_LOOKBACK_DAYS = 90;

/**
 * Bounds on what an experiment may hold (docs/adr/0017): every SDK snapshot and config
 * stream carries the configs, so their size is bounded; numbers stay far from overflow
 * (two weights of 1e308 summed to Infinity and normalised to NaN).
 */
export const LIMITS = {
  /** A variant's `config`, serialised as JSON (UTF-8 bytes). */
  variantConfigBytes: 64 * 1024,
  /** All variant configs of one experiment together. */
  experimentConfigBytes: 256 * 1024,
  variantWeight: 1e6,
  /** USD per million tokens. */
  pricePer1M: 1e6,
  /** Bounds of metrics.scoreRange: what a stored score may be at most (libs/storable), so squares and their sums stay finite. */
  scoreMagnitude: STORABLE_LIMITS.maxMagnitude,
  /** Planned units, ramp and bandit unit thresholds. */
  units: 1e9,
  forcedUnits: 1000,
  unitIdLength: 256,
} as const;
export const DEFAULT_SCORE_RANGE = { min: 0, max: 1 };

/**
 * Cross-field rules that a DTO cannot express: exactly one control, unique keys,
 * metric names known or declared, margins where goals need them. Returns the
 * normalised variants (weights summing to 1) and the problems found.
 */
export function checkVariants(inputs: VariantInput[], existing?: Variant[], shadowVariant: string | null = null): { variants: Variant[]; errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (inputs.length < 2) errors.push({ field: 'variants', message: 'needs at least two variants' });
  const seen = new Set<string>();
  let configBytes = 0;
  inputs.forEach((v, i) => {
    if (seen.has(v.key)) errors.push({ field: `variants.${i}.key`, message: `duplicates variant key "${v.key}"` });
    seen.add(v.key);
    // Weight 0 is for a shadow variant only (docs/adr/0031): no unit is assigned to it.
    if (v.weight === 0 && v.key === shadowVariant && v.isControl !== true) {
      // allowed
    } else if (!(v.weight > 0)) errors.push({ field: `variants.${i}.weight`, message: 'must be greater than 0 (0 only for the variant named in shadow.variant)' });
    else if (!(v.weight <= LIMITS.variantWeight)) errors.push({ field: `variants.${i}.weight`, message: `must not be greater than ${LIMITS.variantWeight}` });
    const config = v.config === undefined ? existing?.find((e) => e.key === v.key)?.config : v.config;
    const bytes = config ? Buffer.byteLength(JSON.stringify(config)) : 0;
    if (bytes > LIMITS.variantConfigBytes) {
      errors.push({ field: `variants.${i}.config`, message: `is ${bytes} bytes as JSON; at most ${LIMITS.variantConfigBytes} are allowed` });
    }
    configBytes += bytes;
    // SDK keys receive configs: no credential may sit in one (docs/adr/0024).
    if (v.config) checkNoLiteralSecrets(v.config, `variants.${i}.config`, errors);
  });
  if (configBytes > LIMITS.experimentConfigBytes) {
    errors.push({ field: 'variants', message: `configs total ${configBytes} bytes as JSON; at most ${LIMITS.experimentConfigBytes} per experiment` });
  }
  const controls = inputs.filter((v) => v.isControl === true).length;
  if (controls !== 1) {
    errors.push({ field: 'variants', message: `needs exactly one variant with isControl true (found ${controls})` });
  }
  const total = inputs.reduce((sum, v) => sum + (v.weight > 0 && v.weight <= LIMITS.variantWeight ? v.weight : 0), 0);
  const variants = inputs.map((v): Variant => {
    const before = existing?.find((e) => e.key === v.key);
    return {
      key: v.key,
      name: v.name ?? before?.name ?? v.key,
      weight: total > 0 ? v.weight / total : 0,
      isControl: v.isControl === true,
      rolledBack: before?.rolledBack ?? false,
      config: v.config === undefined ? (before?.config ?? null) : v.config,
      pricing: v.pricing === undefined ? (before?.pricing ?? null) : v.pricing,
    };
  });
  return { variants, errors };
}

/**
 * A shadow (docs/adr/0031): the variant exists, is not the control, has weight 0 (no unit is
 * ever assigned to it, so the SDK and /v1/assign never serve it) and an upstream (the gateway
 * sends it the copies); the rate is in (0, 1]. A ramp or a bandit would give it weight, so
 * neither may be combined with a shadow.
 */
export function checkShadow(
  shadow: ShadowSettings,
  variants: readonly Variant[],
  upstreams: Readonly<Record<string, unknown>>,
  plans: { ramp: boolean; bandit: boolean },
): FieldError[] {
  const errors: FieldError[] = [];
  if (typeof shadow.sampleRate !== 'number' || !(shadow.sampleRate > 0 && shadow.sampleRate <= 1)) {
    errors.push({ field: 'shadow.sampleRate', message: 'must be a number in (0, 1]' });
  }
  const variant = variants.find((v) => v.key === shadow.variant);
  if (!variant) errors.push({ field: 'shadow.variant', message: `"${String(shadow.variant).slice(0, 64)}" is not a variant of this experiment` });
  else if (variant.isControl) errors.push({ field: 'shadow.variant', message: 'the control cannot be the shadow: it is what is served' });
  else if (variant.weight > 0) errors.push({ field: 'shadow.variant', message: `"${variant.key}" has weight > 0: a shadow variant must have weight 0 (it is never assigned)` });
  else if (!upstreams[variant.key]) errors.push({ field: 'shadow.variant', message: `"${variant.key}" has no upstream: set variants[].upstream so the gateway can send it copies` });
  if (plans.ramp) errors.push({ field: 'shadow', message: 'cannot be combined with a ramp plan (the ramp would give the shadow variant weight)' });
  if (plans.bandit) errors.push({ field: 'shadow', message: 'cannot be combined with bandit allocation (the bandit would give the shadow variant weight)' });
  return errors;
}

/**
 * Metric names come from the registry (libs/metrics): a built-in metric, one of its quantiles
 * (latency_p50 ... latency_p99), or a custom metric declared in metrics.custom. Anything else,
 * such as a quantile level no list computes, is refused here rather than reported as "no data".
 */
export function checkMetrics(input: MetricsInput): { metrics: MetricsSpec; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const custom = (input.custom ?? []).map(normaliseCustom);
  const customNames = new Set<string>();
  custom.forEach((c, i) => {
    if (isBuiltInMetric(c.name)) errors.push({ field: `metrics.custom.${i}.name`, message: `"${c.name}" is a built-in metric` });
    else if (reservedMetricName(c.name)) errors.push({ field: `metrics.custom.${i}.name`, message: `"${c.name}" reads as a quantile of a built-in metric; choose another name` });
    else if (customNames.has(c.name)) errors.push({ field: `metrics.custom.${i}.name`, message: `duplicates "${c.name}"` });
    else customNames.add(c.name);
  });
  const known = (name: string) => isBuiltInMetric(name) || customNames.has(name);
  const unknown = (name: string) =>
    reservedMetricName(name)
      ? `"${name}" is not a computed quantile: the quantiles are ${BUILT_IN_METRIC_NAMES.filter((n) => /_p\d+$/.test(n)).join(', ')}`
      : `"${name}" is neither a built-in metric nor declared in metrics.custom`;
  const checkGoal = (m: MetricSpec, field: string) => {
    if (!known(m.name)) errors.push({ field: `${field}.name`, message: unknown(m.name) });
    if (m.goal === 'non_inferior' && m.margin === undefined) {
      errors.push({ field: `${field}.margin`, message: 'is required when goal is non_inferior' });
    }
  };
  checkGoal(input.primary, 'metrics.primary');
  (input.secondary ?? []).forEach((m, i) => checkGoal(m, `metrics.secondary.${i}`));
  (input.guardrails ?? []).forEach((g, i) => {
    const field = `metrics.guardrails.${i}`;
    if (!known(g.name)) errors.push({ field: `${field}.name`, message: unknown(g.name) });
    const margins = [g.maxRelativeIncrease, g.maxRelativeDecrease].filter((m) => m !== undefined);
    if (margins.length !== 1) {
      errors.push({ field, message: 'needs exactly one of maxRelativeIncrease or maxRelativeDecrease' });
    }
  });
  const scoreRange = input.scoreRange ?? DEFAULT_SCORE_RANGE;
  if (!(scoreRange.min < scoreRange.max)) errors.push({ field: 'metrics.scoreRange', message: 'min must be below max' });
  return {
    metrics: {
      primary: input.primary,
      secondary: input.secondary ?? [],
      guardrails: input.guardrails ?? [],
      custom,
      scoreRange,
    },
    errors,
  };
}

export function checkForced(forced: Record<string, string>, variants: Variant[]): FieldError[] {
  const entries = Object.entries(forced);
  if (entries.length > LIMITS.forcedUnits) return [{ field: 'forced', message: `must not force more than ${LIMITS.forcedUnits} units` }];
  const keys = new Set(variants.map((v) => v.key));
  const errors: FieldError[] = [];
  for (const [unit, variant] of entries) {
    if (unit.length < 1 || unit.length > LIMITS.unitIdLength) errors.push({ field: 'forced', message: `unit ids must be 1-${LIMITS.unitIdLength} characters` });
    else if (!keys.has(variant)) errors.push({ field: `forced.${unit}`, message: 'names a variant this experiment does not have' });
  }
  return errors;
}

/** Effective weights: a rolled-back variant's share is served the control. */
export function effectiveWeights(variants: Variant[]): Record<string, number> {
  const weights: Record<string, number> = {};
  const control = variants.find((v) => v.isControl);
  for (const v of variants) weights[v.key] = v.rolledBack ? 0 : v.weight;
  if (control) {
    weights[control.key] += variants.filter((v) => v.rolledBack).reduce((sum, v) => sum + v.weight, 0);
  }
  return weights;
}

/** Bounds of the capture settings (docs/adr/0039). */
export const CAPTURE_LIMITS = { maxChars: 100_000, retentionDays: 365 } as const;

/** Capture settings: a sample rate in (0, 1], whole characters 1..100,000, whole days 1..365; each bad field named. */
export function checkCapture(capture: CaptureSettings): FieldError[] {
  const errors: FieldError[] = [];
  if (typeof capture !== 'object' || capture === null) return [{ field: 'capture', message: 'must be an object {sampleRate, maxChars, retentionDays} or null' }];
  if (typeof capture.sampleRate !== 'number' || !(capture.sampleRate > 0 && capture.sampleRate <= 1)) {
    errors.push({ field: 'capture.sampleRate', message: 'must be a number in (0, 1]' });
  }
  if (!Number.isInteger(capture.maxChars) || capture.maxChars < 1 || capture.maxChars > CAPTURE_LIMITS.maxChars) {
    errors.push({ field: 'capture.maxChars', message: `must be a whole number from 1 to ${CAPTURE_LIMITS.maxChars}` });
  }
  if (!Number.isInteger(capture.retentionDays) || capture.retentionDays < 1 || capture.retentionDays > CAPTURE_LIMITS.retentionDays) {
    errors.push({ field: 'capture.retentionDays', message: `must be a whole number of days from 1 to ${CAPTURE_LIMITS.retentionDays}` });
  }
  return errors;
}
