// Printers for `l4lb get`, `describe`, `endpoints` and `status`: pure
// functions of the status API's JSON and the current time, in kubectl's
// layout (aligned tables, `Key:  value` blocks, ages like 5m30s).

import yaml from 'js-yaml';
import { L4LB_ZONE } from '../../model/index.js';
import type { BackendDetail, BackendView, KernelStats, StatusView, VipDetail, VipSummary } from '../../status/types.js';
import { formatBytes, formatCount, renderTable } from './table.js';
import { UsageError } from './format.js';

/** kubectl's HumanDuration: 90s, 5m30s, 45m, 5h30m, 20h, 3d5h, 200d, 2y. */
export function formatAge(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (hours < 24 * 8) return hours % 24 === 0 ? `${days}d` : `${days}d${hours % 24}h`;
  if (days < 365 * 2) return `${days}d`;
  const years = Math.floor(days / 365);
  if (days < 365 * 8) return days % 365 === 0 ? `${years}y` : `${years}y${days % 365}d`;
  return `${years}y`;
}

const age = (iso: string | undefined, now: number): string => (iso ? formatAge(now - Date.parse(iso)) : '-');

/** `myapp.marathon.l4lb.thisdcos.directory` -> `myapp.marathon` (what `describe` and `endpoints` accept). */
export function shortName(fqdn: string): string {
  return fqdn.endsWith(`.${L4LB_ZONE}`) ? fqdn.slice(0, -(L4LB_ZONE.length + 1)) : fqdn;
}

const hostPort = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);
const vipName = (v: Pick<VipSummary, 'names'>): string => (v.names.length ? v.names.map(shortName).join(',') : '<none>');

function vipStatus(v: VipSummary): string {
  if (v.failing) return 'Failing';
  return v.forwarding ? 'Forwarding' : 'Pending';
}

function vipRow(v: VipSummary, wide: boolean, now: number): string[] {
  const row = [vipName(v), v.address, v.protocol.toUpperCase(), String(v.port), `${v.backends.ready}/${v.backends.total}`, v.scheduler, age(v.since, now)];
  if (wide) row.push(vipStatus(v), v.sources.join(',') || '-', v.portNames.join(',') || '-');
  return row;
}

const VIP_HEADERS = ['NAME', 'ADDRESS', 'PROTOCOL', 'PORT', 'BACKENDS', 'SCHEDULER', 'AGE'];
const WIDE_HEADERS = ['STATUS', 'SOURCES', 'PORT NAMES'];

/** `l4lb get vips` (and `-o wide`). */
export function renderVips(vips: readonly VipSummary[], opts: { wide?: boolean; now: number }): string {
  if (vips.length === 0) return 'No VIPs found.\n';
  const headers = opts.wide ? [...VIP_HEADERS, ...WIDE_HEADERS] : VIP_HEADERS;
  return renderTable(headers, vips.map((v) => vipRow(v, !!opts.wide, opts.now)));
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';
export interface WatchEvent {
  type: WatchEventType;
  object: VipSummary;
}

/** What changed between two listings (by key), in the new listing's order, deletions last. */
export function diffVips(prev: ReadonlyMap<string, VipSummary>, next: readonly VipSummary[]): WatchEvent[] {
  const out: WatchEvent[] = [];
  const seen = new Set<string>();
  for (const v of next) {
    seen.add(v.key);
    const p = prev.get(v.key);
    if (!p) out.push({ type: 'ADDED', object: v });
    else if (JSON.stringify(p) !== JSON.stringify(v)) out.push({ type: 'MODIFIED', object: v });
  }
  for (const [k, v] of prev) if (!seen.has(k)) out.push({ type: 'DELETED', object: v });
  return out;
}

/** Rows of `get vips --watch`, with the event as the first column (as kubectl's --output-watch-events). */
export function renderWatchEvents(events: readonly WatchEvent[], opts: { wide?: boolean; now: number; header: boolean }): string {
  if (events.length === 0) return '';
  const headers = ['EVENT', ...(opts.wide ? [...VIP_HEADERS, ...WIDE_HEADERS] : VIP_HEADERS)];
  const table = renderTable(headers, events.map((e) => [e.type, ...vipRow(e.object, !!opts.wide, opts.now)]));
  return opts.header ? table : table.slice(table.indexOf('\n') + 1);
}

export function toYaml(value: unknown): string {
  return yaml.dump(value, { noRefs: true, lineWidth: -1, sortKeys: false });
}

/** `-o name`: the VIP keys, which `describe vip` accepts. */
export function renderNames(vips: readonly VipSummary[]): string {
  return vips.map((v) => `${v.key}\n`).join('');
}

function backendTask(b: BackendView): string {
  return b.taskId ?? '<removed>';
}

/** `l4lb get backends`: every backend of every VIP (desired state; draining removed ones included). */
export function renderBackends(vips: readonly VipSummary[]): string {
  const rows: string[][] = [];
  for (const v of vips) {
    const vip = v.names.length ? `${shortName(v.names[0]!)}:${v.port}/${v.protocol}` : `${hostPort(v.address, v.port)}/${v.protocol}`;
    for (const b of v.backendList) rows.push([vip, hostPort(b.ip, b.port), String(b.weight), b.state, backendTask(b), b.framework ?? '-', b.source ?? '-']);
  }
  if (rows.length === 0) return 'No backends found.\n';
  return renderTable(['VIP', 'BACKEND', 'WEIGHT', 'STATE', 'TASK', 'FRAMEWORK', 'SOURCE'], rows);
}

/** `l4lb get backends VIP`: with the kernel's live connection counts. */
export function renderBackendDetails(vips: readonly VipDetail[]): string {
  const rows: string[][] = [];
  for (const v of vips) {
    const vip = v.names.length ? `${shortName(v.names[0]!)}:${v.port}/${v.protocol}` : `${hostPort(v.address, v.port)}/${v.protocol}`;
    for (const b of v.backendList) {
      const k = b.kernel;
      rows.push([
        vip, hostPort(b.ip, b.port), String(b.weight), b.state,
        k ? String(k.activeConnections) : '-', k ? String(k.inactiveConnections) : '-', k ? formatCount(k.connections) : '-',
        backendTask(b), b.framework ?? '-',
      ]);
    }
  }
  if (rows.length === 0) return 'No backends found.\n';
  return renderTable(['VIP', 'BACKEND', 'WEIGHT', 'STATE', 'ACTIVE', 'INACTIVE', 'CONNS', 'TASK', 'FRAMEWORK'], rows);
}

/** `Key:  value` lines with the values aligned, as kubectl describe. */
function fields(pairs: ReadonlyArray<readonly [string, string]>, indent = ''): string {
  const w = Math.max(...pairs.map(([k]) => k.length + 1));
  return pairs.map(([k, v]) => `${indent}${`${k}:`.padEnd(w)}  ${v}`.trimEnd() + '\n').join('');
}

function indentBlock(text: string, by = '  '): string {
  return text.split('\n').map((l) => (l ? by + l : l)).join('\n');
}

function statsFields(s: KernelStats): Array<[string, string]> {
  return [
    ['Active Connections', String(s.activeConnections)],
    ['Inactive Connections', String(s.inactiveConnections)],
    ['Connections', String(s.connections)],
    ['Connections/s', String(s.cps)],
    ['Bytes In', `${formatBytes(s.bytesIn)} (${formatBytes(s.bytesInPerSec)}/s)`],
    ['Bytes Out', `${formatBytes(s.bytesOut)} (${formatBytes(s.bytesOutPerSec)}/s)`],
  ];
}

function backendRows(list: readonly BackendDetail[], now: number): string[][] {
  return list.map((b) => {
    const k = b.kernel;
    const state = b.state === 'draining' && b.drainingSince ? `draining (${formatAge(now - Date.parse(b.drainingSince))})` : b.state;
    return [
      hostPort(b.ip, b.port), String(b.weight), state,
      k ? String(k.activeConnections) : '-', k ? String(k.inactiveConnections) : '-', k ? formatCount(k.connections) : '-', k ? String(k.cps) : '-',
      k ? formatBytes(k.bytesIn) : '-', k ? formatBytes(k.bytesOut) : '-',
      backendTask(b), b.framework ?? '-',
    ];
  });
}

// The kernel's scheduler, with what the table wants when the next pass has
// not caught up yet, and which backends named what when they disagree.
function schedulerField(v: VipDetail): string {
  const have = v.kernel?.scheduler ?? v.scheduler;
  const notes: string[] = [];
  if (have !== v.scheduler) notes.push(`desired ${v.scheduler}`);
  if (v.schedulerVotes) {
    notes.push(`backends disagree: ${v.schedulerVotes.map((x) => `${x.scheduler} ${x.backends}`).join(', ')}; most backends win`);
  }
  return notes.length ? `${have} (${notes.join('; ')})` : have;
}

/** `l4lb describe vip`: one block per VIP, separated by a blank line. */
export function renderDescribe(vips: readonly VipDetail[], now: number): string {
  return vips.map((v) => describeOne(v, now)).join('\n');
}

function describeOne(v: VipDetail, now: number): string {
  let out = fields([
    ['Name', v.names.length ? v.names.join(', ') : '<none>'],
    ['Key', v.key],
    ['Address', v.address],
    ['Protocol', v.protocol.toUpperCase()],
    ['Port', String(v.port)],
    ['Kind', v.kind],
    ['Labels', v.labels.join(', ') || '<none>'],
    ['Port Names', v.portNames.join(', ') || '<none>'],
    ['Sources', v.sources.join(', ') || '<none>'],
    ['Scheduler', schedulerField(v)],
    ['Status', vipStatus(v)],
    ['Backends', `${v.backends.ready} ready of ${v.backends.total}`],
    ['Age', age(v.since, now)],
  ]);
  if (v.kernel) out += 'Kernel:\n' + fields(statsFields(v.kernel.stats), '  ');
  else out += `Kernel:       ${v.kernelError ? `<unreadable: ${v.kernelError}>` : '<no IPVS service>'}\n`;
  if (v.backendList.length) {
    out += 'Backends:\n' + indentBlock(renderTable(['ADDRESS', 'WEIGHT', 'STATE', 'ACTIVE', 'INACTIVE', 'CONNS', 'CPS', 'BYTES IN', 'BYTES OUT', 'TASK', 'FRAMEWORK'], backendRows(v.backendList, now)));
  } else out += 'Backends:     <none>\n';
  if (v.events.length) {
    const rows = [...v.events].reverse().map((e) => [e.reason, age(e.at, now), e.message]);
    out += 'Events:\n' + indentBlock(renderTable(['REASON', 'AGE', 'MESSAGE'], rows));
  } else out += 'Events:       <none>\n';
  return out;
}

/** The DC/OS `endpoints` shape (`dcos kafka endpoints broker`). */
export interface Endpoints {
  /** Backends that serve now, `ip:port`. */
  address: string[];
  /** Names l4lb answers in DNS for this endpoint, `name:port`. */
  dns: string[];
  /** `<fqdn>:<port>` for a named VIP, `<ip>:<port>` for an IP VIP. */
  vip: string;
}

/**
 * The endpoints of one VIP port. The VIPs a name matched may be two families
 * of one port (merged); several ports or protocols need `NAME:PORT`.
 */
export function endpointsOf(ref: string, vips: readonly VipSummary[]): Endpoints {
  const ports = [...new Set(vips.map((v) => `${v.port}/${v.protocol}`))];
  if (ports.length > 1) {
    throw new UsageError(`${ref} has ${ports.length} ports (${ports.join(', ')}): give one as NAME:PORT, or tcp/NAME:PORT`);
  }
  const first = vips[0]!;
  const name = vips.find((v) => v.names.length)?.names[0];
  const address: string[] = [];
  for (const v of vips) for (const b of v.backendList) if (b.weight > 0 && b.state === 'active') address.push(hostPort(b.ip, b.port));
  return {
    address: [...new Set(address)],
    dns: name ? [`${name}:${first.port}`] : [],
    vip: name ? `${name}:${first.port}` : hostPort(first.address, first.port),
  };
}

/** `l4lb status`. */
export function renderStatus(s: StatusView, now: number): string {
  const r = s.reconcile;
  const last = r.lastPass
    ? `${r.lastPass.trigger}${r.lastPass.full ? ' (full)' : ''} ${age(r.lastPass.at, now)} ago, ${r.lastPass.durationMs}ms, ${r.lastPass.opsTotal} operation(s), ${r.lastPass.errors} error(s)`
    : '<none yet>';
  let out = fields([
    ['Daemon', `l4lb ${s.version}, pid ${s.pid}, up ${age(s.startedAt, now)}`],
    ['Ready', s.ready ? 'true' : s.synced ? 'false (no successful reconcile pass yet)' : 'false (waiting for every source to sync)'],
    ['Last Pass', last],
    ['Last Success', r.lastSuccessAt ? `${age(r.lastSuccessAt, now)} ago` : '<never>'],
    ['Passes', String(r.passes)],
    ['Drift Repairs', String(r.driftRepairs)],
    ['Errors', String(r.errors) + (r.failingVips.length ? ` (failing now: ${r.failingVips.join(', ')})` : '')],
    ['VIPs', String(s.vips)],
    ['Backends', `${s.backends} (${s.draining} draining)`],
    ['DNS', s.dns ? `${s.dns.listen.join(', ')}, ${s.dns.queries} queries` : 'off'],
  ]);
  out += '\nSources:\n';
  out += s.sources.length
    ? indentBlock(renderTable(
        ['SOURCE', 'STATE', 'SINCE', 'LAST EVENT', 'TASKS', 'RECONNECTS', 'ENDPOINT', 'ERROR'],
        s.sources.map((x) => [x.id, x.state, age(x.since, now), x.lastEventAt ? `${age(x.lastEventAt, now)} ago` : '-', String(x.tasks), String(x.reconnects), x.endpoint || '-', x.lastError ?? '-']),
      ))
    : '  <none>\n';
  if (r.recentErrors.length) {
    out += '\nRecent Errors:\n' + indentBlock(renderTable(['AGE', 'VIP', 'CODE', 'MESSAGE'], [...r.recentErrors].reverse().map((e) => [age(e.at, now), e.vip ?? '-', e.code, e.message])));
  }
  if (s.rejectedTotal) {
    out += `\nRejected Labels (${s.rejectedTotal}${s.rejectedTotal > s.rejected.length ? `, first ${s.rejected.length} shown` : ''}):\n`;
    out += indentBlock(renderTable(['SOURCE', 'TASK', 'LABEL', 'VALUE', 'REASON'], s.rejected.map((x) => [x.source, x.taskId, x.key, x.value, x.message])));
  }
  return out;
}
