import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { AuditEntryEntity } from '../../../libs/audit/audit-entry.entity';
import type { ExperimentPhaseEntity } from '../../../libs/experiments/experiment-phase.entity';
import type { ExperimentEntity } from '../../../libs/experiments/experiment.entity';
import type { BanditSettings, LayerSpec, MetricsSpec, RampState, ShadowSettings, CaptureSettings, StatsSettings, Upstream, Variant } from '../../../libs/experiments/experiment.types';
import { EXPERIMENT_STATUSES } from '../../../libs/experiments/experiment.types';

export class VariantResponse {
  @ApiProperty() key!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ description: 'Normalised weight (weights sum to 1).' }) weight!: number;
  @ApiProperty() isControl!: boolean;
  @ApiProperty({ description: 'Rolled back: its units are served the control.' }) rolledBack!: boolean;
  @ApiPropertyOptional({ type: Object, nullable: true }) config!: Record<string, unknown> | null;
  @ApiPropertyOptional({ type: Object, nullable: true }) pricing!: { inputPer1M: number; outputPer1M: number } | null;
  @ApiPropertyOptional({ type: Object, nullable: true, description: 'Where the gateway sends its traffic (no secret: the credential is an environment variable name).' })
  upstream!: Upstream | null;
}

export class ExperimentResponse {
  @ApiProperty() id!: string;
  @ApiProperty() key!: string;
  @ApiProperty() name!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) hypothesis!: string | null;
  @ApiProperty({ enum: ['user', 'session', 'request'] }) unitType!: string;
  @ApiProperty({ enum: EXPERIMENT_STATUSES }) status!: string;
  @ApiProperty() trafficAllocation!: number;
  @ApiProperty({ type: [VariantResponse] }) variants!: Array<Variant & { upstream: Upstream | null }>;
  @ApiProperty({ type: Object }) metrics!: MetricsSpec;
  @ApiProperty({ type: Object }) stats!: StatsSettings;
  @ApiPropertyOptional({ type: Object, nullable: true }) layer!: LayerSpec | null;
  @ApiProperty({ type: Object }) forced!: Record<string, string>;
  @ApiPropertyOptional({ nullable: true, type: String }) winner!: string | null;
  @ApiPropertyOptional({ type: Object, nullable: true, description: 'Ramp plan and the step served.' }) ramp!: RampState | null;
  @ApiPropertyOptional({ type: Object, nullable: true }) bandit!: BanditSettings | null;
  @ApiPropertyOptional({ type: Object, nullable: true, description: 'The shadow variant {variant, sampleRate} (docs/gateway.md, "Shadow variants").' }) shadow!: ShadowSettings | null;
  @ApiPropertyOptional({ type: Object, nullable: true, description: 'Prompt and answer capture {sampleRate, maxChars, retentionDays}; null: nothing stored (docs/gateway.md, "Capture").' }) capture!: CaptureSettings | null;
  @ApiProperty({ description: 'Current allocation phase (0 in draft).' }) phase!: number;
  @ApiProperty() revision!: number;
  @ApiProperty() createdAt!: string;
  @ApiProperty() updatedAt!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) startedAt!: string | null;
  @ApiPropertyOptional({ nullable: true, type: String }) endedAt!: string | null;

  static from(e: ExperimentEntity): ExperimentResponse {
    return {
      id: e.id,
      key: e.key,
      name: e.name,
      hypothesis: e.hypothesis,
      unitType: e.unitType,
      status: e.status,
      trafficAllocation: e.trafficAllocation,
      variants: e.variants.map((v) => ({ ...v, upstream: e.upstreams?.[v.key] ?? null })),
      metrics: e.metrics,
      stats: e.stats,
      layer: e.layer,
      forced: e.forced,
      winner: e.winner,
      ramp: e.ramp,
      bandit: e.bandit,
      shadow: e.shadow ?? null,
      capture: e.capture ?? null,
      phase: e.phase,
      revision: e.revision,
      createdAt: e.createdAt.toISOString(),
      updatedAt: e.updatedAt.toISOString(),
      startedAt: e.startedAt?.toISOString() ?? null,
      endedAt: e.endedAt?.toISOString() ?? null,
    };
  }
}

export class ExperimentListResponse {
  @ApiProperty({ type: [ExperimentResponse] }) items!: ExperimentResponse[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}

export class PhaseResponse {
  @ApiProperty() phase!: number;
  @ApiProperty() startedAt!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) endedAt!: string | null;
  @ApiProperty() trafficAllocation!: number;
  @ApiProperty({ type: Object, description: 'Effective weight per variant key.' }) weights!: Record<string, number>;
  @ApiProperty() reason!: string;

  static from(p: ExperimentPhaseEntity): PhaseResponse {
    return {
      phase: p.phase,
      startedAt: p.startedAt.toISOString(),
      endedAt: p.endedAt?.toISOString() ?? null,
      trafficAllocation: p.trafficAllocation,
      weights: p.weights,
      reason: p.reason,
    };
  }
}

export class AuditEntryResponse {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'Name of the API key that made the change, or "system".' }) actor!: string;
  @ApiPropertyOptional({ nullable: true, type: String }) actorKeyId!: string | null;
  @ApiProperty({ example: 'experiment.start' }) action!: string;
  @ApiPropertyOptional({ type: Object, nullable: true }) before!: unknown;
  @ApiPropertyOptional({ type: Object, nullable: true }) after!: unknown;
  @ApiProperty() at!: string;

  static from(a: AuditEntryEntity): AuditEntryResponse {
    return {
      id: String(a.id),
      actor: a.actor,
      actorKeyId: a.actorKeyId,
      action: a.action,
      before: a.before,
      after: a.after,
      at: a.createdAt.toISOString(),
    };
  }
}

export class AuditListResponse {
  @ApiProperty({ type: [AuditEntryResponse] }) items!: AuditEntryResponse[];
  @ApiProperty() total!: number;
}
