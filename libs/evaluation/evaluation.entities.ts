import { DatasetCaseEntity } from './dataset-case.entity';
import { DatasetVersionEntity } from './dataset-version.entity';
import { EvaluationAnswerEntity } from './evaluation-answer.entity';
import { EvaluationCaseResultEntity } from './evaluation-case-result.entity';
import { EvaluationRunEntity } from './evaluation-run.entity';

/** Datasets and evaluation runs: the TypeORM entities this context registers; the apps collect every context's list (docs/adr/0020). */
export const EVALUATION_ENTITIES = [DatasetVersionEntity, DatasetCaseEntity, EvaluationRunEntity, EvaluationAnswerEntity, EvaluationCaseResultEntity];
