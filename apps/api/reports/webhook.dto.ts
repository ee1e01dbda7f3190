import { ApiProperty } from '@nestjs/swagger';
import { IsString, IsUrl, MaxLength, MinLength } from 'class-validator';
import type { ProjectWebhookEntity } from '../../../libs/reports/project-webhook.entity';

export class PutWebhookDto {
  @ApiProperty({ example: 'https://hooks.example.com/verdict' })
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }, { message: 'must be an http(s) URL' })
  @MaxLength(2000)
  url!: string;

  @ApiProperty({ description: 'Signs each body: X-Verdict-Signature: sha256=<hex HMAC-SHA256(secret, body)>', minLength: 16 })
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
