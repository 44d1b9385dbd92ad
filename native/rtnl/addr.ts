// Interface addresses (RTM_*ADDR): type, request encoders, reply decoder.
// Pure codec: no I/O here; RtnlHandle (handle.ts) sends these.
//
// Wire layout:
//   nlmsghdr (16) | ifaddrmsg (8): family u8, prefixlen u8, flags u8 (low 8
//   bits of the IFA_F_* flags), scope u8, index u32 | IFA_LOCAL addr |
//   IFA_ADDRESS addr | IFA_FLAGS u32 (all flags; wins over ifa_flags)
// As `ip addr add` does, IFA_LOCAL and IFA_ADDRESS both carry the address
// (no peer). For IPv4 the kernel reports the address in IFA_LOCAL, for IPv6
// in IFA_ADDRESS.

import { AF_INET, AF_INET6, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/constants.js';
import { inetFamily, InvalidAddressError } from '../netlink/inet.js';
import { Attrs, MalformedMessageError, type MessageView } from '../netlink/reader.js';
import type { MessageWriter } from '../netlink/writer.js';
import {
  IFA_ADDRESS,
  IFA_F_NODAD,
  IFA_FLAGS,
  IFA_LABEL,
  IFA_LOCAL,
  IFA_MAX,
  IFADDRMSG_SIZE,
  RT_SCOPE_UNIVERSE,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_NEWADDR,
} from './constants.js';

/** An address as `ip addr show` lists it. */
export interface Addr {
  /** AF_INET (2) or AF_INET6 (10). */
  family: number;
  /** Canonical text (inet_ntop). */
  address: string;
  prefixLen: number;
  /** ifindex of the link holding it. */
  index: number;
  /** IFA_F_* flags (IFA_FLAGS when present, else ifa_flags). */
  flags: number;
  /** RT_SCOPE_* (0 global, 253 link, 254 host). */
  scope: number;
  /** IPv4 label (usually the link name); '' for IPv6. */
  label: string;
}

/** What to add or delete: one address with its prefix on one link (by ifindex). */
export interface AddrSpec {
  /** ifindex of the link. */
  index: number;
  /** IPv4 or IPv6 text; the family is inferred. */
  address: string;
  /** Default: the full length (32 or 128), i.e. a host address. */
  prefixLen?: number;
  /** IFA_F_* flags for an add; default IFA_F_NODAD for IPv6 (no duplicate detection delay), none for IPv4. */
  flags?: number;
  /** Default RT_SCOPE_UNIVERSE. */
  scope?: number;
}

/** `198.51.100.10/32`, `2001:db8::10/128`. */
export function describeAddr(address: string, prefixLen?: number): string {
  const family = inetFamily(address);
  return `${address}/${prefixLen ?? (family === AF_INET6 ? 128 : 32)}`;
}

/** The family of `address` and its prefix length, validated. */
export function addrFamily(spec: Pick<AddrSpec, 'address' | 'prefixLen'>): { family: number; prefixLen: number } {
  const family = inetFamily(spec.address);
  if (family === 0) throw new InvalidAddressError(spec.address, spec.address.includes(':') ? AF_INET6 : AF_INET);
  const max = family === AF_INET6 ? 128 : 32;
  const prefixLen = spec.prefixLen ?? max;
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) {
    throw new RangeError(`prefix length ${prefixLen} of ${spec.address} is not 0..${max}`);
  }
  return { family, prefixLen };
}

function encodeAddrMsg(w: MessageWriter, type: number, nlFlags: number, seq: number, spec: AddrSpec, withFlags: boolean): void {
  const { family, prefixLen } = addrFamily(spec);
  const flags = withFlags ? (spec.flags ?? (family === AF_INET6 ? IFA_F_NODAD : 0)) : 0;
  const len = family === AF_INET6 ? 16 : 4;
  const start = w.beginMessage(type, nlFlags, seq);
  w.u8(family);
  w.u8(prefixLen);
  w.u8(flags & 0xff);
  w.u8(spec.scope ?? RT_SCOPE_UNIVERSE);
  w.u32(spec.index);
  w.attrInet(IFA_LOCAL, family, spec.address, len);
  w.attrInet(IFA_ADDRESS, family, spec.address, len);
  if (withFlags && flags !== 0) w.attrU32(IFA_FLAGS, flags);
  w.endMessage(start);
}

/**
 * RTM_NEWADDR with NLM_F_CREATE|NLM_F_EXCL (`ip addr add ADDR/LEN dev LINK
 * [nodad]`): an address already present fails with EEXIST. `ack` false for
 * batches.
 */
export function encodeAddrAdd(w: MessageWriter, seq: number, spec: AddrSpec, ack = true): void {
  encodeAddrMsg(w, RTM_NEWADDR, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | (ack ? NLM_F_ACK : 0), seq, spec, true);
}

/**
 * RTM_DELADDR (`ip addr del ADDR/LEN dev LINK`). The prefix length must
 * match the address's; a missing address fails with EADDRNOTAVAIL.
 */
export function encodeAddrDel(w: MessageWriter, seq: number, spec: AddrSpec, ack = true): void {
  encodeAddrMsg(w, RTM_DELADDR, NLM_F_REQUEST | (ack ? NLM_F_ACK : 0), seq, spec, false);
}

/**
 * RTM_GETADDR dump of one family (0: both) (`ip addr show`). The kernel
 * filters by family only (link filtering needs strict checking), so callers
 * filter by link after decoding.
 */
export function encodeAddrDump(w: MessageWriter, seq: number, family = 0): void {
  const start = w.beginMessage(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.u8(family);
  w.u8(0);
  w.u8(0);
  w.u8(0);
  w.u32(0);
  w.endMessage(start);
}

const addrAttrs = new Attrs(IFA_MAX);

/** Decodes an RTM_NEWADDR message (a dump entry). */
export function decodeAddr(buf: Buffer, m: MessageView): Addr {
  if (m.end - m.start < IFADDRMSG_SIZE) throw new MalformedMessageError(`RTM_NEWADDR payload of ${m.end - m.start} bytes`);
  const o = m.start;
  const family = buf[o]!;
  const a = addrAttrs.parse(buf, o + IFADDRMSG_SIZE, m.end);
  const which = a.has(IFA_LOCAL) ? IFA_LOCAL : IFA_ADDRESS;
  return {
    family,
    address: family === AF_INET || family === AF_INET6 ? a.inet(which, family) : '',
    prefixLen: buf[o + 1]!,
    index: buf.readUInt32LE(o + 4),
    flags: a.has(IFA_FLAGS) ? a.u32(IFA_FLAGS) : buf[o + 2]!,
    scope: buf[o + 3]!,
    label: a.str(IFA_LABEL),
  };
}
