import { DataSource } from 'typeorm';
import { loadDatabaseUrl } from '../../libs/config/config';
import { dataSourceOptions } from '../../libs/database/data-source';
import { ALL_ENTITIES } from './entities';

/** For the TypeORM CLI only (`npm run migration:generate`). */
export default new DataSource(dataSourceOptions(loadDatabaseUrl(), ALL_ENTITIES));
