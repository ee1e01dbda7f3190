import { createHmac, randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource, InjectRepository } from '@nestjs/typeorm';
import type { DataSource, Repository } from 'typeorm';
import { AuditService, type Actor } from '../audit/audit.service';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { TooManyRequestsError, ValidationFailedError } from '../errors/domain-error';
import { redactUrl } from '../logging/redaction';
import { OutboundClient } from '../outbound/outbound-client';
import { OutboundError } from '../outbound/outbound.errors';
import { SharedThrottle } from '../bus/change-bus';
import { ProjectWebhookEntity } from './project-webhook.entity';
import { WebhookNotFoundError } from './reports.errors';
import { WebhookDeliveryEntity, type WebhookDeliveryOutcome, type WebhookDeliveryTrigger } from './webhook-delivery.entity';

/** Delivery records kept per project (older ones are deleted as new ones come). */
export const WEBHOOK_DELIVERIES_KEPT = 1000;
/** One test ping per project in this window, across replicas. */
export const WEBHOOK_TEST_INTERVAL_MS = 10_000;
/** A receiver's answer is read (and thrown away) up to this size; past it the connection is dropped. */
const MAX_RESPONSE_BYTES = 16 * 1024;
const MAX_REASON_LENGTH = 500;

/**
 * `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`: what X-Verdict-Signature carries.
 * The timestamp (unix seconds, also in X-Verdict-Timestamp) is signed with the body, so a
 * receiver that checks it is recent cannot be fed an old delivery again (docs/reports.md).
 */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The URL as delivery records keep it: origin and path, no credentials, query or fragment. */
export function deliveryUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`.slice(0, 2000);
  } catch {
    return '(not a URL)';
  }
}

/**
 * The project's alert webhook: configured by admins (audited; the URL must pass the
 * outbound policy), called through the guarded outbound client with signed JSON bodies,
 * every attempt recorded in webhook_delivery (docs/adr/0016).
 */
@Injectable()
export class WebhookService {
  constructor(
    @InjectRepository(ProjectWebhookEntity) private readonly webhooks: Repository<ProjectWebhookEntity>,
    @InjectRepository(WebhookDeliveryEntity) private readonly deliveries: Repository<WebhookDeliveryEntity>,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly outbound: OutboundClient,
    private readonly throttle: SharedThrottle,
    @Inject(VERDICT_CONFIG) private readonly config: VerdictConfig,
  ) {}

  /** A URL the policy refuses now (scheme, credentials, an internal address, a name that does not exist) is a 400 on `url`. */
  async put(projectId: string, actor: Actor, input: { url: string; secret: string }): Promise<ProjectWebhookEntity> {
    const check = await this.outbound.check(input.url);
    if (!check.ok) throw new ValidationFailedError([{ field: 'url', message: check.reason }]);
    return this.dataSource.transaction(async (manager) => {
      const repository = manager.getRepository(ProjectWebhookEntity);
      const before = await repository.findOne({ where: { projectId } });
      const saved = await repository.save(repository.create({ ...(before ?? {}), projectId, url: input.url, secret: input.secret }));
      // The secret never enters the audit log, nor do a URL's credentials or query values (tokens).
      await this.audit.record(
        { projectId, actor, action: 'webhook.updated', targetType: 'project', targetId: projectId, before: before ? { url: redactUrl(before.url) } : undefined, after: { url: redactUrl(saved.url) } },
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
      await this.audit.record({ projectId, actor, action: 'webhook.deleted', targetType: 'project', targetId: projectId, before: { url: redactUrl(current.url) } }, manager);
    });
  }

  /**
   * POSTs the payload, signed, and records the attempt. Resolves with the record whatever
   * the outcome (delivered only on a 2xx answer; a 3xx is a failure: redirects are never
   * followed); rejects only when the record cannot be written.
   */
  async deliver(webhook: ProjectWebhookEntity, payload: object, source: { trigger: WebhookDeliveryTrigger; alertId?: string }): Promise<WebhookDeliveryEntity> {
    const id = randomUUID();
    const startedAt = new Date();
    const timestamp = Math.floor(startedAt.getTime() / 1000);
    const body = JSON.stringify(payload);
    let outcome: WebhookDeliveryOutcome;
    let statusCode: number | null = null;
    let reason: string | null = null;
    try {
      const response = await this.outbound.open({
        method: 'POST',
        url: webhook.url,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Verdict-Webhook/1',
          'x-verdict-delivery': id,
          'x-verdict-timestamp': String(timestamp),
          'x-verdict-signature': signWebhook(webhook.secret, timestamp, body),
        },
        body,
        timeoutMs: this.config.outbound.webhookTimeoutMs,
        maxResponseBytes: MAX_RESPONSE_BYTES,
      });
      statusCode = response.status;
      if (statusCode >= 200 && statusCode < 300) outcome = 'delivered';
      else {
        outcome = 'failed';
        reason = statusCode >= 300 && statusCode < 400 ? `answered ${statusCode}: redirects are not followed` : `answered ${statusCode}`;
      }
      // The answer's body means nothing to us: drained (bounded) so the connection can be reused.
      await drain(response.body);
    } catch (error) {
      if (!(error instanceof OutboundError)) throw error;
      outcome = error.kind;
      reason = error.message;
    }
    const record = {
      id,
      projectId: webhook.projectId,
      alertId: source.alertId ?? null,
      trigger: source.trigger,
      url: deliveryUrl(webhook.url),
      outcome,
      statusCode,
      reason: reason === null ? null : reason.slice(0, MAX_REASON_LENGTH),
      durationMs: Date.now() - startedAt.getTime(),
      createdAt: startedAt,
    };
    await this.deliveries.insert(record);
    await this.dataSource.query(
      `DELETE FROM webhook_delivery WHERE id IN (
         SELECT id FROM webhook_delivery WHERE project_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2)`,
      [webhook.projectId, WEBHOOK_DELIVERIES_KEPT],
    );
    return Object.assign(new WebhookDeliveryEntity(), record);
  }

  /** Sends a signed `webhook.test` ping now and answers with its record; one per project every 10 s (429 otherwise). */
  async test(projectId: string): Promise<WebhookDeliveryEntity> {
    const webhook = await this.get(projectId);
    const left = await this.throttle.acquire(`webhook-test:${projectId}`, WEBHOOK_TEST_INTERVAL_MS);
    if (left > 0) {
      throw new TooManyRequestsError('One test ping per project every 10 seconds.', Math.max(1, Math.ceil(left / 1000)));
    }
    return this.deliver(webhook, { type: 'webhook.test', at: new Date().toISOString() }, { trigger: 'test' });
  }

  /** Newest first. */
  async listDeliveries(projectId: string, limit: number, offset: number): Promise<{ items: WebhookDeliveryEntity[]; total: number }> {
    const [items, total] = await this.deliveries.findAndCount({ where: { projectId }, order: { createdAt: 'DESC', id: 'DESC' }, take: limit, skip: offset });
    return { items, total };
  }
}

async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  try {
    for await (const _chunk of body);
  } catch {
    // Too large or too slow: the client has dropped the connection; the status stands.
  }
}
