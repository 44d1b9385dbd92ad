// The VIP file: a small YAML (or JSON) list of VIPs and their backends, for
// demos and hosts without Mesos or Marathon. Pure: text in, Tasks or errors
// (each with the file line and the path of the bad entry) out.
//
//   # l4lb VIP file
//   vips:
//     - name: /myapp:80          # a named VIP, as a VIP label: [/]name:port
//       protocol: tcp            # tcp (default) | udp | "udp,tcp"
//       framework: marathon      # second label of the name (default marathon):
//                                #   myapp.marathon.l4lb.thisdcos.directory
//       scheduler: rr            # IPVS scheduler (default: ipvs.scheduler)
//       backends:
//         - ip: 10.0.0.5         # IPv4 or IPv6
//           port: 8080           # 1-65535
//           weight: 1            # 1 serving (default), 0 draining
//         - { ip: 10.0.0.6, port: 8080 }
//     - ip: 198.51.100.10:53     # an IP VIP: address:port, [v6]:port for IPv6
//       protocol: udp
//       backends: [{ ip: 10.0.0.7, port: 5353 }]
//
// Each entry has exactly one of `name` and `ip`. Unknown keys are errors
// (they are usually typos). A `scheduler` that is a string but no IPVS
// scheduler is not: like a bad `l4lb.scheduler` label it is a rejection
// (VIP_BAD_SCHEDULER) and the VIP serves with the default scheduler.
// Each backend becomes one Task (id
// `<protocol>/<label>/<ip:port>`, stable across reordering), so the model
// derives the VIP exactly as it would from a Mesos task.

import yaml from 'js-yaml';
import { IPVS_SCHEDULERS, hostPort, parseIp, parseProtocols, parseScheduler, parseVipValue } from '../model/index.js';
import type { Protocol, Task } from '../model/index.js';
import { isObject } from './json.js';

export interface FileProblem {
  /** 1-based line of the entry (of the file for syntax errors), if known. */
  line?: number;
  /** `vips[2].backends[0].port`; empty for the whole file. */
  path: string;
  message: string;
}

export type FileParse =
  | { ok: true; tasks: Task[]; vips: number }
  /** `syntax`: not YAML/JSON at all; `schema`: parsed, but entries are wrong. */
  | { ok: false; kind: 'syntax' | 'schema'; problems: FileProblem[] };

const TOP_KEYS = ['version', 'vips'];
const VIP_KEYS = ['name', 'ip', 'protocol', 'framework', 'scheduler', 'backends'];
const BACKEND_KEYS = ['ip', 'port', 'weight'];
const MAX_PROBLEMS = 20;

interface Located {
  value: unknown;
  lineOf(node: unknown): number | undefined;
}

// js-yaml reports node open/close; objects and arrays map to the line where
// their first token is (skipping spaces, line breaks and comments).
function load(text: string, filename: string): Located {
  const starts: number[] = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 0x0a) starts.push(i + 1);
  const lineAt = (pos: number): number => {
    let p = pos;
    for (;;) {
      while (p < text.length && /[\s-]/.test(text[p] as string)) p++;
      if (text[p] !== '#') break;
      while (p < text.length && text[p] !== '\n') p++;
    }
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= p) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  };
  const lines = new WeakMap<object, number>();
  const open: number[] = [];
  const value = yaml.load(text, {
    filename,
    json: filename.endsWith('.json'),
    listener(event, state) {
      if (event === 'open') {
        open.push(state.position);
        return;
      }
      const start = open.pop() ?? 0;
      const r: unknown = state.result;
      if (typeof r === 'object' && r !== null && !lines.has(r)) lines.set(r, lineAt(start));
    },
  });
  return { value, lineOf: (node) => (typeof node === 'object' && node !== null ? lines.get(node) : undefined) };
}

/** Parse and validate a VIP file's text; `source` is the source id the tasks carry. */
export function parseVipFile(text: string, filename: string, source: string): FileParse {
  let doc: Located;
  try {
    doc = load(text, filename);
  } catch (e) {
    const err = e as { reason?: string; mark?: { line?: number; column?: number }; message: string };
    const line = err.mark?.line === undefined ? undefined : err.mark.line + 1;
    return { ok: false, kind: 'syntax', problems: [{ ...(line !== undefined && { line }), path: '', message: err.reason ?? err.message }] };
  }
  const problems: FileProblem[] = [];
  const problem = (node: unknown, path: string, message: string): void => {
    if (problems.length >= MAX_PROBLEMS) return;
    const line = doc.lineOf(node);
    problems.push({ ...(line !== undefined && { line }), path, message });
  };
  const unknownKeys = (o: Record<string, unknown>, allowed: string[], path: string): void => {
    for (const k of Object.keys(o)) if (!allowed.includes(k)) problem(o, path, `unknown key ${JSON.stringify(k)} (allowed: ${allowed.join(', ')})`);
  };

  const top = doc.value;
  if (top === undefined || top === null) return { ok: true, tasks: [], vips: 0 };
  if (!isObject(top)) return { ok: false, kind: 'schema', problems: [{ line: 1, path: '', message: 'the file must be a mapping with a `vips` list' }] };
  unknownKeys(top, TOP_KEYS, '');
  if (top['version'] !== undefined && top['version'] !== 1) problem(top, 'version', 'only version 1 exists');
  const vips = top['vips'] ?? [];
  if (!Array.isArray(vips)) return { ok: false, kind: 'schema', problems: [{ ...(doc.lineOf(top) !== undefined && { line: doc.lineOf(top) as number }), path: 'vips', message: 'must be a list' }] };

  const tasks: Task[] = [];
  const seen = new Map<string, string>();
  vips.forEach((entry: unknown, i: number) => {
    const path = `vips[${i}]`;
    if (!isObject(entry)) return problem(vips, path, 'must be a mapping with `name` or `ip`, and `backends`');
    unknownKeys(entry, VIP_KEYS, path);
    const { name, ip } = entry;
    if ((name === undefined) === (ip === undefined)) return problem(entry, path, 'needs exactly one of `name` and `ip`');
    const key = name !== undefined ? 'name' : 'ip';
    const label = name ?? ip;
    if (typeof label !== 'string') return problem(entry, `${path}.${key}`, `must be a string like ${key === 'name' ? '/myapp:80' : '198.51.100.10:80'}`);
    const parsed = parseVipValue(label);
    if (!parsed.ok) return problem(entry, `${path}.${key}`, parsed.message);
    if (key === 'name' && parsed.target.kind === 'ip') return problem(entry, `${path}.name`, `${label} is an address: use \`ip\``);
    if (key === 'ip' && parsed.target.kind === 'named') return problem(entry, `${path}.ip`, `${label} is not <address>:<port> (for a name use \`name\`)`);
    const protoText = entry['protocol'] ?? 'tcp';
    const protos = typeof protoText === 'string' ? parseProtocols(protoText) : undefined;
    if (protos === undefined || !protos.ok) return problem(entry, `${path}.protocol`, 'must be tcp, udp or "udp,tcp"');
    const framework = entry['framework'] ?? 'marathon';
    if (typeof framework !== 'string' || framework === '') return problem(entry, `${path}.framework`, 'must be a non-empty string');
    const schedulerText = entry['scheduler'];
    if (schedulerText !== undefined && typeof schedulerText !== 'string') return problem(entry, `${path}.scheduler`, `must be a string naming an IPVS scheduler (${IPVS_SCHEDULERS.join(', ')})`);
    const scheduler = schedulerText === undefined ? undefined : parseScheduler(schedulerText);
    const vipKey = `${protos.protocols.join(',')}/${label}`;
    const dup = seen.get(vipKey);
    if (dup !== undefined) return problem(entry, path, `the same VIP as ${dup}`);
    seen.set(vipKey, path);
    const backends = entry['backends'] ?? [];
    if (!Array.isArray(backends)) return problem(entry, `${path}.backends`, 'must be a list of {ip, port}');
    const ids = new Set<string>();
    const family = parsed.target.kind === 'ip' ? parsed.target.family : undefined;
    backends.forEach((b: unknown, j: number) => {
      const task = backendTask(b, `${path}.backends[${j}]`, { source, label, framework, protocols: protos.protocols, host: hostOf(label) }, (node, p, m) => problem(node ?? backends, p, m));
      if (task === undefined) return;
      if (scheduler?.ok === true) task.scheduler = scheduler.scheduler;
      else if (scheduler?.ok === false) {
        task.rejected = [{ source, taskId: task.id, key: `${path}.scheduler`, value: scheduler.value, code: scheduler.code, message: scheduler.message }];
      }
      const ip = task.taskIps[0] as string;
      if (family !== undefined && (ip.includes(':') ? 6 : 4) !== family) {
        return problem(b, `${path}.backends[${j}].ip`, `${ip} is not IPv${family} like the VIP ${label}`);
      }
      if (ids.has(task.id)) return problem(b, `${path}.backends[${j}]`, `duplicate backend ${task.taskIps[0]}:${task.ports[0]?.port}`);
      ids.add(task.id);
      tasks.push(task);
    });
  });
  return problems.length > 0 ? { ok: false, kind: 'schema', problems } : { ok: true, tasks, vips: vips.length };
}

const hostOf = (label: string): string => label.slice(0, label.lastIndexOf(':'));

function backendTask(b: unknown, path: string, vip: { source: string; label: string; framework: string; protocols: Protocol[]; host: string },
  problem: (node: unknown, path: string, message: string) => void): Task | undefined {
  if (!isObject(b)) return void problem(undefined, path, 'must be a mapping {ip, port, weight?}');
  for (const k of Object.keys(b)) if (!BACKEND_KEYS.includes(k)) problem(b, path, `unknown key ${JSON.stringify(k)} (allowed: ${BACKEND_KEYS.join(', ')})`);
  const ip = typeof b['ip'] === 'string' ? parseIp(b['ip']) : undefined;
  if (ip === undefined) return void problem(b, `${path}.ip`, `must be an IPv4 or IPv6 address, got ${JSON.stringify(b['ip'])}`);
  const port = b['port'];
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    return void problem(b, `${path}.port`, `must be an integer 1-65535, got ${JSON.stringify(port)}`);
  }
  const weight = b['weight'] ?? 1;
  if (weight !== 0 && weight !== 1) return void problem(b, `${path}.weight`, `must be 1 (serving) or 0 (draining), got ${JSON.stringify(weight)}`);
  return {
    source: vip.source,
    id: `${vip.protocols.join(',')}/${vip.label}/${hostPort(ip.address, port)}`,
    name: vip.host.replace(/^\//, ''),
    framework: vip.framework,
    taskIps: [ip.address],
    ports: vip.protocols.map((protocol) => ({ name: 'default', protocol, port, vips: [{ key: 'VIP_0', value: vip.label }] })),
    state: weight === 0 ? 'killing' : 'running',
  };
}
