import { Column, CreateDateColumn, Entity, Index, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { UnitType } from '../assignment/core/snapshot';
import type { BanditSettings, ExperimentStatus, LayerSpec, MetricsSpec, RampState, ShadowSettings, CaptureSettings, StatsSettings, Upstream, Variant } from './experiment.types';

@Entity({ name: 'experiment' })
@Index('experiment_project_key_key', ['projectId', 'key'], { unique: true })
@Index('experiment_project_status_idx', ['projectId', 'status'])
export class ExperimentEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'experiment_pkey' })
  id!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  @Column({ type: 'text' })
  key!: string;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text', nullable: true })
  hypothesis!: string | null;

  @Column({ name: 'unit_type', type: 'text' })
  unitType!: UnitType;

  @Column({ type: 'text' })
  status!: ExperimentStatus;

  /** Hashing salt, random at creation and never changed: changing it would reshuffle every unit. */
  @Column({ type: 'text' })
  salt!: string;

  @Column({ name: 'traffic_allocation', type: 'double precision' })
  trafficAllocation!: number;

  @Column({ type: 'jsonb' })
  variants!: Variant[];

  /**
   * Variant key -> where the gateway sends that variant's traffic (docs/gateway.md). Its own
   * column, beside the variants, so that nothing maps it into the SDK snapshot by accident.
   */
  @Column({ type: 'jsonb', default: {} })
  upstreams!: Record<string, Upstream>;

  /** The shadow variant and its sample rate (docs/adr/0031); null when none. Gateway-only, like the upstreams. */
  @Column({ type: 'jsonb', nullable: true })
  shadow!: ShadowSettings | null;

  /** Prompt and answer capture by the gateway (docs/adr/0039); null (the default): nothing is stored. */
  @Column({ type: 'jsonb', nullable: true })
  capture!: CaptureSettings | null;

  @Column({ type: 'jsonb' })
  metrics!: MetricsSpec;

  @Column({ type: 'jsonb' })
  stats!: StatsSettings;

  @Column({ type: 'jsonb', nullable: true })
  layer!: LayerSpec | null;

  /** QA overrides: unit id -> variant key. */
  @Column({ type: 'jsonb' })
  forced!: Record<string, string>;

  @Column({ type: 'text', nullable: true })
  winner!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  ramp!: RampState | null;

  @Column({ type: 'jsonb', nullable: true })
  bandit!: BanditSettings | null;

  /** 0 while in draft; 1 from the start; +1 at every change of weights, allocation or rollbacks. */
  @Column({ type: 'integer', default: 0 })
  phase!: number;

  /** Optimistic concurrency and snapshot versioning: +1 at every change. */
  @Column({ type: 'integer', default: 1 })
  revision!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;

  @Column({ name: 'started_at', type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ name: 'ended_at', type: 'timestamptz', nullable: true })
  endedAt!: Date | null;
}
