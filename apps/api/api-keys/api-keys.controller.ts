import { Body, Controller, Delete, Get, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApiKeysService } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { ValidationFailedError } from '../../../libs/errors/domain-error';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';
import { ApiKeyResponse, CreateApiKeyDto, CreatedApiKeyResponse } from './api-key.dto';

function uuidParam(field: string): ParseUUIDPipe {
  return new ParseUUIDPipe({ exceptionFactory: () => new ValidationFailedError([{ field, message: 'must be a UUID' }]) });
}

@ApiTags('api-keys')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/api-keys')
export class ApiKeysController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @ApiOperation({ summary: 'Create a key; the response is the only time the key is shown' })
  @ApiResponse({ status: 201, type: CreatedApiKeyResponse })
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateApiKeyDto): Promise<CreatedApiKeyResponse> {
    const { key, secret } = await this.keys.create(principal, body.name, body.scope);
    return { ...ApiKeyResponse.from(key), key: secret };
  }

  @Get()
  @ApiResponse({ status: 200, type: [ApiKeyResponse] })
  async list(@CurrentPrincipal() principal: Principal): Promise<ApiKeyResponse[]> {
    return (await this.keys.list(principal.projectId)).map(ApiKeyResponse.from);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a key at once, on every replica' })
  @ApiResponse({ status: 200, type: ApiKeyResponse })
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id', uuidParam('id')) id: string): Promise<ApiKeyResponse> {
    return ApiKeyResponse.from(await this.keys.revoke(principal, id));
  }
}
