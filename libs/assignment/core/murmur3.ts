/**
 * MurmurHash3 x86_32 (Austin Appleby, public domain) over the UTF-8 bytes of a string.
 *
 * Written by hand because it is the heart of assignment: the server and the SDK must
 * agree bit for bit, and the hot path must not allocate. Strings are UTF-8 encoded into
 * a reused scratch buffer (no TextEncoder on the hot path); lone surrogates become
 * U+FFFD (EF BF BD), exactly as TextEncoder does.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
// Captured once: a global lookup per call is slow in sandboxes such as jest's vm context.
const imul = Math.imul;

// Reused by every call; a UTF-16 code unit never needs more than 3 UTF-8 bytes.
let scratch = new Uint8Array(1024);

function ensureScratch(size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2));
  return scratch;
}

/** Writes the UTF-8 encoding of `s` into `buf` from `pos`; returns the end position. */
export function encodeUtf8Into(s: string, buf: Uint8Array, pos: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[pos++] = c;
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6);
      buf[pos++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        if (c <= 0xdbff && i + 1 < n) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) {
            const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            buf[pos++] = 0xf0 | (cp >> 18);
            buf[pos++] = 0x80 | ((cp >> 12) & 0x3f);
            buf[pos++] = 0x80 | ((cp >> 6) & 0x3f);
            buf[pos++] = 0x80 | (cp & 0x3f);
            i++;
            continue;
          }
        }
        c = 0xfffd; // lone surrogate
      }
      buf[pos++] = 0xe0 | (c >> 12);
      buf[pos++] = 0x80 | ((c >> 6) & 0x3f);
      buf[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return pos;
}

/** The UTF-8 bytes of a string (allocates; not for the hot path). */
export function utf8Bytes(s: string): Uint8Array {
  const buf = new Uint8Array(s.length * 3);
  return buf.slice(0, encodeUtf8Into(s, buf, 0));
}

function mixBlocks(h: number, buf: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i += 4) {
    let k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    k = imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (imul(h, 5) + 0xe6546b64) | 0;
  }
  return h;
}

function finish(h: number, buf: Uint8Array, tailStart: number, tailLen: number, length: number): number {
  let k = 0;
  if (tailLen === 3) k ^= buf[tailStart + 2] << 16;
  if (tailLen >= 2) k ^= buf[tailStart + 1] << 8;
  if (tailLen >= 1) {
    k ^= buf[tailStart];
    k = imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3 x86_32 of raw bytes, as an unsigned 32-bit integer. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  const blocks = bytes.length & ~3;
  const h = mixBlocks(seed | 0, bytes, 0, blocks);
  return finish(h, bytes, blocks, bytes.length & 3, bytes.length);
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `s`, as an unsigned 32-bit integer. */
export function murmur3(s: string, seed = 0): number {
  const buf = ensureScratch(s.length * 3);
  const n = encodeUtf8Into(s, buf, 0);
  const blocks = n & ~3;
  return finish(mixBlocks(seed | 0, buf, 0, blocks), buf, blocks, n & 3, n);
}

/**
 * The hash state after a fixed prefix (such as `salt + "."`): its whole 4-byte blocks
 * are mixed once, so hashing `prefix + unitId` per call only touches the unit id.
 * The prefix is encoded on its own, so it must not end in a lone high surrogate (which
 * would pair with a unit id's leading low surrogate in `prefix + unitId`); prefixes
 * built as `salt + "."` never do.
 */
export interface HashPrefix {
  readonly text: string;
  readonly h: number;
  /** The prefix bytes left over after its last whole block (0 to 3 bytes). */
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly tailLen: number;
  /** UTF-8 length of the whole prefix. */
  readonly length: number;
}

export function prepareHashPrefix(prefix: string, seed = 0): HashPrefix {
  const bytes = utf8Bytes(prefix);
  const blocks = bytes.length & ~3;
  return {
    text: prefix,
    h: mixBlocks(seed | 0, bytes, 0, blocks),
    t0: bytes[blocks] ?? 0,
    t1: bytes[blocks + 1] ?? 0,
    t2: bytes[blocks + 2] ?? 0,
    tailLen: bytes.length & 3,
    length: bytes.length,
  };
}

/** murmur3(prefix + s, seed) for a prepared prefix, without allocating. */
export function murmur3WithPrefix(p: HashPrefix, s: string): number {
  const buf = ensureScratch(3 + s.length * 3);
  const tl = p.tailLen;
  buf[0] = p.t0;
  buf[1] = p.t1;
  buf[2] = p.t2;
  const n = encodeUtf8Into(s, buf, tl);
  const blocks = n & ~3;
  return finish(mixBlocks(p.h, buf, 0, blocks), buf, blocks, n & 3, p.length - tl + n);
}
