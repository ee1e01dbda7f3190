import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, IsNull, Repository } from 'typeorm';
import { AuditService, type Actor } from '../audit/audit.service';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { ForbiddenError } from '../errors/domain-error';
import { ChangeBus } from '../redis/change-bus';
import { ApiKeyEntity, type ApiKeyScope } from './api-key.entity';
import { generateApiKey, hashApiKey, keyPrefix } from './api-key';
import { ApiKeyNotFoundError } from './auth.errors';
import type { Principal } from './principal';
import { ProjectEntity } from './project.entity';

/** How long a verified key is trusted from memory; revocations also evict it at once on every replica. */
const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 10_000;
const REVOKED_CHANNEL = 'auth:revoked';

export interface CreatedApiKey {
  key: ApiKeyEntity;
  secret: string;
}

export function toActor(principal: Principal): Actor {
  return { keyId: principal.keyId, name: principal.keyName };
}

@Injectable()
export class ApiKeysService implements OnModuleInit {
  private readonly logger = new Logger(ApiKeysService.name);
  /** key hash -> principal (or null: unknown or revoked), so the hot paths never query per request. */
  private readonly cache = new Map<string, { principal: Principal | null; expiresAt: number }>();

  constructor(
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly bus: ChangeBus,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.bus.subscribe(REVOKED_CHANNEL, (hash) => this.cache.delete(hash));
  }

  /**
   * Makes sure VERDICT_ADMIN_KEY is a working admin key: on first start it creates the
   * `default` project; when the configured key changes, the old bootstrap key is revoked.
   */
  async bootstrap(): Promise<void> {
    const secret = this.config.auth.bootstrapAdminKey;
    const hash = hashApiKey(secret);
    await this.dataSource.transaction(async (manager) => {
      // One bootstrap at a time, even when API and worker start together.
      await manager.query('SELECT pg_advisory_xact_lock(hashtext($1))', ['verdict:bootstrap']);
      const existing = await manager.findOne(ApiKeyEntity, { where: { keyHash: hash } });
      if (existing) return;
      const previous = await manager.findOne(ApiKeyEntity, { where: { isBootstrap: true, revokedAt: IsNull() } });
      let projectId = previous?.projectId;
      if (!projectId) {
        const project = await manager.save(ProjectEntity, manager.create(ProjectEntity, { name: 'default' }));
        projectId = project.id;
      }
      if (previous) await manager.update(ApiKeyEntity, { id: previous.id }, { revokedAt: new Date() });
      await manager.insert(ApiKeyEntity, {
        projectId,
        name: 'bootstrap (VERDICT_ADMIN_KEY)',
        scope: 'admin',
        prefix: keyPrefix(secret),
        keyHash: hash,
        isBootstrap: true,
        revokedAt: null,
      });
      this.logger.log({ projectId }, 'bootstrap admin key registered');
    });
  }

  /** The principal for a raw key, or null when it is unknown or revoked. */
  async authenticate(secret: string): Promise<Principal | null> {
    const hash = hashApiKey(secret);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.expiresAt > now) return cached.principal;
    const key = await this.keys.findOne({ where: { keyHash: hash } });
    const principal: Principal | null =
      key && !key.revokedAt
        ? { keyId: key.id, keyName: key.name, projectId: key.projectId, scope: key.scope, isBootstrap: key.isBootstrap }
        : null;
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { principal, expiresAt: now + CACHE_TTL_MS });
    return principal;
  }

  async create(principal: Principal, name: string, scope: ApiKeyScope): Promise<CreatedApiKey> {
    return this.createInProject(principal, principal.projectId, name, scope);
  }

  private async createInProject(
    principal: Principal,
    projectId: string,
    name: string,
    scope: ApiKeyScope,
  ): Promise<CreatedApiKey> {
    const secret = generateApiKey(scope);
    const key = await this.dataSource.transaction(async (manager) => {
      const saved = await manager.save(
        ApiKeyEntity,
        manager.create(ApiKeyEntity, {
          projectId,
          name,
          scope,
          prefix: keyPrefix(secret),
          keyHash: hashApiKey(secret),
          isBootstrap: false,
          revokedAt: null,
        }),
      );
      await this.audit.record(
        {
          projectId,
          actor: toActor(principal),
          action: 'api_key.created',
          targetType: 'api_key',
          targetId: saved.id,
          after: describeKey(saved),
        },
        manager,
      );
      return saved;
    });
    return { key, secret };
  }

  async list(projectId: string): Promise<ApiKeyEntity[]> {
    return this.keys.find({ where: { projectId }, order: { createdAt: 'ASC' } });
  }

  async revoke(principal: Principal, id: string): Promise<ApiKeyEntity> {
    const revoked = await this.dataSource.transaction(async (manager) => {
      const key = await manager.findOne(ApiKeyEntity, {
        where: { id, projectId: principal.projectId },
        lock: { mode: 'pessimistic_write' },
      });
      if (!key) throw new ApiKeyNotFoundError(id);
      if (key.revokedAt) return key;
      const before = describeKey(key);
      key.revokedAt = new Date();
      await manager.save(ApiKeyEntity, key);
      await this.audit.record(
        {
          projectId: key.projectId,
          actor: toActor(principal),
          action: 'api_key.revoked',
          targetType: 'api_key',
          targetId: key.id,
          before,
          after: describeKey(key),
        },
        manager,
      );
      return key;
    });
    this.cache.delete(revoked.keyHash);
    await this.bus.publish(REVOKED_CHANNEL, revoked.keyHash);
    return revoked;
  }

  /** Creates a project with its first admin key. Only the bootstrap key may: it is the operator's. */
  async createProject(principal: Principal, name: string): Promise<{ project: ProjectEntity; admin: CreatedApiKey }> {
    if (!principal.isBootstrap) throw new ForbiddenError('Only the bootstrap admin key (VERDICT_ADMIN_KEY) may create projects.');
    const project = await this.dataSource.getRepository(ProjectEntity).save({ name });
    await this.audit.record({
      projectId: project.id,
      actor: toActor(principal),
      action: 'project.created',
      targetType: 'project',
      targetId: project.id,
      after: { id: project.id, name },
    });
    const admin = await this.createInProject(principal, project.id, `${name} admin`, 'admin');
    return { project, admin };
  }
}

function describeKey(key: ApiKeyEntity) {
  return { id: key.id, name: key.name, scope: key.scope, prefix: key.prefix, revokedAt: key.revokedAt };
}
