import { HashPrefix, murmur3, murmur3WithPrefix, prepareHashPrefix } from './murmur3';

/** Size of the bucket space: a unit's bucket is an integer in [0, BUCKETS). */
export const BUCKETS = 10_000;

/** MurmurHash3 x86_32 seed used by every assignment hash. */
export const HASH_SEED = 0;

/** Suffix of the experiment salt for the traffic-allocation hash (independent of the variant hash). */
export const ALLOCATION_SALT_SUFFIX = '.alloc';

/** Suffix of the layer key for the layer hash (shared by every experiment of the layer). */
export const LAYER_SALT_SUFFIX = '.layer';

/**
 * Maps a 32-bit hash to a bucket: floor(h * BUCKETS / 2^32).
 * h * 10000 < 2^46 is exact in a double and dividing by 2^32 is exact, so this is
 * the integer formula (h * 10000) >> 32 in any language with 64-bit integers.
 */
export function bucketOfHash(h: number): number {
  // The quotient is in [0, 10000), so truncation with | 0 is the floor.
  return ((h * BUCKETS) / 4294967296) | 0;
}

/** The 32-bit hash of a unit under a salt: murmur3_x86_32(utf8(salt + "." + unitId), seed 0). */
export function hashOf(salt: string, unitId: string): number {
  return murmur3(`${salt}.${unitId}`, HASH_SEED);
}

/** The bucket of a unit under a salt, in [0, BUCKETS). */
export function bucketOf(salt: string, unitId: string): number {
  return bucketOfHash(hashOf(salt, unitId));
}

/** A salt prepared for repeated bucketing (its hash prefix `salt + "."` is mixed once). */
export type PreparedSalt = HashPrefix;

export function prepareSalt(salt: string): PreparedSalt {
  return prepareHashPrefix(`${salt}.`, HASH_SEED);
}

/** bucketOf(salt, unitId) for a prepared salt, without allocating. */
export function bucketOfPrepared(salt: PreparedSalt, unitId: string): number {
  return bucketOfHash(murmur3WithPrefix(salt, unitId));
}

/** The edge of a fraction of the bucket space: floor(fraction * BUCKETS + 0.5), clamped to [0, BUCKETS]. */
export function edgeOf(fraction: number): number {
  if (!(fraction > 0)) return 0;
  if (fraction >= 1) return BUCKETS;
  return Math.floor(fraction * BUCKETS + 0.5);
}
