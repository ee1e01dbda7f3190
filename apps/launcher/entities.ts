import { AUDIT_ENTITIES } from '../../libs/audit/audit.entities';
import { AUTH_ENTITIES } from '../../libs/auth/auth.entities';
import { EVALUATION_ENTITIES } from '../../libs/evaluation/evaluation.entities';
import { EXPERIMENTS_ENTITIES } from '../../libs/experiments/experiments.entities';
import { GATEWAY_ENTITIES } from '../../libs/gateway/gateway.entities';
import { REPORTS_ENTITIES } from '../../libs/reports/reports.entities';

/**
 * Every context's entities: the apps' connection (a worker that imports only some contexts still
 * needs the entities their relations point to), the migration generator (cli-data-source.ts) and
 * the check that entities and migrations agree (test/e2e/contract.test.ts, which also checks that
 * no context registers an entity missing here). A context with a new entity list adds it here.
 */
export const ALL_ENTITIES = [...AUTH_ENTITIES, ...AUDIT_ENTITIES, ...EXPERIMENTS_ENTITIES, ...REPORTS_ENTITIES, ...EVALUATION_ENTITIES, ...GATEWAY_ENTITIES];
