import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryGeneratedColumn } from 'typeorm';
import { ProjectEntity } from './project.entity';

export type ApiKeyScope = 'admin' | 'sdk';
export const API_KEY_SCOPES: readonly ApiKeyScope[] = ['admin', 'sdk'];

@Entity({ name: 'api_key' })
@Index('api_key_hash_key', ['keyHash'], { unique: true })
@Index('api_key_project_idx', ['projectId'])
export class ApiKeyEntity {
  @PrimaryGeneratedColumn('uuid', { primaryKeyConstraintName: 'api_key_pkey' })
  id!: string;

  @Column({ name: 'project_id', type: 'uuid' })
  projectId!: string;

  @ManyToOne(() => ProjectEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'project_id', foreignKeyConstraintName: 'api_key_project_fkey' })
  project?: ProjectEntity;

  @Column({ type: 'text' })
  name!: string;

  @Column({ type: 'text' })
  scope!: ApiKeyScope;

  /** The first characters of the key, shown in listings so people can tell keys apart. */
  @Column({ type: 'text' })
  prefix!: string;

  /** SHA-256 of the whole key, hex. Keys carry 256 bits of randomness, so a fast hash is enough. */
  @Column({ name: 'key_hash', type: 'text' })
  keyHash!: string;

  /** The key configured as VERDICT_ADMIN_KEY: the only one that may create projects. */
  @Column({ name: 'is_bootstrap', type: 'boolean', default: false })
  isBootstrap!: boolean;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt!: Date | null;
}
