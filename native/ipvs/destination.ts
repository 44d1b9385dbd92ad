// IPVS real server (destination): type, encoding and decoding side by side.
// Equivalent to: `ipvsadm -a|-e|-d -t VIP:PORT -r RIP:PORT -m|-g|-i -w W -x U -y L`.

import { AF_INET, AF_INET6 } from '../netlink/constants.js';
import { canonicalInet } from '../netlink/inet.js';
import { Attrs } from '../netlink/reader.js';
import { MessageWriter } from '../netlink/writer.js';
import {
  IPVS_CMD_ATTR_DEST,
  IPVS_DEST_ATTR_ACTIVE_CONNS,
  IPVS_DEST_ATTR_ADDR,
  IPVS_DEST_ATTR_ADDR_FAMILY,
  IPVS_DEST_ATTR_FWD_METHOD,
  IPVS_DEST_ATTR_INACT_CONNS,
  IPVS_DEST_ATTR_L_THRESH,
  IPVS_DEST_ATTR_MAX,
  IPVS_DEST_ATTR_PERSIST_CONNS,
  IPVS_DEST_ATTR_PORT,
  IPVS_DEST_ATTR_STATS,
  IPVS_DEST_ATTR_STATS64,
  IPVS_DEST_ATTR_TUN_FLAGS,
  IPVS_DEST_ATTR_TUN_PORT,
  IPVS_DEST_ATTR_TUN_TYPE,
  IPVS_DEST_ATTR_U_THRESH,
  IPVS_DEST_ATTR_WEIGHT,
  IP_VS_CONN_F_BYPASS,
  IP_VS_CONN_F_DROUTE,
  IP_VS_CONN_F_FWD_MASK,
  IP_VS_CONN_F_LOCALNODE,
  IP_VS_CONN_F_MASQ,
  IP_VS_CONN_F_TUNNEL,
  IP_VS_CONN_F_TUNNEL_TYPE_GRE,
  IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
} from './constants.js';
import { familyNumber, familyOf, type Family } from './service.js';
import { decodeStatsFrom, type Stats } from './stats.js';

/** masq = NAT (`-m`), route = direct routing (`-g`), tunnel = IPIP/GUE/GRE (`-i`); local and bypass are kernel-assigned. */
export type ForwardMethod = 'masq' | 'local' | 'tunnel' | 'route' | 'bypass';
export type TunnelType = 'ipip' | 'gue' | 'gre';

export interface DestinationKey {
  /** Defaults to the address's own family; may differ from the service's for tunnel forwarding. */
  family: Family;
  address: string;
  port: number;
}

export interface Destination extends DestinationKey {
  forward: ForwardMethod;
  /** 0 stops new connections (drain), up to 65535. */
  weight: number;
  /** Connection thresholds; 0 = unlimited. */
  upperThreshold: number;
  lowerThreshold: number;
  tunnelType: TunnelType;
  /** UDP port of GUE encapsulation; 0 otherwise. */
  tunnelPort: number;
  /** IP_VS_TUNNEL_ENCAP_FLAG_* (checksum options for GUE/GRE). */
  tunnelFlags: number;
}

/** A destination as dumped from the kernel, with connection counts and counters. */
export interface DestinationEntry extends Destination {
  activeConnections: number;
  inactiveConnections: number;
  persistentConnections: number;
  stats: Stats;
}

const FORWARD_CODES: Record<ForwardMethod, number> = {
  masq: IP_VS_CONN_F_MASQ,
  local: IP_VS_CONN_F_LOCALNODE,
  tunnel: IP_VS_CONN_F_TUNNEL,
  route: IP_VS_CONN_F_DROUTE,
  bypass: IP_VS_CONN_F_BYPASS,
};
const FORWARD_NAMES: ForwardMethod[] = ['masq', 'local', 'tunnel', 'route', 'bypass'];
const TUNNEL_CODES: Record<TunnelType, number> = {
  ipip: IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
  gue: IP_VS_CONN_F_TUNNEL_TYPE_GUE,
  gre: IP_VS_CONN_F_TUNNEL_TYPE_GRE,
};
const TUNNEL_NAMES: TunnelType[] = ['ipip', 'gue', 'gre'];

/** A complete destination with ipvsadm's defaults (masquerading, weight 1, no thresholds). */
export function makeDestination(d: Pick<DestinationKey, 'address' | 'port'> & Partial<Destination>): Destination {
  return {
    family: d.family ?? familyOf(d.address) ?? 'inet',
    address: d.address,
    port: d.port,
    forward: d.forward ?? 'masq',
    weight: d.weight ?? 1,
    upperThreshold: d.upperThreshold ?? 0,
    lowerThreshold: d.lowerThreshold ?? 0,
    tunnelType: d.tunnelType ?? 'ipip',
    tunnelPort: d.tunnelPort ?? 0,
    tunnelFlags: d.tunnelFlags ?? 0,
  };
}

/** `198.51.100.21:8080`, `[2001:db8::5]:80`. */
export function formatDestinationKey(d: DestinationKey): string {
  return d.family === 'inet6' ? `[${d.address}]:${d.port}` : `${d.address}:${d.port}`;
}

export function destinationKeyId(d: DestinationKey): string {
  return `${d.family}/${canonicalInet(d.address)}/${d.port}`;
}

export class InvalidDestinationError extends Error {
  readonly code = 'ERR_INVALID_DESTINATION';
  constructor(detail: string) {
    super(`invalid IPVS destination: ${detail}`);
    this.name = 'InvalidDestinationError';
  }
}

export function validateDestination(d: DestinationKey & Partial<Destination>): void {
  if (familyOf(d.address) !== d.family) {
    throw new InvalidDestinationError(`address ${JSON.stringify(d.address)} is not an ${d.family === 'inet6' ? 'IPv6' : 'IPv4'} address`);
  }
  if (!Number.isInteger(d.port) || d.port < 0 || d.port > 65535) {
    throw new InvalidDestinationError(`port ${d.port} is outside 0-65535`);
  }
  if (d.weight !== undefined && (!Number.isInteger(d.weight) || d.weight < 0 || d.weight > 65535)) {
    throw new InvalidDestinationError(`weight ${d.weight} is outside 0-65535`);
  }
  checkU32('upper threshold', d.upperThreshold);
  checkU32('lower threshold', d.lowerThreshold);
  if (d.forward !== undefined && FORWARD_CODES[d.forward] === undefined) {
    throw new InvalidDestinationError(`unknown forwarding method ${JSON.stringify(d.forward)}`);
  }
}

function checkU32(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
    throw new InvalidDestinationError(`${name} ${v} is not a 32-bit unsigned integer`);
  }
}

/** Writes the IPVS_CMD_ATTR_DEST nest that identifies a destination (for delete). */
export function writeDestinationKey(w: MessageWriter, d: DestinationKey): void {
  const nest = w.beginNest(IPVS_CMD_ATTR_DEST);
  writeKeyAttrs(w, d);
  w.endNest(nest);
}

/** Writes the full IPVS_CMD_ATTR_DEST nest (for add and edit). */
export function writeDestination(w: MessageWriter, d: Destination): void {
  const nest = w.beginNest(IPVS_CMD_ATTR_DEST);
  writeKeyAttrs(w, d);
  w.attrU32(IPVS_DEST_ATTR_FWD_METHOD, FORWARD_CODES[d.forward]);
  w.attrU32(IPVS_DEST_ATTR_WEIGHT, d.weight);
  if (d.forward === 'tunnel') {
    w.attrU8(IPVS_DEST_ATTR_TUN_TYPE, TUNNEL_CODES[d.tunnelType]);
    w.attrBe16(IPVS_DEST_ATTR_TUN_PORT, d.tunnelPort);
    w.attrU16(IPVS_DEST_ATTR_TUN_FLAGS, d.tunnelFlags);
  }
  w.attrU32(IPVS_DEST_ATTR_U_THRESH, d.upperThreshold);
  w.attrU32(IPVS_DEST_ATTR_L_THRESH, d.lowerThreshold);
  w.endNest(nest);
}

function writeKeyAttrs(w: MessageWriter, d: DestinationKey): void {
  const af = familyNumber(d.family);
  w.attrU16(IPVS_DEST_ATTR_ADDR_FAMILY, af);
  w.attrInet(IPVS_DEST_ATTR_ADDR, af, d.address, 16);
  w.attrBe16(IPVS_DEST_ATTR_PORT, d.port);
}

export interface DestinationDecoder {
  dest: Attrs;
  stats: Attrs;
  /** Decode counters; false hands out NO_STATS. */
  withStats: boolean;
}

export function destinationDecoder(statsScratch: Attrs): DestinationDecoder {
  return { dest: new Attrs(IPVS_DEST_ATTR_MAX), stats: statsScratch, withStats: true };
}

/** Decodes a destination nest; `serviceFamily` applies when the kernel predates IPVS_DEST_ATTR_ADDR_FAMILY. */
export function decodeDestination(a: Attrs, d: DestinationDecoder, serviceFamily: Family): DestinationEntry {
  const af = a.u16(IPVS_DEST_ATTR_ADDR_FAMILY, familyNumber(serviceFamily));
  const family: Family = af === AF_INET6 ? 'inet6' : 'inet';
  const fwd = a.u32(IPVS_DEST_ATTR_FWD_METHOD) & IP_VS_CONN_F_FWD_MASK;
  return {
    family,
    address: a.inet(IPVS_DEST_ATTR_ADDR, af === AF_INET6 ? AF_INET6 : AF_INET),
    port: a.be16(IPVS_DEST_ATTR_PORT),
    forward: FORWARD_NAMES[fwd] ?? 'masq',
    weight: a.u32(IPVS_DEST_ATTR_WEIGHT),
    upperThreshold: a.u32(IPVS_DEST_ATTR_U_THRESH),
    lowerThreshold: a.u32(IPVS_DEST_ATTR_L_THRESH),
    tunnelType: TUNNEL_NAMES[a.u8(IPVS_DEST_ATTR_TUN_TYPE)] ?? 'ipip',
    tunnelPort: a.be16(IPVS_DEST_ATTR_TUN_PORT),
    tunnelFlags: a.u16(IPVS_DEST_ATTR_TUN_FLAGS),
    activeConnections: a.u32(IPVS_DEST_ATTR_ACTIVE_CONNS),
    inactiveConnections: a.u32(IPVS_DEST_ATTR_INACT_CONNS),
    persistentConnections: a.u32(IPVS_DEST_ATTR_PERSIST_CONNS),
    stats: decodeStatsFrom(a, IPVS_DEST_ATTR_STATS64, IPVS_DEST_ATTR_STATS, d.stats, d.withStats),
  };
}
