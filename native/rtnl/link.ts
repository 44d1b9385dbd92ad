// Network links (RTM_*LINK): type, request encoders, reply decoder.
// Pure codec: no I/O here; RtnlHandle (handle.ts) sends these.
//
// Wire layout of a link request/reply:
//   nlmsghdr (16) | ifinfomsg (16): family u8, pad u8, type u16, index i32,
//   flags u32, change u32 | attributes: IFLA_IFNAME "name\0",
//   IFLA_LINKINFO { IFLA_INFO_KIND "dummy\0" }, IFLA_MTU u32, IFLA_ADDRESS bytes...

import { NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/constants.js';
import { Attrs, MalformedMessageError, type MessageView } from '../netlink/reader.js';
import type { MessageWriter } from '../netlink/writer.js';
import {
  IFF_LOWER_UP,
  IFF_UP,
  IFINFOMSG_SIZE,
  IFLA_ADDRESS,
  IFLA_EXT_MASK,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_INFO_MAX,
  IFLA_LINKINFO,
  IFLA_MAX,
  IFLA_MTU,
  IFLA_OPERSTATE,
  RTEXT_FILTER_SKIP_STATS,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWLINK,
} from './constants.js';

/** A link as `ip -d link show` describes it. */
export interface Link {
  /** ifindex. */
  index: number;
  name: string;
  /** IFLA_INFO_KIND (`dummy`, `veth`, `bridge`...); '' for links without one (lo, physical NICs). */
  kind: string;
  /** ARPHRD_* hardware type (1 ether, 772 loopback). */
  type: number;
  /** Raw IFF_* flags (ifi_flags). */
  flags: number;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_LOWER_UP: the carrier is up. */
  lowerUp: boolean;
  mtu: number;
  /** Link-layer address as `aa:bb:cc:dd:ee:ff`; '' when the link has none. */
  address: string;
  /** RFC 2863 operational state (IF_OPER_*: 0 unknown, 2 down, 6 up). */
  operState: number;
}

/** A link by name or by ifindex. */
export type LinkRef = string | number;

/** IFNAMSIZ - 1. */
export const MAX_LINK_NAME_BYTES = 15;

/** Text naming a link in error messages: `dev minuteman` / `dev ifindex 7`. */
export function describeLink(ref: LinkRef): string {
  return typeof ref === 'number' ? `ifindex ${ref}` : ref;
}

function ifinfomsg(w: MessageWriter, index: number, flags: number, change: number): void {
  w.u8(0); // AF_UNSPEC
  w.u8(0); // pad
  w.u16(0); // ifi_type
  w.i32(index);
  w.u32(flags);
  w.u32(change);
}

/** ifinfomsg index (0 when by name) and, when by name, IFLA_IFNAME. */
function linkRef(w: MessageWriter, ref: LinkRef, flags: number, change: number): void {
  if (typeof ref === 'number') {
    ifinfomsg(w, ref, flags, change);
  } else {
    ifinfomsg(w, 0, flags, change);
    w.attrString(IFLA_IFNAME, ref);
  }
}

/**
 * RTM_NEWLINK creating a link of `kind` without kind-specific data
 * (`ip link add NAME type dummy`): NLM_F_CREATE|NLM_F_EXCL, so an existing
 * name fails with EEXIST.
 */
export function encodeLinkAdd(w: MessageWriter, seq: number, name: string, kind: string, ack = true): void {
  const start = w.beginMessage(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | (ack ? NLM_F_ACK : 0), seq);
  ifinfomsg(w, 0, 0, 0);
  w.attrString(IFLA_IFNAME, name);
  const nest = w.beginNest(IFLA_LINKINFO);
  w.attrString(IFLA_INFO_KIND, kind);
  w.endNest(nest);
  w.endMessage(start);
}

/** RTM_DELLINK by name or index (`ip link del NAME`). */
export function encodeLinkDel(w: MessageWriter, seq: number, ref: LinkRef, ack = true): void {
  const start = w.beginMessage(RTM_DELLINK, NLM_F_REQUEST | (ack ? NLM_F_ACK : 0), seq);
  linkRef(w, ref, 0, 0);
  w.endMessage(start);
}

/** RTM_NEWLINK changing only IFF_UP (`ip link set NAME up|down`). */
export function encodeLinkSetUp(w: MessageWriter, seq: number, ref: LinkRef, up: boolean, ack = true): void {
  const start = w.beginMessage(RTM_NEWLINK, NLM_F_REQUEST | (ack ? NLM_F_ACK : 0), seq);
  linkRef(w, ref, up ? IFF_UP : 0, IFF_UP);
  w.endMessage(start);
}

/** RTM_GETLINK of one link by name or index (`ip link show dev NAME`), statistics skipped. */
export function encodeLinkGet(w: MessageWriter, seq: number, ref: LinkRef): void {
  const start = w.beginMessage(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  linkRef(w, ref, 0, 0);
  w.attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  w.endMessage(start);
}

/** RTM_GETLINK dump of every link (`ip link show`), statistics skipped. */
export function encodeLinkDump(w: MessageWriter, seq: number): void {
  const start = w.beginMessage(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq);
  ifinfomsg(w, 0, 0, 0);
  w.attrU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  w.endMessage(start);
}

const linkAttrs = new Attrs(IFLA_MAX);
const infoAttrs = new Attrs(IFLA_INFO_MAX);

/** Decodes an RTM_NEWLINK message (a GETLINK reply or a dump entry). */
export function decodeLink(buf: Buffer, m: MessageView): Link {
  if (m.end - m.start < IFINFOMSG_SIZE) throw new MalformedMessageError(`RTM_NEWLINK payload of ${m.end - m.start} bytes`);
  const o = m.start;
  const flags = buf.readUInt32LE(o + 8);
  const a = linkAttrs.parse(buf, o + IFINFOMSG_SIZE, m.end);
  let kind = '';
  if (a.nested(IFLA_LINKINFO, infoAttrs)) kind = infoAttrs.str(IFLA_INFO_KIND);
  return {
    index: buf.readInt32LE(o + 4),
    name: a.str(IFLA_IFNAME),
    kind,
    type: buf.readUInt16LE(o + 2),
    flags,
    up: (flags & IFF_UP) !== 0,
    lowerUp: (flags & IFF_LOWER_UP) !== 0,
    mtu: a.u32(IFLA_MTU),
    address: a.has(IFLA_ADDRESS) ? formatMac(buf, a.offset(IFLA_ADDRESS), a.length(IFLA_ADDRESS)) : '',
    operState: a.u8(IFLA_OPERSTATE),
  };
}

function formatMac(buf: Buffer, off: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) {
    if (i) s += ':';
    const b = buf[off + i]!;
    s += (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}
