// Encodes netlink messages into one reusable buffer.
//
// Batching puts thousands of requests into a single sendmsg, so the encoder
// must not allocate per message or per attribute: everything is written in
// place and lengths are patched when a message or nest is closed.

import { GENL_HDRLEN, NLA_HDRLEN, NLMSG_HDRLEN } from './constants.js';
import { writeInet } from './inet.js';

/** Rounds a length up to netlink's 4-byte alignment. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

// Direct byte stores: Buffer's write*() methods validate their arguments on
// every call, which costs more than the store itself at a million attributes.
function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}
function zero(b: Uint8Array, from: number, to: number): void {
  for (let i = from; i < to; i++) b[i] = 0;
}

export class MessageWriter {
  private buf: Buffer;
  private off = 0;

  constructor(initialCapacity = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialCapacity);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.off;
  }

  /** Forgets everything written; keeps the buffer for reuse. */
  reset(): void {
    this.off = 0;
  }

  /** Drops everything written after `offset` (to undo a message that did not fit). */
  truncate(offset: number): void {
    if (offset < 0 || offset > this.off) throw new RangeError(`truncate(${offset}) outside 0..${this.off}`);
    this.off = offset;
  }

  /** A view of the encoded bytes; valid until the next write or reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.off);
  }

  private ensure(n: number): void {
    const need = this.off + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.off);
    this.buf = next;
  }

  /** Starts a message (nlmsghdr with a length patched by `endMessage`); returns its offset. */
  beginMessage(type: number, flags: number, seq: number, pid = 0): number {
    this.ensure(NLMSG_HDRLEN);
    const start = this.off;
    const b = this.buf;
    put32(b, start, 0);
    put16(b, start + 4, type);
    put16(b, start + 6, flags);
    put32(b, start + 8, seq);
    put32(b, start + 12, pid);
    this.off = start + NLMSG_HDRLEN;
    return start;
  }

  /** Closes the message started at `start`: patches nlmsg_len and pads to 4 bytes. */
  endMessage(start: number): void {
    this.pad();
    put32(this.buf, start, this.off - start);
  }

  /** genlmsghdr: command, version, reserved. */
  genlHeader(cmd: number, version: number): void {
    this.ensure(GENL_HDRLEN);
    const b = this.buf;
    b[this.off] = cmd;
    b[this.off + 1] = version;
    put16(b, this.off + 2, 0);
    this.off += GENL_HDRLEN;
  }

  // Raw fixed-layout fields (family headers such as ifaddrmsg, ifinfomsg).
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.off++] = v & 0xff;
  }
  u16(v: number): void {
    this.ensure(2);
    put16(this.buf, this.off, v);
    this.off += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    put32(this.buf, this.off, v);
    this.off += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    put32(this.buf, this.off, v | 0);
    this.off += 4;
  }
  zeros(n: number): void {
    this.ensure(n);
    zero(this.buf, this.off, this.off + n);
    this.off += n;
  }
  pad(): void {
    const padded = align4(this.off);
    if (padded !== this.off) this.zeros(padded - this.off);
  }

  private attrHeader(type: number, payloadLen: number): number {
    this.ensure(NLA_HDRLEN + align4(payloadLen));
    const at = this.off;
    put16(this.buf, at, NLA_HDRLEN + payloadLen);
    put16(this.buf, at + 2, type);
    this.off = at + NLA_HDRLEN;
    return this.off;
  }

  private padTo(payloadStart: number, payloadLen: number): void {
    const end = payloadStart + payloadLen;
    const padded = payloadStart + align4(payloadLen);
    zero(this.buf, end, padded);
    this.off = padded;
  }

  attrFlag(type: number): void {
    this.attrHeader(type, 0);
  }
  attrU8(type: number, v: number): void {
    const p = this.attrHeader(type, 1);
    this.buf[p] = v & 0xff;
    this.padTo(p, 1);
  }
  attrU16(type: number, v: number): void {
    const p = this.attrHeader(type, 2);
    put16(this.buf, p, v);
    this.padTo(p, 2);
  }
  /** A 16-bit value in network byte order (__be16: IPVS ports). */
  attrBe16(type: number, v: number): void {
    const p = this.attrHeader(type, 2);
    this.buf[p] = (v >>> 8) & 0xff;
    this.buf[p + 1] = v & 0xff;
    this.padTo(p, 2);
  }
  attrU32(type: number, v: number): void {
    const p = this.attrHeader(type, 4);
    put32(this.buf, p, v);
    this.off = p + 4;
  }
  /** A 32-bit value in network byte order (__be32: IPVS persistence netmask). */
  attrBe32(type: number, v: number): void {
    const p = this.attrHeader(type, 4);
    const b = this.buf;
    b[p] = (v >>> 24) & 0xff;
    b[p + 1] = (v >>> 16) & 0xff;
    b[p + 2] = (v >>> 8) & 0xff;
    b[p + 3] = v & 0xff;
    this.off = p + 4;
  }
  attrI32(type: number, v: number): void {
    const p = this.attrHeader(type, 4);
    put32(this.buf, p, v | 0);
    this.off = p + 4;
  }
  attrU64(type: number, v: number | bigint): void {
    const p = this.attrHeader(type, 8);
    this.buf.writeBigUInt64LE(BigInt(v), p);
    this.off = p + 8;
  }
  /** A NUL-terminated string (NLA_NUL_STRING / NLA_STRING as the kernel expects). */
  attrString(type: number, s: string): void {
    const n = Buffer.byteLength(s);
    const p = this.attrHeader(type, n + 1);
    this.buf.write(s, p, 'utf8');
    this.buf[p + n] = 0;
    this.padTo(p, n + 1);
  }
  attrBytes(type: number, bytes: Uint8Array, payloadLen = bytes.length): void {
    const p = this.attrHeader(type, payloadLen);
    this.buf.set(bytes.subarray(0, Math.min(bytes.length, payloadLen)), p);
    if (bytes.length < payloadLen) this.buf.fill(0, p + bytes.length, p + payloadLen);
    this.padTo(p, payloadLen);
  }

  /**
   * An address in a fixed-size field (IPVS uses 16-byte nf_inet_addr for both
   * families; rtnetlink uses 4 or 16). Parsed straight into the buffer.
   */
  attrInet(type: number, family: number, addr: string, fieldLen: number): void {
    const p = this.attrHeader(type, fieldLen);
    zero(this.buf, p, p + align4(fieldLen));
    writeInet(this.buf, p, family, addr);
    this.padTo(p, fieldLen);
  }

  /** Starts a nested attribute; close it with `endNest`. */
  beginNest(type: number): number {
    const start = this.off;
    this.attrHeader(type, 0);
    return start;
  }
  endNest(start: number): void {
    put16(this.buf, start, this.off - start);
  }
}
