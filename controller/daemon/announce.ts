// Which VIPs are announced, and in what order. A VIP forwards before it is
// announced: the reconciler creates its IPVS service, then calls `added`,
// which puts the address on the node and then the name in DNS. Removal goes
// the other way: `removing` takes the name out of DNS, then the address, and
// only then the reconciler deletes the service.
//
// Several VIPs (ports, protocols) share one address: an address stays while
// any of them still forwards, and a name answers for a family only while at
// least one of its VIPs on that address forwards. SRV records
// (`_<port-name>._<proto>.<name>`) come from forwarding VIPs whose task ports
// carry a name.

import { serviceKeyOf } from '../reconcile/index.js';
import { domainFrag, L4LB_ZONE, type NameAddress, type Vip } from '../model/index.js';
import { canonicalInet } from '../../native/netlink/inet.js';
import { Zone, type ZoneName } from '../dns/zone.js';

export interface AddressSink {
  addAddresses(addrs: readonly string[]): unknown;
  removeAddresses(addrs: readonly string[]): unknown;
}

/** How long additions to the DNS zone may be batched, at least. */
const PUBLISH_COALESCE_MS = 50;
/**
 * A rebuild of the whole zone costs time in proportion to the names (tens of
 * ms at 10,000 in the test kernel), and a first sync announces in chunks all
 * along its pass: wait this many times the last rebuild, so rebuilding takes
 * at most about a tenth of the time however big the zone grows.
 */
const PUBLISH_COST_FACTOR = 10;
/** A name never waits longer than this after its VIP forwards. */
const PUBLISH_MAX_DELAY_MS = 1000;

export class Announcer {
  /** VIP keys whose IPVS service exists (the reconciler said so). */
  private readonly forwarding = new Set<string>();
  /** Address -> how many forwarding VIPs use it. */
  private readonly refs = new Map<string, number>();
  private zone = new Zone([]);
  private publishPending = false;
  /** How long the last rebuild took: the next coalescing window scales with it. */
  private lastPublishMs = 0;

  constructor(
    private readonly addresses: AddressSink,
    /** Names and their addresses from the model (VipTable.names()). */
    private readonly names: () => readonly NameAddress[],
    private readonly onZone: (zone: Zone) => void,
    /** The desired VIPs (VipTable.vips()), for SRV; absent: no SRV records. */
    private readonly vips?: () => readonly Vip[],
    /** Milliseconds, for the cost of a rebuild (tests pass a fake). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** After the reconciler created or adopted these VIPs' services. */
  async added(keys: readonly string[]): Promise<void> {
    const fresh: string[] = [];
    for (const key of keys) {
      if (this.forwarding.has(key)) continue;
      this.forwarding.add(key);
      const addr = addressOf(key);
      const n = this.refs.get(addr) ?? 0;
      this.refs.set(addr, n + 1);
      if (n === 0) fresh.push(addr);
    }
    if (fresh.length) await this.addresses.addAddresses(fresh);
    this.publishSoon();
  }

  /** Before the reconciler deletes these VIPs' services. */
  async removing(keys: readonly string[]): Promise<void> {
    const gone: string[] = [];
    for (const key of keys) {
      if (!this.forwarding.delete(key)) continue;
      const addr = addressOf(key);
      const n = (this.refs.get(addr) ?? 1) - 1;
      if (n <= 0) {
        this.refs.delete(addr);
        gone.push(addr);
      } else {
        this.refs.set(addr, n);
      }
    }
    this.publish();
    if (gone.length) await this.addresses.removeAddresses(gone);
  }

  /**
   * Rebuilds the zone once the current burst is over (a sweep announces in
   * chunks; a source replays many events): one rebuild, not one per call.
   * Additions may wait that long; removals publish at once (`removing`).
   */
  publishSoon(): void {
    if (this.publishPending) return;
    this.publishPending = true;
    setTimeout(() => {
      if (this.publishPending) this.publish();
    }, this.coalesceMs()).unref();
  }

  /** The window additions wait in: 50 ms, or ten rebuilds' worth when rebuilds got slow (at most 1 s). */
  coalesceMs(): number {
    return Math.min(PUBLISH_MAX_DELAY_MS, Math.max(PUBLISH_COALESCE_MS, Math.ceil(PUBLISH_COST_FACTOR * this.lastPublishMs)));
  }

  /** Rebuilds the DNS zone from the model's names, keeping only addresses that forward. */
  publish(): void {
    this.publishPending = false;
    const t0 = this.now();
    const srv = this.srvByName();
    const entries: ZoneName[] = [];
    for (const n of this.names()) {
      const e: ZoneName = { name: n.name };
      if (n.ipv4 && this.refs.has(n.ipv4)) e.ipv4 = n.ipv4;
      if (n.ipv6 && this.refs.has(canonicalInet(n.ipv6))) e.ipv6 = n.ipv6;
      const s = srv.get(n.name);
      if (s && (e.ipv4 || e.ipv6)) e.srv = s;
      if (e.ipv4 || e.ipv6) entries.push(e);
    }
    this.zone = new Zone(entries);
    this.onZone(this.zone);
    this.lastPublishMs = this.now() - t0;
  }

  /** SRV targets per relative name, from forwarding VIPs with named ports. */
  private srvByName(): Map<string, Array<{ portName: string; protocol: 'tcp' | 'udp'; port: number }>> {
    const out = new Map<string, Array<{ portName: string; protocol: 'tcp' | 'udp'; port: number }>>();
    if (!this.vips) return out;
    const suffix = `.${L4LB_ZONE}`;
    for (const v of this.vips()) {
      if (!v.portNames || !this.forwarding.has(v.key)) continue;
      for (const fqdn of v.names) {
        if (!fqdn.endsWith(suffix)) continue;
        const name = fqdn.slice(0, -suffix.length);
        for (const raw of v.portNames) {
          // A port name becomes one DNS label (`My_Port` -> `my-port`); one that cannot is skipped.
          const portName = domainFrag(raw);
          if (portName === '' || portName.includes('.')) continue;
          let list = out.get(name);
          if (!list) out.set(name, (list = []));
          list.push({ portName, protocol: v.protocol, port: v.port });
        }
      }
    }
    return out;
  }

  /** Addresses that should be on the node now (for the dataplane's periodic check). */
  announcedAddresses(): string[] {
    return [...this.refs.keys()];
  }

  isForwarding(key: string): boolean {
    return this.forwarding.has(key);
  }

  get currentZone(): Zone {
    return this.zone;
  }
}

function addressOf(key: string): string {
  return canonicalInet(serviceKeyOf(key).address);
}
