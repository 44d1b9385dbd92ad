// Decodes netlink messages and attributes without copying.
//
// A dump of 100,000 destinations is a million attributes: decoders keep
// offsets into the receive buffer in reusable tables instead of slicing a
// Buffer per attribute.

import {
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
} from './constants.js';
import { align4 } from './writer.js';
import { readInet } from './inet.js';

// Direct loads: Buffer's read*() methods re-check bounds on every call; the
// table below already checked each attribute against its container.
function get16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function get32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x100_0000;
}

export class MalformedMessageError extends Error {
  readonly code = 'ERR_NETLINK_MALFORMED';
  constructor(detail: string) {
    super(`malformed netlink message: ${detail}`);
    this.name = 'MalformedMessageError';
  }
}

/** One message in a receive buffer: header fields and where its payload lies. */
export interface MessageView {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Offset of the payload (after nlmsghdr) in `buf`. */
  start: number;
  /** End of the payload (exclusive). */
  end: number;
}

/**
 * Calls `fn` for each message in buf[0..len). Stops early when `fn` returns
 * false. The same MessageView object is reused between calls.
 */
export function forEachMessage(buf: Buffer, len: number, fn: (m: MessageView) => boolean | void): void {
  const m: MessageView = { type: 0, flags: 0, seq: 0, pid: 0, start: 0, end: 0 };
  let off = 0;
  while (off + NLMSG_HDRLEN <= len) {
    off = readMessageHeader(buf, off, len, m);
    if (fn(m) === false) return;
  }
}

/**
 * Decodes the nlmsghdr at `off` of a `len`-byte datagram into `m`; returns
 * the offset of the next message. A length that runs past the datagram is
 * MalformedMessageError, never a partial read.
 */
export function readMessageHeader(buf: Buffer, off: number, len: number, m: MessageView): number {
  const mlen = get32(buf, off);
  if (mlen < NLMSG_HDRLEN || off + mlen > len) {
    throw new MalformedMessageError(`message length ${mlen} at offset ${off} exceeds datagram of ${len} bytes`);
  }
  m.type = get16(buf, off + 4);
  m.flags = get16(buf, off + 6);
  m.seq = get32(buf, off + 8);
  m.pid = get32(buf, off + 12);
  m.start = off + NLMSG_HDRLEN;
  m.end = off + mlen;
  return off + align4(mlen);
}

/**
 * Attribute table for one nesting level: offsets of each attribute's payload,
 * indexed by type. `parse` resets it cheaply (a generation counter), so one
 * instance per nesting level serves a whole dump.
 */
export class Attrs {
  buf: Buffer = Buffer.alloc(0);
  private readonly offs: Int32Array;
  private readonly lens: Int32Array;
  private readonly gens: Uint32Array;
  private gen = 0;

  constructor(readonly maxType: number) {
    this.offs = new Int32Array(maxType + 1);
    this.lens = new Int32Array(maxType + 1);
    this.gens = new Uint32Array(maxType + 1);
  }

  /** Indexes the attributes in buf[start..end). Unknown (newer) types are ignored. */
  parse(buf: Buffer, start: number, end: number): this {
    this.buf = buf;
    this.gen = (this.gen + 1) >>> 0;
    if (this.gen === 0) {
      this.gens.fill(0);
      this.gen = 1;
    }
    let off = start;
    while (off + NLA_HDRLEN <= end) {
      const len = get16(buf, off);
      if (len < NLA_HDRLEN || off + len > end) {
        throw new MalformedMessageError(`attribute length ${len} at offset ${off} runs past ${end}`);
      }
      const type = get16(buf, off + 2) & NLA_TYPE_MASK;
      if (type <= this.maxType) {
        this.offs[type] = off + NLA_HDRLEN;
        this.lens[type] = len - NLA_HDRLEN;
        this.gens[type] = this.gen;
      }
      off += align4(len);
    }
    return this;
  }

  has(type: number): boolean {
    return type <= this.maxType && this.gens[type] === this.gen;
  }
  /** Payload offset of `type` (check `has` first). */
  offset(type: number): number {
    return this.offs[type]!;
  }
  length(type: number): number {
    return this.has(type) ? this.lens[type]! : -1;
  }

  private at(type: number, size: number, what: string): number {
    if (!this.has(type)) throw new MalformedMessageError(`attribute ${type} missing`);
    if (this.lens[type]! < size) {
      throw new MalformedMessageError(`attribute ${type} is ${this.lens[type]} bytes, ${what} needs ${size}`);
    }
    return this.offs[type]!;
  }

  u8(type: number, dflt = 0): number {
    return this.has(type) ? this.buf[this.at(type, 1, 'u8')]! : dflt;
  }
  u16(type: number, dflt = 0): number {
    return this.has(type) ? get16(this.buf, this.at(type, 2, 'u16')) : dflt;
  }
  be16(type: number, dflt = 0): number {
    if (!this.has(type)) return dflt;
    const o = this.at(type, 2, 'be16');
    return (this.buf[o]! << 8) | this.buf[o + 1]!;
  }
  u32(type: number, dflt = 0): number {
    return this.has(type) ? get32(this.buf, this.at(type, 4, 'u32')) : dflt;
  }
  be32(type: number, dflt = 0): number {
    return this.has(type) ? this.buf.readUInt32BE(this.at(type, 4, 'be32')) : dflt;
  }
  i32(type: number, dflt = 0): number {
    return this.has(type) ? this.buf.readInt32LE(this.at(type, 4, 'i32')) : dflt;
  }
  /** u64 as a number: exact below 2^53 (9 PB of traffic), which counters do not reach. */
  u64(type: number, dflt = 0): number {
    if (!this.has(type)) return dflt;
    const o = this.at(type, 8, 'u64');
    return get32(this.buf, o) + get32(this.buf, o + 4) * 0x1_0000_0000;
  }
  /** A string attribute, without its trailing NUL. */
  str(type: number, dflt = ''): string {
    if (!this.has(type)) return dflt;
    const o = this.offs[type]!;
    let e = o + this.lens[type]!;
    while (e > o && this.buf[e - 1] === 0) e--;
    return this.buf.toString('utf8', o, e);
  }
  /** An address in a 4- or 16-byte field. */
  inet(type: number, family: number): string {
    return readInet(this.buf, this.at(type, family === 10 ? 16 : 4, 'address'), family);
  }
  /** A copy of the payload. */
  bytes(type: number): Buffer {
    if (!this.has(type)) return Buffer.alloc(0);
    const o = this.offs[type]!;
    return Buffer.from(this.buf.subarray(o, o + this.lens[type]!));
  }
  /** Parses the nested attribute `type` into `into`; returns false if absent. */
  nested(type: number, into: Attrs): boolean {
    if (!this.has(type)) return false;
    const o = this.offs[type]!;
    into.parse(this.buf, o, o + this.lens[type]!);
    return true;
  }
}

/** Decoded NLMSG_ERROR: errno 0 is an acknowledgement. */
export interface ErrorPayload {
  /** Positive errno; 0 for an ACK. */
  errno: number;
  /** Header fields of the request this answers. */
  requestType: number;
  requestSeq: number;
  /** Extended ACK text, when the kernel gave one. */
  extAck?: string;
  /** Offset of the offending attribute within the request, when given. */
  extAckOffset?: number;
  /** Attribute type the kernel said was missing, when given. */
  missingType?: number;
}

const errAttrs = new Attrs(8);

/** Decodes the payload of an NLMSG_ERROR message. */
export function parseErrorPayload(buf: Buffer, m: MessageView): ErrorPayload {
  if (m.end - m.start < 4 + NLMSG_HDRLEN) throw new MalformedMessageError('NLMSG_ERROR shorter than its header');
  const err = buf.readInt32LE(m.start);
  const req = m.start + 4;
  const out: ErrorPayload = {
    errno: err === 0 ? 0 : -err,
    requestType: buf.readUInt16LE(req + 4),
    requestSeq: buf.readUInt32LE(req + 8),
  };
  if (m.flags & NLM_F_ACK_TLVS) {
    // The original request follows unless the socket asked for capped ACKs.
    const reqLen = m.flags & NLM_F_CAPPED ? NLMSG_HDRLEN : buf.readUInt32LE(req);
    const tlvStart = req + align4(reqLen);
    if (tlvStart <= m.end) {
      errAttrs.parse(buf, tlvStart, m.end);
      if (errAttrs.has(NLMSGERR_ATTR_MSG)) out.extAck = errAttrs.str(NLMSGERR_ATTR_MSG);
      if (errAttrs.has(NLMSGERR_ATTR_OFFS)) out.extAckOffset = errAttrs.u32(NLMSGERR_ATTR_OFFS);
      if (errAttrs.has(NLMSGERR_ATTR_MISS_TYPE)) out.missingType = errAttrs.u32(NLMSGERR_ATTR_MISS_TYPE);
    }
  }
  return out;
}
