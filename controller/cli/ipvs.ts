// `l4lb ipvs list`: the kernel's IPVS table with destinations and counters,
// read over netlink in one service dump plus one destination dump per service.
// A better `ipvsadm -Ln --stats`: one aligned table, sorted, stats included.

import {
  IpvsHandle,
  flags as F,
  formatDestinationKey,
  formatNetmask,
  formatServiceKey,
  defaultNetmask,
  type Info,
  type ServiceEntry,
  type ServiceWithDestinations,
  type Timeouts,
} from '../../native/ipvs/index.js';
import { inetBytes, inetFamily } from '../../native/netlink/inet.js';
import { AF_INET } from '../../native/netlink/constants.js';
import { formatBytes, formatCount, renderTable } from './output/table.js';

export interface IpvsSnapshot {
  info: Info;
  timeouts: Timeouts;
  services: ServiceWithDestinations[];
}

export function readIpvs(h: IpvsHandle): IpvsSnapshot {
  return { info: h.info(), timeouts: h.getTimeouts(), services: sortServices(h.dump()) };
}

/** A stable order: family, fwmark services last, protocol, address bytes, port. */
export function sortServices(services: ServiceWithDestinations[]): ServiceWithDestinations[] {
  // Keys computed once per entry: a comparator that parses addresses would
  // parse each one log(n) times.
  const svcKey = new Map<ServiceEntry, string>();
  for (const s of services) {
    svcKey.set(s, `${s.family === 'inet' ? 0 : 1}${s.fwmark > 0 ? 1 : 0}${hex8(s.fwmark)}${s.protocol.padEnd(4)}${addrSortKey(s.address)}${hex4(s.port)}`);
    const dk = new Map(s.destinations.map((d) => [d, `${addrSortKey(d.address)}${hex4(d.port)}`] as const));
    s.destinations.sort((x, y) => cmp(dk.get(x)!, dk.get(y)!));
  }
  return services.sort((a, b) => cmp(svcKey.get(a)!, svcKey.get(b)!));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
const hex4 = (n: number) => n.toString(16).padStart(4, '0');
const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** Fixed-width hex of the address bytes: sorts numerically, IPv4 before IPv6. */
function addrSortKey(a: string): string {
  const af = inetFamily(a);
  return af ? `${af === AF_INET ? 4 : 6}${inetBytes(af, a).toString('hex').padStart(32, '0')}` : a;
}

export function serviceFlags(s: ServiceEntry): string {
  const out: string[] = [];
  if (s.flags & F.IP_VS_SVC_F_PERSISTENT) {
    out.push(`persistent ${s.timeout}s`);
    if (s.netmask !== defaultNetmask(s.family)) out.push(`mask ${formatNetmask(s)}`);
  }
  if (s.pe) out.push(`pe ${s.pe}`);
  if (s.flags & F.IP_VS_SVC_F_ONEPACKET) out.push('ops');
  const schedFlag = (bit: number, n: number) => {
    if (!(s.flags & bit)) return;
    // ipvsadm's names for sh/mh; the generic flag-N otherwise.
    if (s.scheduler === 'sh' || s.scheduler === 'mh') out.push(`${s.scheduler}-${n === 1 ? 'fallback' : n === 2 ? 'port' : 'flag-3'}`);
    else out.push(`flag-${n}`);
  };
  schedFlag(F.IP_VS_SVC_F_SCHED1, 1);
  schedFlag(F.IP_VS_SVC_F_SCHED2, 2);
  schedFlag(F.IP_VS_SVC_F_SCHED3, 3);
  return out.length ? out.join(',') : '-';
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function renderIpvsTable(snap: IpvsSnapshot): string {
  const t = snap.timeouts;
  const header =
    `IPVS ${snap.info.version} (connection table ${snap.info.connectionTableSize} buckets); ` +
    `timeouts tcp ${t.tcp}s, tcpfin ${t.tcpFin}s, udp ${t.udp}s; ` +
    `${plural(snap.services.length, 'service')}, ${plural(snap.services.reduce((n, s) => n + s.destinations.length, 0), 'destination')}\n`;
  if (snap.services.length === 0) return header + 'No IPVS services.\n';
  const rows: string[][] = [];
  for (const s of snap.services) {
    const active = s.destinations.reduce((n, d) => n + d.activeConnections, 0);
    const inactive = s.destinations.reduce((n, d) => n + d.inactiveConnections, 0);
    rows.push([
      formatServiceKey(s),
      s.scheduler,
      '',
      serviceFlags(s),
      formatCount(active),
      formatCount(inactive),
      formatCount(s.stats.connections),
      String(s.stats.cps),
      formatBytes(s.stats.bytesIn),
      formatBytes(s.stats.bytesOut),
    ]);
    for (const d of s.destinations) {
      const tunnel = d.forward === 'tunnel' ? `${d.tunnelType}${d.tunnelPort ? `:${d.tunnelPort}` : ''}` : '';
      const thresholds = d.upperThreshold || d.lowerThreshold ? `thresholds ${d.lowerThreshold}-${d.upperThreshold || '∞'}` : '';
      rows.push([
        `  -> ${formatDestinationKey(d)}`,
        tunnel ? `${d.forward}/${tunnel}` : d.forward,
        String(d.weight),
        thresholds || '-',
        formatCount(d.activeConnections),
        formatCount(d.inactiveConnections),
        formatCount(d.stats.connections),
        String(d.stats.cps),
        formatBytes(d.stats.bytesIn),
        formatBytes(d.stats.bytesOut),
      ]);
    }
  }
  return header + renderTable(['SERVICE', 'SCHED/FWD', 'WEIGHT', 'FLAGS', 'ACTIVE', 'INACTIVE', 'CONNS', 'CPS', 'IN', 'OUT'], rows);
}
