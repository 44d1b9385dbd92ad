// Pure conversion of a Marathon app (as `GET /v2/apps?embed=apps.tasks`
// returns it) into normalized Tasks. VIP labels live only in the app
// definition; the tasks give state, host, IPs, host ports and health.
// Rules are Marathon's PortDiscovery (how it fills TaskInfo.discovery, which
// dcos-net reads), so both sources give the same backends:
//
// - host networking (`networks: [{mode: host}]`, or none, or docker HOST):
//   `portDefinitions[i]` (legacy `ports[i]`) -> the task's i-th host port;
//   the backend is agentIp:hostPort. A user `network-scope` label is ignored.
// - container/bridge and container networking: `container.portMappings`
//   (1.5+), else `container.docker.portMappings` (deprecated), else the
//   legacy `ipAddress.discovery.ports`. A mapping with a `hostPort` (0 means
//   "any", then the task's next host port) is host scope: agentIp:hostPort;
//   without one it is container scope: each task IP : containerPort.
//   Marathon sets `network-scope` itself, overriding a user label.
// - `udp,tcp` gives one port per protocol; app labels `VIP_PORT<n>` are the
//   legacy form on the n-th host port (ascending, like Mesos port ranges).
// - Health: with health checks, healthy when every check has an `alive`
//   result (Marathon's own and Mesos checks alike); no result yet = unhealthy.
//   (dcos-net sees only Mesos-level checks: ours is stricter on purpose.)

import { SCHEDULER_LABEL, isVipLabelKey, mesosTaskState, parseIp, parseLegacyLabel, parseProtocols, schedulerFromLabels } from '../model/index.js';
import type { LabelRejection, Protocol, RejectionCode, Runtime, SchedulerParse, Task, TaskPort, VipLabel } from '../model/index.js';
import { arr, at, isObject, num, obj, str } from './json.js';

export interface MarathonContext {
  /** Source id (`marathon`). */
  source: string;
  /** Marathon's framework name: the second label of its named VIPs (default `marathon`). */
  framework: string;
  /** Agent hostname -> IP, already resolved by the caller (no I/O here). */
  resolveHost?: (host: string) => string | undefined;
}

export type NetworkMode = 'host' | 'container/bridge' | 'container';

/** A declared port of the app, before a task gives it numbers. */
export interface AppPort {
  name?: string;
  protocols: Protocol[];
  /** host: the task's host port number `hostPortIndex`; container: `containerPort` on each task IP. */
  scope: 'host' | 'container';
  hostPortIndex?: number;
  containerPort?: number;
  vips: VipLabel[];
  /** Set when the protocol is unusable: the VIP labels are rejected with it. */
  error?: { code: RejectionCode; message: string };
  /** The port's `l4lb.scheduler` label: valid, or the rejection every task reports. */
  scheduler?: SchedulerParse;
}

export interface AppResult {
  appId: string;
  tasks: Task[];
  /** Problems with the app or its tasks that are not about one label (a task without id...). */
  problems: string[];
}

/** `/group/app` -> `app.group` (Marathon's discovery name). */
export function discoveryName(appId: string): string {
  return appId.split('/').filter((s) => s !== '').reverse().join('.');
}

export function networkMode(app: unknown): NetworkMode {
  const modes = arr(app, 'networks').map((n) => str(n, 'mode'));
  if (modes.length > 0) {
    if (modes.includes('container/bridge')) return 'container/bridge';
    if (modes.includes('container')) return 'container';
    return 'host';
  }
  const docker = str(app, 'container', 'docker', 'network');
  if (docker === 'BRIDGE') return 'container/bridge';
  if (docker === 'USER') return 'container';
  if (isObject(at(app, 'ipAddress'))) return 'container';
  return 'host';
}

/** A Marathon label object's string entries. */
function labelsOf(v: unknown): Array<{ key: string; value: string }> {
  if (!isObject(v)) return [];
  return Object.entries(v)
    .filter((e): e is [string, string] => typeof e[1] === 'string')
    .map(([key, value]) => ({ key, value }));
}

function portFrom(raw: unknown, base: Omit<AppPort, 'protocols' | 'vips' | 'error' | 'scheduler'>): AppPort {
  const labels = labelsOf(at(raw, 'labels'));
  const vips = labels.filter((l) => isVipLabelKey(l.key));
  const text = str(raw, 'protocol') ?? 'tcp';
  const parsed = parseProtocols(text);
  const name = str(raw, 'name');
  const port: AppPort = { ...base, protocols: parsed.ok ? parsed.protocols : [], vips };
  if (name !== undefined) port.name = name;
  if (!parsed.ok) port.error = { code: parsed.code, message: parsed.message };
  const scheduler = schedulerFromLabels(labels);
  if (scheduler !== undefined) port.scheduler = scheduler;
  return port;
}

/** The app's declared ports in discovery order. */
export function appPorts(app: unknown): AppPort[] {
  const mode = networkMode(app);
  if (mode === 'host') {
    const defs = at(app, 'portDefinitions');
    if (Array.isArray(defs)) return defs.map((d, i) => portFrom(d, { scope: 'host', hostPortIndex: i }));
    return arr(app, 'ports').map((_, i) => portFrom({}, { scope: 'host', hostPortIndex: i }));
  }
  const mappings = at(app, 'container', 'portMappings') ?? at(app, 'container', 'docker', 'portMappings');
  if (Array.isArray(mappings)) {
    let hostIndex = 0;
    return mappings.map((m) => {
      const containerPort = num(m, 'containerPort');
      if (num(m, 'hostPort') !== undefined) return portFrom(m, { scope: 'host', hostPortIndex: hostIndex++ });
      return portFrom(m, { scope: 'container', ...(containerPort !== undefined && { containerPort }) });
    });
  }
  return arr(app, 'ipAddress', 'discovery', 'ports').map((p) => {
    const n = num(p, 'number');
    return portFrom(p, { scope: 'container', ...(n !== undefined && { containerPort: n }) });
  });
}

function runtimeOf(app: unknown): Runtime {
  const type = str(app, 'container', 'type');
  return type === 'DOCKER' ? 'docker' : type === 'MESOS' ? 'mesos' : 'unknown';
}

/** Every check has a result and every result is alive; undefined without checks. */
export function taskHealth(app: unknown, task: unknown): boolean | undefined {
  const checks = arr(app, 'healthChecks').length;
  if (checks === 0) return undefined;
  const results = arr(task, 'healthCheckResults');
  return results.length >= checks && results.every((r) => at(r, 'alive') === true);
}

/** Marathon's `state` (TASK_RUNNING...); versions without it: running once `startedAt` is set. */
export function taskState(task: unknown): Task['state'] {
  const state = str(task, 'state');
  if (state === undefined && str(task, 'startedAt') !== undefined) return 'running';
  return mesosTaskState(state);
}

/** Tasks of one app (with its embedded `tasks`). */
export function tasksFromApp(app: unknown, ctx: MarathonContext): AppResult {
  const appId = str(app, 'id') ?? '';
  const problems: string[] = [];
  if (appId === '') return { appId, tasks: [], problems: ['an app without a string "id"'] };
  const template = appPorts(app);
  const appLabels = labelsOf(obj(app, 'labels'));
  const legacy = appLabels.map((l): [string, string] => [l.key, l.value]);
  // App labels become TaskInfo.labels: the task-level scheduler.
  const scheduler = schedulerFromLabels(appLabels);
  const tasks: Task[] = [];
  for (const raw of arr(app, 'tasks')) {
    const id = str(raw, 'id');
    if (id === undefined) {
      problems.push(`app ${appId}: a task without a string "id"`);
      continue;
    }
    tasks.push(taskFrom(app, appId, raw, id, template, legacy, scheduler, ctx));
  }
  return { appId, tasks, problems };
}

function taskFrom(app: unknown, appId: string, raw: unknown, id: string, template: AppPort[],
  legacy: Array<[string, string]>, appScheduler: SchedulerParse | undefined, ctx: MarathonContext): Task {
  const rejected: LabelRejection[] = [];
  const reject = (l: VipLabel, code: RejectionCode, message: string): void =>
    void rejected.push({ source: ctx.source, taskId: id, key: l.key, value: l.value, code, message });
  const validScheduler = (p: SchedulerParse | undefined): string | undefined => {
    if (p === undefined || p.ok) return p?.scheduler;
    reject({ key: SCHEDULER_LABEL, value: p.value }, p.code, p.message);
    return undefined;
  };
  const hostPorts = arr(raw, 'ports').filter((p): p is number => typeof p === 'number');
  const taskIps: string[] = [];
  for (const a of arr(raw, 'ipAddresses')) {
    const ip = parseIp(str(a, 'ipAddress') ?? '');
    if (ip !== undefined && !taskIps.includes(ip.address)) taskIps.push(ip.address);
  }
  const ports: TaskPort[] = [];
  for (const p of template) {
    const scheduler = validScheduler(p.scheduler);
    if (p.error !== undefined) {
      for (const l of p.vips) reject(l, p.error.code, p.error.message);
      continue;
    }
    const hostPort = p.scope === 'host' ? hostPorts[p.hostPortIndex ?? -1] : undefined;
    if (p.scope === 'host' && hostPort === undefined) continue; // not launched yet: no host port
    if (p.scope === 'container' && p.containerPort === undefined) continue;
    for (const protocol of p.protocols) {
      const port: TaskPort = { protocol, vips: p.vips };
      if (p.name !== undefined) port.name = p.name;
      if (scheduler !== undefined) port.scheduler = scheduler;
      if (hostPort !== undefined) port.hostPort = hostPort;
      else port.port = p.containerPort as number;
      ports.push(port);
    }
  }
  const sortedHostPorts = [...hostPorts].sort((a, b) => a - b);
  for (const [key, value] of legacy) {
    const parsed = parseLegacyLabel(key, value);
    if (parsed === null) continue;
    if (!parsed.ok) {
      reject({ key, value }, parsed.code, parsed.message);
      continue;
    }
    const hostPort = sortedHostPorts[parsed.legacy.index];
    if (hostPort === undefined) {
      reject({ key, value }, 'VIP_LEGACY_INDEX_OUT_OF_RANGE', `${key}: the task has ${hostPorts.length} host ports`);
      continue;
    }
    ports.push({ protocol: parsed.legacy.protocol, hostPort, vips: [{ key, value: parsed.legacy.value }] });
  }
  const host = str(raw, 'host');
  const agentText = host === undefined ? undefined : ctx.resolveHost?.(host) ?? (parseIp(host)?.family === 4 ? host : undefined);
  const task: Task = {
    source: ctx.source,
    id,
    name: discoveryName(appId),
    framework: ctx.framework,
    taskIps,
    ports,
    state: taskState(raw),
    runtime: runtimeOf(app),
  };
  const agentIp = agentText === undefined ? undefined : parseIp(agentText)?.address;
  if (agentIp !== undefined) task.agentIp = agentIp;
  const scheduler = validScheduler(appScheduler);
  if (scheduler !== undefined) task.scheduler = scheduler;
  const healthy = taskHealth(app, raw);
  if (healthy !== undefined) task.healthy = healthy;
  if (rejected.length > 0) task.rejected = rejected;
  return task;
}
