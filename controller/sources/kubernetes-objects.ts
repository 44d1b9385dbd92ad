// Pure conversion of Kubernetes Services and discovery.k8s.io/v1
// EndpointSlices into normalized Tasks (no I/O). Objects are read as
// untrusted JSON: they come typed from a list and raw from a watch, and a
// malformed one must never throw.
//
// A Service joins l4lb through annotations (docs: README "Kubernetes"):
//   l4lb.thisdcos.directory/vip-<port name>: "/myapp:80"   the Service port named <port name>
//   l4lb.thisdcos.directory/vip: "/myapp:80"               the Service's only port (named or not)
//   l4lb.thisdcos.directory/framework: marathon            second label of the name (default kubernetes)
//   l4lb.thisdcos.directory/scheduler: rr                  IPVS scheduler of the Service's VIPs (default ipvs.scheduler)
// Values use the VIP label syntax (`/name:port`, `name:port`, `10.1.2.3:80`,
// `[fd00::1]:80`); several VIPs on one port are separated by commas. Any
// other key under l4lb.thisdcos.directory/ is a mistake and is rejected,
// like an unknown port name, a bad value or a bad framework: the rest of the
// Service's annotations still apply.
//
// Backends come from the Service's EndpointSlices (label
// kubernetes.io/service-name), with the API's nil rules (ready nil = true,
// serving nil = ready, terminating nil = false):
//   ready                      -> running (weight 1)
//   not ready, serving, terminating -> killing (weight 0: drain)
//   otherwise                  -> not a backend
// Only addresses of the slice's addressType (IPv4/IPv6; FQDN slices are
// skipped); the target port is the slice's port with the Service port's name
// and protocol. One Task per (Service, address): an address listed in
// several slices (the controller moves endpoints between slices) is one
// backend, running if any slice says ready.

import { domainFrag, parseIp, parseScheduler, parseVipValue } from '../model/index.js';
import type { LabelRejection, Protocol, RejectionCode, Task, TaskPort, VipLabel } from '../model/index.js';
import { arr, at, isObject, num, obj, str } from './json.js';

export const ANNOTATION_PREFIX = 'l4lb.thisdcos.directory/';
/** The VIPs of the Service's only port. */
export const VIP_ANNOTATION = `${ANNOTATION_PREFIX}vip`;
/** `vip-<port name>`: the VIPs of the named Service port. */
export const VIP_PORT_ANNOTATION = `${ANNOTATION_PREFIX}vip-`;
export const FRAMEWORK_ANNOTATION = `${ANNOTATION_PREFIX}framework`;
/** The IPVS scheduler of every VIP of the Service: the `l4lb.scheduler` label of Mesos tasks. */
export const SCHEDULER_ANNOTATION = `${ANNOTATION_PREFIX}scheduler`;
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const DEFAULT_FRAMEWORK = 'kubernetes';

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** One annotated Service port. */
export interface ServiceVipPort {
  /** The Service port's name (`` when unnamed): EndpointSlice ports carry the same name. */
  name: string;
  protocol: Protocol;
  vips: VipLabel[];
}

/** What l4lb reads from a Service. */
export interface ServiceVips {
  /** `namespace/name`. */
  key: string;
  namespace: string;
  name: string;
  framework: string;
  /** From the scheduler annotation, valid; absent: no preference. */
  scheduler?: string;
  /** Ports with at least one valid VIP. */
  ports: ServiceVipPort[];
  /** Bad annotations (taskId is the Service's `namespace/name`). */
  rejected: LabelRejection[];
}

/** `namespace/name` of any object; undefined without a string name. */
export function objectKey(o: unknown): string | undefined {
  const name = str(o, 'metadata', 'name');
  if (name === undefined || name === '') return undefined;
  return `${str(o, 'metadata', 'namespace') ?? ''}/${name}`;
}

/** The Service an EndpointSlice belongs to (`namespace/name`), from its label. */
export function sliceServiceKey(slice: unknown): string | undefined {
  const svc = str(slice, 'metadata', 'labels', SERVICE_NAME_LABEL);
  if (svc === undefined || svc === '') return undefined;
  return `${str(slice, 'metadata', 'namespace') ?? ''}/${svc}`;
}

function protocolOf(text: string | undefined): Protocol | undefined {
  if (text === undefined || text === 'TCP') return 'tcp';
  if (text === 'UDP') return 'udp';
  return undefined;
}

/** Why a named VIP cannot make a DNS name (as the model would reject it), if it cannot. */
function badName(host: string): string | undefined {
  const frag = domainFrag(host);
  return frag === '' || frag.split('.').includes('') ? `name ${JSON.stringify(host)} has no usable DNS label (gives ${JSON.stringify(frag)})` : undefined;
}

/**
 * The l4lb annotations of a Service, checked against its ports. Undefined
 * when the Service has none (it is not l4lb's business).
 */
export function serviceVips(svc: unknown, source: string): ServiceVips | undefined {
  const annotations = obj(svc, 'metadata', 'annotations') ?? {};
  const ours = Object.entries(annotations)
    .filter((e): e is [string, string] => e[0].startsWith(ANNOTATION_PREFIX) && typeof e[1] === 'string')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  if (ours.length === 0) return undefined;
  const namespace = str(svc, 'metadata', 'namespace') ?? '';
  const name = str(svc, 'metadata', 'name') ?? '';
  const key = `${namespace}/${name}`;
  const rejected: LabelRejection[] = [];
  const reject = (k: string, value: string, code: RejectionCode, message: string): void =>
    void rejected.push({ source, taskId: key, key: k, value, code, message });

  const ports = arr(svc, 'spec', 'ports').filter(isObject);
  const portNames = ports.map((p) => str(p, 'name') ?? '');
  const shownNames = portNames.filter((n) => n !== '').join(', ') || '(none)';

  let framework = DEFAULT_FRAMEWORK;
  const fw = annotations[FRAMEWORK_ANNOTATION];
  if (typeof fw === 'string') {
    if (DNS_LABEL.test(fw)) framework = fw;
    else {
      // The VIPs would be published under a name nobody asked for: skip them all.
      reject(FRAMEWORK_ANNOTATION, fw, 'VIP_BAD_FRAMEWORK',
        `framework must be a DNS label (lower-case letters, digits, "-"), e.g. "marathon" or "kubernetes"; this Service's VIPs are skipped`);
      return { key, namespace, name, framework, ports: [], rejected };
    }
  }

  let scheduler: string | undefined;
  const sched = annotations[SCHEDULER_ANNOTATION];
  if (typeof sched === 'string') {
    // A bad one is reported and the VIPs keep the default scheduler.
    const parsed = parseScheduler(sched);
    if (parsed.ok) scheduler = parsed.scheduler;
    else reject(SCHEDULER_ANNOTATION, parsed.value, parsed.code, parsed.message);
  }

  const byPort = new Map<number, ServiceVipPort>();
  for (const [k, value] of ours) {
    if (k === FRAMEWORK_ANNOTATION || k === SCHEDULER_ANNOTATION) continue;
    let index: number;
    if (k === VIP_ANNOTATION) {
      if (ports.length !== 1) {
        reject(k, value, 'VIP_PORT_AMBIGUOUS', ports.length === 0
          ? 'the Service has no ports'
          : `the Service has ${ports.length} ports: use ${VIP_PORT_ANNOTATION}<port name> (ports: ${shownNames})`);
        continue;
      }
      index = 0;
    } else if (k.startsWith(VIP_PORT_ANNOTATION)) {
      const portName = k.slice(VIP_PORT_ANNOTATION.length);
      index = portName === '' ? -1 : portNames.indexOf(portName);
      if (index < 0) {
        reject(k, value, 'VIP_UNKNOWN_PORT', `the Service has no port named ${JSON.stringify(portName)} (ports: ${shownNames})`);
        continue;
      }
    } else {
      reject(k, value, 'VIP_UNKNOWN_ANNOTATION',
        `unknown l4lb annotation: use ${VIP_ANNOTATION}, ${VIP_PORT_ANNOTATION}<port name>, ${FRAMEWORK_ANNOTATION} or ${SCHEDULER_ANNOTATION}`);
      continue;
    }
    const port = ports[index];
    const protocolText = str(port, 'protocol');
    const protocol = protocolOf(protocolText);
    if (protocol === undefined) {
      reject(k, value, 'VIP_UNKNOWN_PROTOCOL', `the port's protocol ${JSON.stringify(protocolText)} is not TCP or UDP`);
      continue;
    }
    const valid: VipLabel[] = [];
    for (const raw of value.split(',')) {
      const v = raw.trim();
      const parsed = parseVipValue(v);
      if (!parsed.ok) {
        reject(k, v, parsed.code, parsed.message);
        continue;
      }
      const problem = parsed.target.kind === 'named' ? badName(parsed.target.host) : undefined;
      if (problem !== undefined) {
        reject(k, v, 'VIP_INVALID_NAME', problem);
        continue;
      }
      if (!valid.some((l) => l.value === v)) valid.push({ key: k, value: v });
    }
    if (valid.length === 0) continue;
    const entry = byPort.get(index) ?? { name: portNames[index] ?? '', protocol, vips: [] };
    for (const l of valid) if (!entry.vips.some((e) => e.value === l.value)) entry.vips.push(l);
    byPort.set(index, entry);
  }
  const out = [...byPort.entries()].sort(([a], [b]) => a - b).map(([, p]) => p);
  return { key, namespace, name, framework, ...(scheduler !== undefined && { scheduler }), ports: out, rejected };
}

type EndpointState = 'running' | 'killing';

/** The API's conditions with their nil rules; undefined: not a backend. */
export function endpointState(endpoint: unknown): EndpointState | undefined {
  const c = at(endpoint, 'conditions');
  const bool = (k: string): boolean | undefined => {
    const v = at(c, k);
    return typeof v === 'boolean' ? v : undefined;
  };
  const ready = bool('ready') ?? true;
  const serving = bool('serving') ?? ready;
  const terminating = bool('terminating') ?? false;
  if (ready) return 'running';
  if (serving && terminating) return 'killing';
  return undefined;
}

export interface ServiceTasks {
  tasks: Task[];
  /** Data the API should never send (an address of the wrong family): logged, skipped. */
  problems: string[];
}

/** The Tasks of one annotated Service from its EndpointSlices. */
export function serviceTasks(svc: ServiceVips, slices: readonly unknown[], source: string): ServiceTasks {
  const problems: string[] = [];
  const byIp = new Map<string, Task>();
  if (svc.ports.length === 0) return { tasks: [], problems };
  for (const slice of slices) {
    const addressType = str(slice, 'addressType');
    const family = addressType === 'IPv4' ? 4 : addressType === 'IPv6' ? 6 : undefined;
    if (family === undefined) continue; // FQDN (deprecated) or unknown: not IPVS backends
    const slicePorts = arr(slice, 'ports');
    const ports: TaskPort[] = [];
    for (const p of svc.ports) {
      const match = slicePorts.find((sp) => (str(sp, 'name') ?? '') === p.name && protocolOf(str(sp, 'protocol')) === p.protocol);
      const number = num(match, 'port');
      if (number === undefined || !Number.isInteger(number) || number < 1 || number > 65535) continue;
      ports.push({ ...(p.name !== '' && { name: p.name }), protocol: p.protocol, port: number, vips: p.vips });
    }
    if (ports.length === 0) continue;
    for (const ep of arr(slice, 'endpoints')) {
      const state = endpointState(ep);
      if (state === undefined) continue;
      for (const a of arr(ep, 'addresses')) {
        const ip = typeof a === 'string' ? parseIp(a) : undefined;
        if (ip === undefined || ip.family !== family) {
          problems.push(`EndpointSlice ${objectKey(slice) ?? '?'}: address ${JSON.stringify(a)} is not ${addressType}`);
          continue;
        }
        const id = `${svc.key}/${ip.address}`;
        const task = byIp.get(id);
        if (task === undefined) {
          byIp.set(id, {
            source, id, name: `${svc.name}.${svc.namespace}`, framework: svc.framework,
            taskIps: [ip.address], ports: ports.map((p) => ({ ...p })), state,
            ...(svc.scheduler !== undefined && { scheduler: svc.scheduler }),
          });
          continue;
        }
        if (state === 'running') task.state = 'running';
        for (const p of ports) {
          if (!task.ports.some((q) => q.protocol === p.protocol && q.port === p.port && q.name === p.name)) task.ports.push({ ...p });
        }
      }
    }
  }
  const tasks = [...byIp.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { tasks, problems };
}
