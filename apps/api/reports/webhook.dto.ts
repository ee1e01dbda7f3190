import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength, ValidateBy } from 'class-validator';
import type { ProjectWebhookEntity } from '../../../libs/reports/project-webhook.entity';
import type { WebhookDeliveryEntity, WebhookDeliveryOutcome, WebhookDeliveryTrigger } from '../../../libs/reports/webhook-delivery.entity';
import { PageQueryDto } from '../http/page-query.dto';

/** Parsed as the outbound client parses it (WHATWG URL); the outbound policy (https, no credentials, no internal address) is the service's check. */
function IsAbsoluteUrl(): PropertyDecorator {
  return ValidateBy({
    name: 'isAbsoluteUrl',
    validator: { validate: (value: unknown) => typeof value === 'string' && URL.canParse(value), defaultMessage: () => 'must be an absolute URL' },
  });
}

export class PutWebhookDto {
  @ApiProperty({
    example: 'https://hooks.example.com/verdict',
    description: 'https (http only when the operator allows it), no credentials, and a host that is not an internal address (checked now and at every call)',
    maxLength: 2000,
  })
  @IsString()
  @MaxLength(2000)
  @IsAbsoluteUrl()
  url!: string;

  @ApiProperty({ description: 'Signs each call: X-Verdict-Signature: v1=<hex HMAC-SHA256(secret, "<X-Verdict-Timestamp>.<body>")>', minLength: 16 })
  @IsString()
  @MinLength(16)
  @MaxLength(200)
  secret!: string;
}

export class WebhookResponse {
  @ApiProperty() url!: string;
  @ApiProperty() updatedAt!: string;

  static from(webhook: ProjectWebhookEntity): WebhookResponse {
    return { url: webhook.url, updatedAt: webhook.updatedAt.toISOString() };
  }
}

export class DeliveriesQueryDto extends PageQueryDto {}

export class WebhookDeliveryResponse {
  @ApiProperty({ description: 'Also sent as X-Verdict-Delivery' }) id!: string;
  @ApiProperty({ enum: ['alert', 'test'] }) trigger!: WebhookDeliveryTrigger;
  @ApiProperty({ nullable: true, type: String, description: 'The stop alert delivered (null for a test ping)' }) alertId!: string | null;
  @ApiProperty({ description: 'Origin and path of the URL called (no query)' }) url!: string;
  @ApiProperty({
    enum: ['delivered', 'refused', 'failed', 'timed_out'],
    description: 'delivered: a 2xx answer; refused: the outbound policy forbade the address, nothing was sent; failed: another answer (a 3xx too: redirects are not followed) or error',
  })
  outcome!: WebhookDeliveryOutcome;
  @ApiProperty({ nullable: true, type: Number, description: "The receiver's HTTP status, when it answered" }) statusCode!: number | null;
  @ApiProperty({ nullable: true, type: String }) reason!: string | null;
  @ApiProperty() durationMs!: number;
  @ApiProperty({ description: 'When the attempt started' }) createdAt!: string;

  static from(delivery: WebhookDeliveryEntity): WebhookDeliveryResponse {
    return {
      id: delivery.id,
      trigger: delivery.trigger,
      alertId: delivery.alertId,
      url: delivery.url,
      outcome: delivery.outcome,
      statusCode: delivery.statusCode,
      reason: delivery.reason,
      durationMs: delivery.durationMs,
      createdAt: delivery.createdAt.toISOString(),
    };
  }
}

export class WebhookDeliveryListResponse {
  @ApiProperty({ type: [WebhookDeliveryResponse] }) items!: WebhookDeliveryResponse[];
  @ApiProperty() total!: number;
}
