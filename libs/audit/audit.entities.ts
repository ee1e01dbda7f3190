import { AuditEntryEntity } from './audit-entry.entity';

/** The audit log: the TypeORM entities this context registers (TypeOrmModule.forFeature); the apps collect every context's list (docs/adr/0020). */
export const AUDIT_ENTITIES = [AuditEntryEntity];
