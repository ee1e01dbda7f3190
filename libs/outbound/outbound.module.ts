import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { VERDICT_CONFIG, type VerdictConfig } from '../config/config';
import { OutboundClient } from './outbound-client';

@Injectable()
class OutboundClientCloser implements OnApplicationShutdown {
  constructor(private readonly client: OutboundClient) {}
  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

/** The guarded client for requests to user-configured URLs, set from OUTBOUND_* (docs/adr/0016). */
@Module({
  providers: [
    {
      provide: OutboundClient,
      inject: [VERDICT_CONFIG],
      useFactory: (config: VerdictConfig) => new OutboundClient({ allowHttp: config.outbound.allowHttp, allowedCidrs: config.outbound.allowedCidrs }),
    },
    OutboundClientCloser,
  ],
  exports: [OutboundClient],
})
export class OutboundModule {}
