import { Body, Controller, Delete, Get, HttpCode, Post, Put, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { WebhookService } from '../../../libs/reports/webhook.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { DeliveriesQueryDto, PutWebhookDto, WebhookDeliveryListResponse, WebhookDeliveryResponse, WebhookResponse } from './webhook.dto';

@ApiTags('reports')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/webhook')
export class WebhookController {
  constructor(private readonly webhooks: WebhookService) {}

  @Put()
  @ApiOperation({ summary: "Set the project's alert webhook (called when a decision turns to stop)" })
  @ApiResponse({ status: 200, type: WebhookResponse })
  @ApiResponse({ status: 400, description: 'The URL is refused by the outbound policy (scheme, credentials, internal address...) or the secret is too short: named in errors' })
  async put(@CurrentPrincipal() principal: Principal, @Body() body: PutWebhookDto): Promise<WebhookResponse> {
    return WebhookResponse.from(await this.webhooks.put(principal.projectId, toActor(principal), body));
  }

  @Get()
  @ApiOperation({ summary: "The project's alert webhook (the secret is never shown)" })
  @ApiResponse({ status: 200, type: WebhookResponse })
  async get(@CurrentPrincipal() principal: Principal): Promise<WebhookResponse> {
    return WebhookResponse.from(await this.webhooks.get(principal.projectId));
  }

  @Delete()
  @HttpCode(204)
  @ApiResponse({ status: 204 })
  remove(@CurrentPrincipal() principal: Principal): Promise<void> {
    return this.webhooks.remove(principal.projectId, toActor(principal));
  }

  @Get('deliveries')
  @ApiOperation({ summary: 'Every attempt to call the webhook, newest first: outcome, status, reason, duration (the last 1,000 are kept)' })
  @ApiResponse({ status: 200, type: WebhookDeliveryListResponse })
  async deliveries(@CurrentPrincipal() principal: Principal, @Query() query: DeliveriesQueryDto): Promise<WebhookDeliveryListResponse> {
    const { items, total } = await this.webhooks.listDeliveries(principal.projectId, query.limit ?? 50, query.offset ?? 0);
    return { items: items.map(WebhookDeliveryResponse.from), total };
  }

  @Post('test')
  @HttpCode(200)
  @ApiOperation({ summary: 'Send a signed webhook.test ping now; answers with its delivery record, whatever the outcome' })
  @ApiResponse({ status: 200, type: WebhookDeliveryResponse })
  @ApiResponse({ status: 404, description: 'The project has no webhook' })
  @ApiResponse({ status: 429, description: 'One test ping per project every 10 seconds (Retry-After)' })
  async test(@CurrentPrincipal() principal: Principal): Promise<WebhookDeliveryResponse> {
    return WebhookDeliveryResponse.from(await this.webhooks.test(principal.projectId));
  }
}
