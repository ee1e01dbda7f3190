import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ApiKeyEntity } from './api-key.entity';
import { ApiKeysService } from './api-keys.service';
import { ProjectEntity } from './project.entity';
import { RequestAuthenticator } from './request-authenticator';

@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity, ProjectEntity]), AuditModule],
  providers: [ApiKeysService, RequestAuthenticator],
  exports: [ApiKeysService, RequestAuthenticator],
})
export class AuthModule {}
