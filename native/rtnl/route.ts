// Routes (RTM_*ROUTE): type, request encoders, reply decoder. l4lb uses
// them for one thing, `type local` routes that make a whole VIP pool local
// to the node, but the codec is the general one.
// Pure codec: no I/O here; RtnlHandle (handle.ts) sends these.
//
// Wire layout (as `ip route add` writes it):
//   nlmsghdr (16) | rtmsg (12): family u8, dst_len u8, src_len u8, tos u8,
//   table u8, protocol u8, scope u8, type u8, flags u32 | RTA_DST addr |
//   RTA_OIF u32 | RTA_TABLE u32 (only for table ids above 255)

import { AF_INET, AF_INET6, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST } from '../netlink/constants.js';
import { inetFamily, InvalidAddressError } from '../netlink/inet.js';
import { Attrs, MalformedMessageError, type MessageView } from '../netlink/reader.js';
import type { MessageWriter } from '../netlink/writer.js';
import {
  RT_SCOPE_HOST,
  RT_SCOPE_UNIVERSE,
  RT_TABLE_MAIN,
  RTA_DST,
  RTA_MAX,
  RTA_OIF,
  RTA_PREFSRC,
  RTA_PRIORITY,
  RTA_TABLE,
  RTM_DELROUTE,
  RTM_GETROUTE,
  RTM_NEWROUTE,
  RTMSG_SIZE,
  RTN_LOCAL,
  RTN_UNICAST,
  RTPROT_BOOT,
} from './constants.js';

/** A route as `ip route show table all` lists it. */
export interface Route {
  family: number;
  /** Destination prefix, canonical text; `0.0.0.0`/`::` with dstLen 0 for a default route. */
  dst: string;
  dstLen: number;
  /** Table id (RTA_TABLE when present, else rtm_table). */
  table: number;
  /** RTPROT_*: who installed it (2 kernel, 3 boot, 4 static, ...). */
  protocol: number;
  scope: number;
  /** RTN_* (1 unicast, 2 local, ...). */
  type: number;
  /** Output ifindex; 0 when the route has none (multipath, blackhole...). */
  oif: number;
  /** Preferred source address, '' when unset. */
  prefsrc: string;
  /** Metric (RTA_PRIORITY), 0 when unset. */
  priority: number;
}

/** What to add or delete. */
export interface RouteSpec {
  /** Destination network address (the family is inferred). */
  dst: string;
  /** Default: the full length (a host route). */
  dstLen?: number;
  /** Default: RT_TABLE_MAIN (254); local routes belong in RT_TABLE_LOCAL (255). */
  table?: number;
  /** RTN_*; default RTN_UNICAST. */
  type?: number;
  /** RTPROT_*; default RTPROT_BOOT (as `ip route add`). */
  protocol?: number;
  /** Default: host for IPv4 local routes, universe otherwise (as `ip route add`; IPv6 has no route scopes). */
  scope?: number;
  /** Output ifindex (`dev`). */
  oif: number;
}

/** `local 198.18.0.0/16 table 255 proto 76 dev 3`. */
export function describeRoute(spec: RouteSpec): string {
  const { prefixLen } = routeFamily(spec);
  const type = spec.type ?? RTN_UNICAST;
  return `${type === RTN_LOCAL ? 'local ' : ''}${spec.dst}/${prefixLen} table ${spec.table ?? RT_TABLE_MAIN} proto ${spec.protocol ?? RTPROT_BOOT} dev ${spec.oif}`;
}

/** The family of `dst` and its prefix length, validated: host bits must be zero, as the kernel demands. */
export function routeFamily(spec: Pick<RouteSpec, 'dst' | 'dstLen'>): { family: number; prefixLen: number } {
  const family = inetFamily(spec.dst);
  if (family === 0) throw new InvalidAddressError(spec.dst, spec.dst.includes(':') ? AF_INET6 : AF_INET);
  const max = family === AF_INET6 ? 128 : 32;
  const prefixLen = spec.dstLen ?? max;
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) {
    throw new RangeError(`prefix length ${prefixLen} of ${spec.dst} is not 0..${max}`);
  }
  return { family, prefixLen };
}

function encodeRouteMsg(w: MessageWriter, type: number, nlFlags: number, seq: number, spec: RouteSpec): void {
  const { family, prefixLen } = routeFamily(spec);
  const table = spec.table ?? RT_TABLE_MAIN;
  const rtType = spec.type ?? RTN_UNICAST;
  const start = w.beginMessage(type, nlFlags, seq);
  w.u8(family);
  w.u8(prefixLen);
  w.u8(0); // src_len
  w.u8(0); // tos
  w.u8(table < 256 ? table : 252 /* RT_TABLE_COMPAT */);
  w.u8(spec.protocol ?? RTPROT_BOOT);
  w.u8(spec.scope ?? (rtType === RTN_LOCAL && family === AF_INET ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE));
  w.u8(rtType);
  w.u32(0); // flags
  w.attrInet(RTA_DST, family, spec.dst, family === AF_INET6 ? 16 : 4);
  w.attrU32(RTA_OIF, spec.oif);
  if (table >= 256) w.attrU32(RTA_TABLE, table);
  w.endMessage(start);
}

/**
 * RTM_NEWROUTE with NLM_F_CREATE|NLM_F_EXCL (`ip route add [local]
 * DST/LEN dev LINK table T proto P`): an equal route fails with EEXIST.
 * `ack` false for batches.
 */
export function encodeRouteAdd(w: MessageWriter, seq: number, spec: RouteSpec, ack = true): void {
  encodeRouteMsg(w, RTM_NEWROUTE, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | (ack ? NLM_F_ACK : 0), seq, spec);
}

/**
 * RTM_DELROUTE (`ip route del ...`). The kernel deletes the first route
 * matching every field given (prefix, table, type, protocol, dev); a missing
 * one fails with ESRCH.
 */
export function encodeRouteDel(w: MessageWriter, seq: number, spec: RouteSpec, ack = true): void {
  encodeRouteMsg(w, RTM_DELROUTE, NLM_F_REQUEST | (ack ? NLM_F_ACK : 0), seq, spec);
}

/** RTM_GETROUTE dump of one family, every table (`ip route show table all`); callers filter. */
export function encodeRouteDump(w: MessageWriter, seq: number, family: number): void {
  const start = w.beginMessage(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq);
  w.u8(family);
  for (let i = 0; i < 7; i++) w.u8(0);
  w.u32(0);
  w.endMessage(start);
}

const routeAttrs = new Attrs(RTA_MAX);

/** Decodes an RTM_NEWROUTE message (a dump entry). */
export function decodeRoute(buf: Buffer, m: MessageView): Route {
  if (m.end - m.start < RTMSG_SIZE) throw new MalformedMessageError(`RTM_NEWROUTE payload of ${m.end - m.start} bytes`);
  const o = m.start;
  const family = buf[o]!;
  const a = routeAttrs.parse(buf, o + RTMSG_SIZE, m.end);
  const inet = family === AF_INET || family === AF_INET6;
  return {
    family,
    dst: inet && a.has(RTA_DST) ? a.inet(RTA_DST, family) : family === AF_INET6 ? '::' : '0.0.0.0',
    dstLen: buf[o + 1]!,
    table: a.has(RTA_TABLE) ? a.u32(RTA_TABLE) : buf[o + 4]!,
    protocol: buf[o + 5]!,
    scope: buf[o + 6]!,
    type: buf[o + 7]!,
    oif: a.u32(RTA_OIF),
    prefsrc: inet && a.has(RTA_PREFSRC) ? a.inet(RTA_PREFSRC, family) : '',
    priority: a.u32(RTA_PRIORITY),
  };
}
