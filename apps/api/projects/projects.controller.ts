import { Body, Controller, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProperty, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IsString, MaxLength, MinLength } from 'class-validator';
import { ApiKeysService } from '../../../libs/auth/api-keys.service';
import type { Principal } from '../../../libs/auth/principal';
import { ApiKeyResponse, CreatedApiKeyResponse } from '../api-keys/api-key.dto';
import { CurrentPrincipal } from '../security/principal.decorator';
import { Scopes } from '../security/scopes.decorator';

export class CreateProjectDto {
  @ApiProperty({ example: 'search team' })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  name!: string;
}

export class ProjectResponse {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ type: CreatedApiKeyResponse, description: "The new project's first admin key, shown once." })
  adminKey!: CreatedApiKeyResponse;
}

@ApiTags('projects')
@ApiBearerAuth()
@Scopes('admin')
@Controller('v1/projects')
export class ProjectsController {
  constructor(private readonly keys: ApiKeysService) {}

  @Post()
  @ApiOperation({ summary: 'Create a project with its first admin key (bootstrap key only)' })
  @ApiResponse({ status: 201, type: ProjectResponse })
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateProjectDto): Promise<ProjectResponse> {
    const { project, admin } = await this.keys.createProject(principal, body.name);
    return { id: project.id, name: project.name, adminKey: { ...ApiKeyResponse.from(admin.key), key: admin.secret } };
  }
}
