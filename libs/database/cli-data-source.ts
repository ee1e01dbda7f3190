import { DataSource } from 'typeorm';
import { loadDatabaseUrl } from '../config/config';
import { dataSourceOptions } from './data-source';

/** For the TypeORM CLI only (`npm run migration:generate`). */
export default new DataSource(dataSourceOptions(loadDatabaseUrl()));
