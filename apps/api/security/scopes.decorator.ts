import { SetMetadata } from '@nestjs/common';
import type { ApiKeyScope } from '../../../libs/auth/api-key.entity';

export const SCOPES_KEY = 'verdict:scopes';
export const PUBLIC_KEY = 'verdict:public';

/** The key scopes a route accepts. Every route declares its scopes, or is explicitly public. */
export const Scopes = (...scopes: ApiKeyScope[]) => SetMetadata(SCOPES_KEY, scopes);
export const Public = () => SetMetadata(PUBLIC_KEY, true);
