// Pure parse of a Mesos v1 Task (operator API JSON) into a normalized Task,
// as dcos-net's dcos_net_mesos_listener:task/4 does. The agent IP is passed in
// already resolved: resolving agent_info.hostname is I/O, the caller's job.
//
// Deliberate differences from dcos-net, each to skip less or crash less:
// - a port protocol `udp,tcp` gives one port per protocol (dcos-net drops it);
// - labels it drops silently, or that make it drop every port of the task
//   (bad network-scope, VIP_PORT index past the port resources), are skipped
//   one by one and reported in `Task.rejected`;
// - a discovery port numbered 0 is dropped in host scope too;
// - equal status timestamps: the later status in `statuses` wins.

import { arr, at, isObject, labelList, num, str, type JsonObject } from './json.js';
import { parseIp } from './ip.js';
import { isVipLabelKey, parseLegacyLabel, parseNetworkScope, parseProtocols } from './labels.js';
import { SCHEDULER_LABEL, schedulerFromLabels } from './scheduler.js';
import type { LabelRejection, Protocol, RejectionCode, Runtime, Task, TaskPort, TaskState, VipLabel } from './types.js';

export interface MesosTaskContext {
  source: string;
  /** Framework name from framework_info.name. */
  frameworkName: string;
  /** agent_info.hostname resolved to an IP by the caller; undefined if unknown. */
  agentIp?: string;
}

export type MesosTaskResult =
  | { ok: true; task: Task }
  | { ok: false; code: 'MESOS_TASK_MALFORMED'; message: string };

/** Mesos isTerminalState (src/common/protobuf_utils.cpp). */
export const TERMINAL_STATES: ReadonlySet<string> = new Set([
  'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST',
  'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR',
]);

export function mesosTaskState(state: string | undefined): TaskState {
  if (state === undefined) return 'preparing';
  if (TERMINAL_STATES.has(state)) return 'terminal';
  if (state === 'TASK_RUNNING') return 'running';
  if (state === 'TASK_KILLING') return 'killing';
  return 'preparing';
}

/** `frameworkId/taskId`, the table id of a Mesos task; undefined if either is missing. */
export function mesosTaskId(raw: unknown): string | undefined {
  const fw = str(raw, 'framework_id', 'value');
  const id = str(raw, 'task_id', 'value');
  return fw === undefined || id === undefined ? undefined : `${fw}/${id}`;
}

/** The status with the greatest timestamp, or the object itself if it has no `statuses`. */
export function newestStatus(raw: JsonObject): JsonObject {
  const statuses = raw['statuses'];
  if (!Array.isArray(statuses)) return raw;
  let best: JsonObject = {};
  let bestTs = -Infinity;
  for (const s of statuses) {
    if (!isObject(s)) continue;
    const ts = num(s, 'timestamp') ?? -Infinity;
    if (ts >= bestTs) {
      best = s;
      bestTs = ts;
    }
  }
  return best;
}

// A port while merging, shaped like dcos-net's task_port() map: a key is
// present only when set, so object spread behaves like maps:merge/2.
interface RawPort {
  name?: string;
  protocol: Protocol;
  port?: number;
  hostPort?: number;
  vips?: VipLabel[];
  scheduler?: string;
}

const byValue = (a: VipLabel, b: VipLabel): number =>
  a.value < b.value ? -1 : a.value > b.value ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

// lists:usort on the values: sorted, one label per value.
function usortVips(vips: VipLabel[]): VipLabel[] {
  const out: VipLabel[] = [];
  for (const v of [...vips].sort(byValue)) {
    if (out.length === 0 || (out[out.length - 1] as VipLabel).value !== v.value) out.push(v);
  }
  return out;
}

// merge_ports/2: maps:merge(A, B) (B wins), VIP lists united.
function mergePorts(a: RawPort, b: Partial<RawPort>): RawPort {
  const out: RawPort = { ...a, ...b };
  if (a.vips !== undefined && b.vips !== undefined) out.vips = usortVips([...a.vips, ...b.vips]);
  return out;
}

// match_task_port/2: same protocol and same port, or same host port.
function matches(a: RawPort, b: RawPort): boolean {
  if (a.protocol !== b.protocol) return false;
  if (a.port !== undefined && a.port === b.port) return true;
  return a.hostPort !== undefined && a.hostPort === b.hostPort;
}

// merge_task_port/3, keeping dcos-net's list order (it decides which name
// survives a merge).
function mergeTaskPort(a: RawPort, list: RawPort[]): RawPort[] {
  const acc: RawPort[] = [];
  for (let i = 0; i < list.length; i++) {
    const b = list[i] as RawPort;
    if (matches(a, b)) return [mergePorts(b, a), ...acc, ...list.slice(i + 1)];
    acc.unshift(b);
  }
  return [a, ...acc];
}

// merge_task_ports/2: fold the first list into the second.
function mergeLists(first: RawPort[], second: RawPort[]): RawPort[] {
  if (first.length === 0) return second;
  let acc = second;
  for (const p of first) acc = mergeTaskPort(p, acc);
  return acc;
}

// merge_host_ports/1 for host-networked tasks: host_port becomes port, and
// ports equal by (protocol, port) merge (the earlier one's fields win).
function foldHostPorts(ports: RawPort[]): RawPort[] {
  const byKey = new Map<string, RawPort>();
  for (const p of ports) {
    const a: RawPort = { ...p };
    if (a.hostPort !== undefined) {
      a.port = a.hostPort;
      delete a.hostPort;
    }
    const key = `${a.protocol}|${a.port}`;
    byKey.set(key, mergePorts(a, byKey.get(key) ?? {}));
  }
  return [...byKey.values()];
}

function singleProtocol(v: unknown): Protocol | undefined {
  const p = typeof v === 'string' ? v.toLowerCase() : undefined;
  return p === 'tcp' || p === 'udp' ? p : undefined;
}

// Port mappings: UCR from container.network_infos (else the newest status's),
// Docker from container.docker.port_mappings.
function portMappings(raw: JsonObject, status: JsonObject): RawPort[] {
  const type = str(raw, 'container', 'type') ?? 'MESOS';
  let mappings: readonly unknown[] = [];
  if (type === 'MESOS') {
    const infos = at(raw, 'container', 'network_infos') !== undefined
      ? arr(raw, 'container', 'network_infos')
      : arr(status, 'container_status', 'network_infos');
    mappings = infos.flatMap((ni) => arr(ni, 'port_mappings'));
  } else if (type === 'DOCKER') {
    mappings = arr(raw, 'container', 'docker', 'port_mappings');
  }
  const out: RawPort[] = [];
  for (const m of mappings) {
    const protocol = singleProtocol(at(m, 'protocol'));
    const port = num(m, 'container_port');
    const hostPort = num(m, 'host_port');
    if (protocol !== undefined && port !== undefined && hostPort !== undefined) out.push({ protocol, port, hostPort });
  }
  return out;
}

function expandPortResources(raw: JsonObject): number[] {
  const ports: number[] = [];
  for (const r of arr(raw, 'resources')) {
    if (str(r, 'name') !== 'ports') continue;
    if (str(r, 'type') === 'RANGES') {
      for (const range of arr(r, 'ranges', 'range')) {
        const begin = num(range, 'begin');
        const end = num(range, 'end');
        if (begin === undefined || end === undefined) continue;
        for (let p = begin; p <= end && ports.length < 65536; p++) ports.push(p);
      }
    } else if (str(r, 'type') === 'SCALAR') {
      const v = num(r, 'scalar', 'value');
      if (v !== undefined) ports.push(v);
    }
  }
  return ports;
}

type Reject = (l: VipLabel, code: RejectionCode, message: string) => void;

// Legacy task labels VIP_PORT<n>=tcp://name:port on the n-th port resource.
function legacyPorts(raw: JsonObject, reject: Reject): RawPort[] {
  const resources = expandPortResources(raw);
  const out: RawPort[] = [];
  for (const label of labelList(raw, 'labels', 'labels')) {
    const parsed = parseLegacyLabel(label.key, label.value);
    if (parsed === null) continue;
    if (!parsed.ok) {
      reject(label, parsed.code, parsed.message);
      continue;
    }
    const hostPort = resources[parsed.legacy.index];
    if (hostPort === undefined) {
      reject(label, 'VIP_LEGACY_INDEX_OUT_OF_RANGE',
        `${label.key}: the task has ${resources.length} port resources`);
      continue;
    }
    out.push({ hostPort, protocol: parsed.legacy.protocol, vips: [{ key: label.key, value: parsed.legacy.value }] });
  }
  return out;
}

// `l4lb.scheduler` in a label list; a bad one is rejected and ignored.
function schedulerLabel(labels: ReadonlyArray<{ key: string; value: string }>, reject: Reject): string | undefined {
  const parsed = schedulerFromLabels(labels);
  if (parsed === undefined) return undefined;
  if (parsed.ok) return parsed.scheduler;
  reject({ key: SCHEDULER_LABEL, value: parsed.value }, parsed.code, parsed.message);
  return undefined;
}

function discoveryPorts(raw: JsonObject, reject: Reject): RawPort[] {
  const out: RawPort[] = [];
  for (const p of arr(raw, 'discovery', 'ports', 'ports')) {
    const labels = labelList(p, 'labels', 'labels');
    const vips = labels.filter((l) => isVipLabelKey(l.key));
    const scheduler = schedulerLabel(labels, reject);
    const rejectAll = (code: RejectionCode, message: string): void => vips.forEach((l) => reject(l, code, message));
    const number = num(p, 'number');
    const scope = parseNetworkScope(labels);
    const protocols = parseProtocols(str(p, 'protocol') ?? '');
    if (!scope.ok) rejectAll(scope.code, scope.message);
    else if (!protocols.ok) rejectAll(protocols.code, protocols.message);
    else if (number === undefined || number === 0) rejectAll('VIP_DISCOVERY_PORT_ZERO', 'discovery port number is 0 or missing');
    else {
      for (const protocol of protocols.protocols) {
        const port: RawPort = { name: str(p, 'name') ?? 'default', protocol };
        if (vips.length > 0) port.vips = vips;
        if (scheduler !== undefined) port.scheduler = scheduler;
        if (scope.scope === 'host') port.hostPort = number;
        else port.port = number;
        out.push(port);
      }
    }
  }
  return out;
}

function runtimeOf(raw: JsonObject): Runtime {
  const type = str(raw, 'container', 'type');
  return type === 'MESOS' ? 'mesos' : type === 'DOCKER' ? 'docker' : 'unknown';
}

const portOrder = (a: TaskPort, b: TaskPort): number =>
  (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) ||
  (a.port ?? -1) - (b.port ?? -1) || (a.hostPort ?? -1) - (b.hostPort ?? -1) ||
  ((a.name ?? '') < (b.name ?? '') ? -1 : (a.name ?? '') > (b.name ?? '') ? 1 : 0);

/** Parse one Mesos Task object (with its statuses) into a normalized Task. */
export function parseMesosTask(input: unknown, ctx: MesosTaskContext): MesosTaskResult {
  if (!isObject(input)) return { ok: false, code: 'MESOS_TASK_MALFORMED', message: 'task is not an object' };
  const raw = input;
  const id = mesosTaskId(raw);
  if (id === undefined) {
    return { ok: false, code: 'MESOS_TASK_MALFORMED', message: 'task has no task_id.value or framework_id.value' };
  }
  const rejected: LabelRejection[] = [];
  const reject: Reject = (l, code, message) =>
    rejected.push({ source: ctx.source, taskId: id, key: l.key, value: l.value, code, message });

  const state = mesosTaskState(str(raw, 'state'));
  const status = newestStatus(raw);
  const taskIps: string[] = [];
  for (const ni of arr(status, 'container_status', 'network_infos')) {
    for (const a of arr(ni, 'ip_addresses')) {
      const ip = parseIp(str(a, 'ip_address') ?? '');
      if (ip !== undefined) taskIps.push(ip.address);
    }
  }
  const agentIp = ctx.agentIp === undefined ? undefined : parseIp(ctx.agentIp)?.address;

  let merged = mergeLists(mergeLists(portMappings(raw, status), legacyPorts(raw, reject)), discoveryPorts(raw, reject));
  const hostNetworked = taskIps.length === 1 && taskIps[0] === agentIp;
  if ((state === 'running' || state === 'killing') && hostNetworked) merged = foldHostPorts(merged);
  const ports: TaskPort[] = merged.map((p) => {
    const out: TaskPort = { protocol: p.protocol, vips: p.vips ?? [] };
    if (p.name !== undefined) out.name = p.name;
    if (p.port !== undefined) out.port = p.port;
    if (p.hostPort !== undefined) out.hostPort = p.hostPort;
    if (p.scheduler !== undefined) out.scheduler = p.scheduler;
    return out;
  }).sort(portOrder);

  const task: Task = {
    source: ctx.source,
    id,
    name: str(raw, 'discovery', 'name') ?? str(raw, 'name') ?? '',
    framework: ctx.frameworkName,
    taskIps,
    ports,
    state,
    runtime: runtimeOf(raw),
  };
  if (agentIp !== undefined) task.agentIp = agentIp;
  const scheduler = schedulerLabel(labelList(raw, 'labels', 'labels'), reject);
  if (scheduler !== undefined) task.scheduler = scheduler;
  const healthy = at(status, 'healthy');
  if (typeof healthy === 'boolean') task.healthy = healthy;
  else if (at(raw, 'health_check') !== undefined) task.healthy = false;
  if (rejected.length > 0) task.rejected = rejected;
  return { ok: true, task };
}
