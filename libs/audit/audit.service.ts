import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { EntityManager, Repository } from 'typeorm';
import { AuditEntryEntity } from './audit-entry.entity';

/** Who acts: an API key, or the service itself (monitors, ramps). */
export interface Actor {
  keyId: string | null;
  name: string;
}

export const SYSTEM_ACTOR: Actor = { keyId: null, name: 'system' };

export interface AuditRecord {
  projectId: string;
  actor: Actor;
  action: string;
  targetType: 'experiment' | 'api_key' | 'project' | 'report' | 'dataset' | 'evaluation';
  targetId: string;
  before?: object;
  after?: object;
}

@Injectable()
export class AuditService {
  constructor(@InjectRepository(AuditEntryEntity) private readonly entries: Repository<AuditEntryEntity>) {}

  /** Records a change; pass the transaction's manager so the entry commits with the change. */
  async record(record: AuditRecord, manager?: EntityManager): Promise<void> {
    const repository = manager ? manager.getRepository(AuditEntryEntity) : this.entries;
    await repository.insert({
      projectId: record.projectId,
      actorKeyId: record.actor.keyId,
      actor: record.actor.name,
      action: record.action,
      targetType: record.targetType,
      targetId: record.targetId,
      before: record.before ?? null,
      after: record.after ?? null,
    });
  }

  async list(projectId: string, targetType: string, targetId: string, limit: number, offset: number) {
    const [items, total] = await this.entries.findAndCount({
      where: { projectId, targetType, targetId },
      order: { createdAt: 'ASC', id: 'ASC' },
      take: limit,
      skip: offset,
    });
    return { items, total };
  }
}

