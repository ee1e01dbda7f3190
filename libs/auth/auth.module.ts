import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ApiKeysService } from './api-keys.service';
import { RequestAuthenticator } from './request-authenticator';
import { AUTH_ENTITIES } from './auth.entities';

@Module({
  imports: [TypeOrmModule.forFeature(AUTH_ENTITIES), AuditModule],
  providers: [ApiKeysService, RequestAuthenticator],
  exports: [ApiKeysService, RequestAuthenticator],
})
export class AuthModule {}
