import { ApiProperty, ApiPropertyOptional, type ApiPropertyOptions } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import type {
  Comparison,
  CovariateSource,
  CupedComparison,
  Decision,
  DecisionAction,
  GuardrailResult,
  Interval,
  MetricEstimate,
  OfflineAction,
  OfflineCandidateStage,
  OfflineStage,
  PlanningResult,
  QuantileEstimate,
  SrmSummary,
  VariantResult,
} from '../../../libs/analysis/results.types';
import { SHADOW_METRICS, type ShadowResult } from '../../../libs/analysis/shadow-results';
import type { DailyPoint } from '../../../libs/analysis/daily-series';
import { BUILT_IN_METRICS } from '../../../libs/metrics/metric-registry';

const interval: ApiPropertyOptions = { type: [Number], minItems: 2, maxItems: 2, nullable: true, description: '[lower, upper]' };

export class ResultsQueryDto {
  @ApiPropertyOptional({ description: 'Allocation phase to analyse; the latest by default (docs/adr/0006).' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  phase?: number;
}

export class QuantileEstimateResponse implements QuantileEstimate {
  @ApiProperty() value!: number;
  @ApiProperty({ description: 'Standard error of the value' }) se!: number;
  @ApiProperty(interval) ci!: Interval | null;
}

export class MetricEstimateResponse implements MetricEstimate {
  @ApiProperty({ nullable: true, type: Number }) mean!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Standard error of the mean (does not depend on alpha)' }) se!: number | null;
  @ApiProperty(interval) ci!: Interval | null;
  @ApiProperty({ description: 'Units (events for request units) behind the estimate' }) n!: number;
  [level: `p${number}`]: QuantileEstimate | null | undefined;
}
// The quantile levels of the metric registry (p50 ... p99 on latency_ms and ttft_ms): one property each.
for (const key of new Set(BUILT_IN_METRICS.flatMap((m) => (m.kind === 'quantile' ? [m.levelKey] : [])))) {
  ApiPropertyOptional({ type: QuantileEstimateResponse, nullable: true, description: `On metrics with quantiles: the ${key}` })(MetricEstimateResponse.prototype, key);
}

export class VariantResultResponse implements VariantResult {
  @ApiProperty() key!: string;
  @ApiProperty() isControl!: boolean;
  @ApiProperty({ description: 'Units of analysis with outcomes in the phase (events for request units)' }) units!: number;
  @ApiProperty() events!: number;
  @ApiProperty({ description: 'Sum of known costs' }) totalCostUsd!: number;
  @ApiProperty({ description: 'Events whose cost is unknown (no cost and no pricing)' }) costUnknown!: number;
  @ApiProperty({ type: 'object', additionalProperties: { $ref: '#/components/schemas/MetricEstimateResponse' } })
  metrics!: Record<string, MetricEstimate>;
}

export class ComparisonResponse implements Comparison {
  @ApiProperty() variant!: string;
  @ApiProperty() metric!: string;
  @ApiProperty({ enum: ['primary', 'secondary', 'guardrail', 'other'] }) role!: Comparison['role'];
  @ApiProperty() lowerIsBetter!: boolean;
  @ApiProperty({ nullable: true, type: Number }) absoluteLift!: number | null;
  @ApiProperty(interval) absoluteCi!: Interval | null;
  @ApiProperty({ nullable: true, type: Number, description: '(treatment - control) / |control|' }) relativeLift!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Standard error of the relative lift' }) se!: number | null;
  @ApiProperty({ ...interval, description: 'Interval of the relative lift' } as ApiPropertyOptions) ci!: Interval | null;
  @ApiProperty({ nullable: true, type: Number }) pValue!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Holm within its family (goal metrics; other metrics)' }) adjustedPValue!: number | null;
  @ApiProperty({ nullable: true, type: Number }) chanceToBeatControl!: number | null;
  @ApiProperty() significant!: boolean;
  @ApiProperty({ enum: ['sequential', 'fixed'] }) method!: 'sequential' | 'fixed';
  @ApiPropertyOptional() note?: string;
  @ApiProperty({ type: () => CupedComparisonResponse, nullable: true, description: 'The CUPED-adjusted comparison beside this unadjusted one (docs/cuped.md); null without a covariate' })
  cuped!: CupedComparison | null;
}

export class CupedComparisonResponse implements CupedComparison {
  @ApiProperty({ enum: ['pre-period', 'client'], description: 'The metric over the lookback window before exposure, or a value the client supplied per unit' })
  covariate!: CovariateSource;
  @ApiProperty({ description: 'Units with a covariate (both arms); the others are kept with a covariate of 0' }) unitsWithCovariate!: number;
  @ApiProperty() units!: number;
  @ApiProperty({ nullable: true, type: Number }) absoluteLift!: number | null;
  @ApiProperty(interval) absoluteCi!: Interval | null;
  @ApiProperty({ description: 'CUPED-adjusted (treatment - control) / |control|' }) relativeLift!: number;
  @ApiProperty() se!: number;
  @ApiProperty({ type: [Number], minItems: 2, maxItems: 2, description: '[lower, upper] of the adjusted relative lift' }) ci!: Interval;
  @ApiProperty() pValue!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'Holm within its family' }) adjustedPValue!: number | null;
  @ApiProperty() significant!: boolean;
  @ApiProperty({ description: 'Share of the variance of the relative lift that CUPED removed' }) varianceReduction!: number;
  @ApiProperty({ description: 'The decision, guardrails and planning use these figures' }) used!: boolean;
}

export class GuardrailResultResponse implements GuardrailResult {
  @ApiProperty() variant!: string;
  @ApiProperty() metric!: string;
  @ApiProperty({ enum: ['increase', 'decrease'] }) direction!: 'increase' | 'decrease';
  @ApiProperty() margin!: number;
  @ApiProperty({ nullable: true, type: Number }) relativeLift!: number | null;
  @ApiProperty(interval) ci!: Interval | null;
  @ApiProperty({ enum: ['ok', 'breached', 'inconclusive'] }) status!: GuardrailResult['status'];
}

export class PlanningResponse implements PlanningResult {
  @ApiProperty() variant!: string;
  @ApiProperty() units!: number;
  @ApiProperty({ nullable: true, type: Number }) plannedUnits!: number | null;
  @ApiProperty({ nullable: true, type: Number }) targetMde!: number | null;
  @ApiProperty({ nullable: true, type: Number }) power!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Units still needed for 80 % power (with CUPED when the decision uses it)' }) additionalUnits!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'The same without CUPED' }) additionalUnitsUnadjusted!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Share of variance CUPED removed on the primary metric, when used' }) varianceReduction!: number | null;
}

export class CupedSummaryResponse {
  @ApiProperty({ enum: ['auto', 'on', 'off'] }) mode!: 'auto' | 'on' | 'off';
  @ApiProperty() lookbackDays!: number;
  @ApiProperty({ description: 'Under auto, the share of units with a covariate from which the decision uses CUPED' }) minCovariateShare!: number;
  @ApiProperty({ description: 'The decision used CUPED-adjusted figures for the primary metric' }) used!: boolean;
}

export class SrmResponse implements SrmSummary {
  @ApiProperty() phase!: number;
  @ApiProperty() pValue!: number;
  @ApiProperty({ description: 'false when p < 0.001' }) ok!: boolean;
  @ApiProperty() tested!: boolean;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' } }) counts!: Record<string, number>;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'number' } }) weights!: Record<string, number>;
}

const OFFLINE_ACTIONS = ['ready_for_live', 'not_ready', 'not_evaluated'];

export class OfflineCandidateStageResponse implements OfflineCandidateStage {
  @ApiProperty() variant!: string;
  @ApiProperty({ enum: OFFLINE_ACTIONS }) action!: OfflineAction;
  @ApiProperty({ nullable: true, type: String, description: 'The offline evaluation run the verdict comes from' }) evaluationId!: string | null;
  @ApiProperty({ nullable: true, type: String }) dataset!: string | null;
  @ApiProperty({ nullable: true, type: Number }) datasetVersion!: number | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;
  @ApiProperty({ type: [String] }) reasons!: string[];
}

export class OfflineStageResponse implements OfflineStage {
  @ApiProperty({ enum: OFFLINE_ACTIONS, description: 'not_ready when a treatment is; ready_for_live when every evaluated one is; not_evaluated without a complete run' }) action!: OfflineAction;
  @ApiProperty({ nullable: true, type: String, description: 'The latest offline evaluation run used' }) evaluationId!: string | null;
  @ApiProperty({ nullable: true, type: String }) finishedAt!: string | null;
  @ApiProperty({ type: [String] }) reasons!: string[];
  @ApiProperty({ type: [OfflineCandidateStageResponse] }) candidates!: OfflineCandidateStage[];
}

export class DecisionResponse implements Decision {
  @ApiProperty({ enum: ['ship', 'keep_control', 'continue', 'stop'] }) action!: DecisionAction;
  @ApiPropertyOptional() winner?: string;
  @ApiProperty({ type: [String] }) reasons!: string[];
  @ApiPropertyOptional({ nullable: true, type: Number }) unitsNeeded?: number | null;
  @ApiProperty({ type: OfflineStageResponse, description: 'The offline stage: the latest complete offline evaluation run per treatment; not_ready blocks ship (docs/adr/0035)' })
  offline!: OfflineStage;
}

export class PrimaryMetricResponse {
  @ApiProperty() name!: string;
  @ApiProperty({ enum: ['increase', 'decrease', 'non_inferior'] }) goal!: 'increase' | 'decrease' | 'non_inferior';
  @ApiProperty({ nullable: true, type: Number }) margin!: number | null;
}

export class ShadowComparisonResponse {
  @ApiProperty({ enum: SHADOW_METRICS }) metric!: string;
  @ApiProperty({ description: 'Pairs where both values are known' }) n!: number;
  @ApiProperty({ nullable: true, type: Number }) servedMean!: number | null;
  @ApiProperty({ nullable: true, type: Number }) shadowMean!: number | null;
  @ApiProperty({ nullable: true, type: Number, description: 'Mean of shadow - served (error_rate: shadow rate - served rate)' }) difference!: number | null;
  @ApiProperty({ nullable: true, type: Number }) relativeDifference!: number | null;
  @ApiProperty({ nullable: true, type: [Number] }) ci!: [number, number] | null;
  @ApiProperty({ nullable: true, type: Number }) pValue!: number | null;
  @ApiProperty({ enum: ['paired_t', 'mcnemar_exact'] }) method!: string;
}

export class AgreementRateResponse {
  @ApiProperty() n!: number;
  @ApiProperty({ nullable: true, type: Number }) rate!: number | null;
  @ApiProperty({ nullable: true, type: [Number], description: 'Wilson interval' }) ci!: [number, number] | null;
}

export class AgreementResponse {
  @ApiProperty({ type: AgreementRateResponse, description: 'The final texts are equal' }) exact!: AgreementRateResponse;
  @ApiProperty({ type: AgreementRateResponse, description: 'Both answers JSON and equal once parsed (pairs where at least one is JSON)' }) json!: AgreementRateResponse;
}

export class ShadowResultResponse {
  @ApiProperty() variant!: string;
  @ApiProperty({ description: "The variant is the experiment's shadow now" }) active!: boolean;
  @ApiProperty({ nullable: true, type: Number }) sampleRate!: number | null;
  @ApiProperty({ description: 'Shadow outcomes recorded' }) shadows!: number;
  @ApiProperty({ description: "Of them, those paired with the served call's stored outcome" }) pairs!: number;
  @ApiProperty({ nullable: true, type: Number, description: 'Not known here: GET /metrics, verdict_gateway_shadow_dropped_total' }) dropped!: null;
  @ApiProperty({ type: [ShadowComparisonResponse] }) comparisons!: ShadowComparisonResponse[];
  @ApiProperty({ type: AgreementResponse }) agreement!: AgreementResponse;
}

export class ResultsResponse {
  @ApiProperty() experiment!: string;
  @ApiProperty() unitType!: string;
  @ApiProperty() phase!: number;
  @ApiProperty() alpha!: number;
  @ApiProperty() sequential!: boolean;
  @ApiProperty({ type: PrimaryMetricResponse }) primaryMetric!: PrimaryMetricResponse;
  @ApiProperty({ type: SrmResponse }) srm!: SrmSummary;
  @ApiProperty({ type: [VariantResultResponse] }) variants!: VariantResult[];
  @ApiProperty({ type: [ComparisonResponse] }) comparisons!: Comparison[];
  @ApiProperty({ type: [GuardrailResultResponse] }) guardrails!: GuardrailResult[];
  @ApiProperty({ type: [PlanningResponse] }) planning!: PlanningResult[];
  @ApiProperty({ type: DecisionResponse }) decision!: Decision;
  @ApiProperty({ type: CupedSummaryResponse }) cuped!: CupedSummaryResponse;
  @ApiProperty({ type: [ShadowResultResponse], description: 'Shadow variants: paired comparisons against what was served, and agreement (docs/gateway.md, "Shadow variants")' }) shadow!: ShadowResult[];
  @ApiProperty() computedAt!: string;
  @ApiProperty({ description: 'Version of the aggregates the results were computed from' }) dataVersion!: string;
}

export class DailySeriesResponse {
  @ApiProperty() experiment!: string;
  @ApiProperty() phase!: number;
  @ApiProperty({ type: [String] }) metrics!: string[];
  @ApiProperty({ type: [Object], description: 'Per day (UTC): cumulative variants [{key, units, events, metrics}] and comparisons [{variant, metric, relativeLift, ci, pValue}]' })
  days!: DailyPoint[];
}
