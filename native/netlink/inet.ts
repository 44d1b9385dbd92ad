// IPv4/IPv6 text <-> bytes, written into and read from netlink buffers in place.
//
// Formatting follows glibc's inet_ntop exactly (RFC 5952 zero compression,
// embedded IPv4 for ::ffff:a.b.c.d and ::a.b.c.d) so our output compares
// byte for byte with ipvsadm's and iproute2's.

import { AF_INET, AF_INET6 } from './constants.js';

export class InvalidAddressError extends Error {
  readonly code = 'ERR_INVALID_ADDRESS';
  constructor(readonly address: string, readonly family: number) {
    super(`invalid ${family === AF_INET6 ? 'IPv6' : 'IPv4'} address ${JSON.stringify(address)}`);
    this.name = 'InvalidAddressError';
  }
}

/** The family of a textual address, or 0 when it is neither. */
export function inetFamily(addr: string): number {
  if (parseIPv4(addr, null, 0)) return AF_INET;
  if (addr.includes(':') && parseIPv6(addr, null, 0)) return AF_INET6;
  return 0;
}

/** Writes `addr` (4 or 16 bytes) at `off`; throws InvalidAddressError. */
export function writeInet(buf: Uint8Array, off: number, family: number, addr: string): void {
  const ok = family === AF_INET ? parseIPv4(addr, buf, off) : family === AF_INET6 ? parseIPv6(addr, buf, off) : false;
  if (!ok) throw new InvalidAddressError(addr, family);
}

/** Bytes of an address (4 or 16). */
export function inetBytes(family: number, addr: string): Buffer {
  const b = Buffer.alloc(family === AF_INET6 ? 16 : 4);
  writeInet(b, 0, family, addr);
  return b;
}

/** Canonical text of an address; the same text for the same bytes. */
export function canonicalInet(addr: string): string {
  const family = inetFamily(addr);
  if (!family) throw new InvalidAddressError(addr, addr.includes(':') ? AF_INET6 : AF_INET);
  // A dotted quad that parses (no leading zeros, each part <= 255) is already canonical.
  if (family === AF_INET) return addr;
  return readInet(inetBytes(family, addr), 0, family);
}

export function readInet(buf: Uint8Array, off: number, family: number): string {
  if (family === AF_INET) return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
  return formatIPv6(buf, off);
}

function parseIPv4(s: string, out: Uint8Array | null, off: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; // virtual trailing '.'
    if (c >= 48 && c <= 57) {
      // No leading zeros: "010" is octal to inet_aton, so refuse the ambiguity.
      if (digits === 1 && value === 0) return false;
      value = value * 10 + (c - 48);
      if (value > 255 || ++digits > 3) return false;
    } else if (c === 46) {
      if (digits === 0 || part > 3) return false;
      if (out) out[off + part] = value;
      part++;
      value = 0;
      digits = 0;
    } else {
      return false;
    }
  }
  return part === 4;
}

function parseIPv6(s: string, out: Uint8Array | null, off: number): boolean {
  if (s.length < 2 || s.length > 45) return false;
  const words: number[] = [];
  let gap = -1;
  let i = 0;
  if (s.startsWith('::')) {
    gap = 0;
    i = 2;
    if (s.length === 2) return fill();
  } else if (s[0] === ':') {
    return false;
  }
  while (i < s.length) {
    // Trailing dotted quad.
    const rest = s.slice(i);
    if (rest.includes('.') && !rest.includes(':')) {
      const q = new Uint8Array(4);
      if (!parseIPv4(rest, q, 0)) return false;
      words.push((q[0]! << 8) | q[1]!, (q[2]! << 8) | q[3]!);
      i = s.length;
      break;
    }
    let v = 0;
    let n = 0;
    while (i < s.length && n < 5) {
      const c = s.charCodeAt(i);
      const h = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (h < 0) break;
      v = (v << 4) | h;
      n++;
      i++;
    }
    if (n === 0 || n > 4) return false;
    words.push(v);
    if (i === s.length) break;
    if (s[i] !== ':') return false;
    i++;
    if (s[i] === ':') {
      if (gap >= 0) return false;
      gap = words.length;
      i++;
      if (i === s.length) break;
    } else if (i === s.length) {
      return false; // trailing single ':'
    }
  }
  return fill();

  function fill(): boolean {
    if (gap < 0 ? words.length !== 8 : words.length > 7) return false;
    const full = new Array<number>(8).fill(0);
    if (gap < 0) {
      for (let k = 0; k < 8; k++) full[k] = words[k]!;
    } else {
      for (let k = 0; k < gap; k++) full[k] = words[k]!;
      const tail = words.length - gap;
      for (let k = 0; k < tail; k++) full[8 - tail + k] = words[gap + k]!;
    }
    if (out) {
      for (let k = 0; k < 8; k++) {
        out[off + 2 * k] = full[k]! >> 8;
        out[off + 2 * k + 1] = full[k]! & 0xff;
      }
    }
    return true;
  }
}

function formatIPv6(b: Uint8Array, off: number): string {
  const w = new Array<number>(8);
  for (let k = 0; k < 8; k++) w[k] = (b[off + 2 * k]! << 8) | b[off + 2 * k + 1]!;
  // Longest run of zero words (length >= 2), first one on ties: glibc's rule.
  let bestBase = -1;
  let bestLen = 0;
  for (let k = 0; k < 8; ) {
    if (w[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && w[e] === 0) e++;
    if (e - k > bestLen) {
      bestBase = k;
      bestLen = e - k;
    }
    k = e;
  }
  if (bestLen < 2) bestBase = -1;
  let s = '';
  for (let k = 0; k < 8; k++) {
    if (bestBase >= 0 && k >= bestBase && k < bestBase + bestLen) {
      if (k === bestBase) s += ':';
      continue;
    }
    if (k !== 0) s += ':';
    // Embedded IPv4: ::a.b.c.d and ::ffff:a.b.c.d (glibc inet_ntop6).
    if (k === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      s += `${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
      return s;
    }
    s += w[k]!.toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLen === 8) s += ':';
  return s;
}
