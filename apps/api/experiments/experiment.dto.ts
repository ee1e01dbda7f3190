import { ApiProperty, ApiPropertyOptional, OmitType, PartialType } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';
import type { UnitType } from '../../../libs/assignment/core/snapshot';
import { KEY_MESSAGE, KEY_PATTERN } from '../http/keys';
import { PageQueryDto } from '../http/page-query.dto';
import { EXPERIMENT_STATUSES, UNIT_TYPES, type CupedMode, type ExperimentStatus, type MetricGoal } from '../../../libs/experiments/experiment.types';
import { LIMITS, MAX_LOOKBACK_DAYS } from '../../../libs/experiments/experiment-definition';
import type { UpstreamInput } from '../../../libs/experiments/upstream-definition';
import {
  BUILT_IN_METRIC_NAMES,
  CUSTOM_DENOMINATORS,
  METRIC_FORMATS,
  METRIC_GOALS,
  type CustomDenominator,
  type MetricFormat,
} from '../../../libs/metrics/metric-registry';

const METRIC_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;
const METRIC_MESSAGE = 'must be lower_snake_case, at most 63 characters';
/** A metric name in OpenAPI: one of the registry's built-ins (libs/metrics), or a custom name declared in metrics.custom. */
const metricName = (example: string) => ({
  example,
  description: 'A built-in metric or quantile, or a custom metric declared in metrics.custom.',
  anyOf: [
    { type: 'string' as const, enum: [...BUILT_IN_METRIC_NAMES] },
    { type: 'string' as const, pattern: METRIC_PATTERN.source, description: 'a custom metric name' },
  ],
});

export class PricingDto {
  @ApiProperty({ description: 'USD per million input tokens', maximum: LIMITS.pricePer1M })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(LIMITS.pricePer1M)
  inputPer1M!: number;

  @ApiProperty({ description: 'USD per million output tokens', maximum: LIMITS.pricePer1M })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(LIMITS.pricePer1M)
  outputPer1M!: number;
}

export class UpstreamInstanceDto {
  @ApiProperty({ example: 'https://llm-1.internal/v1' }) baseUrl!: string;
  @ApiPropertyOptional({ default: 1 }) weight?: number;
  @ApiPropertyOptional({ description: "This instance's model name, if not the upstream's." }) model?: string;
  @ApiPropertyOptional({ description: "This instance's credential: an environment variable name." }) apiKeyEnv?: string;
}

/** Documentation of a variant's upstream; checked by hand (libs/experiments/upstream-definition.ts). */
export class UpstreamDto {
  @ApiPropertyOptional({ description: 'OpenAI-compatible base URL (or instances).', example: 'https://llm.internal/v1' }) baseUrl?: string;
  @ApiPropertyOptional({ type: [UpstreamInstanceDto], description: 'Instances of the model server: each call goes to the one with the fewest calls in flight per weight (or the unit\'s own, balance: sticky); sick ones are cooled down; one failover before the first byte.' })
  instances?: UpstreamInstanceDto[];
  @ApiProperty({ description: "The upstream's model name.", example: 'llama-3.1-8b-instruct-q4' }) model!: string;
  @ApiPropertyOptional({ description: 'The NAME of an environment variable holding the credential (never the secret itself); allowed by GATEWAY_CREDENTIAL_ENVS.', example: 'OPENAI_API_KEY' })
  apiKeyEnv?: string;
  @ApiPropertyOptional({ type: Object, description: 'Body fields set on every request (temperature, max_tokens...).' }) params?: Record<string, unknown>;
  @ApiPropertyOptional({ description: 'Prepended to the system message of chat requests.' }) systemPromptPrefix?: string;
  @ApiPropertyOptional({ type: Object, description: 'Extra request headers (no credential).' }) headers?: Record<string, string>;
  @ApiPropertyOptional({ default: true, description: 'Ask for usage on streams (stream_options.include_usage); false for upstreams that reject it.' }) includeUsage?: boolean;
  @ApiPropertyOptional({ default: 60000, description: 'No headers, or no new chunk, within this many ms: timeout.' }) timeoutMs?: number;
  @ApiPropertyOptional({ default: 600000, description: 'Bound on the whole call (ms).' }) totalTimeoutMs?: number;
  @ApiPropertyOptional({ enum: ['least_in_flight', 'sticky', 'peak_ewma'], default: 'least_in_flight', description: 'How a call picks an instance: fewest in flight per weight (ties at random), the unit\'s own instance (prompt-cache affinity) while it is usable, or the lowest peak-EWMA latency cost x (in flight + 1) / weight (docs/adr/0037).' })
  balance?: 'least_in_flight' | 'sticky' | 'peak_ewma';
  @ApiPropertyOptional({ type: Object, description: 'For balance peak_ewma: { tauMs } the decay time of the latency cost (100..600000, default 10000).' })
  balanceOptions?: { tauMs?: number };
  @ApiPropertyOptional({ type: Object, description: 'Passive health: {failures (3), windowMs (10000), coolDownMs (1000), maxCoolDownMs (60000)}. `failures` failed calls (connect, timeout, 5xx) in the window cool an instance down; each cool-down in a row doubles; then one trial call. Active health, optional: `probe` {intervalMs (10000, at least 1000), path (\'/models\', appended to the baseUrl), timeoutMs (2000)}: a GET of each instance at the interval while its pool is in use; a failing probe counts as a failed call, a passing one ends a cool-down.' })
  health?: Record<string, unknown>;
  @ApiPropertyOptional({ enum: ['error', 'fallback_control'], default: 'error', description: "No instance left: answer the upstream's error (instances are called anyway when all are cooled down), or serve the call by the control's upstream, recorded on this variant with error 'fallback'." })
  whenDown?: 'error' | 'fallback_control';
}

export class VariantDto {
  @ApiProperty({ example: 'control' })
  @IsString()
  @Matches(KEY_PATTERN, { message: KEY_MESSAGE })
  key!: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(200)
  name?: string;

  @ApiProperty({ description: 'Any positive number up to 1e6; weights are normalised to sum to 1.', example: 1, maximum: LIMITS.variantWeight })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(LIMITS.variantWeight)
  weight!: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  isControl?: boolean;

  @ApiPropertyOptional({ description: 'Free-form model config: provider, model, endpoint, parameters; at most 64 KiB as JSON.', type: Object })
  @IsOptional()
  @IsObject()
  config?: Record<string, unknown>;

  @ApiPropertyOptional({ type: PricingDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => PricingDto)
  pricing?: PricingDto;

  @ApiPropertyOptional({ type: UpstreamDto, nullable: true, description: 'Where the gateway sends this variant\'s traffic; never served to SDKs. null removes it.' })
  @IsOptional()
  @IsObject()
  upstream?: UpstreamInput | null;
}

export class MetricDto {
  @ApiProperty(metricName('success_rate'))
  @IsString()
  @Matches(METRIC_PATTERN, { message: METRIC_MESSAGE })
  name!: string;

  @ApiProperty({ enum: METRIC_GOALS })
  @IsIn(METRIC_GOALS)
  goal!: MetricGoal;

  @ApiPropertyOptional({ description: 'Relative non-inferiority margin, e.g. 0.02 for 2 %.' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.000001, { message: 'must be positive' })
  @Max(10)
  margin?: number;
}

export class GuardrailDto {
  @ApiProperty(metricName('latency_p95'))
  @IsString()
  @Matches(METRIC_PATTERN, { message: METRIC_MESSAGE })
  name!: string;

  @ApiPropertyOptional({ description: 'Largest tolerated relative increase (0.1 = +10 %).', maximum: 100 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.000001, { message: 'must be positive' })
  @Max(100)
  maxRelativeIncrease?: number;

  @ApiPropertyOptional({ description: 'Largest tolerated relative decrease (0.05 = -5 %).' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.000001, { message: 'must be positive' })
  @Max(1)
  maxRelativeDecrease?: number;
}

export class CustomMetricDto {
  @ApiProperty({ example: 'thumbs_up' })
  @IsString()
  @Matches(METRIC_PATTERN, { message: METRIC_MESSAGE })
  name!: string;

  @ApiPropertyOptional({ default: false, description: 'A decrease is an improvement.' })
  @IsOptional()
  @IsBoolean()
  lowerIsBetter?: boolean;

  @ApiPropertyOptional({
    enum: CUSTOM_DENOMINATORS,
    default: 'reported',
    description: 'Averaged over the events that reported the metric, or over all events (those without it count 0).',
  })
  @IsOptional()
  @IsIn(CUSTOM_DENOMINATORS)
  denominator?: CustomDenominator;

  @ApiPropertyOptional({ description: 'Shown in reports and on the results page; default the name.' })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  label?: string;

  @ApiPropertyOptional({ enum: METRIC_FORMATS, default: 'decimal' })
  @IsOptional()
  @IsIn(METRIC_FORMATS)
  format?: MetricFormat;
}

export class ScoreRangeDto {
  @ApiProperty({ minimum: -LIMITS.scoreMagnitude, maximum: LIMITS.scoreMagnitude })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(-LIMITS.scoreMagnitude)
  @Max(LIMITS.scoreMagnitude)
  min!: number;

  @ApiProperty({ minimum: -LIMITS.scoreMagnitude, maximum: LIMITS.scoreMagnitude })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(-LIMITS.scoreMagnitude)
  @Max(LIMITS.scoreMagnitude)
  max!: number;
}

export class MetricsDto {
  @ApiProperty({ type: MetricDto })
  @ValidateNested()
  @Type(() => MetricDto)
  primary!: MetricDto;

  @ApiPropertyOptional({ type: [MetricDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => MetricDto)
  secondary?: MetricDto[];

  @ApiPropertyOptional({ type: [GuardrailDto] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => GuardrailDto)
  guardrails?: GuardrailDto[];

  @ApiPropertyOptional({ type: [CustomMetricDto], description: 'Custom numeric metrics sent in outcome events.' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(50)
  @ValidateNested({ each: true })
  @Type(() => CustomMetricDto)
  custom?: CustomMetricDto[];

  @ApiPropertyOptional({ type: ScoreRangeDto, description: 'Range of quality scores; default 0..1.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ScoreRangeDto)
  scoreRange?: ScoreRangeDto;
}

export class CupedSettingsDto {
  @ApiPropertyOptional({
    enum: ['auto', 'on', 'off'],
    default: 'auto',
    description: 'Whether the decision uses the CUPED-adjusted figures: auto (once enough units have a covariate; shown either way), on (whenever computable), off (neither computed nor shown).',
  })
  @IsOptional()
  @IsIn(['auto', 'on', 'off'])
  mode?: CupedMode;

  @ApiPropertyOptional({ default: 14, description: 'Days before a unit\'s first exposure whose outcomes make its pre-exposure covariate.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_LOOKBACK_DAYS)
  lookbackDays?: number;
}

export class StatsDto {
  @ApiPropertyOptional({ default: 0.05 })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.0001)
  @Max(0.5)
  alpha?: number;

  @ApiPropertyOptional({ default: true, description: 'Always-valid sequential inference (safe to peek).' })
  @IsOptional()
  @IsBoolean()
  sequential?: boolean;

  @ApiPropertyOptional({ description: 'Planned number of units across all variants.' })
  @IsOptional()
  @IsInt()
  @Min(2)
  @Max(LIMITS.units)
  plannedUnits?: number;

  @ApiPropertyOptional({ type: CupedSettingsDto, description: 'CUPED variance reduction from pre-exposure data (docs/cuped.md).' })
  @IsOptional()
  @ValidateNested()
  @Type(() => CupedSettingsDto)
  cuped?: CupedSettingsDto;
}

export class LayerDto {
  @ApiProperty({ example: 'chat-model' })
  @IsString()
  @Matches(KEY_PATTERN, { message: KEY_MESSAGE })
  key!: string;

  @ApiProperty({ example: 0 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  start!: number;

  @ApiProperty({ example: 0.5 })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(1)
  end!: number;
}

export class RampDto {
  @ApiProperty({ example: [0.01, 0.05, 0.25, 0.5], description: "The treatment's weight at each step." })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsNumber({ allowNaN: false, allowInfinity: false }, { each: true })
  steps!: number[];

  @ApiProperty({ example: 60, description: 'Minimum minutes at each step.' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(60 * 24 * 90)
  minMinutes!: number;

  @ApiProperty({ example: 1000, description: 'Minimum exposed units in the step before it may advance.' })
  @IsInt()
  @Min(0)
  @Max(LIMITS.units)
  minUnits!: number;
}

export class BanditDto {
  @ApiProperty({ example: 0.05, description: 'Minimum share of traffic per arm.' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(0.5)
  floor!: number;

  @ApiProperty({ example: 200 })
  @IsInt()
  @Min(1)
  @Max(LIMITS.units)
  minUnitsPerArm!: number;

  @ApiProperty({ example: 60, description: 'At most one reallocation per this many minutes.' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0)
  @Max(60 * 24 * 90)
  everyMinutes!: number;
}

export class ShadowDto {
  @ApiProperty({ example: 'candidate-q4', description: 'A variant of weight 0 with an upstream, not the control: copies of sampled gateway calls go to it; its answers never reach the client.' })
  @IsString()
  @Matches(KEY_PATTERN, { message: KEY_MESSAGE })
  variant!: string;

  @ApiProperty({ example: 0.1, description: 'Share of served gateway calls copied to the shadow, in (0, 1].' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  sampleRate!: number;
}

export class CaptureDto {
  @ApiProperty({ example: 0.05, description: 'Share of the gateway calls whose prompt and answer are stored, in (0, 1]; chosen by the event id.' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  sampleRate!: number;

  @ApiProperty({ example: 4000, minimum: 1, maximum: 100000, description: 'Characters kept of the prompt and of the answer, each; longer is cut and marked truncated.' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  maxChars!: number;

  @ApiProperty({ example: 7, minimum: 1, maximum: 365, description: 'Days a capture is kept before the worker deletes it.' })
  @IsNumber({ allowNaN: false, allowInfinity: false })
  retentionDays!: number;
}

export class CreateExperimentDto {
  @ApiProperty({ example: 'chat-8b-vs-70b' })
  @IsString()
  @Matches(KEY_PATTERN, { message: KEY_MESSAGE })
  key!: string;

  @ApiProperty({ example: 'Can the 8B model replace the 70B one?' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(5000)
  hypothesis?: string;

  @ApiProperty({ enum: UNIT_TYPES })
  @IsIn(UNIT_TYPES)
  unitType!: UnitType;

  @ApiPropertyOptional({ default: 1, description: 'Share of units that enter, in (0, 1].' })
  @IsOptional()
  @IsNumber({ allowNaN: false, allowInfinity: false })
  @Min(0.0001)
  @Max(1)
  trafficAllocation?: number;

  @ApiProperty({ type: [VariantDto] })
  @IsArray()
  @ArrayMinSize(2, { message: 'needs at least two variants' })
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => VariantDto)
  variants!: VariantDto[];

  @ApiProperty({ type: MetricsDto })
  @ValidateNested()
  @Type(() => MetricsDto)
  metrics!: MetricsDto;

  @ApiPropertyOptional({ type: StatsDto })
  @IsOptional()
  @ValidateNested()
  @Type(() => StatsDto)
  stats?: StatsDto;

  @ApiPropertyOptional({ type: LayerDto, description: 'A slot in a mutually exclusive layer.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => LayerDto)
  layer?: LayerDto;

  @ApiPropertyOptional({ description: 'QA overrides: unit id -> variant key (at most 1,000).', type: Object })
  @IsOptional()
  @IsObject()
  forced?: Record<string, string>;

  @ApiPropertyOptional({ type: RampDto, description: 'Progressive roll-out of the treatment (two variants).' })
  @IsOptional()
  @ValidateNested()
  @Type(() => RampDto)
  ramp?: RampDto;

  @ApiPropertyOptional({ type: BanditDto, description: 'Thompson-sampling allocation on the primary metric.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => BanditDto)
  bandit?: BanditDto;

  @ApiPropertyOptional({ type: ShadowDto, nullable: true, description: 'A shadow variant for the gateway (docs/gateway.md, "Shadow variants"); null removes it (PATCH).' })
  @IsOptional()
  @ValidateNested()
  @Type(() => ShadowDto)
  shadow?: ShadowDto | null;

  @ApiPropertyOptional({ type: CaptureDto, nullable: true, description: 'Store the prompt and answer of a sample of gateway calls (docs/gateway.md, "Capture"); off when absent, null turns it off (PATCH).' })
  @IsOptional()
  @ValidateNested()
  @Type(() => CaptureDto)
  capture?: CaptureDto | null;
}

/** Every definition field but the key (fixed) and the traffic plans (fixed at creation), all optional. */
export class UpdateExperimentDto extends PartialType(OmitType(CreateExperimentDto, ['key', 'ramp', 'bandit'] as const)) {}

export class ConcludeExperimentDto {
  @ApiProperty({ description: 'The variant key that wins and is served to everyone.' })
  @IsString()
  @Matches(KEY_PATTERN, { message: KEY_MESSAGE })
  winner!: string;
}

export class ListExperimentsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: EXPERIMENT_STATUSES })
  @IsOptional()
  @IsIn(EXPERIMENT_STATUSES)
  status?: ExperimentStatus;
}
