import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Redis } from 'ioredis';
import type { DataSource } from 'typeorm';
import { UnavailableError } from '../../../libs/errors/domain-error';
import { REDIS } from '../../../libs/redis/redis';
import { Public } from '../security/scopes.decorator';

@ApiTags('operations')
@Public()
@Controller()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: the process answers' })
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: Postgres and Redis answer' })
  async ready(): Promise<{ status: 'ready'; postgres: 'ok'; redis: 'ok' }> {
    const within = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]);
    const [postgres, redis] = await Promise.allSettled([within(this.dataSource.query('SELECT 1')), within(this.redis.ping())]);
    if (postgres.status === 'rejected' || redis.status === 'rejected') {
      const down = [postgres.status === 'rejected' ? 'postgres' : null, redis.status === 'rejected' ? 'redis' : null].filter(Boolean);
      throw new UnavailableError(`Not ready: ${down.join(' and ')} not answering.`, 5);
    }
    return { status: 'ready', postgres: 'ok', redis: 'ok' };
  }
}
