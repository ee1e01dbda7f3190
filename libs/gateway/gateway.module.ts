import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { AssignmentModule } from '../assignment/assignment.module';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { IngestionModule } from '../ingestion/ingestion.module';
import { OutboundClient } from '../outbound/outbound-client';
import { CaptureModule } from './capture-store';
import { CaptureWriter } from './capture-writer';
import { CapturesService } from './captures.service';
import { AuditModule } from '../audit/audit.module';
import { ExperimentsModule } from '../experiments/experiments.module';
import { GATEWAY_OUTBOUND } from './gateway-outbound';
import { GatewayService } from './gateway.service';

@Injectable()
class GatewayOutboundCloser implements OnApplicationShutdown {
  constructor(@Inject(GATEWAY_OUTBOUND) private readonly client: OutboundClient) {}
  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

/** The OpenAI-compatible gateway (docs/gateway.md). Needs QueueModule, BusModule and ObservabilityModule (through ingestion). */
@Module({
  imports: [AssignmentModule, IngestionModule, CaptureModule, ExperimentsModule, AuditModule],
  providers: [
    {
      provide: GATEWAY_OUTBOUND,
      inject: [VERDICT_CONFIG],
      useFactory: (config: VerdictConfig) =>
        new OutboundClient({
          allowHttp: config.outbound.allowHttp,
          allowedCidrs: config.outbound.allowedCidrs,
          connectionsPerOrigin: config.gateway.connectionsPerUpstream,
        }),
    },
    GatewayOutboundCloser,
    CaptureWriter,
    CapturesService,
    GatewayService,
  ],
  exports: [GatewayService, CaptureWriter, CapturesService, CaptureModule],
})
export class GatewayModule {}
