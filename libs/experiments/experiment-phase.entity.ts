import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ExperimentEntity } from './experiment.entity';

/**
 * An allocation phase: a period with fixed weights and allocation. Analysis never
 * pools phases naively, and SRM is checked per phase against that phase's weights.
 */
@Entity({ name: 'experiment_phase' })
export class ExperimentPhaseEntity {
  @PrimaryColumn({ name: 'experiment_id', type: 'uuid', primaryKeyConstraintName: 'experiment_phase_pkey' })
  experimentId!: string;

  @PrimaryColumn({ type: 'integer', primaryKeyConstraintName: 'experiment_phase_pkey' })
  phase!: number;

  @ManyToOne(() => ExperimentEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'experiment_id', foreignKeyConstraintName: 'experiment_phase_experiment_fkey' })
  experiment?: ExperimentEntity;

  @Column({ name: 'started_at', type: 'timestamptz' })
  startedAt!: Date;

  @Column({ name: 'ended_at', type: 'timestamptz', nullable: true })
  endedAt!: Date | null;

  @Column({ name: 'traffic_allocation', type: 'double precision' })
  trafficAllocation!: number;

  /** Effective weights in this phase: variant key -> weight (rolled-back variants count for the control). */
  @Column({ type: 'jsonb' })
  weights!: Record<string, number>;

  @Column({ type: 'text' })
  reason!: string;
}
