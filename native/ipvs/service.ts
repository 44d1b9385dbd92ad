// IPVS virtual service: type, encoding and decoding side by side.
// Equivalent to: `ipvsadm -A|-E|-D -t|-u|--sctp-service|-f ...`.

import { AF_INET, AF_INET6 } from '../netlink/constants.js';
import { inetFamily, canonicalInet } from '../netlink/inet.js';
import { Attrs } from '../netlink/reader.js';
import { MessageWriter } from '../netlink/writer.js';
import {
  IPPROTO_SCTP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPVS_CMD_ATTR_SERVICE,
  IPVS_SVC_ATTR_ADDR,
  IPVS_SVC_ATTR_AF,
  IPVS_SVC_ATTR_FLAGS,
  IPVS_SVC_ATTR_FWMARK,
  IPVS_SVC_ATTR_MAX,
  IPVS_SVC_ATTR_NETMASK,
  IPVS_SVC_ATTR_PE_NAME,
  IPVS_SVC_ATTR_PORT,
  IPVS_SVC_ATTR_PROTOCOL,
  IPVS_SVC_ATTR_SCHED_NAME,
  IPVS_SVC_ATTR_STATS,
  IPVS_SVC_ATTR_STATS64,
  IPVS_SVC_ATTR_TIMEOUT,
  IP_VS_PENAME_MAXLEN,
  IP_VS_SCHEDNAME_MAXLEN,
  IP_VS_SVC_F_HASHED,
  IP_VS_SVC_F_PERSISTENT,
} from './constants.js';
import { decodeStatsFrom, type Stats } from './stats.js';

export type Family = 'inet' | 'inet6';
export type Protocol = 'tcp' | 'udp' | 'sctp';

/**
 * What identifies a service in the kernel: either a firewall mark
 * (`fwmark > 0`, as `ipvsadm -f`), or protocol + address + port.
 * For fwmark services the kernel ignores protocol, address and port; we keep
 * them at 'tcp', the family's any-address and 0.
 */
export interface ServiceKey {
  family: Family;
  protocol: Protocol;
  address: string;
  port: number;
  fwmark: number;
}

export interface Service extends ServiceKey {
  /** Scheduler module name without `ip_vs_` (rr, wlc, mh...). */
  scheduler: string;
  /** IP_VS_SVC_F_* bits (persistent, one-packet, scheduler flags); the kernel's HASHED bit is left out. */
  flags: number;
  /** Persistence timeout in seconds (meaningful with IP_VS_SVC_F_PERSISTENT). */
  timeout: number;
  /**
   * Persistence granularity as the kernel stores it: for IPv4 a mask as a
   * 32-bit integer (0xffffffff = 255.255.255.255), for IPv6 a prefix length.
   */
  netmask: number;
  /** Persistence engine (`sip`), or '' for none. */
  pe: string;
}

/** A service as dumped from the kernel, with its counters. */
export interface ServiceEntry extends Service {
  stats: Stats;
}

export function familyNumber(f: Family): number {
  return f === 'inet6' ? AF_INET6 : AF_INET;
}

export function familyOf(address: string): Family | undefined {
  const af = inetFamily(address);
  return af === AF_INET ? 'inet' : af === AF_INET6 ? 'inet6' : undefined;
}

export function protocolNumber(p: Protocol): number {
  return p === 'udp' ? IPPROTO_UDP : p === 'sctp' ? IPPROTO_SCTP : IPPROTO_TCP;
}

export function protocolName(n: number): Protocol | undefined {
  return n === IPPROTO_TCP ? 'tcp' : n === IPPROTO_UDP ? 'udp' : n === IPPROTO_SCTP ? 'sctp' : undefined;
}

/** The default persistence granularity ipvsadm uses: a single client address. */
export function defaultNetmask(family: Family): number {
  return family === 'inet6' ? 128 : 0xffffffff;
}

/** A complete service with ipvsadm's defaults for what the caller left out. */
export function makeService(
  key: Pick<ServiceKey, 'address' | 'port'> & Partial<Service>,
): Service {
  const family = key.family ?? familyOf(key.address) ?? 'inet';
  return {
    family,
    protocol: key.protocol ?? 'tcp',
    address: key.address,
    port: key.port,
    fwmark: key.fwmark ?? 0,
    scheduler: key.scheduler ?? 'wlc',
    flags: key.flags ?? 0,
    timeout: key.timeout ?? 0,
    netmask: key.netmask ?? defaultNetmask(family),
    pe: key.pe ?? '',
  };
}

/** `TCP 198.51.100.10:80`, `UDP [2001:db8::1]:53`, `FWM 7 (inet6)`: for messages and logs. */
export function formatServiceKey(k: ServiceKey): string {
  if (k.fwmark > 0) return `FWM ${k.fwmark}${k.family === 'inet6' ? ' (IPv6)' : ''}`;
  const host = k.family === 'inet6' ? `[${k.address}]` : k.address;
  return `${k.protocol.toUpperCase()} ${host}:${k.port}`;
}

/** A string that is equal for equal keys (canonical address form). */
export function serviceKeyId(k: ServiceKey): string {
  if (k.fwmark > 0) return `${k.family}/fwm/${k.fwmark}`;
  return `${k.family}/${k.protocol}/${canonicalInet(k.address)}/${k.port}`;
}

/** The netmask as ipvsadm prints it: `255.255.255.0` for IPv4, `64` for IPv6. */
export function formatNetmask(s: Pick<Service, 'family' | 'netmask'>): string {
  if (s.family === 'inet6') return String(s.netmask);
  const m = s.netmask >>> 0;
  return `${m >>> 24}.${(m >>> 16) & 0xff}.${(m >>> 8) & 0xff}.${m & 0xff}`;
}

export class InvalidServiceError extends Error {
  readonly code = 'ERR_INVALID_SERVICE';
  constructor(detail: string) {
    super(`invalid IPVS service: ${detail}`);
    this.name = 'InvalidServiceError';
  }
}

/** Checks what the kernel would reject with a bare EINVAL, to give a precise reason instead. */
export function validateService(s: ServiceKey & Partial<Service>): void {
  if (s.fwmark < 0 || s.fwmark > 0xffffffff || !Number.isInteger(s.fwmark)) {
    throw new InvalidServiceError(`fwmark ${s.fwmark} is not a 32-bit unsigned integer`);
  }
  if (s.fwmark === 0) {
    if (familyOf(s.address) !== s.family) {
      throw new InvalidServiceError(`address ${JSON.stringify(s.address)} is not an ${s.family === 'inet6' ? 'IPv6' : 'IPv4'} address`);
    }
    if (!Number.isInteger(s.port) || s.port < 0 || s.port > 65535) {
      throw new InvalidServiceError(`port ${s.port} is outside 0-65535`);
    }
  }
  if (s.scheduler !== undefined && (s.scheduler.length === 0 || s.scheduler.length >= IP_VS_SCHEDNAME_MAXLEN)) {
    throw new InvalidServiceError(`scheduler name ${JSON.stringify(s.scheduler)} must be 1-${IP_VS_SCHEDNAME_MAXLEN - 1} characters`);
  }
  if (s.pe !== undefined && s.pe.length >= IP_VS_PENAME_MAXLEN) {
    throw new InvalidServiceError(`persistence engine name ${JSON.stringify(s.pe)} is too long`);
  }
  if (s.family === 'inet6' && s.netmask !== undefined && (s.netmask < 1 || s.netmask > 128)) {
    throw new InvalidServiceError(`IPv6 persistence prefix length ${s.netmask} is outside 1-128`);
  }
}

/** Writes the IPVS_CMD_ATTR_SERVICE nest that identifies a service (for dest ops, delete, get). */
export function writeServiceKey(w: MessageWriter, k: ServiceKey): void {
  const nest = w.beginNest(IPVS_CMD_ATTR_SERVICE);
  writeKeyAttrs(w, k);
  w.endNest(nest);
}

/** Writes the full IPVS_CMD_ATTR_SERVICE nest (for add and edit). */
export function writeService(w: MessageWriter, s: Service): void {
  const nest = w.beginNest(IPVS_CMD_ATTR_SERVICE);
  writeKeyAttrs(w, s);
  w.attrString(IPVS_SVC_ATTR_SCHED_NAME, s.scheduler);
  if (s.pe) w.attrString(IPVS_SVC_ATTR_PE_NAME, s.pe);
  // struct ip_vs_flags { flags, mask }: a full mask sets every bit as given.
  const f = w.beginNest(IPVS_SVC_ATTR_FLAGS);
  w.u32(s.flags);
  w.u32(0xffffffff);
  w.endNest(f);
  w.attrU32(IPVS_SVC_ATTR_TIMEOUT, s.timeout);
  // The kernel reads the netmask as raw __be32 and compares IPv6 values as a
  // host-order prefix length; libipvs sends a host-order u32 for both.
  if (s.family === 'inet6') w.attrU32(IPVS_SVC_ATTR_NETMASK, s.netmask);
  else w.attrBe32(IPVS_SVC_ATTR_NETMASK, s.netmask);
  w.endNest(nest);
}

function writeKeyAttrs(w: MessageWriter, k: ServiceKey): void {
  const af = familyNumber(k.family);
  w.attrU16(IPVS_SVC_ATTR_AF, af);
  if (k.fwmark > 0) {
    w.attrU32(IPVS_SVC_ATTR_FWMARK, k.fwmark);
  } else {
    w.attrU16(IPVS_SVC_ATTR_PROTOCOL, protocolNumber(k.protocol));
    w.attrInet(IPVS_SVC_ATTR_ADDR, af, k.address, 16);
    w.attrBe16(IPVS_SVC_ATTR_PORT, k.port);
  }
}

/** Decoder scratch: one Attrs per nesting level, reused across a dump. */
export interface ServiceDecoder {
  svc: Attrs;
  stats: Attrs;
  /** Decode counters; false hands out NO_STATS. */
  withStats: boolean;
}

export function serviceDecoder(statsScratch: Attrs): ServiceDecoder {
  return { svc: new Attrs(IPVS_SVC_ATTR_MAX), stats: statsScratch, withStats: true };
}

/** Decodes a service nest (already located in `a`). */
export function decodeService(a: Attrs, d: ServiceDecoder): ServiceEntry {
  const af = a.u16(IPVS_SVC_ATTR_AF);
  const family: Family = af === AF_INET6 ? 'inet6' : 'inet';
  const fwmark = a.u32(IPVS_SVC_ATTR_FWMARK);
  let protocol: Protocol = 'tcp';
  let address = family === 'inet6' ? '::' : '0.0.0.0';
  let port = 0;
  if (fwmark === 0) {
    const p = a.u16(IPVS_SVC_ATTR_PROTOCOL);
    protocol = protocolName(p) ?? 'tcp';
    address = a.inet(IPVS_SVC_ATTR_ADDR, af);
    port = a.be16(IPVS_SVC_ATTR_PORT);
  }
  let flags = 0;
  if (a.length(IPVS_SVC_ATTR_FLAGS) >= 4) flags = a.buf.readUInt32LE(a.offset(IPVS_SVC_ATTR_FLAGS)) & ~IP_VS_SVC_F_HASHED;
  return {
    family,
    protocol,
    address,
    port,
    fwmark,
    scheduler: a.str(IPVS_SVC_ATTR_SCHED_NAME),
    flags,
    timeout: a.u32(IPVS_SVC_ATTR_TIMEOUT),
    netmask: family === 'inet6' ? a.u32(IPVS_SVC_ATTR_NETMASK) : a.be32(IPVS_SVC_ATTR_NETMASK),
    pe: a.str(IPVS_SVC_ATTR_PE_NAME),
    stats: decodeStatsFrom(a, IPVS_SVC_ATTR_STATS64, IPVS_SVC_ATTR_STATS, d.stats, d.withStats),
  };
}

export function isPersistent(s: Pick<Service, 'flags'>): boolean {
  return (s.flags & IP_VS_SVC_F_PERSISTENT) !== 0;
}
