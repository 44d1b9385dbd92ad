// RtnlHandle: links, addresses and routes over one NETLINK_ROUTE socket.
//
// Each method is one request (or one dump) and names its `ip` equivalent.
// Kernel refusals throw NetlinkError naming the object, e.g.
//   add address 198.51.100.10/32 dev minuteman: EEXIST (the address is already on the link)
// For many changes at once use `batch()`: requests without ACKs, one barrier
// per sendmsg, errors mapped back to each request.

import { AF_INET, AF_INET6, NETLINK_ROUTE } from '../netlink/constants.js';
import { MessageWriter } from '../netlink/writer.js';
import { NetlinkSocket, type SocketOptions } from '../netlink/socket.js';
import { NetlinkBatch, type BatchOptions } from '../netlink/batch.js';
import { NetlinkError } from '../errors.js';
import {
  decodeLink,
  describeLink,
  encodeLinkAdd,
  encodeLinkDel,
  encodeLinkDump,
  encodeLinkGet,
  encodeLinkSetUp,
  MAX_LINK_NAME_BYTES,
  type Link,
  type LinkRef,
} from './link.js';
import { addrFamily, decodeAddr, encodeAddrAdd, encodeAddrDel, encodeAddrDump, type Addr, type AddrSpec } from './addr.js';
import { decodeRoute, describeRoute, encodeRouteAdd, encodeRouteDel, encodeRouteDump, routeFamily, type Route, type RouteSpec } from './route.js';
import { RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE } from './constants.js';

/** An address on a link given by name or ifindex. */
export interface AddrOnLink extends Omit<AddrSpec, 'index'> {
  link: LinkRef;
}

export interface AddrFilter {
  /** Only addresses on this link. */
  link?: LinkRef;
  /** AF_INET or AF_INET6; default both. */
  family?: number;
}

export interface RouteFilter {
  /** AF_INET or AF_INET6 (a route dump is per family). */
  family: number;
  table?: number;
  protocol?: number;
  /** Output ifindex. */
  oif?: number;
  type?: number;
}

/** Sentences for the errnos each operation commonly meets. */
const EXPLAIN: Record<string, Record<string, string>> = {
  'add link': {
    EEXIST: 'a link with that name already exists',
    // errno 95: Node names it ENOTSUP (the same number as EOPNOTSUPP on Linux).
    ENOTSUP: 'this kernel does not support that link type (module not loaded?)',
    EINVAL: 'invalid link name or attributes',
  },
  'delete link': { ENODEV: 'no such link' },
  'set link up': { ENODEV: 'no such link' },
  'set link down': { ENODEV: 'no such link' },
  'get link': { ENODEV: 'no such link' },
  'add address': {
    EEXIST: 'the address is already on the link',
    ENODEV: 'no such link',
  },
  'delete address': {
    EADDRNOTAVAIL: 'the address (with that prefix length) is not on the link',
    ENODEV: 'no such link',
  },
  'add route': {
    EEXIST: 'an equal route is already in the table',
    ENODEV: 'no such link',
    EINVAL: 'invalid route (host bits set in the prefix?)',
  },
  'delete route': { ESRCH: 'no such route', ENODEV: 'no such link' },
};

export class RtnlHandle {
  private readonly w = new MessageWriter(4096);

  constructor(readonly sock: NetlinkSocket) {}

  /** Opens a NETLINK_ROUTE socket in the current network namespace. */
  static open(opts?: SocketOptions): RtnlHandle {
    return new RtnlHandle(NetlinkSocket.open(NETLINK_ROUTE, opts));
  }

  close(): void {
    this.sock.close();
  }

  // ---- links ----

  /** Every link. Equivalent to: `ip -d link show`. */
  linkList(): Link[] {
    const out: Link[] = [];
    const seq = this.begin();
    encodeLinkDump(this.w, seq);
    this.sock.dump(this.w, seq, 'list links', '', (buf, m) => {
      if (m.type === RTM_NEWLINK) out.push(decodeLink(buf, m));
    });
    return out;
  }

  /** One link. Equivalent to: `ip -d link show dev NAME`. ENODEV when absent. */
  linkGet(ref: LinkRef): Link {
    let link: Link | undefined;
    const seq = this.begin();
    encodeLinkGet(this.w, seq, checkRef(ref));
    this.run('get link', describeLink(ref), seq, (buf, m) => {
      if (m.type === RTM_NEWLINK) link = decodeLink(buf, m);
    });
    if (!link) throw new NetlinkError(19 /* ENODEV */, 'get link', describeLink(ref), undefined, 'no link in the reply');
    return link;
  }

  /** One link, or undefined when it does not exist. */
  linkFind(ref: LinkRef): Link | undefined {
    try {
      return this.linkGet(ref);
    } catch (e) {
      if (e instanceof NetlinkError && e.errnoName === 'ENODEV') return undefined;
      throw e;
    }
  }

  /** Creates a dummy link (down). Equivalent to: `ip link add NAME type dummy`. EEXIST when the name is taken. */
  linkAddDummy(name: string): void {
    this.linkAdd(name, 'dummy');
  }

  /** Creates a link of a kind that needs no parameters (dummy, bridge...). Equivalent to: `ip link add NAME type KIND`. */
  linkAdd(name: string, kind: string): void {
    const seq = this.begin();
    encodeLinkAdd(this.w, seq, checkRef(name) as string, kind);
    this.run('add link', `${name} type ${kind}`, seq);
  }

  /** Deletes a link. Equivalent to: `ip link del NAME`. ENODEV when absent. */
  linkDel(ref: LinkRef): void {
    const seq = this.begin();
    encodeLinkDel(this.w, seq, checkRef(ref));
    this.run('delete link', describeLink(ref), seq);
  }

  /** Equivalent to: `ip link set NAME up`. */
  linkSetUp(ref: LinkRef): void {
    this.linkSet(ref, true);
  }

  /** Equivalent to: `ip link set NAME down`. */
  linkSetDown(ref: LinkRef): void {
    this.linkSet(ref, false);
  }

  private linkSet(ref: LinkRef, up: boolean): void {
    const seq = this.begin();
    encodeLinkSetUp(this.w, seq, checkRef(ref), up);
    this.run(up ? 'set link up' : 'set link down', describeLink(ref), seq);
  }

  // ---- addresses ----

  /**
   * Adds an address (default: a host address, /32 or /128; IPv6 with
   * IFA_F_NODAD). Equivalent to: `ip addr add ADDR/LEN dev LINK [nodad]`.
   * EEXIST when it is already there.
   */
  addrAdd(a: AddrOnLink): void {
    const spec = this.spec(a);
    const seq = this.begin();
    encodeAddrAdd(this.w, seq, spec);
    this.run('add address', describeAddrOn(a), seq);
  }

  /** Deletes an address. Equivalent to: `ip addr del ADDR/LEN dev LINK`. EADDRNOTAVAIL when absent. */
  addrDel(a: AddrOnLink): void {
    const spec = this.spec(a);
    const seq = this.begin();
    encodeAddrDel(this.w, seq, spec);
    this.run('delete address', describeAddrOn(a), seq);
  }

  /** Addresses, optionally of one link and/or family. Equivalent to: `ip [-4|-6] addr show [dev LINK]`. */
  addrList(filter: AddrFilter = {}): Addr[] {
    const family = filter.family ?? 0;
    if (family !== 0 && family !== AF_INET && family !== AF_INET6) throw new RangeError(`address family ${family} is not AF_INET or AF_INET6`);
    const index = filter.link === undefined ? 0 : typeof filter.link === 'number' ? filter.link : this.linkGet(filter.link).index;
    const out: Addr[] = [];
    const seq = this.begin();
    encodeAddrDump(this.w, seq, family);
    this.sock.dump(this.w, seq, 'list addresses', filter.link === undefined ? '' : `dev ${describeLink(filter.link)}`, (buf, m) => {
      if (m.type !== RTM_NEWADDR) return;
      if (index !== 0 && buf.readUInt32LE(m.start + 4) !== index) return;
      if (family !== 0 && buf[m.start] !== family) return;
      out.push(decodeAddr(buf, m));
    });
    return out;
  }

  // ---- routes ----

  /** Equivalent to: `ip route add [local] DST/LEN dev LINK table T proto P`. EEXIST when an equal route exists. */
  routeAdd(spec: RouteSpec): void {
    routeFamily(spec); // validates before any I/O
    const seq = this.begin();
    encodeRouteAdd(this.w, seq, spec);
    this.run('add route', describeRoute(spec), seq);
  }

  /** Equivalent to: `ip route del [local] DST/LEN dev LINK table T proto P`. ESRCH when absent. */
  routeDel(spec: RouteSpec): void {
    routeFamily(spec);
    const seq = this.begin();
    encodeRouteDel(this.w, seq, spec);
    this.run('delete route', describeRoute(spec), seq);
  }

  /** Routes of one family, filtered. Equivalent to: `ip [-6] route show table all [proto P] [dev LINK] [type T]`. */
  routeList(filter: RouteFilter): Route[] {
    if (filter.family !== AF_INET && filter.family !== AF_INET6) throw new RangeError(`address family ${filter.family} is not AF_INET or AF_INET6`);
    const out: Route[] = [];
    const seq = this.begin();
    encodeRouteDump(this.w, seq, filter.family);
    this.sock.dump(this.w, seq, 'list routes', '', (buf, m) => {
      if (m.type !== RTM_NEWROUTE) return;
      const r = decodeRoute(buf, m);
      if (filter.table !== undefined && r.table !== filter.table) return;
      if (filter.protocol !== undefined && r.protocol !== filter.protocol) return;
      if (filter.oif !== undefined && r.oif !== filter.oif) return;
      if (filter.type !== undefined && r.type !== filter.type) return;
      out.push(r);
    });
    return out;
  }

  // ---- batches ----

  /**
   * A batch on this handle's socket (default barrier: NLMSG_NOOP with ACK).
   * Push requests encoded with `ack = false`, e.g.
   *   b.push(spec, (w, seq, s) => encodeAddrAdd(w, seq, s, false))
   */
  batch<T>(op: string, opts: Omit<BatchOptions, 'op'> = {}): NetlinkBatch<T> {
    return new NetlinkBatch<T>(this.sock, { ...opts, op });
  }

  // ---- internals ----

  private begin(): number {
    this.w.reset();
    return this.sock.nextSeq();
  }

  private run(op: string, object: string, seq: number, onMessage?: Parameters<NetlinkSocket['request']>[4]): void {
    try {
      this.sock.request(this.w, seq, op, object, onMessage);
    } catch (e) {
      if (e instanceof NetlinkError) {
        const why = EXPLAIN[op]?.[e.errnoName];
        if (why) throw new NetlinkError(e.errno, e.op, e.object, e.extAck, why);
      }
      throw e;
    }
  }

  private spec(a: AddrOnLink): AddrSpec {
    addrFamily(a); // validates address and prefix before any I/O
    const index = typeof a.link === 'number' ? a.link : this.linkGet(a.link).index;
    const spec: AddrSpec = { index, address: a.address };
    if (a.prefixLen !== undefined) spec.prefixLen = a.prefixLen;
    if (a.flags !== undefined) spec.flags = a.flags;
    if (a.scope !== undefined) spec.scope = a.scope;
    return spec;
  }
}

function describeAddrOn(a: AddrOnLink): string {
  const { prefixLen } = addrFamily(a);
  return `${a.address}/${prefixLen} dev ${describeLink(a.link)}`;
}

function checkRef(ref: LinkRef): LinkRef {
  if (typeof ref === 'number') {
    if (!Number.isInteger(ref) || ref <= 0 || ref > 0x7fffffff) throw new RangeError(`ifindex ${ref} is not a positive integer`);
  } else if (ref.length === 0 || Buffer.byteLength(ref) > MAX_LINK_NAME_BYTES || /[\s/:\0]/.test(ref)) {
    throw new RangeError(`link name ${JSON.stringify(ref)} is not 1..${MAX_LINK_NAME_BYTES} bytes without spaces, '/' or ':'`);
  }
  return ref;
}
