import { ExperimentPhaseEntity } from './experiment-phase.entity';
import { ExperimentEntity } from './experiment.entity';

/** Experiments and their allocation phases: the TypeORM entities this context registers (TypeOrmModule.forFeature); the apps collect every context's list (docs/adr/0020). */
export const EXPERIMENTS_ENTITIES = [ExperimentEntity, ExperimentPhaseEntity];
