import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ExperimentEntity } from '../experiments/experiment.entity';

/**
 * A captured gateway call (issue #17, docs/adr/0039): the request's messages or prompt and the
 * answer's final text, each cut at the experiment's capture.maxChars (truncation marked), for
 * a sampled share of the calls of an experiment that asks for it. Nothing is stored otherwise.
 * Deleted by the worker once `expires_at` passes (capture.retentionDays at capture time).
 */
@Entity({ name: 'gateway_capture' })
@Index('gateway_capture_page_idx', ['experimentId', 'capturedAt', 'eventId'])
@Index('gateway_capture_expires_idx', ['expiresAt'])
export class GatewayCaptureEntity {
  @PrimaryColumn({ name: 'experiment_id', type: 'uuid', primaryKeyConstraintName: 'gateway_capture_pkey' })
  experimentId!: string;

  @ManyToOne(() => ExperimentEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'experiment_id', foreignKeyConstraintName: 'gateway_capture_experiment_fkey' })
  experiment?: ExperimentEntity;

  /** The call's x-verdict-event-id (its outcome event's id). */
  @PrimaryColumn({ name: 'event_id', type: 'text', primaryKeyConstraintName: 'gateway_capture_pkey' })
  eventId!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  /** The assigned variant. */
  @Column({ type: 'text' })
  variant!: string;

  /** The instance that answered (its base URL, without credentials); null when none was reached. */
  @Column({ type: 'text', nullable: true })
  instance!: string | null;

  /** chat, completions, embeddings or responses. */
  @Column({ type: 'text' })
  endpoint!: string;

  @Column({ type: 'boolean' })
  stream!: boolean;

  /** The client's messages (chat) or input as JSON, or its prompt when it is a string; at most maxChars. */
  @Column({ type: 'text' })
  prompt!: string;

  @Column({ name: 'prompt_truncated', type: 'boolean' })
  promptTruncated!: boolean;

  /** The answer's final text as the client got it (content and tool calls); null when the answer carried none. */
  @Column({ type: 'text', nullable: true })
  answer!: string | null;

  @Column({ name: 'answer_truncated', type: 'boolean' })
  answerTruncated!: boolean;

  /** The call's error class (as in its outcome), null when it succeeded. */
  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ name: 'captured_at', type: 'timestamptz' })
  capturedAt!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}
