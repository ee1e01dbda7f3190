import { type DynamicModule, Module } from '@nestjs/common';
import { ExposuresModule } from '../../libs/assignment/exposures.module';
import type { VerdictConfig } from '../../libs/config/config';
import { ConfigModule } from '../../libs/config/config.module';
import { DatabaseModule } from '../../libs/database/database.module';
import { ALL_ENTITIES } from '../launcher/entities';
import { OutcomeStoreModule } from '../../libs/ingestion/outcome-store.module';
import { QueueModule } from '../../libs/queue/queue.module';
import { BusModule } from '../../libs/bus/bus.module';
import { ReportsModule } from '../../libs/reports/reports.module';
import { TrafficModule } from '../../libs/traffic/traffic.module';
import { EvaluationModule } from '../../libs/evaluation/evaluation.module';
import { CaptureModule } from '../../libs/gateway/capture-store';
import { EvaluationRunProcessor } from './evaluation-run.processor';
import { ExposureWriterProcessor } from './exposure-writer.processor';
import { OutcomeWriterProcessor } from './outcome-writer.processor';
import { PROCESSORS } from './processor';
import { ReportAlertProcessor } from './report-alert.processor';
import { ReportSendProcessor } from './report-send.processor';
import { TrafficMonitorProcessor } from './traffic-monitor.processor';
import { WorkerRunner } from './worker-runner';

const processors = [ExposureWriterProcessor, OutcomeWriterProcessor, TrafficMonitorProcessor, ReportSendProcessor, ReportAlertProcessor, EvaluationRunProcessor];

/** The worker: BullMQ processors over the same context modules as the API. */
@Module({})
export class WorkerModule {
  static register(config: VerdictConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [ConfigModule.forRoot(config), DatabaseModule.forRoot(config.database.url, ALL_ENTITIES), BusModule.forRoot(config), QueueModule, ExposuresModule, OutcomeStoreModule, TrafficModule, ReportsModule, EvaluationModule, CaptureModule],
      providers: [
        ...processors,
        { provide: PROCESSORS, inject: processors, useFactory: (...list: unknown[]) => list },
        WorkerRunner,
      ],
    };
  }
}
