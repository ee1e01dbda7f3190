import type { DataSource, Repository } from 'typeorm';
import type { AuditService } from '../audit/audit.service';
import type { VerdictConfig } from '../config/config';
import { ForbiddenError, TooManyRequestsError, UnauthenticatedError } from '../errors/domain-error';
import type { ChangeBus } from '../bus/change-bus';
import type { ApiKeyEntity } from './api-key.entity';
import { hashApiKey } from './api-key';
import { ApiKeysService } from './api-keys.service';
import type { Principal } from './principal';
import { addressKey, RequestAuthenticator } from './request-authenticator';

const SECRET = 'vk_sdk_0123456789012345678901234567890123456789abc';

/** ApiKeysService on an in-memory key table that counts its queries, with the revocation channel in hand. */
async function setUp(rate = 1000, unknownKeyLookupsPerMinute = 1000) {
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
  const config = { auth: { bootstrapAdminKey: 'x', rateLimitPerSecond: rate, unknownKeyLookupsPerMinute } } as VerdictConfig;
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

  it('lets an address look up only so many unknown keys, then answers 429 without querying', async () => {
    const { auth, queries } = await setUp(1000, 10);
    await auth.authorize(`Bearer ${SECRET}`, ['sdk'], '203.0.113.7');
    const before = queries();
    const statuses: string[] = [];
    for (let i = 0; i < 200; i++) {
      try {
        await auth.authorize(`Bearer vk_sdk_random${i}`, ['sdk'], '203.0.113.7');
      } catch (error) {
        statuses.push((error as Error).constructor.name);
      }
    }
    expect(statuses.filter((s) => s === 'UnauthenticatedError')).toHaveLength(10);
    expect(statuses.filter((s) => s === 'TooManyRequestsError')).toHaveLength(190);
    expect(queries() - before).toBe(10);
    // The real key keeps working from memory; another address has its own budget.
    expect((auth.authorize(`Bearer ${SECRET}`, ['sdk'], '203.0.113.7') as Principal).keyId).toBe('k1');
    await expect(async () => auth.authorize('Bearer vk_sdk_elsewhere', ['sdk'], '198.51.100.1')).rejects.toThrow(UnauthenticatedError);
    // A refusal carries the wait.
    const refused = await Promise.resolve(auth.authorize('Bearer vk_sdk_more', ['sdk'], '203.0.113.7')).catch((e: TooManyRequestsError) => e);
    expect(refused).toBeInstanceOf(TooManyRequestsError);
    expect(Number((refused as TooManyRequestsError).headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('does not charge valid keys to the budget, and looks an expired valid key up again even when it is spent', async () => {
    const { auth, keys, queries } = await setUp(1000, 2);
    const principal = await auth.authorize(`Bearer ${SECRET}`, ['sdk'], '203.0.113.9');
    expect(principal).toMatchObject({ keyId: 'k1' });
    for (const i of [1, 2, 3]) await Promise.resolve(auth.authorize(`Bearer vk_sdk_nope${i}`, ['sdk'], '203.0.113.9')).catch(() => undefined);
    expect(queries()).toBe(3);
    // 31 s later the key's entry has expired: it is looked up again, budget or not.
    const later = Date.now() + 31_000;
    expect(keys.cachedPrincipal(`Bearer ${SECRET}`, later)).toBeUndefined();
    jest.spyOn(Date, 'now').mockReturnValue(later);
    try {
      expect(await auth.authorize(`Bearer ${SECRET}`, ['sdk'], '203.0.113.9')).toMatchObject({ keyId: 'k1' });
    } finally {
      jest.restoreAllMocks();
    }
    expect(queries()).toBe(4);
  });

  it('keeps valid keys in memory however many unknown keys come, and bounds both caches', async () => {
    const { keys, auth, queries } = await setUp(1000, 1_000_000);
    await auth.authorize(`Bearer ${SECRET}`, ['sdk']);
    for (let i = 0; i < 20_000; i++) await keys.authenticate(`vk_sdk_flood${i}`, `Bearer vk_sdk_flood${i}`);
    expect(keys.cachedPrincipal(`Bearer ${SECRET}`)).toMatchObject({ keyId: 'k1' });
    // The negative cache keeps the newest 10,000: the first flood keys are forgotten, the last remembered.
    expect(keys.cachedPrincipal('Bearer vk_sdk_flood0')).toBeUndefined();
    expect(keys.cachedPrincipal('Bearer vk_sdk_flood19999')).toBeNull();
    expect(queries()).toBe(20_001);
    // A 10 KB unknown key is not remembered: the cache stays small in bytes too.
    const long = `vk_sdk_${'x'.repeat(10_000)}`;
    expect(await keys.authenticate(long, `Bearer ${long}`)).toBeNull();
    expect(keys.cachedPrincipal(`Bearer ${long}`)).toBeUndefined();
  });
});

describe('addressKey', () => {
  it('keys IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::ffff')).toBe(addressKey('2001:db8:1:2:aaaa::1'));
    expect(addressKey('')).toBe('');
  });
});
