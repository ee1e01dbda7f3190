import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ApiKeyEntity } from './api-key.entity';
import { ApiKeysService } from './api-keys.service';
import { ProjectEntity } from './project.entity';

@Module({
  imports: [TypeOrmModule.forFeature([ApiKeyEntity, ProjectEntity]), AuditModule],
  providers: [ApiKeysService],
  exports: [ApiKeysService],
})
export class AuthModule {}
