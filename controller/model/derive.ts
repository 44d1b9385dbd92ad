// What one task contributes to the table: for each valid VIP label of each
// port, a (group, backends) pair; the IP VIP addresses it reserves; and the
// labels it skipped, with reasons. Pure and per task, so the table can diff a
// task's old and new contribution in O(size of the task).

import { ipv4Number, parseIp, parseIpv6 } from './ip.js';
import { parseVipValue } from './labels.js';
import { domainFrag, fqdnOf, hashName } from './naming.js';
import type { ResolvedOptions } from './options.js';
import type { Backend, Family, LabelRejection, Protocol, RejectionCode, Task, VipLabel } from './types.js';

export interface NamedGroupInfo {
  kind: 'named';
  protocol: Protocol;
  port: number;
  /** Hash input, e.g. `myapp.marathon`. */
  name: string;
  fqdn: string;
}

export interface IpGroupInfo {
  kind: 'ip';
  protocol: Protocol;
  port: number;
  family: Family;
  address: string;
  value: bigint;
}

export type GroupInfo = NamedGroupInfo | IpGroupInfo;

/** One task's share of one VIP group (a named VIP before it has an address). */
export interface Contribution {
  groupKey: string;
  info: GroupInfo;
  /** Raw label values, sorted, unique. */
  labels: string[];
  /** Names of the task ports that carry these labels (Marathon portDefinitions, Mesos discovery), sorted, unique; for SRV. */
  portNames: string[];
  /** Unique by (ip, port), in backendOrderKey order; empty unless the task is running or killing. */
  backends: Backend[];
  /** The scheduler these backends vote for (port label, else task label); absent: no vote. */
  scheduler?: string;
}

export interface Reservation {
  family: Family;
  value: bigint;
}

export interface Derived {
  contributions: Contribution[];
  reservations: readonly Reservation[];
  rejected: readonly LabelRejection[];
}

export function groupKeyOf(info: GroupInfo): string {
  return info.kind === 'named'
    ? `n|${info.protocol}|${info.name}|${info.port}`
    : `i|${info.protocol}|${info.address}|${info.port}`;
}

/** Fixed-width hex of an address value, so string order is numeric order. */
export function addressSortKey(family: Family, value: bigint): string {
  return `${family}${value.toString(16).padStart(family === 4 ? 8 : 32, '0')}`;
}

/**
 * A key that orders backends numerically by (family, address, port): a number
 * for IPv4 (address * 65536 + port < 2^48), fixed-width hex for IPv6; IPv4
 * first. Computed when sorting, never stored: 100,000 backends kept one each
 * (with a wrapper object) for about 13 MB.
 */
export function backendOrderKey(b: Backend): number | string {
  const v4 = ipv4Number(b.ip);
  if (v4 >= 0) return v4 * 65536 + b.port;
  return `${(parseIpv6(b.ip) ?? 0n).toString(16).padStart(32, '0')}:${String(b.port).padStart(5, '0')}`;
}

export function compareOrderKeys(a: number | string, b: number | string): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Backends sorted by backendOrderKey (decorate, sort, undecorate: one key per backend). */
export function sortBackends(list: readonly Backend[]): Backend[] {
  if (list.length < 2) return [...list];
  return list.map((b) => ({ b, k: backendOrderKey(b) })).sort((x, y) => compareOrderKeys(x.k, y.k)).map((x) => x.b);
}

function backendFor(task: Task, ip: string, port: number): Backend | undefined {
  const parsed = parseIp(ip);
  if (parsed === undefined) return undefined;
  const killing = task.state === 'killing';
  const backend: Backend = {
    ip: parsed.address,
    port,
    weight: killing || task.healthy === false ? 0 : 1,
    taskId: task.id,
    framework: task.framework,
    source: task.source,
    state: killing ? 'killing' : 'running',
    health: task.healthy === undefined ? 'unknown' : task.healthy ? 'healthy' : 'unhealthy',
  };
  return Object.freeze(backend); // shared by the VIPs handed out by the table
}

const sameEndpoint = (a: Backend, b: Backend): boolean => a.ip === b.ip && a.port === b.port;
/** Shared by every task without rejections or reservations, instead of two empty arrays each. */
const NONE: readonly never[] = Object.freeze([]);

function nameProblem(host: string, framework: string): { code: RejectionCode; message: string } | undefined {
  const frag = domainFrag(host);
  if (frag === '' || frag.split('.').includes('')) {
    return { code: 'VIP_INVALID_NAME', message: `name ${JSON.stringify(host)} has no usable DNS label (gives ${JSON.stringify(frag)})` };
  }
  if (domainFrag(framework) === '') {
    return { code: 'VIP_EMPTY_FRAMEWORK', message: `framework name ${JSON.stringify(framework)} has no usable DNS label` };
  }
  return undefined;
}

/** A task's contribution to the table; never throws on bad labels. */
export function deriveTask(task: Task, options: ResolvedOptions): Derived {
  const rejected: LabelRejection[] = [...(task.rejected ?? [])];
  const reservations: Reservation[] = [];
  const byGroup = new Map<string, Contribution>();
  const isBackend = task.state === 'running' || task.state === 'killing';
  const reject = (l: VipLabel, code: RejectionCode, message: string): void => {
    rejected.push({ source: task.source, taskId: task.id, key: l.key, value: l.value, code, message });
  };

  for (const port of task.ports) {
    for (const label of port.vips) {
      const parsed = parseVipValue(label.value);
      if (!parsed.ok) {
        reject(label, parsed.code, parsed.message);
        continue;
      }
      const t = parsed.target;
      let info: GroupInfo;
      if (t.kind === 'named') {
        const problem = nameProblem(t.host, task.framework);
        if (problem !== undefined) {
          reject(label, problem.code, problem.message);
          continue;
        }
        const name = hashName(t.host, task.framework);
        info = { kind: 'named', protocol: port.protocol, port: t.port, name, fqdn: fqdnOf(name) };
      } else {
        if (t.family === 6 && !options.ipv6Enabled) {
          reject(label, 'VIP_IPV6_DISABLED', `IPv6 VIP ${t.address} while IPv6 is disabled`);
          continue;
        }
        const value = (parseIp(t.address) as { value: bigint }).value;
        info = { kind: 'ip', protocol: port.protocol, port: t.port, family: t.family, address: t.address, value };
        reservations.push({ family: t.family, value });
      }

      const backends: Backend[] = [];
      if (isBackend) {
        let ips: string[];
        let target: number | undefined;
        if (port.hostPort !== undefined) {
          if (task.agentIp === undefined) {
            reject(label, 'VIP_NO_AGENT_IP', `host port ${port.hostPort} but the agent IP is unknown`);
            continue;
          }
          ips = [task.agentIp];
          target = port.hostPort;
        } else {
          ips = task.taskIps;
          target = port.port;
        }
        for (const ip of ips) {
          const b = target === undefined ? undefined : backendFor(task, ip, target);
          if (b === undefined) continue;
          const fam: Family = b.ip.includes(':') ? 6 : 4;
          if (fam === 6 && !options.ipv6Enabled) continue;
          if (info.kind === 'ip' && fam !== info.family) continue;
          if (!backends.some((e) => sameEndpoint(e, b))) backends.push(b);
        }
        if (backends.length === 0) {
          const want = info.kind === 'ip' ? `IPv${info.family}` : options.ipv6Enabled ? 'IP' : 'IPv4';
          reject(label, 'VIP_NO_BACKEND_ADDRESS', `task has no ${want} address for port ${target ?? '(none)'}`);
          continue;
        }
      }

      const key = groupKeyOf(info);
      const existing = byGroup.get(key);
      const scheduler = port.scheduler ?? task.scheduler;
      if (existing === undefined) {
        const c: Contribution = { groupKey: key, info, labels: [label.value], portNames: port.name ? [port.name] : [], backends };
        if (scheduler !== undefined) c.scheduler = scheduler;
        byGroup.set(key, c);
      } else {
        // Same VIP from two label forms or two ports of one task: merge. Two
        // ports naming different schedulers: the alphabetically first (the
        // vote's tie rule; a task's ports mostly give as many backends each).
        if (scheduler !== undefined && (existing.scheduler === undefined || scheduler < existing.scheduler)) existing.scheduler = scheduler;
        if (!existing.labels.includes(label.value)) existing.labels.push(label.value);
        if (port.name && !existing.portNames.includes(port.name)) existing.portNames.push(port.name);
        for (const b of backends) {
          if (!existing.backends.some((e) => sameEndpoint(e, b))) existing.backends.push(b);
        }
      }
    }
  }

  const contributions = [...byGroup.values()];
  for (const c of contributions) {
    c.labels.sort();
    c.portNames.sort();
    c.backends = sortBackends(c.backends);
  }
  return {
    contributions,
    reservations: reservations.length > 0 ? reservations : NONE,
    rejected: rejected.length > 0 ? rejected : NONE,
  };
}
