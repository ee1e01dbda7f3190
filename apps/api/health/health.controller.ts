import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { ChangeBus } from '../../../libs/bus/change-bus';
import type { QueueBackend } from '../../../libs/config/config';
import { UnavailableError } from '../../../libs/errors/domain-error';
import { GatewayService } from '../../../libs/gateway/gateway.service';
import { QueueRegistry } from '../../../libs/queue/queue.module';
import { Public } from '../security/scopes.decorator';

/** What /ready answers: the backends this replica actually uses, each checked. */
export interface ReadyAnswer {
  status: 'ready';
  database: 'postgres';
  queue: QueueBackend;
  bus: QueueBackend;
  /** Gateway outcome events this replica holds for retry (docs/adr/0038): above 0, ingestion refused them lately. */
  gatewayOutcomesHeld: number;
}

@ApiTags('operations')
@Public()
@Controller()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly queues: QueueRegistry,
    private readonly bus: ChangeBus,
    private readonly gateway: GatewayService,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: the process answers' })
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: Postgres, the queue backend and the change bus answer; names the backends in use (redis or postgres)' })
  async ready(): Promise<ReadyAnswer> {
    const within = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000))]);
    const [database, bus] = await Promise.allSettled([within(this.dataSource.query('SELECT 1')), within(this.bus.ping())]);
    const down = [
      database.status === 'rejected' ? 'postgres' : null,
      bus.status === 'rejected' || !this.queues.isConnected() ? this.bus.backend : null,
    ].filter(Boolean);
    if (down.length > 0) throw new UnavailableError(`Not ready: ${[...new Set(down)].join(' and ')} not answering.`, 5);
    return { status: 'ready', database: 'postgres', queue: this.queues.backend, bus: this.bus.backend, gatewayOutcomesHeld: this.gateway.outcomesHeld };
  }
}
