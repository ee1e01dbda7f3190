import fc from 'fast-check';
import { BUCKETS, bucketOf, bucketOfHash, bucketOfPrepared, hashOf, prepareSalt } from './bucket';
import { murmur3, murmur3Bytes, murmur3WithPrefix, prepareHashPrefix, utf8Bytes } from './murmur3';

// Independent textbook MurmurHash3 x86_32 over bytes, to check the hand-tuned one.
function referenceMurmur3(key: Uint8Array, seed: number): number {
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  let h = seed >>> 0;
  const nblocks = Math.floor(key.length / 4);
  for (let i = 0; i < nblocks; i++) {
    let k = key[4 * i] + key[4 * i + 1] * 256 + key[4 * i + 2] * 65536 + key[4 * i + 3] * 16777216;
    k = Math.imul(k, 0xcc9e2d51) >>> 0;
    k = rotl(k, 15);
    k = Math.imul(k, 0x1b873593) >>> 0;
    h = (h ^ k) >>> 0;
    h = rotl(h, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  let k1 = 0;
  const tail = nblocks * 4;
  const rem = key.length & 3;
  if (rem >= 3) k1 ^= key[tail + 2] << 16;
  if (rem >= 2) k1 ^= key[tail + 1] << 8;
  if (rem >= 1) {
    k1 ^= key[tail];
    k1 = Math.imul(k1, 0xcc9e2d51) >>> 0;
    k1 = rotl(k1, 15);
    k1 = Math.imul(k1, 0x1b873593) >>> 0;
    h = (h ^ k1) >>> 0;
  }
  h = (h ^ key.length) >>> 0;
  h = (h ^ (h >>> 16)) >>> 0;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h = (h ^ (h >>> 13)) >>> 0;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const encoder = new TextEncoder();
// Any UTF-16 string, lone surrogates included.
const anyString = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const unicodeString = fc.string({ unit: 'grapheme', maxLength: 20 });

describe('murmur3 x86_32', () => {
  it('matches published MurmurHash3 x86_32 values', () => {
    expect(murmur3('', 0)).toBe(0);
    expect(murmur3('', 1)).toBe(0x514e28b7);
    expect(murmur3('', 0xffffffff)).toBe(0x81f16f39);
    expect(murmur3('a', 0)).toBe(0x3c2569b2);
    expect(murmur3('abcd', 0)).toBe(0x43ed676a);
    expect(murmur3('Hello, world!', 1234)).toBe(0xfaf6cdb3);
    expect(murmur3('The quick brown fox jumps over the lazy dog', 0)).toBe(0x2e4ff723);
  });

  it("reproduces Optimizely's bucketing vector (scipy_cases.json, bucketing_hash_vectors)", () => {
    // Optimizely: murmur3_x86_32(userId + experimentId, seed 1) / 2^32 * 10000, floored.
    const h = murmur3('user-42' + 'exp-1234', 1);
    expect(h).toBe(1344057715);
    expect(Math.floor((h / 2 ** 32) * 10000)).toBe(3129);
    expect(bucketOfHash(h)).toBe(3129);
  });

  it('encodes UTF-8 exactly like TextEncoder, lone surrogates as U+FFFD', () => {
    expect(Buffer.from(utf8Bytes('a\uD800b')).toString('hex')).toBe('61efbfbd62');
    expect(Buffer.from(utf8Bytes('\uDC00')).toString('hex')).toBe('efbfbd');
    expect(Buffer.from(utf8Bytes('😀')).toString('hex')).toBe('f09f9880');
    expect(Buffer.from(utf8Bytes('ß€')).toString('hex')).toBe('c39fe282ac');
    fc.assert(
      fc.property(fc.oneof(anyString, unicodeString), (s) => {
        expect(Array.from(utf8Bytes(s))).toEqual(Array.from(encoder.encode(s)));
      }),
      { numRuns: 2000 },
    );
  });

  it('agrees with a textbook implementation over TextEncoder bytes, for any string and seed', () => {
    fc.assert(
      fc.property(fc.oneof(anyString, unicodeString), fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
        const expected = referenceMurmur3(encoder.encode(s), seed);
        expect(murmur3(s, seed)).toBe(expected);
        expect(murmur3Bytes(encoder.encode(s), seed)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });

  it('hashes prefix + string the same whether or not the prefix is prepared', () => {
    fc.assert(
      // A prefix ending in a lone high surrogate would pair with a low surrogate starting `s`
      // when concatenated, but not when encoded apart; real prefixes end in "." (salt + ".").
      fc.property(
        fc.oneof(anyString, unicodeString).filter((prefix) => !/[\ud800-\udbff]$/.test(prefix)),
        fc.oneof(anyString, unicodeString),
        (prefix, s) => {
          expect(murmur3WithPrefix(prepareHashPrefix(prefix, 7), s)).toBe(murmur3(prefix + s, 7));
        },
      ),
      { numRuns: 2000 },
    );
    // Long ids grow the scratch buffer.
    const long = '😀'.repeat(5000);
    expect(murmur3WithPrefix(prepareHashPrefix('salt.'), long)).toBe(referenceMurmur3(encoder.encode(`salt.${long}`), 0));
  });
});

describe('bucketOf', () => {
  it('is floor(murmur3(utf8(salt + "." + unitId), 0) * 10000 / 2^32)', () => {
    expect(BUCKETS).toBe(10_000);
    fc.assert(
      fc.property(anyString, anyString, (salt, unit) => {
        const h = referenceMurmur3(encoder.encode(`${salt}.${unit}`), 0);
        expect(hashOf(salt, unit)).toBe(h);
        const b = bucketOf(salt, unit);
        expect(b).toBe(Number((BigInt(h) * 10000n) >> 32n));
        expect(bucketOfPrepared(prepareSalt(salt), unit)).toBe(b);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(BUCKETS);
      }),
      { numRuns: 1000 },
    );
    expect(bucketOfHash(0)).toBe(0);
    expect(bucketOfHash(0xffffffff)).toBe(9999);
  });
});
