import { ProjectWebhookEntity } from './project-webhook.entity';
import { ReportAlertEntity } from './report-alert.entity';
import { ReportSendEntity } from './report-send.entity';
import { ReportEntity } from './report.entity';
import { WebhookDeliveryEntity } from './webhook-delivery.entity';

/** Report subscriptions, sends, stop alerts, webhooks and their deliveries: the TypeORM entities this context registers (TypeOrmModule.forFeature); the apps collect every context's list (docs/adr/0020). */
export const REPORTS_ENTITIES = [ReportEntity, ReportSendEntity, ReportAlertEntity, ProjectWebhookEntity, WebhookDeliveryEntity];
