import { Body, Controller, Delete, Get, HttpCode, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { toActor } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { WebhookService } from '../../../libs/reports/webhook.service';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { PutWebhookDto, WebhookResponse } from './webhook.dto';

@ApiTags('reports')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/webhook')
export class WebhookController {
  constructor(private readonly webhooks: WebhookService) {}

  @Put()
  @ApiOperation({ summary: "Set the project's alert webhook (called when a decision turns to stop)" })
  @ApiResponse({ status: 200, type: WebhookResponse })
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
}
