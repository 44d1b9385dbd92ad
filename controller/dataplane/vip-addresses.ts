// VIP addresses: VIPs that no pool route covers (IP VIPs, and every VIP with
// `dataplane.pool-routes: false`) are host addresses on one dummy link
// (default `minuteman`), /32 for IPv4 and /128 nodad for IPv6. Named VIPs are
// local through their pool's route (pool-routes.ts); README.md weighs the two.
//
// Why addresses for these rather than one local route each
// --------------------------------------------------------
//  - Ownership is the link. Everything on `minuteman` is l4lb's, nothing else
//    is touched, and a restart adopts the link as it is (zero writes when it
//    is right).
//  - One object per VIP and family. IPv6 local routes need two (dcos-net puts
//    a local route on lo in table local plus a main-table route on the dummy);
//    an IPv6 address is one RTM_NEWADDR with IFA_F_NODAD, and the kernel
//    derives the local route itself.
//  - Operators see them where they look: `ip addr show dev minuteman`.
// The cost: a VIP address can be chosen as a source address by the kernel
// when the outgoing link has no address of a suitable scope (IPv4 falls back
// to any universe-scope address, lo first; IPv6 rule 2 "prefer appropriate
// scope" beats rule 5 "prefer outgoing interface"). Nodes that carry VIPs
// have addresses on their uplinks, so this does not arise in practice.
// kube-proxy's k8s#88212 (65% of a core at 2k services) came from listing
// addresses per VIP; here one dump per sync, one batch per change.
// Not owned: IPv6 link-local (fe80::/10, scope link) addresses the kernel
// puts on the link when it comes up. They are left alone.
//
// Equivalent commands:
//   ip link add minuteman type dummy; ip link set minuteman up
//   ip addr add 198.51.100.10/32 dev minuteman
//   ip addr add 2001:db8::10/128 dev minuteman nodad
//   ip addr del ... dev minuteman

import { AF_INET, AF_INET6 } from '../../native/netlink/constants.js';
import { canonicalInet, inetFamily } from '../../native/netlink/inet.js';
import { NetlinkError, errnoName } from '../../native/errors.js';
import {
  encodeAddrAdd,
  encodeAddrDel,
  IFA_F_DADFAILED,
  RT_SCOPE_LINK,
  type Addr,
  type AddrSpec,
  type RtnlHandle,
} from '../../native/rtnl/index.js';
import { AddressError, DataplaneError, type AddressFailure } from './errors.js';
import type { Logger } from '../log.js';

export const DEFAULT_VIP_LINK = 'minuteman';

/** What a sync/add/remove did. Addresses in canonical text (inet_ntop). */
export interface AddressChange {
  /** Written to the link. */
  added: string[];
  /**
   * Taken off the link: plain addresses for host prefixes (/32, /128), or
   * `addr/len` for another prefix someone put on our link.
   */
  removed: string[];
  /** sync/add: wanted and already there. remove: asked for and already absent. */
  unchanged: string[];
}

/** The state of the VIP link after ensureLink(). */
export interface LinkState {
  name: string;
  index: number;
  /** The link did not exist and was created. */
  created: boolean;
  /** The link was down (or just created) and was set up. */
  broughtUp: boolean;
}

/** An address on our link, as far as planning needs it. */
export interface OnLinkAddr {
  family: number;
  address: string;
  prefixLen: number;
  flags: number;
  scope: number;
}

export interface AddressPlan {
  add: string[];
  remove: OnLinkAddr[];
  unchanged: string[];
}

/** Host prefix length of a family: 32 or 128. */
function hostLen(family: number): number {
  return family === AF_INET6 ? 128 : 32;
}

/** The kernel's own IPv6 link-local address: not ours, never removed. */
export function isKernelLinkLocal(a: Pick<OnLinkAddr, 'family' | 'scope'>): boolean {
  return a.family === AF_INET6 && a.scope === RT_SCOPE_LINK;
}

/**
 * Canonical text of each VIP, deduplicated, in input order. Throws DP_BAD_ADDRESS
 * naming every entry that is not a plain IPv4/IPv6 address.
 */
export function canonicalVips(addrs: readonly string[]): string[] {
  const bad: string[] = [];
  const out = new Set<string>();
  for (const a of addrs) {
    if (typeof a !== 'string' || inetFamily(a) === 0) bad.push(String(a));
    else out.add(canonicalInet(a));
  }
  if (bad.length > 0) {
    throw new DataplaneError('DP_BAD_ADDRESS', `not an IPv4/IPv6 address: ${bad.map((b) => JSON.stringify(b)).join(', ')}`, { bad });
  }
  return [...out];
}

/**
 * The minimal change from what is on our link to `desired` (canonical
 * addresses). Pure. An existing entry counts as present only when it is a
 * host prefix and its duplicate address detection did not fail; any other
 * entry on the link (other prefix, failed DAD, not desired) is removed,
 * except the kernel's IPv6 link-local address.
 */
export function planAddressSync(desired: readonly string[], existing: readonly OnLinkAddr[]): AddressPlan {
  const want = new Set(desired);
  const have = new Set<string>();
  const remove: OnLinkAddr[] = [];
  for (const e of existing) {
    if (isKernelLinkLocal(e)) continue;
    const good = e.prefixLen === hostLen(e.family) && (e.flags & IFA_F_DADFAILED) === 0;
    if (good && want.has(e.address)) have.add(e.address); // listed twice: deleting one copy would delete the only one
    else remove.push(e);
  }
  const add: string[] = [];
  const unchanged: string[] = [];
  for (const d of want) (have.has(d) ? unchanged : add).push(d);
  return { add, remove, unchanged };
}

function describeOnLink(a: Pick<OnLinkAddr, 'address' | 'prefixLen' | 'family'>): string {
  return a.prefixLen === hostLen(a.family) ? a.address : `${a.address}/${a.prefixLen}`;
}

interface Op {
  op: 'add' | 'remove';
  spec: AddrSpec;
  /** What the result lists. */
  text: string;
}

export interface VipAddressesOptions {
  /** An open rtnetlink handle in the node's network namespace. Not closed by this class. */
  rtnl: RtnlHandle;
  /** Link name; default `minuteman`. */
  link?: string;
  logger?: Logger;
}

const EEXIST = 17;
const ENODEV = 19;
const EADDRNOTAVAIL = 99;

/**
 * The VIP link and its addresses. Everything on the link is l4lb's (except
 * the kernel's IPv6 link-local); nothing on any other link is touched.
 */
export class VipAddresses {
  readonly link: string;
  private readonly rtnl: RtnlHandle;
  private readonly log: Logger | undefined;
  private index = 0;

  constructor(opts: VipAddressesOptions) {
    this.rtnl = opts.rtnl;
    this.link = opts.link ?? DEFAULT_VIP_LINK;
    this.log = opts.logger;
  }

  /**
   * Makes sure the dummy link exists and is up. Equivalent to:
   * `ip link add minuteman type dummy; ip link set minuteman up`.
   * Throws DP_LINK when a link of that name exists and is not a dummy
   * (l4lb never takes over a link it would not have made), or when the
   * kernel refuses (no dummy module, no CAP_NET_ADMIN).
   */
  ensureLink(): LinkState {
    const name = this.link;
    let created = false;
    let link = this.wrapLink('get link', () => this.rtnl.linkFind(name));
    if (link === undefined) {
      try {
        this.rtnl.linkAddDummy(name);
        created = true;
      } catch (e) {
        // Someone created it between our look and our add: take what is there.
        if (!(e instanceof NetlinkError && e.errnoName === 'EEXIST')) throw this.linkError('create', e);
      }
      link = this.wrapLink('get link', () => this.rtnl.linkFind(name));
      if (link === undefined) throw new DataplaneError('DP_LINK', `link ${name} vanished right after it was created`, { link: name });
      this.log?.debug('created VIP link', { component: 'dataplane', link: name, index: link.index });
    }
    if (link.kind !== 'dummy') {
      throw new DataplaneError(
        'DP_LINK',
        `link ${name} exists and is ${link.kind ? `a ${link.kind} link` : 'a device without a link kind'}, not a dummy: ` +
          'l4lb puts VIPs only on a dummy link it owns; set dataplane.interface to another name or delete that link',
        { link: name, kind: link.kind },
      );
    }
    let broughtUp = false;
    if (!link.up) {
      this.wrapLink('set link up', () => this.rtnl.linkSetUp(link.index));
      broughtUp = true;
    }
    this.index = link.index;
    return { name, index: link.index, created, broughtUp };
  }

  /** Addresses l4lb owns on the link, canonical, host prefixes as plain text. Equivalent to `ip addr show dev minuteman`. */
  list(): string[] {
    const index = this.index || this.ensureLink().index;
    return this.owned(index).map(describeOnLink);
  }

  /**
   * Makes the link carry exactly `desired`: adds what is missing, removes
   * what l4lb owns and no longer wants, in one batched netlink write (none
   * when nothing differs). Also recreates the link or sets it up if someone
   * deleted it or took it down, so the periodic resync repairs drift.
   * Throws DP_BAD_ADDRESS before any I/O for a malformed address, and
   * AddressError (DP_ADDRESS) naming each address the kernel refused (the
   * others are applied).
   */
  sync(desired: readonly string[]): AddressChange {
    const want = canonicalVips(desired);
    const { index } = this.ensureLink();
    const plan = planAddressSync(want, this.owned(index));
    const ops: Op[] = [
      ...plan.remove.map((a): Op => ({ op: 'remove', spec: { index, address: a.address, prefixLen: a.prefixLen }, text: describeOnLink(a) })),
      ...plan.add.map((address): Op => ({ op: 'add', spec: { index, address }, text: address })),
    ];
    const change: AddressChange = { added: [], removed: [], unchanged: plan.unchanged };
    this.apply(ops, change);
    return change;
  }

  /** Adds VIP addresses (the ordered per-VIP path: after IPVS, before DNS). Already present: `unchanged`. */
  add(addrs: readonly string[]): AddressChange {
    return this.applyOrRetry(canonicalVips(addrs), 'add');
  }

  /** Removes VIP addresses (the ordered per-VIP path: after DNS, before IPVS). Already absent: `unchanged`. */
  remove(addrs: readonly string[]): AddressChange {
    return this.applyOrRetry(canonicalVips(addrs), 'remove');
  }

  private applyOrRetry(addrs: string[], op: 'add' | 'remove'): AddressChange {
    const change: AddressChange = { added: [], removed: [], unchanged: [] };
    if (addrs.length === 0) return change;
    if (this.index === 0) this.ensureLink();
    const build = (index: number): Op[] => addrs.map((address) => ({ op, spec: { index, address }, text: address }));
    try {
      this.apply(build(this.index), change);
    } catch (e) {
      // The link was deleted (or recreated with a new index) behind our back:
      // make it again and retry once. Removing from a missing link is a no-op.
      if (!(e instanceof AddressError) || !e.failures.every((f) => f.errno === 'ENODEV')) throw e;
      const state = this.ensureLink();
      const done = new Set([...change.added, ...change.removed]);
      const left = new Set(addrs.filter((a) => !done.has(a)));
      if (op === 'remove' && state.created) {
        change.unchanged.push(...left);
        return change;
      }
      this.apply(build(state.index).filter((o) => left.has(o.text)), change);
    }
    return change;
  }

  /** One batch: removals first (so a re-prefixed address can be re-added), then adds. */
  private apply(ops: readonly Op[], change: AddressChange): void {
    if (ops.length === 0) return;
    const b = this.rtnl.batch<Op>(`sync VIP addresses on ${this.link}`);
    for (const o of ops) {
      if (o.op === 'add') b.push(o, (w, seq, x) => encodeAddrAdd(w, seq, x.spec, false));
      else b.push(o, (w, seq, x) => encodeAddrDel(w, seq, x.spec, false));
    }
    const failures: AddressFailure[] = [];
    for (const r of b.finish()) {
      const o = r.item;
      if (r.errno === 0) {
        (o.op === 'add' ? change.added : change.removed).push(o.text);
        this.log?.debug(o.op === 'add' ? 'added VIP address' : 'removed VIP address', { component: 'dataplane', link: this.link, address: o.text });
      } else if ((o.op === 'add' && r.errno === EEXIST) || (o.op === 'remove' && r.errno === EADDRNOTAVAIL)) {
        change.unchanged.push(o.text); // someone did it for us between our look and our write
      } else {
        const name = errnoName(r.errno);
        const what = o.op === 'add' ? 'add address' : 'delete address';
        const len = o.spec.prefixLen ?? hostLen(inetFamily(o.spec.address));
        const why = r.errno === ENODEV ? ' (the link is gone; the next sync recreates it)' : name === 'EPERM' || name === 'EACCES' ? ' (l4lb needs CAP_NET_ADMIN)' : '';
        failures.push({
          op: o.op,
          address: o.text,
          errno: name,
          message: `${what} ${o.spec.address}/${len} dev ${this.link}: ${name}${r.extAck ? `: ${r.extAck}` : ''}${why}`,
        });
      }
    }
    if (failures.length > 0) throw new AddressError(failures, { added: change.added, removed: change.removed });
  }

  private owned(index: number): OnLinkAddr[] {
    let all: Addr[];
    try {
      all = this.rtnl.addrList({ link: index });
    } catch (e) {
      throw this.linkError('list addresses of', e);
    }
    return all.filter((a) => (a.family === AF_INET || a.family === AF_INET6) && !isKernelLinkLocal(a));
  }

  private wrapLink<T>(what: string, fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.linkError(what, e);
    }
  }

  private linkError(what: string, e: unknown): DataplaneError {
    if (e instanceof DataplaneError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    const hint = e instanceof NetlinkError && e.errnoName === 'ENOTSUP' ? ' (is the dummy module available? `modprobe dummy`)' : '';
    return new DataplaneError('DP_LINK', `${what} ${this.link}: ${msg}${hint}`, { link: this.link }, { cause: e });
  }
}
