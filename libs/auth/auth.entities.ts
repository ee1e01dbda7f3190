import { ApiKeyEntity } from './api-key.entity';
import { ProjectEntity } from './project.entity';

/** Keys and projects: the TypeORM entities this context registers (TypeOrmModule.forFeature); the apps collect every context's list (docs/adr/0020). */
export const AUTH_ENTITIES = [ApiKeyEntity, ProjectEntity];
