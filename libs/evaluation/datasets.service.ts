import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { DataSource, IsNull, type Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { type Actor, AuditService } from '../audit/audit.service';
import { ValidationFailedError } from '../errors/domain-error';
import { DatasetCaseEntity } from './dataset-case.entity';
import { type DatasetUpload, parseJsonlUpload, parseJsonUpload, type UploadProblem } from './dataset-upload';
import { DatasetVersionEntity } from './dataset-version.entity';
import { DatasetNotFoundError, DatasetTooLargeError } from './evaluation.errors';

/** Cases inserted per statement (8 parameters each, well under Postgres' 65 535). */
const INSERT_CHUNK = 500;

export type DatasetUploadBody = { format: 'json'; body: unknown } | { format: 'jsonl'; name: unknown; text: string };

function unwrap(result: DatasetUpload | UploadProblem): DatasetUpload {
  if ('errors' in result) {
    if (result.status === 413) throw new DatasetTooLargeError(result.errors);
    throw new ValidationFailedError(result.errors, 'The dataset is not valid.');
  }
  return result;
}

/** Versioned datasets of cases for offline evaluation runs. */
@Injectable()
export class DatasetsService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    @InjectRepository(DatasetVersionEntity) private readonly versions: Repository<DatasetVersionEntity>,
    @InjectRepository(DatasetCaseEntity) private readonly cases: Repository<DatasetCaseEntity>,
  ) {}

  /**
   * Stores an upload as the dataset's next version, or returns the latest version unchanged
   * (`created: false`) when its cases are identical.
   */
  async upload(projectId: string, actor: Actor, input: DatasetUploadBody): Promise<{ version: DatasetVersionEntity; created: boolean }> {
    const upload = unwrap(input.format === 'json' ? parseJsonUpload(input.body) : parseJsonlUpload(input.name, input.text));
    return this.dataSource.transaction(async (manager) => {
      // One writer per (project, name) at a time, so versions are numbered without gaps or races.
      await manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 19))', [`dataset:${projectId}:${upload.name}`]);
      const repo = manager.getRepository(DatasetVersionEntity);
      const latest = await repo.findOne({ where: { projectId, name: upload.name }, order: { version: 'DESC' } });
      if (latest && latest.deletedAt === null && latest.contentHash === upload.contentHash) return { version: latest, created: false };
      const version = await repo.save(
        repo.create({ projectId, name: upload.name, version: (latest?.version ?? 0) + 1, caseCount: upload.cases.length, contentHash: upload.contentHash, deletedAt: null }),
      );
      for (let start = 0; start < upload.cases.length; start += INSERT_CHUNK) {
        const rows = upload.cases.slice(start, start + INSERT_CHUNK).map((c, i) => ({
          datasetVersionId: version.id,
          position: start + i,
          caseId: c.caseId,
          messages: c.messages,
          reference: c.reference as DatasetCaseEntity['reference'],
          schema: c.schema,
          tags: c.tags,
          metadata: c.metadata,
        }));
        // jsonb columns typed as plain objects trip TypeORM's deep-partial type; the rows are complete entities.
        await manager.getRepository(DatasetCaseEntity).insert(rows as unknown as QueryDeepPartialEntity<DatasetCaseEntity>[]);
      }
      await this.audit.record(
        { projectId, actor, action: 'dataset.created', targetType: 'dataset', targetId: version.id, after: { name: version.name, version: version.version, cases: version.caseCount } },
        manager,
      );
      return { version, created: true };
    });
  }

  /** The latest version of every dataset of the project, by name. */
  async list(projectId: string): Promise<DatasetVersionEntity[]> {
    const ids: { id: string }[] = await this.versions.query(
      `SELECT DISTINCT ON (name) id FROM dataset_version WHERE project_id = $1 AND deleted_at IS NULL ORDER BY name, version DESC`,
      [projectId],
    );
    if (!ids.length) return [];
    const rows = await this.versions.findBy(ids.map(({ id }) => ({ id })));
    return rows.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A version of a dataset (the latest when `version` is undefined); deleted datasets are not found. */
  async get(projectId: string, name: string, version?: number): Promise<DatasetVersionEntity> {
    const found = await this.versions.findOne({
      where: { projectId, name, deletedAt: IsNull(), ...(version === undefined ? {} : { version }) },
      order: { version: 'DESC' },
    });
    if (!found) throw new DatasetNotFoundError(name, version);
    return found;
  }

  /** A version (default the latest), every version number newest first, and a page of its cases in upload order. */
  async describe(projectId: string, name: string, version: number | undefined, limit: number, offset: number): Promise<{ version: DatasetVersionEntity; versions: number[]; cases: DatasetCaseEntity[] }> {
    const found = await this.get(projectId, name, version);
    const rows = await this.versions.find({ where: { projectId, name, deletedAt: IsNull() }, select: { version: true }, order: { version: 'DESC' } });
    const cases = await this.cases.find({ where: { datasetVersionId: found.id }, order: { position: 'ASC' }, take: limit, skip: offset });
    return { version: found, versions: rows.map((r) => r.version), cases };
  }

  /** Every case of a version in upload order (runs read them once). */
  async allCases(datasetVersionId: string): Promise<DatasetCaseEntity[]> {
    return this.cases.find({ where: { datasetVersionId }, order: { position: 'ASC' } });
  }

  /** Hides every version of the dataset; runs that used them keep their cases. */
  async remove(projectId: string, actor: Actor, name: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const result = await manager
        .createQueryBuilder()
        .update(DatasetVersionEntity)
        .set({ deletedAt: () => 'now()' })
        .where('project_id = :projectId AND name = :name AND deleted_at IS NULL', { projectId, name })
        .returning(['id'])
        .execute();
      const ids = (result.raw as { id: string }[]).map((r) => r.id);
      if (!ids.length) throw new DatasetNotFoundError(name);
      await this.audit.record({ projectId, actor, action: 'dataset.deleted', targetType: 'dataset', targetId: ids[0], after: { name, versions: ids.length } }, manager);
    });
  }
}
