import { createHmac } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import type { DataSource, Repository } from 'typeorm';
import { AuditService, type Actor } from '../audit/audit.service';
import { ProjectWebhookEntity } from './project-webhook.entity';
import { WebhookNotFoundError } from './reports.errors';

const TIMEOUT_MS = 10_000;

/** `sha256=<hex>` of HMAC-SHA256(secret, body): what X-Verdict-Signature carries. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The project's alert webhook: configured by admins (audited), called with signed JSON bodies. */
@Injectable()
export class WebhookService {
  constructor(
    @InjectRepository(ProjectWebhookEntity) private readonly webhooks: Repository<ProjectWebhookEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  async put(projectId: string, actor: Actor, input: { url: string; secret: string }): Promise<ProjectWebhookEntity> {
    return this.dataSource.transaction(async (manager) => {
      const repository = manager.getRepository(ProjectWebhookEntity);
      const before = await repository.findOne({ where: { projectId } });
      const saved = await repository.save(repository.create({ ...(before ?? {}), projectId, url: input.url, secret: input.secret }));
      // The secret never enters the audit log.
      await this.audit.record(
        { projectId, actor, action: 'webhook.updated', targetType: 'project', targetId: projectId, before: before ? { url: before.url } : undefined, after: { url: saved.url } },
        manager,
      );
      return saved;
    });
  }

  async get(projectId: string): Promise<ProjectWebhookEntity> {
    const webhook = await this.webhooks.findOne({ where: { projectId } });
    if (!webhook) throw new WebhookNotFoundError();
    return webhook;
  }

  async find(projectId: string): Promise<ProjectWebhookEntity | null> {
    return this.webhooks.findOne({ where: { projectId } });
  }

  async remove(projectId: string, actor: Actor): Promise<void> {
    const current = await this.get(projectId);
    await this.dataSource.transaction(async (manager) => {
      await manager.getRepository(ProjectWebhookEntity).delete({ projectId });
      await this.audit.record({ projectId, actor, action: 'webhook.deleted', targetType: 'project', targetId: projectId, before: { url: current.url } }, manager);
    });
  }

  /** POSTs the JSON body signed with the secret; throws on a network error or a non-2xx answer. */
  async call(webhook: ProjectWebhookEntity, payload: object): Promise<void> {
    const body = JSON.stringify(payload);
    const response = await fetch(webhook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'Verdict-Webhook/1', 'x-verdict-signature': signBody(webhook.secret, body) },
      body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`webhook answered ${response.status}`);
  }
}
