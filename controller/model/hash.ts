// Hashes that place named VIPs, identical to dcos-net
// (dcos_l4lb_lashup_vip_listener:init_ip/3 and hash/3):
//   IPv4: min + erlang:phash2(Name, max - min)
//   IPv6: min + (SHA-1(Name) as a big-endian integer) rem (max - min)
// where Name is e.g. `myapp.marathon` (naming.ts: hashName).

import { createHash } from 'node:crypto';
import { ModelError } from './errors.js';

const GOLDEN = 0x9e3779b9; // lookup2's "golden ratio" start for a and b
const HCONST_13 = 0x08d12e65; // make_hash2's initval for binaries (hash starts at 0)
const TWO_POW_32 = 2 ** 32;

/**
 * erlang:phash2/2 of a binary (OTP erl_term_hashing.c: make_hash2 on a
 * binary is Bob Jenkins' lookup2 `block_hash(bytes, len, 0x08d12e65)`).
 * Without `range` it returns phash2/1 (27 bits). `range` is 1..2^32 as in
 * Erlang (badarg otherwise); IPv4 pools are always below 2^32.
 */
export function phash2(bytes: Uint8Array, range?: number): number {
  let a = GOLDEN;
  let b = GOLDEN;
  let c = HCONST_13;
  const length = bytes.length;
  let k = 0;
  let len = length;

  // lookup2 mix, all arithmetic mod 2^32 (`>>> 0` keeps values unsigned).
  const mix = (): void => {
    a = (a - b - c) >>> 0; a = (a ^ (c >>> 13)) >>> 0;
    b = (b - c - a) >>> 0; b = (b ^ (a << 8)) >>> 0;
    c = (c - a - b) >>> 0; c = (c ^ (b >>> 13)) >>> 0;
    a = (a - b - c) >>> 0; a = (a ^ (c >>> 12)) >>> 0;
    b = (b - c - a) >>> 0; b = (b ^ (a << 16)) >>> 0;
    c = (c - a - b) >>> 0; c = (c ^ (b >>> 5)) >>> 0;
    a = (a - b - c) >>> 0; a = (a ^ (c >>> 3)) >>> 0;
    b = (b - c - a) >>> 0; b = (b ^ (a << 10)) >>> 0;
    c = (c - a - b) >>> 0; c = (c ^ (b >>> 15)) >>> 0;
  };
  const word = (i: number): number =>
    ((bytes[i] as number) | ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) | ((bytes[i + 3] as number) << 24)) >>> 0;

  if (length === 0) {
    // make_hash2 returns `con` unchanged for an empty binary.
  } else {
    while (len >= 12) {
      a = (a + word(k)) >>> 0;
      b = (b + word(k + 4)) >>> 0;
      c = (c + word(k + 8)) >>> 0;
      mix();
      k += 12;
      len -= 12;
    }
    c = (c + length) >>> 0;
    const at = (i: number): number => bytes[k + i] as number;
    // The C switch falls through from the highest remaining byte down.
    if (len >= 11) c = (c + (at(10) << 24)) >>> 0;
    if (len >= 10) c = (c + (at(9) << 16)) >>> 0;
    if (len >= 9) c = (c + (at(8) << 8)) >>> 0;
    if (len >= 8) b = (b + (at(7) << 24)) >>> 0;
    if (len >= 7) b = (b + (at(6) << 16)) >>> 0;
    if (len >= 6) b = (b + (at(5) << 8)) >>> 0;
    if (len >= 5) b = (b + at(4)) >>> 0;
    if (len >= 4) a = (a + (at(3) << 24)) >>> 0;
    if (len >= 3) a = (a + (at(2) << 16)) >>> 0;
    if (len >= 2) a = (a + (at(1) << 8)) >>> 0;
    if (len >= 1) a = (a + at(0)) >>> 0;
    mix();
  }

  if (range === undefined) return c & ((1 << 27) - 1);
  if (!Number.isInteger(range) || range < 1 || range > TWO_POW_32) {
    throw new ModelError('MODEL_BAD_RANGE', `phash2 range must be an integer in 1..2^32, got ${range}`);
  }
  return range === TWO_POW_32 ? c : c % range;
}

const encoder = new TextEncoder();

/** phash2 of a string as an Erlang binary of its UTF-8 bytes. */
export function phash2String(text: string, range?: number): number {
  return phash2(encoder.encode(text), range);
}

/** SHA-1 of the UTF-8 bytes as a big-endian 160-bit integer, `rem range`. */
export function sha1Mod(text: string, range: bigint): bigint {
  if (range < 1n) throw new ModelError('MODEL_BAD_RANGE', `range must be >= 1, got ${range}`);
  const digest = createHash('sha1').update(text, 'utf8').digest('hex');
  return BigInt(`0x${digest}`) % range;
}

/** Pool shape the hash needs (options.ts Pool satisfies it). */
export interface HashPool {
  family: 4 | 6;
  /** max - min */
  size: bigint;
}

/**
 * Offset from the pool's min of a name's hash address, before collisions:
 * phash2(Name, size) for IPv4, SHA-1(Name) rem size for IPv6.
 */
export function homeOffset(pool: HashPool, name: string): bigint {
  if (pool.family === 4) return BigInt(phash2String(name, Number(pool.size)));
  return sha1Mod(name, pool.size);
}
