import { GatewayCaptureEntity } from './gateway-capture.entity';

/** The gateway's captures (docs/adr/0039): the TypeORM entities this context registers; the apps collect every context's list (docs/adr/0020). */
export const GATEWAY_ENTITIES = [GatewayCaptureEntity];
