// Pure views of the VIP table for the status API: dcos-net's `/v1/vips`
// shape, l4lb's own summaries and details, and which VIPs a reference
// (`myapp.marathon`, `198.51.100.7:80`, `tcp/198.51.100.7:80`) names.
// Data in, data out: the daemon side supplies the kernel reads.

import { L4LB_ZONE, parseIp, type Backend, type Vip } from '../model/index.js';
import { ALIASES } from '../dns/zone.js';
import type { DestinationEntry, ServiceEntry, Stats } from '../../native/ipvs/index.js';
import type { BackendDetail, BackendState, BackendView, DcosVip, KernelStats, VipDetail, VipEvent, VipSummary } from './types.js';

/** What summaries need beyond the VIP itself. */
export interface VipContext {
  /** `ipvs.scheduler`: for VIPs whose backends name none. */
  scheduler: string;
  forwarding(key: string): boolean;
  failing(key: string): boolean;
  /** Wall-clock ms when the VIP was first seen. */
  since(key: string): number;
  /** Draining destinations of a VIP: `inet/203.0.113.2/8080` -> wall-clock ms when the drain started. */
  drains(key: string): Iterable<readonly [string, number]>;
}

/** `GET /v1/vips` as dcos-net serves it: one entry per (protocol, name or IP, port), backends of every family. */
export function dcosVips(vips: readonly Vip[]): DcosVip[] {
  const out: DcosVip[] = [];
  const byName = new Map<string, DcosVip>();
  for (const v of vips) {
    const host = v.kind === 'named' && v.names[0] ? v.names[0] : v.address; // IPv6 unbracketed, as inet:ntoa
    const id = `${v.protocol}|${host}|${v.port}`;
    let e = byName.get(id);
    if (!e) {
      e = { vip: `${host}:${v.port}`, protocol: v.protocol, backend: [] };
      byName.set(id, e);
      out.push(e);
    }
    for (const b of v.backends) {
      if (!e.backend.some((x) => x.ip === b.ip && x.port === b.port)) e.backend.push({ ip: b.ip, port: b.port });
    }
  }
  return out;
}

export function backendState(b: Backend): BackendState {
  if (b.state === 'killing') return 'draining';
  if (b.health === 'unhealthy' || b.weight === 0) return 'unhealthy';
  return 'active';
}

const destId = (ip: string, port: number): string => `${ip.includes(':') ? 'inet6' : 'inet'}/${ip}/${port}`;

function parseDestId(id: string): { ip: string; port: number } | undefined {
  const m = /^inet6?\/(.+)\/(\d+)$/.exec(id);
  return m ? { ip: m[1]!, port: Number(m[2]) } : undefined;
}

function backendView(b: Backend, drainStart: number | undefined): BackendView {
  const v: BackendView = {
    ip: b.ip,
    port: b.port,
    weight: b.weight,
    state: backendState(b),
    taskId: b.taskId,
    framework: b.framework,
    source: b.source,
    health: b.health,
  };
  if (drainStart !== undefined) v.drainingSince = new Date(drainStart).toISOString();
  return v;
}

export function summarize(v: Vip, ctx: VipContext): VipSummary {
  const drains = new Map(ctx.drains(v.key));
  const list: BackendView[] = [];
  const desired = new Set<string>();
  for (const b of v.backends) {
    const id = destId(b.ip, b.port);
    desired.add(id);
    list.push(backendView(b, drains.get(id)));
  }
  // Removed backends the kernel still has at weight 0 until their connections end.
  for (const [id, started] of drains) {
    if (desired.has(id)) continue;
    const d = parseDestId(id);
    if (d) list.push({ ip: d.ip, port: d.port, weight: 0, state: 'draining', drainingSince: new Date(started).toISOString() });
  }
  return {
    key: v.key,
    names: [...v.names],
    address: v.address,
    family: v.family,
    protocol: v.protocol,
    port: v.port,
    kind: v.kind,
    labels: [...v.labels],
    portNames: [...(v.portNames ?? [])],
    sources: [...v.sources],
    scheduler: v.scheduler ?? ctx.scheduler,
    ...(v.schedulerVotes !== undefined && { schedulerVotes: v.schedulerVotes.map((x) => ({ ...x })) }),
    forwarding: ctx.forwarding(v.key),
    failing: ctx.failing(v.key),
    since: new Date(ctx.since(v.key)).toISOString(),
    backends: { ready: v.backends.filter((b) => b.weight > 0).length, total: v.backends.length },
    backendList: list,
  };
}

function kernelStats(s: Stats, conns?: { active: number; inactive: number }): KernelStats {
  return {
    activeConnections: conns?.active ?? 0,
    inactiveConnections: conns?.inactive ?? 0,
    connections: s.connections,
    cps: s.cps,
    bytesIn: s.bytesIn,
    bytesOut: s.bytesOut,
    bytesInPerSec: s.bytesInPerSec,
    bytesOutPerSec: s.bytesOutPerSec,
    packetsIn: s.packetsIn,
    packetsOut: s.packetsOut,
  };
}

/** The kernel's side of one VIP, or why it could not be read. */
export type KernelRead =
  | { ok: true; service: ServiceEntry | undefined; destinations: readonly DestinationEntry[] }
  | { ok: false; error: string };

/** A summary plus live kernel counters per backend and for the service, and recent events. */
export function detail(s: VipSummary, k: KernelRead, events: readonly VipEvent[]): VipDetail {
  const out: VipDetail = { ...s, backendList: [], events: [...events] };
  if (!k.ok) {
    out.kernelError = k.error;
    out.backendList = s.backendList.map((b) => ({ ...b }));
    return out;
  }
  const dests = new Map(k.destinations.map((d) => [destId(parseIp(d.address)?.address ?? d.address, d.port), d] as const));
  const seen = new Set<string>();
  for (const b of s.backendList) {
    const id = destId(b.ip, b.port);
    seen.add(id);
    const d = dests.get(id);
    const bd: BackendDetail = { ...b };
    if (d) bd.kernel = { ...kernelStats(d.stats, { active: d.activeConnections, inactive: d.inactiveConnections }), weight: d.weight };
    else if (b.state === 'active') bd.state = 'pending';
    out.backendList.push(bd);
  }
  // Destinations only the kernel has (removed, draining before l4lb recorded it, or added by hand).
  for (const [id, d] of dests) {
    if (seen.has(id)) continue;
    const ip = parseIp(d.address)?.address ?? d.address;
    out.backendList.push({
      ip,
      port: d.port,
      weight: d.weight,
      state: 'draining',
      kernel: { ...kernelStats(d.stats, { active: d.activeConnections, inactive: d.inactiveConnections }), weight: d.weight },
    });
  }
  if (k.service) {
    let active = 0;
    let inactive = 0;
    for (const d of k.destinations) {
      active += d.activeConnections;
      inactive += d.inactiveConnections;
    }
    out.kernel = { scheduler: k.service.scheduler, stats: kernelStats(k.service.stats, { active, inactive }) };
  }
  return out;
}

const ZONES = [L4LB_ZONE, ...ALIASES];

/** `myapp.marathon.dclb.thisdcos.directory` -> `myapp.marathon`; undefined when in no zone. */
function relativeName(fqdn: string): string | undefined {
  for (const z of ZONES) if (fqdn.endsWith(`.${z}`)) return fqdn.slice(0, -(z.length + 1));
  return undefined;
}

/**
 * The VIPs a reference names, in table order: a VIP key (`tcp/198.51.100.7:80`),
 * `IP:PORT` or `[IPv6]:PORT`, a bare IP, or a name with an optional `:PORT`:
 * the FQDN in any of the four zones, the name relative to the zone
 * (`myapp.marathon`), the label form (`/myapp`), or the first label alone
 * (`myapp`, every framework).
 */
export function matchVips(ref: string, vips: readonly Vip[]): Vip[] {
  const r = ref.trim();
  if (r === '') return [];
  const byKey = vips.filter((v) => v.key === r);
  if (byKey.length) return byKey;
  const proto = /^(tcp|udp)\/(.+)$/i.exec(r);
  if (proto) return matchVips(proto[2]!, vips).filter((v) => v.protocol === proto[1]!.toLowerCase());

  const bare = parseIp(r);
  if (bare) return vips.filter((v) => v.address === bare.address);
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(r) ?? /^([^:]+):(\d{1,5})$/.exec(r);
  const host = m ? m[1]! : r;
  const port = m ? Number(m[2]) : undefined;
  const withPort = (xs: Vip[]) => (port === undefined ? xs : xs.filter((v) => v.port === port));

  const ip = parseIp(host);
  if (ip) return withPort(vips.filter((v) => v.address === ip.address));

  const want = host.toLowerCase().replace(/^\/+/, '').replace(/\.$/, '');
  const rel = relativeName(want) ?? want;
  const exact = vips.filter((v) => v.names.some((n) => relativeName(n) === rel));
  if (exact.length || rel.includes('.')) return withPort(exact);
  return withPort(vips.filter((v) => v.names.some((n) => relativeName(n)?.split('.')[0] === rel)));
}
