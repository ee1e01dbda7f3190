import type { UnitType } from '../assignment/core/snapshot';
import type { CustomMetricDeclaration, MetricGoal } from '../metrics/metric-registry';

export type { MetricGoal } from '../metrics/metric-registry';

export type ExperimentStatus = 'draft' | 'running' | 'paused' | 'stopped' | 'concluded';
export const EXPERIMENT_STATUSES: readonly ExperimentStatus[] = ['draft', 'running', 'paused', 'stopped', 'concluded'];
export const UNIT_TYPES: readonly UnitType[] = ['user', 'session', 'request'];

export interface Pricing {
  /** USD per million input tokens. */
  inputPer1M: number;
  /** USD per million output tokens. */
  outputPer1M: number;
}

export interface Variant {
  key: string;
  name: string;
  /** Normalised: the weights of an experiment sum to 1. */
  weight: number;
  isControl: boolean;
  rolledBack: boolean;
  config: Record<string, unknown> | null;
  pricing: Pricing | null;
}

export interface MetricSpec {
  name: string;
  goal: MetricGoal;
  /** Relative margin (0.02 = 2 %): required for non_inferior goals. */
  margin?: number;
}

export interface GuardrailSpec {
  name: string;
  /** The treatment may be at most this much (relative) higher than control: for latency, cost, errors. */
  maxRelativeIncrease?: number;
  /** The treatment may be at most this much (relative) lower than control: for quality. */
  maxRelativeDecrease?: number;
}

/** A custom metric as stored: the registry's declaration with every default filled in (libs/metrics). */
export type CustomMetricSpec = Required<CustomMetricDeclaration>;

export interface MetricsSpec {
  primary: MetricSpec;
  secondary: MetricSpec[];
  guardrails: GuardrailSpec[];
  custom: CustomMetricSpec[];
  /** The range a quality score must lie in; events outside it are rejected. */
  scoreRange: { min: number; max: number };
}

export interface StatsSettings {
  alpha: number;
  /** Always-valid sequential inference, so that results may be looked at any time. */
  sequential: boolean;
  plannedUnits: number | null;
  /** CUPED variance reduction from pre-exposure data (docs/cuped.md); absent on experiments made before it: the defaults. */
  cuped?: CupedSettings;
}

/**
 * `auto` (default): the decision uses the CUPED-adjusted figures once enough units have a
 * covariate (docs/cuped.md), and shows them either way; `on`: whenever they can be computed;
 * `off`: CUPED is neither computed nor shown.
 */
export type CupedMode = 'auto' | 'on' | 'off';
export interface CupedSettings {
  mode: CupedMode;
  /** Days before a unit's first exposure whose outcomes make its covariate (default 14). */
  lookbackDays: number;
}

export interface LayerSpec {
  key: string;
  start: number;
  end: number;
}

/**
 * A progressive roll-out of the treatment (two-variant experiments): the treatment's
 * weight walks through `steps`; each step is held at least `minMinutes` and until the
 * phase has `minUnits` exposed units, and advances only while no guardrail is breached
 * and SRM is clear. Each step is a new phase.
 */
export interface RampPlan {
  steps: number[];
  minMinutes: number;
  minUnits: number;
}

export interface RampState extends RampPlan {
  /** Index in `steps` of the weight now served. */
  step: number;
  /** Held by a person: the monitor does not advance it. */
  held: boolean;
  stepStartedAt: string;
}

/** Thompson-sampling allocation on the primary metric, recomputed by the monitor. */
export interface BanditSettings {
  /** Minimum share of traffic per arm. */
  floor: number;
  /** No reallocation before every arm has this many units in the current phase. */
  minUnitsPerArm: number;
  /** At most one reallocation per this many minutes. */
  everyMinutes: number;
  lastReallocatedAt: string | null;
}

/**
 * A shadow variant (issue #18, docs/adr/0031): copies of a sampled share of the gateway's
 * served calls go to this variant's upstream; its answers never reach a client and its
 * outcomes are stored apart, paired with the served call's event id.
 */
export interface ShadowSettings {
  /** A variant of weight 0 with an upstream, not the control. */
  variant: string;
  /** Share of served gateway calls copied to it, in (0, 1]. */
  sampleRate: number;
}

/**
 * Prompt and answer capture by the gateway (issue #17, docs/adr/0039): off unless set. A
 * sampled share of the experiment's gateway calls (chosen by the event id, so the same call
 * is always in or out) keeps its request's messages or prompt and the answer's final text,
 * each cut at `maxChars`, for `retentionDays`.
 */
export interface CaptureSettings {
  /** Share of the gateway's calls captured, in (0, 1]. */
  sampleRate: number;
  /** Characters (UTF-16 code units) kept of the prompt and of the answer, each; longer is cut and marked truncated. */
  maxChars: number;
  /** Days a capture is kept; the worker deletes it after. */
  retentionDays: number;
}

/** How a call picks an instance of a pool (docs/adr/0030, 0037). */
export type UpstreamBalance = 'least_in_flight' | 'sticky' | 'peak_ewma';

/** The default decay time of the peak-EWMA latency cost (docs/adr/0037). */
export const DEFAULT_PEAK_EWMA_TAU_MS = 10_000;

/** One instance of a variant's model server; the gateway spreads units over instances by weight, sticky per unit. */
export interface UpstreamInstance {
  /** The OpenAI-compatible base URL, e.g. `https://models.internal/v1` (the gateway appends `/chat/completions`...). */
  baseUrl: string;
  weight: number;
  /** This instance's model name, when it differs from the upstream's. */
  model: string | null;
  /** This instance's credential, when it differs from the upstream's: an environment variable NAME. */
  apiKeyEnv: string | null;
}

/**
 * Where the gateway sends a variant's traffic (issue #17, docs/gateway.md). Stored in its own
 * column, beside the variants: never part of the SDK snapshot. Holds no secret: the credential
 * is the name of an environment variable the gateway reads (docs/adr/0024).
 */
export interface Upstream {
  instances: UpstreamInstance[];
  /** The model name the upstream knows (replaces the experiment key in `model`). */
  model: string;
  apiKeyEnv: string | null;
  /** Body fields set on every request (temperature, max_tokens, top_p...): they win over the client's. */
  params: Record<string, string | number | boolean>;
  /** Prepended to the system message of chat requests (a system message is added when there is none). */
  systemPromptPrefix: string | null;
  /** Extra request headers (never a credential: use apiKeyEnv). */
  headers: Record<string, string>;
  /** Ask for usage on streams (`stream_options.include_usage`); false for upstreams that reject the field. */
  includeUsage: boolean;
  /** No answer headers, or no new chunk of a stream, within this time: the call fails with class timeout. */
  timeoutMs: number;
  /** Bound on the whole call, stream included. */
  totalTimeoutMs: number;
  /** How a call picks an instance: the fewest in flight per weight (default), or the unit's own instance (prompt-cache affinity). Absent on upstreams stored before pools. */
  balance?: UpstreamBalance;
  /** `peak_ewma` only (docs/adr/0037): the decay time of the latency cost. Absent: the default. */
  balanceOptions?: { tauMs: number };
  /** Passive health of the instances (docs/adr/0030). Absent: the defaults. */
  health?: UpstreamHealth;
  /** Every instance cooled down or failed: answer an error (default), or serve the call by the control's upstream, recorded on this variant as a fallback. */
  whenDown?: 'error' | 'fallback_control';
}

/** An instance with `failures` failed calls within `windowMs` is cooled down for `coolDownMs`, doubled at each cool-down in a row up to `maxCoolDownMs`; then one trial call decides. */
export interface UpstreamHealth {
  failures: number;
  windowMs: number;
  coolDownMs: number;
  maxCoolDownMs: number;
  /** Active health (docs/adr/0034): absent, no probe. */
  probe?: UpstreamProbe;
}

/**
 * A cheap GET of each instance every `intervalMs` while its pool is in use: a failing probe
 * (connect error, timeout, 5xx) counts as a failed call, a passing one ends a cool-down early.
 */
export interface UpstreamProbe {
  intervalMs: number;
  /** Appended to the instance's baseUrl, as the call paths are: `/models` probes `.../v1/models` for a baseUrl ending in /v1. */
  path: string;
  timeoutMs: number;
}

export const DEFAULT_UPSTREAM_PROBE: UpstreamProbe = { intervalMs: 10_000, path: '/models', timeoutMs: 2_000 };

export const DEFAULT_UPSTREAM_HEALTH: UpstreamHealth = { failures: 3, windowMs: 10_000, coolDownMs: 1_000, maxCoolDownMs: 60_000 };
