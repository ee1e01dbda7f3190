import type { DataSource, Repository } from 'typeorm';
import type { AuditService } from '../audit/audit.service';
import type { VerdictConfig } from '../config/config';
import { ForbiddenError, TooManyRequestsError, UnauthenticatedError } from '../errors/domain-error';
import type { ChangeBus } from '../redis/change-bus';
import type { ApiKeyEntity } from './api-key.entity';
import { hashApiKey } from './api-key';
import { ApiKeysService } from './api-keys.service';
import type { Principal } from './principal';
import { RequestAuthenticator } from './request-authenticator';

const SECRET = 'vk_sdk_0123456789012345678901234567890123456789abc';

/** ApiKeysService on an in-memory key table that counts its queries, with the revocation channel in hand. */
async function setUp(rate = 1000) {
  const rows = new Map<string, Partial<ApiKeyEntity>>([
    [hashApiKey(SECRET), { id: 'k1', name: 'backend', projectId: 'p1', scope: 'sdk', isBootstrap: false, revokedAt: null }],
  ]);
  let queries = 0;
  let gate: Promise<void> = Promise.resolve();
  const repository = {
    findOne: async ({ where }: { where: { keyHash: string } }) => {
      queries += 1;
      // Reads the row, then answers (the gate holds the answer, as a slow round trip would).
      const row = rows.get(where.keyHash);
      const read = row ? { ...row } : null;
      await gate;
      return read;
    },
  } as unknown as Repository<ApiKeyEntity>;
  const handlers: Array<(message: string) => void> = [];
  const bus = { subscribe: async (_: string, handler: (message: string) => void) => void handlers.push(handler) } as unknown as ChangeBus;
  const config = { auth: { bootstrapAdminKey: 'x', rateLimitPerSecond: rate } } as VerdictConfig;
  const keys = new ApiKeysService(repository, {} as DataSource, {} as AuditService, bus, config);
  await keys.onModuleInit();
  return {
    keys,
    auth: new RequestAuthenticator(keys, config),
    rows,
    queries: () => queries,
    /** What another replica's revocation does here. */
    revokedElsewhere: (secret: string) => handlers.forEach((h) => h(hashApiKey(secret))),
    hold: () => {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return release;
    },
  };
}

describe('RequestAuthenticator', () => {
  it('looks a key up once, then answers synchronously from the header value', async () => {
    const { auth, queries } = await setUp();
    const first = auth.authorize(`Bearer ${SECRET}`, ['sdk']);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({ keyId: 'k1', projectId: 'p1', scope: 'sdk' });
    const again = auth.authorize(`Bearer ${SECRET}`, ['sdk']) as Principal;
    expect(again).not.toBeInstanceOf(Promise);
    expect(again.keyId).toBe('k1');
    expect(queries()).toBe(1);
  });

  it('refuses a missing or malformed header, an unknown key, a wrong scope and a spent rate', async () => {
    const { auth } = await setUp(1);
    await expect(async () => auth.authorize(undefined, ['sdk'])).rejects.toThrow(UnauthenticatedError);
    await expect(async () => auth.authorize('Basic abc', ['sdk'])).rejects.toThrow(/Authorization: Bearer/);
    await expect(async () => auth.authorize('Bearer vk_sdk_unknown', ['sdk'])).rejects.toThrow(/unknown or revoked/);
    // Unknown keys are remembered too: the second refusal is synchronous.
    expect(() => auth.authorize('Bearer vk_sdk_unknown', ['sdk'])).toThrow(/unknown or revoked/);
    await expect(async () => auth.authorize(`Bearer ${SECRET}`, ['admin'])).rejects.toThrow(ForbiddenError);
    // Rate 1/s: a burst of 2, then 429.
    await auth.authorize(`Bearer ${SECRET}`, ['sdk']);
    auth.authorize(`Bearer ${SECRET}`, ['sdk']);
    expect(() => auth.authorize(`Bearer ${SECRET}`, ['sdk'])).toThrow(TooManyRequestsError);
  });

  it('forgets a revoked key at once, under every header it came in', async () => {
    const { auth, rows, revokedElsewhere } = await setUp();
    await auth.authorize(`Bearer ${SECRET}`, ['sdk']);
    await auth.authorize(`bearer   ${SECRET} `, ['sdk']);
    rows.get(hashApiKey(SECRET))!.revokedAt = new Date();
    revokedElsewhere(SECRET);
    await expect(async () => auth.authorize(`Bearer ${SECRET}`, ['sdk'])).rejects.toThrow(/unknown or revoked/);
    await expect(async () => auth.authorize(`bearer   ${SECRET} `, ['sdk'])).rejects.toThrow(/unknown or revoked/);
  });

  it('does not remember a lookup that overlapped a revocation', async () => {
    const { keys, rows, revokedElsewhere, hold, queries } = await setUp();
    const release = hold();
    const pending = keys.authenticate(SECRET, `Bearer ${SECRET}`);
    // Revoked while the (stale) lookup is in flight.
    rows.get(hashApiKey(SECRET))!.revokedAt = new Date();
    revokedElsewhere(SECRET);
    release();
    expect(await pending).not.toBeNull();
    expect(keys.cachedPrincipal(`Bearer ${SECRET}`)).toBeUndefined();
    expect(await keys.authenticate(SECRET, `Bearer ${SECRET}`)).toBeNull();
    expect(queries()).toBe(2);
  });
});
