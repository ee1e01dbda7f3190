import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import { DataSource, IsNull, Repository } from 'typeorm';
import { AuditService, type Actor } from '../audit/audit.service';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { ForbiddenError } from '../errors/domain-error';
import { ChangeBus } from '../bus/change-bus';
import { ApiKeyEntity, type ApiKeyScope } from './api-key.entity';
import { generateApiKey, hashApiKey, keyPrefix } from './api-key';
import { ApiKeyNotFoundError } from './auth.errors';
import type { Principal } from './principal';
import { ProjectEntity } from './project.entity';

/** How long a verified key is trusted from memory; revocations also evict it at once on every replica. */
const CACHE_TTL_MS = 30_000;
/** Keys (as presented) remembered as valid; past it the oldest entry goes (docs/adr/0017). */
const CACHE_MAX = 10_000;
/** Keys remembered as unknown or revoked: a separate map, so that floods of random keys cannot evict real ones. */
const NEGATIVE_CACHE_MAX = 10_000;
/** Longer unknown keys are not remembered, so that the negative cache stays small in bytes too (keys are ~60). */
const NEGATIVE_ENTRY_MAX_LENGTH = 512;
const REVOKED_CHANNEL = 'auth:revoked';

interface CachedKey {
  principal: Principal;
  /** SHA-256 of the key, what revocations name. */
  hash: string;
  expiresAt: number;
}

/** Sets `key` in a map bounded to `max` entries, evicting the oldest (first inserted) first. */
function setBounded<V>(map: Map<string, V>, max: number, key: string, value: V): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}

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
  /**
   * What a valid key resolved to, by the string it was presented as (the Authorization
   * header value on the API), so that the hot paths neither query nor hash per request.
   * An expired entry stays until evicted: it tells that the key was valid (wasValid()).
   */
  private readonly cache = new Map<string, CachedKey>();
  /** Keys presented that were unknown or revoked, with the time until which that is trusted. */
  private readonly unknown = new Map<string, number>();
  /** Key lookups that reached the database (each is one query). */
  databaseLookups = 0;
  /** Counts evictions: a lookup that overlapped one is answered but not remembered. */
  private evictions = 0;

  constructor(
    @InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly bus: ChangeBus,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.bus.subscribe(REVOKED_CHANNEL, (hash) => this.evict(hash));
  }

  /** Forgets a key at once, under every form it was presented as. */
  private evict(hash: string): void {
    this.evictions += 1;
    for (const [presented, entry] of this.cache) if (entry.hash === hash) this.cache.delete(presented);
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
      if (existing) {
        // Rows from before keyPrefix showed less of an operator-chosen key.
        if (existing.prefix !== keyPrefix(secret)) await manager.update(ApiKeyEntity, { id: existing.id }, { prefix: keyPrefix(secret) });
        return;
      }
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

  /**
   * What the key presented as `presented` (by authenticate()) resolved to in the last
   * 30 s: its principal, null when unknown or revoked, undefined when not in memory.
   * Synchronous, no hashing: the per-request path of every route.
   */
  cachedPrincipal(presented: string, now = Date.now()): Principal | null | undefined {
    const cached = this.cache.get(presented);
    if (cached !== undefined && cached.expiresAt > now) return cached.principal;
    const unknownUntil = this.unknown.get(presented);
    return unknownUntil !== undefined && unknownUntil > now ? null : undefined;
  }

  /** True when the key presented as `presented` was valid when last looked up (its entry may have expired). */
  wasValid(presented: string): boolean {
    return this.cache.has(presented);
  }

  /**
   * The principal for a raw key, or null when it is unknown or revoked; remembered for
   * 30 s under `presented` (the Authorization header value on the API, the key itself
   * by default) until a revocation evicts it.
   */
  async authenticate(secret: string, presented: string = secret): Promise<Principal | null> {
    const now = Date.now();
    const cached = this.cachedPrincipal(presented, now);
    if (cached !== undefined) return cached;
    const hash = hashApiKey(secret);
    const evictions = this.evictions;
    this.databaseLookups += 1;
    const key = await this.keys.findOne({ where: { keyHash: hash } });
    const principal: Principal | null =
      key && !key.revokedAt
        ? { keyId: key.id, keyName: key.name, projectId: key.projectId, scope: key.scope, isBootstrap: key.isBootstrap }
        : null;
    if (evictions === this.evictions) {
      if (principal) {
        setBounded(this.cache, CACHE_MAX, presented, { principal, hash, expiresAt: now + CACHE_TTL_MS });
        this.unknown.delete(presented);
      } else {
        this.cache.delete(presented);
        if (presented.length <= NEGATIVE_ENTRY_MAX_LENGTH) setBounded(this.unknown, NEGATIVE_CACHE_MAX, presented, now + CACHE_TTL_MS);
      }
    }
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
    this.evict(revoked.keyHash);
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
