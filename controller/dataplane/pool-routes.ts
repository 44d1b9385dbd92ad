// Pool routes: the named-VIP pools made local with `type local` routes on
// `lo` in table local, one per CIDR of the pool (11.0.0.0/8 and fd01:c::/64
// by default), instead of one /32 address per named VIP.
//
// Why: every address of a pool can become a named VIP at any moment (its
// address is a hash of the name), and the kernel treats an address on a link
// and a local route alike for IPVS (LOCAL_IN/LOCAL_OUT hooks). One route
// costs the kernel nothing per VIP: binding 10,000 VIP addresses took about
// 1 s of a 10,000-VIP cold sync in the test kernel (ip -batch: 1.7 s for
// 10,000 `addr add`, 0.85 s for 10,000 local routes, 30 ms for one pool
// route). It also means a pool address that is not (yet) a VIP is refused
// on the node (RST) instead of being routed off it, and a VIP address can
// never be picked as a source address. IP VIPs (`VIP_0: 10.1.2.3:80`),
// which can be anywhere, keep their host addresses on the link.
//
// Why `lo` and not the VIP link: the kernel flushes every IPv4 route through
// a device when its last IPv4 address goes (fib_disable_ip on NETDEV_DOWN of
// the last ifa). The VIP link often has no address at all, or loses its last
// IP VIP: a route there would vanish with it (the kernel test found this).
// `lo` keeps 127.0.0.1, and it is where dcos-net and AnyIP setups put local
// routes.
//
// Ownership: routes in table local whose protocol is L4LB_ROUTE_PROTOCOL
// are l4lb's (`ip route show table local proto 76`); nothing else in the
// table is touched. A route of ours that no pool needs any more (the pool
// changed) is deleted.
//
// Equivalent commands:
//   ip route add local 11.0.0.0/8 dev lo table local proto 76
//   ip -6 route add local fd01:c::/64 dev lo table local proto 76

import { AF_INET, AF_INET6 } from '../../native/netlink/constants.js';
import { canonicalInet, inetBytes, inetFamily } from '../../native/netlink/inet.js';
import { NetlinkError } from '../../native/errors.js';
import { RT_TABLE_LOCAL, RTN_LOCAL, type Route, type RouteSpec, type RtnlHandle } from '../../native/rtnl/index.js';
import { DataplaneError } from './errors.js';
import type { Logger } from '../log.js';

/** The route protocol (RTPROT_*) that marks l4lb's routes: 76, 'L'. Unassigned in iproute2's rt_protos. */
export const L4LB_ROUTE_PROTOCOL = 76;

/** An inclusive address range (a VIP pool), as configured. */
export interface Pool {
  min: string;
  max: string;
}

/** A CIDR prefix, canonical network address. */
export interface Prefix {
  family: number;
  address: string;
  len: number;
}

const bits = (family: number): number => (family === AF_INET6 ? 128 : 32);

function toBig(address: string): bigint {
  let v = 0n;
  for (const b of inetBytes(inetFamily(address), address)) v = (v << 8n) | BigInt(b);
  return v;
}

function fromBig(v: bigint, family: number): string {
  const n = bits(family) / 8;
  const bytes = new Array<number>(n);
  for (let i = n - 1; i >= 0; i--) {
    bytes[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (family === AF_INET) return bytes.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16));
  return canonicalInet(groups.join(':'));
}

/**
 * The fewest CIDR prefixes that cover `min`..`max` exactly (both included).
 * Pure. Throws DP_BAD_POOL when the ends are not addresses of one family or
 * `min` > `max`.
 */
export function coverPool(pool: Pool): Prefix[] {
  const family = inetFamily(pool.min);
  if (family === 0 || inetFamily(pool.max) !== family) {
    throw new DataplaneError('DP_BAD_POOL', `VIP pool ${pool.min}-${pool.max} is not a range of one address family`, { ...pool });
  }
  const width = bits(family);
  let lo = toBig(pool.min);
  const hi = toBig(pool.max);
  if (lo > hi) throw new DataplaneError('DP_BAD_POOL', `VIP pool ${pool.min}-${pool.max} ends before it starts`, { ...pool });
  const out: Prefix[] = [];
  while (lo <= hi) {
    // The biggest block aligned at `lo` that does not pass `hi`.
    let size = 0;
    while (size < width && (lo & ((1n << BigInt(size + 1)) - 1n)) === 0n && lo + (1n << BigInt(size + 1)) - 1n <= hi) size++;
    out.push({ family, address: fromBig(lo, family), len: width - size });
    lo += 1n << BigInt(size);
  }
  return out;
}

/** Decides quickly whether an address lies in one of the prefixes. */
export class PrefixSet {
  private readonly v4: Array<{ net: number; mask: number }> = [];
  private readonly v6: Array<{ net: bigint; shift: bigint }> = [];

  constructor(readonly prefixes: readonly Prefix[]) {
    for (const p of prefixes) {
      if (p.family === AF_INET) {
        const mask = p.len === 0 ? 0 : (~0 << (32 - p.len)) >>> 0;
        this.v4.push({ net: (Number(toBig(p.address)) & mask) >>> 0, mask });
      } else {
        const shift = BigInt(128 - p.len);
        this.v6.push({ net: toBig(p.address) >> shift, shift });
      }
    }
  }

  /** `address` must be canonical IPv4/IPv6 text. */
  has(address: string): boolean {
    if (address.includes(':')) {
      if (this.v6.length === 0) return false;
      const v = toBig(address);
      return this.v6.some((p) => v >> p.shift === p.net);
    }
    if (this.v4.length === 0) return false;
    const v = Number(toBig(address));
    return this.v4.some((p) => ((v & p.mask) >>> 0) === p.net);
  }
}

export interface PoolRoutePlan {
  add: Prefix[];
  /** Routes of ours to delete: not wanted, or wanted but on another link. */
  remove: Route[];
  unchanged: Prefix[];
}

/** Pure: what to change so that exactly `want` are local routes of ours on link `oif`. `existing`: our routes (protocol filtered). */
export function planPoolRoutes(want: readonly Prefix[], existing: readonly Route[], oif: number): PoolRoutePlan {
  const key = (family: number, address: string, len: number) => `${family}/${address}/${len}`;
  const wanted = new Map(want.map((p) => [key(p.family, p.address, p.len), p]));
  const have = new Set<string>();
  const remove: Route[] = [];
  for (const r of existing) {
    const k = key(r.family, r.dst, r.dstLen);
    if (r.type === RTN_LOCAL && r.oif === oif && wanted.has(k) && !have.has(k)) have.add(k);
    else remove.push(r);
  }
  const add: Prefix[] = [];
  const unchanged: Prefix[] = [];
  for (const [k, p] of wanted) (have.has(k) ? unchanged : add).push(p);
  return { add, remove, unchanged };
}

/** `local 11.0.0.0/8`. */
export function describePrefix(p: Pick<Prefix, 'address' | 'len'>): string {
  return `local ${p.address}/${p.len}`;
}

export interface PoolRouteChange {
  added: string[];
  removed: string[];
  unchanged: string[];
}

/** The device that carries the pool routes. */
export const POOL_ROUTE_LINK = 'lo';

/** Keeps the pool routes of l4lb in table local, on `lo`. */
export class PoolRoutes {
  readonly set: PrefixSet;
  private readonly link = POOL_ROUTE_LINK;

  constructor(
    private readonly rtnl: RtnlHandle,
    pools: readonly Pool[],
    private readonly log?: Logger,
  ) {
    this.set = new PrefixSet(pools.flatMap(coverPool));
  }

  get prefixes(): readonly Prefix[] {
    return this.set.prefixes;
  }

  /**
   * Makes exactly our pool prefixes local routes on `lo` (one dump per
   * family, then single requests: there are a handful). Throws DP_ROUTE
   * naming the route the kernel refused.
   */
  sync(): PoolRouteChange {
    const change: PoolRouteChange = { added: [], removed: [], unchanged: [] };
    const oif = this.wrap(`find ${this.link}`, () => this.rtnl.linkGet(this.link).index);
    const existing: Route[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      existing.push(...this.wrap('list routes of table local', () => this.rtnl.routeList({ family, table: RT_TABLE_LOCAL, protocol: L4LB_ROUTE_PROTOCOL })));
    }
    const plan = planPoolRoutes(this.prefixes, existing, oif);
    for (const r of plan.remove) {
      const spec: RouteSpec = { dst: r.dst, dstLen: r.dstLen, table: RT_TABLE_LOCAL, type: r.type, protocol: L4LB_ROUTE_PROTOCOL, oif: r.oif };
      try {
        this.rtnl.routeDel(spec);
      } catch (e) {
        // Gone already (its link was deleted): that is what we wanted.
        if (!(e instanceof NetlinkError && (e.errnoName === 'ESRCH' || e.errnoName === 'ENODEV'))) throw this.error(`delete ${describePrefix({ address: r.dst, len: r.dstLen })}`, e);
      }
      change.removed.push(describePrefix({ address: r.dst, len: r.dstLen }));
    }
    for (const p of plan.add) {
      try {
        this.rtnl.routeAdd({ dst: p.address, dstLen: p.len, table: RT_TABLE_LOCAL, type: RTN_LOCAL, protocol: L4LB_ROUTE_PROTOCOL, oif });
      } catch (e) {
        if (!(e instanceof NetlinkError && e.errnoName === 'EEXIST')) throw this.error(`add ${describePrefix(p)} dev ${this.link}`, e);
      }
      change.added.push(describePrefix(p));
      this.log?.debug('added pool route', { component: 'dataplane', route: describePrefix(p), link: this.link });
    }
    change.unchanged = plan.unchanged.map(describePrefix);
    return change;
  }

  private wrap<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.error(what, e);
    }
  }

  private error(what: string, e: unknown): DataplaneError {
    const msg = e instanceof Error ? e.message : String(e);
    return new DataplaneError('DP_ROUTE', `pool route: ${what}: ${msg}`, { link: this.link }, { cause: e });
  }
}
