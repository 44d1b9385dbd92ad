// `l4lb plan`: the desired VIP table from Mesos, Marathon or a VIP file, and
// the labels that were rejected, without touching the kernel. It takes one
// complete view from each source, prints it and exits; it works on any machine.
//
//   l4lb plan --mesos http://leader.mesos:5050 [-o table|json|yaml]
//   l4lb plan --marathon http://marathon.mesos:8080 --token-file ~/.dcos/token
//   l4lb plan --file /etc/l4lb/vips.yaml

import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import yaml from 'js-yaml';
import { createLogger, silentLogger, type Logger } from '../log.js';
import { VipTable, type LabelRejection, type ModelOptions, type NameAddress, type UnallocatedName, type Vip } from '../model/index.js';
import { createSources, SourceError, type HttpAuth, type Source, type SourcesOptions, type SourceStatus } from '../sources/index.js';
import { parseOutput, toJson, UsageError } from './output/format.js';
import { renderTable } from './output/table.js';

export interface PlanResult {
  sources: SourceStatus[];
  vips: readonly Vip[];
  names: NameAddress[];
  rejected: readonly LabelRejection[];
  unallocated: UnallocatedName[];
}

/** `30s`, `500ms`, `2m`, or a number of seconds -> ms; UsageError otherwise. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`bad duration ${JSON.stringify(text)}; use e.g. 30s, 500ms, 2m`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000);
}

/**
 * Starts the sources, waits until every one has a complete view (or
 * `timeoutMs`: SourceError SRC_SYNC_TIMEOUT naming the laggards and their
 * last errors), stops them, and returns the table they produced.
 */
export async function computePlan(sources: readonly Source[], opts: { timeoutMs: number; model?: ModelOptions }): Promise<PlanResult> {
  const table = new VipTable(opts.model);
  const statuses = new Map<string, SourceStatus>();
  let wake: () => void = () => {};
  const changed = new Promise<void>((resolve) => (wake = resolve));
  const allSynced = (): boolean => sources.every((s) => statuses.get(s.id)?.state === 'synced');
  const sink = {
    replace: (id: string, tasks: Parameters<VipTable['replaceSource']>[1]) => void table.replaceSource(id, tasks),
    upsert: (t: Parameters<VipTable['upsertTask']>[0]) => void table.upsertTask(t),
    remove: (r: Parameters<VipTable['removeTask']>[0]) => void table.removeTask(r),
    status: (s: SourceStatus) => {
      statuses.set(s.id, s);
      if (allSynced()) wake();
    },
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), opts.timeoutMs)));
  try {
    for (const s of sources) s.start(sink);
    const first = allSynced() ? 'synced' : await Promise.race([changed.then(() => 'synced' as const), timeout]);
    if (first === 'timeout') {
      const late = sources.map((s) => s.status()).filter((s) => s.state !== 'synced');
      throw new SourceError('SRC_SYNC_TIMEOUT',
        `no complete view within ${opts.timeoutMs / 1000} s from ${late.map((s) => `${s.id} (${s.endpoint}${s.lastError !== undefined ? `: ${s.lastError}` : ''})`).join(', ')}`,
        { sources: late.map((s) => s.id) });
    }
  } finally {
    clearTimeout(timer);
    await Promise.all(sources.map((s) => s.stop()));
  }
  return {
    sources: sources.map((s) => s.status()),
    vips: table.vips(),
    names: [...table.names()],
    rejected: table.rejected(),
    unallocated: table.unallocated(),
  };
}

const hostPortOf = (ip: string, port: number): string => (ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`);

/** One row per backend; the VIP's columns on its first row only. Rejected labels follow. */
export function renderPlanTable(r: PlanResult): string {
  const rows: string[][] = [];
  for (const v of r.vips) {
    const name = v.names[0] ?? `(${v.labels.join(', ')})`;
    const first = [v.protocol, v.address, String(v.port), name];
    if (v.backends.length === 0) rows.push([...first, '-', '', '', '']);
    v.backends.forEach((b, i) => rows.push([...(i === 0 ? first : ['', '', '', '']), hostPortOf(b.ip, b.port), String(b.weight), b.state + (b.health === 'unknown' ? '' : `/${b.health}`), b.source]));
  }
  let out = r.vips.length === 0 ? 'no VIPs\n' : renderTable(['PROTOCOL', 'ADDRESS', 'PORT', 'NAME', 'BACKEND', 'WEIGHT', 'STATE', 'SOURCE'], rows);
  if (r.rejected.length > 0) {
    out += '\nREJECTED LABELS\n';
    out += renderTable(['SOURCE', 'TASK', 'LABEL', 'VALUE', 'REASON'], r.rejected.map((x) => [x.source, x.taskId, x.key, x.value, `${x.code}: ${x.message}`]));
  }
  for (const u of r.unallocated) out += `no free IPv${u.family} address for ${u.name}\n`;
  const backends = r.vips.reduce((n, v) => n + v.backends.length, 0);
  out += `\n${r.vips.length} VIPs, ${backends} backends, ${r.rejected.length} rejected labels from ${r.sources.map((s) => `${s.id} (${s.endpoint}, ${s.tasks} tasks)`).join(', ')}\n`;
  return out;
}

/** Plain data for JSON/YAML (dates as ISO text). */
export function planData(r: PlanResult): Record<string, unknown> {
  return JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
}

interface PlanFlags {
  mesos?: string[];
  marathon?: string[];
  file?: string[];
  output: string;
  timeout: string;
  token?: string;
  tokenFile?: string;
  user?: string;
  caFile?: string;
  framework?: string;
  ipv6: boolean;
  verbose?: boolean;
}

function authOf(f: PlanFlags): HttpAuth | undefined {
  if (f.token !== undefined && f.tokenFile !== undefined) throw new UsageError('use --token or --token-file, not both');
  if (f.tokenFile !== undefined) {
    try {
      return { token: readFileSync(f.tokenFile, 'utf8').trim() };
    } catch (e) {
      throw new UsageError(`cannot read --token-file ${f.tokenFile}: ${(e as Error).message}`);
    }
  }
  if (f.token !== undefined) return { token: f.token };
  if (f.user !== undefined) {
    const i = f.user.indexOf(':');
    if (i < 1) throw new UsageError('--user must be name:password');
    return { basic: { username: f.user.slice(0, i), password: f.user.slice(i + 1) } };
  }
  return undefined;
}

/** The source options `l4lb plan` flags describe (exported for tests). */
export function planSources(f: PlanFlags): SourcesOptions {
  const mesos = f.mesos ?? [];
  const marathon = f.marathon ?? [];
  const files = f.file ?? [];
  if (mesos.length + marathon.length + files.length === 0) throw new UsageError('give at least one of --mesos URL, --marathon URL, --file F');
  const auth = authOf(f);
  const common = { ...(auth !== undefined && { auth }), ...(f.caFile !== undefined && { caFile: f.caFile }) };
  const opts: SourcesOptions = {};
  // One snapshot, now: no waiting for agents recovering from a failover.
  if (mesos.length > 0) opts.mesos = { masters: mesos, ...common, recovery: { maxWaitMs: 0 } };
  if (marathon.length > 0) opts.marathon = { urls: marathon, ...common, ...(f.framework !== undefined && { framework: f.framework }) };
  if (files.length > 0) opts.file = files.map((path) => ({ path, pollMs: 0 }));
  return opts;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

/** Adds `plan` to the program; `out` receives the command's output. */
export function registerPlan(program: Command, out: (s: string) => void, deps: { logger?: Logger } = {}): Command {
  return program
    .command('plan')
    .description('print the desired VIP table from Mesos, Marathon or a VIP file, without touching the kernel')
    .option('--mesos <url>', 'Mesos master URL (repeat for several masters)', collect)
    .option('--marathon <url>', 'Marathon URL (repeat for several)', collect)
    .option('--file <path>', 'VIP file, YAML or JSON (repeatable)', collect)
    .addOption(new Option('-o, --output <format>', 'output format: table|json|yaml').default('table'))
    .option('--timeout <duration>', 'give up when a source has no complete view by then', '30s')
    .option('--token <token>', 'DC/OS token, sent as `Authorization: token=...`')
    .option('--token-file <path>', 'read the DC/OS token from a file')
    .option('--user <name:password>', 'HTTP basic credentials')
    .option('--ca-file <path>', 'PEM CA bundle for https URLs')
    .option('--framework <name>', 'Marathon\'s framework name, the second label of its VIP names', 'marathon')
    .option('--no-ipv6', 'ignore IPv6 backends and IPv6 VIPs, as dcos-net with enable_ipv6=false')
    .option('-v, --verbose', 'log source activity to stderr')
    .action(async (f: PlanFlags) => {
      const fmt = parseOutput(f.output, ['table', 'json', 'yaml'] as const);
      const timeoutMs = parseDuration(f.timeout);
      const logger = deps.logger ?? (f.verbose === true ? createLogger({ level: 'info' }) : silentLogger());
      const sources = createSources(planSources(f), logger);
      const result = await computePlan(sources, { timeoutMs, model: { ipv6Enabled: f.ipv6 } });
      if (fmt === 'json') out(toJson(planData(result)));
      else if (fmt === 'yaml') out(yaml.dump(planData(result), { noRefs: true, lineWidth: -1 }));
      else out(renderPlanTable(result));
    });
}
