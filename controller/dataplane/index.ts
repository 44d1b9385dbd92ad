// The node dataplane: everything on the node besides the IPVS services
// themselves. Local routes on lo for the named-VIP pools (pool-routes.ts), the
// addresses of the other VIPs on a dummy link (vip-addresses.ts), the sysctls
// IPVS forwarding needs (sysctl.ts), and the hairpin SNAT rule (hairpin.ts),
// each owned, checked and repaired. See README.md for the choices.
//
// Order (anchors, items 9 and dn#130): start() sets sysctls, then the SNAT
// rule, then the link and the pool routes, before any VIP exists, so the
// first VIP works from its first packet. A VIP's address is added after its IPVS
// service and removed before it (the reconciler calls us in between).

import { RtnlHandle } from '../../native/rtnl/index.js';
import type { Logger } from '../log.js';
import { Hairpin, type HairpinFamilyResult, type IptablesRunner } from './hairpin.js';
import { acceptRaInterfaces, applySysctls, desiredSysctls, procSysctl, type SysctlIo, type SysctlResult, type SysctlWant } from './sysctl.js';
import { canonicalVips, DEFAULT_VIP_LINK, VipAddresses, type AddressChange, type LinkState } from './vip-addresses.js';
import { PoolRoutes, type Pool, type PoolRouteChange } from './pool-routes.js';

export { DataplaneError, AddressError, type AddressFailure, type DataplaneErrorCode } from './errors.js';
export {
  VipAddresses,
  DEFAULT_VIP_LINK,
  planAddressSync,
  canonicalVips,
  type AddressChange,
  type AddressPlan,
  type LinkState,
  type OnLinkAddr,
  type VipAddressesOptions,
} from './vip-addresses.js';
export {
  coverPool,
  describePrefix,
  L4LB_ROUTE_PROTOCOL,
  planPoolRoutes,
  PoolRoutes,
  POOL_ROUTE_LINK,
  PrefixSet,
  type Pool,
  type PoolRouteChange,
  type PoolRoutePlan,
  type Prefix,
} from './pool-routes.js';
export {
  acceptRaInterfaces,
  applySysctls,
  connReuseMode,
  desiredSysctls,
  parseKernelVersion,
  procSysctl,
  type KernelVersion,
  type SysctlIo,
  type SysctlResult,
  type SysctlWant,
} from './sysctl.js';
export {
  Hairpin,
  HAIRPIN_COMMENT,
  hairpinRuleSpec,
  iptablesArgv,
  parseOwnedRules,
  planHairpin,
  splitRuleLine,
  type HairpinAction,
  type HairpinFamilyResult,
  type HairpinOptions,
  type IptablesResult,
  type IptablesRunner,
} from './hairpin.js';

export interface DataplaneOptions {
  logger: Logger;
  /** VIP link name (config `dataplane.interface`); default `minuteman`. */
  link?: string;
  /** Keep the hairpin SNAT rule (config `dataplane.hairpin`); default true. */
  hairpin?: boolean;
  /** iptables binary (config `dataplane.iptables`); default `iptables`. */
  iptables?: string;
  /** ip6tables binary; default derived from `iptables`. */
  ip6tables?: string;
  /** IPv6 VIPs are enabled (config `vips.ipv6`): also keep the ip6tables rule and IPv6 forwarding. Default false. */
  ipv6?: boolean;
  /**
   * Named-VIP pools made local by one route per CIDR (config
   * `dataplane.pool-routes`); their VIPs get no address. Default none: every
   * VIP is an address on the link.
   */
  pools?: readonly Pool[];
  /** Force net.ipv4.vs.conn_reuse_mode (kernels with the 5.9 fix backported); default by kernel version. */
  connReuseMode?: 0 | 1;
  /** An rtnetlink handle in the node's namespace; default: one opened here and closed by stop(). */
  rtnl?: RtnlHandle;
  /** Sysctl file edge; default `/proc/sys`. */
  sysctl?: SysctlIo;
  /** iptables runner (tests); default node:child_process with a deadline. */
  iptablesRunner?: IptablesRunner;
}

export interface StartReport {
  /** Every sysctl verified and the hairpin rule in place (or disabled). */
  ok: boolean;
  kernelRelease: string;
  sysctls: SysctlResult[];
  /** Per family; empty when hairpin is disabled or failed (see problems). */
  hairpin: HairpinFamilyResult[];
  link: LinkState;
  /** The pool routes: added now, or found in place. */
  poolRoutes: PoolRouteChange;
  /** One sentence per thing that is not right, naming it. */
  problems: string[];
  /** Remarks that are not problems (e.g. conn_reuse_mode left alone). */
  notes: string[];
  ms: number;
}

export interface CheckReport {
  /** Nothing is wrong after the check (repairs are fine). */
  ok: boolean;
  /** One sentence per repair, naming the object: `sysctl net.ipv4.vs.conntrack 0 -> 1`, `address 198.51.100.10 re-added`. */
  repaired: string[];
  problems: string[];
  /** The address sync done, when the desired set is known. */
  addresses?: AddressChange;
  ms: number;
}

const COMPONENT = { component: 'dataplane' };

/**
 * The node dataplane, as the daemon uses it:
 *   const dp = new Dataplane({ logger, link, hairpin, iptables, ipv6 });
 *   const report = await dp.start();           // before the first reconcile pass
 *   dp.addAddresses([vip]) / dp.removeAddresses([vip])   // per VIP, in order
 *   dp.syncAddresses(allVipsWithIpvs)         // full passes
 *   await dp.check();                          // every periodic resync
 *   dp.stop();                                 // SIGTERM: leaves everything in place
 */
export class Dataplane {
  readonly addresses: VipAddresses;
  readonly poolRoutes: PoolRoutes;
  readonly hairpin: Hairpin | undefined;
  private readonly log: Logger;
  private readonly rtnl: RtnlHandle;
  private readonly ownsRtnl: boolean;
  private readonly sysctlIo: SysctlIo;
  private readonly connReuseMode: 0 | 1 | undefined;
  private readonly ipv6: boolean;
  private wants: SysctlWant[] | undefined;
  /** The address set last given to syncAddresses (then kept up by add/remove); undefined until then. */
  private desired: Set<string> | undefined;

  constructor(opts: DataplaneOptions) {
    this.log = opts.logger;
    this.ownsRtnl = opts.rtnl === undefined;
    this.rtnl = opts.rtnl ?? RtnlHandle.open();
    this.addresses = new VipAddresses({ rtnl: this.rtnl, link: opts.link ?? DEFAULT_VIP_LINK, logger: opts.logger });
    this.poolRoutes = new PoolRoutes(this.rtnl, opts.pools ?? [], opts.logger);
    this.hairpin =
      opts.hairpin === false
        ? undefined
        : new Hairpin({
            logger: opts.logger,
            ...(opts.iptables !== undefined ? { iptables: opts.iptables } : {}),
            ...(opts.ip6tables !== undefined ? { ip6tables: opts.ip6tables } : {}),
            ...(opts.ipv6 !== undefined ? { ipv6: opts.ipv6 } : {}),
            ...(opts.iptablesRunner !== undefined ? { run: opts.iptablesRunner } : {}),
          });
    this.sysctlIo = opts.sysctl ?? procSysctl();
    this.connReuseMode = opts.connReuseMode;
    this.ipv6 = opts.ipv6 === true;
  }

  /** The sysctls to set and verify on this kernel. */
  private desiredSysctls(): ReturnType<typeof desiredSysctls> {
    return desiredSysctls({
      kernelRelease: this.sysctlIo.kernelRelease(),
      ipv6: this.ipv6,
      ...(this.ipv6 ? { acceptRaInterfaces: acceptRaInterfaces(this.sysctlIo) } : {}),
      ...(this.connReuseMode !== undefined ? { connReuseMode: this.connReuseMode } : {}),
    });
  }

  /**
   * Sysctls (set and verified), then the hairpin rule, then the VIP link
   * (created, up) and the pool routes on it. Existing addresses are left as
   * they are (restart adoption: forwarding continues). Throws DP_LINK when
   * the link cannot be made, DP_ROUTE when a pool route cannot; sysctl and iptables failures are returned in `problems` (each
   * naming its key or command) with `ok: false`, and logged.
   */
  async start(): Promise<StartReport> {
    const t0 = performance.now();
    const kernelRelease = this.sysctlIo.kernelRelease();
    const { wants, notes } = this.desiredSysctls();
    this.wants = wants;
    const problems: string[] = [];
    const sysctls = applySysctls(wants, this.sysctlIo);
    for (const s of sysctls) if (!s.ok) problems.push(s.error?.message ?? `${s.key} is not ${s.wanted}`);

    let hairpin: HairpinFamilyResult[] = [];
    if (this.hairpin) {
      try {
        hairpin = await this.hairpin.ensure();
      } catch (e) {
        problems.push(`hairpin rule: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const link = this.addresses.ensureLink();
    const poolRoutes = this.poolRoutes.sync();
    const report: StartReport = { ok: problems.length === 0, kernelRelease, sysctls, hairpin, link, poolRoutes, problems, notes, ms: Math.round(performance.now() - t0) };
    const changed = sysctls.filter((s) => s.changed).map((s) => `${s.key}=${s.after}`);
    this.log.info('dataplane started', {
      ...COMPONENT,
      ms: report.ms,
      kernel: kernelRelease,
      link: link.name,
      linkCreated: link.created,
      poolRoutes: [...poolRoutes.added, ...poolRoutes.unchanged],
      poolRoutesAdded: poolRoutes.added.length,
      sysctlsChanged: changed,
      hairpin: this.hairpin ? hairpin.map((h) => `${h.family}:${h.actions.length ? 'added' : 'present'}`) : 'disabled',
      problems: problems.length,
    });
    for (const p of problems) this.log.error(p, COMPONENT);
    for (const n of notes) this.log.warn(n, COMPONENT);
    return report;
  }

  /**
   * Makes the link carry exactly `desired` (every VIP whose IPVS service is
   * programmed), in one batched write; remembers the set for check().
   * Throws DP_BAD_ADDRESS (nothing done) or AddressError (per address).
   */
  syncAddresses(desired: readonly string[]): AddressChange {
    const want = this.needAddress(canonicalVips(desired));
    this.desired = new Set(want);
    const change = this.addresses.sync(want);
    this.logChange('synced VIP addresses', change);
    return change;
  }

  /** Adds VIP addresses; call after the VIP's IPVS service exists, before DNS announces it. */
  addAddresses(addrs: readonly string[]): AddressChange {
    const want = this.needAddress(canonicalVips(addrs));
    if (this.desired) for (const a of want) this.desired.add(a);
    const change = this.addresses.add(want);
    this.logChange('added VIP addresses', change, 'debug');
    return change;
  }

  /** Removes VIP addresses; call after DNS dropped the VIP, before its IPVS service is deleted. */
  removeAddresses(addrs: readonly string[]): AddressChange {
    const gone = this.needAddress(canonicalVips(addrs));
    if (this.desired) for (const a of gone) this.desired.delete(a);
    const change = this.addresses.remove(gone);
    this.logChange('removed VIP addresses', change, 'debug');
    return change;
  }

  /**
   * Verifies and repairs everything (the periodic resync): sysctls that
   * drifted are written back, the hairpin rule is re-added (or de-duplicated),
   * the link is recreated/set up, and, once syncAddresses was called, the
   * addresses are synced to the remembered set. Never throws for a repair
   * that fails: it is in `problems`. Silent (debug) when nothing was wrong.
   */
  async check(): Promise<CheckReport> {
    const t0 = performance.now();
    const repaired: string[] = [];
    const problems: string[] = [];
    const wants = this.wants ?? this.desiredSysctls().wants;
    for (const s of applySysctls(wants, this.sysctlIo)) {
      if (s.changed && s.ok) repaired.push(`sysctl ${s.key} ${s.before} -> ${s.after}`);
      if (!s.ok) problems.push(s.error?.message ?? `${s.key} is not ${s.wanted}`);
    }
    if (this.hairpin) {
      try {
        for (const f of await this.hairpin.ensure()) {
          for (const a of f.actions) repaired.push(`hairpin ${f.family}: ${f.binary} ${a.join(' ')}`);
        }
      } catch (e) {
        problems.push(`hairpin rule: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    let addresses: AddressChange | undefined;
    try {
      const link = this.addresses.ensureLink();
      if (link.created) repaired.push(`link ${link.name} recreated`);
      else if (link.broughtUp) repaired.push(`link ${link.name} set up`);
      // Routes before addresses: a pool VIP must never lose its locality.
      const routes = this.poolRoutes.sync();
      for (const r of routes.added) repaired.push(`pool route ${r} re-added on lo`);
      for (const r of routes.removed) repaired.push(`pool route ${r} removed (no pool needs it)`);
      if (this.desired !== undefined) {
        addresses = this.addresses.sync([...this.desired]);
        for (const a of addresses.added) repaired.push(`address ${a} re-added on ${this.addresses.link}`);
        for (const a of addresses.removed) repaired.push(`address ${a} removed from ${this.addresses.link} (not a VIP)`);
      }
    } catch (e) {
      problems.push(e instanceof Error ? e.message : String(e));
    }
    const report: CheckReport = { ok: problems.length === 0, repaired, problems, ms: Math.round(performance.now() - t0) };
    if (addresses) report.addresses = addresses;
    if (repaired.length > 0) this.log.warn('dataplane drift repaired', { ...COMPONENT, ms: report.ms, repaired });
    else this.log.debug('dataplane in sync', { ...COMPONENT, ms: report.ms });
    for (const p of problems) this.log.error(p, COMPONENT);
    return report;
  }

  /**
   * Stops using the kernel: closes the netlink socket if this object opened
   * it. Leaves the link, the addresses, the sysctls and the hairpin rule in
   * place, so forwarding continues while l4lb is down.
   */
  stop(): void {
    if (this.ownsRtnl) this.rtnl.close();
  }

  /** The VIPs that need an address on the link: those no pool route covers. */
  private needAddress(addrs: string[]): string[] {
    return this.poolRoutes.prefixes.length === 0 ? addrs : addrs.filter((a) => !this.poolRoutes.set.has(a));
  }

  private logChange(msg: string, c: AddressChange, level: 'info' | 'debug' = 'info'): void {
    if (c.added.length === 0 && c.removed.length === 0) return;
    this.log.log(level, msg, { ...COMPONENT, link: this.addresses.link, added: c.added.length, removed: c.removed.length, unchanged: c.unchanged.length });
  }
}
