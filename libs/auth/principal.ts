import type { ApiKeyScope } from './api-key.entity';

/** The authenticated caller of a request. */
export interface Principal {
  keyId: string;
  keyName: string;
  projectId: string;
  scope: ApiKeyScope;
  isBootstrap: boolean;
}
