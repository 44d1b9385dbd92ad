// The door to configuration: load, validate, and hand out a typed Config.

import { canonicalInet, inetBytes } from '../../native/netlink/inet.js';
import { AF_INET, AF_INET6 } from '../../native/netlink/constants.js';
import { ConfigError, loadSettings, type LoadInput, type Loaded, type Origin, type Value } from './load.js';
import { SETTINGS, envName, flagName } from './schema.js';
import type { LogFormat, LogLevel } from '../log.js';

export { ConfigError, parseDuration, formatDuration, type LoadInput, type Origin } from './load.js';
export { SETTINGS, envName, flagName, type Setting } from './schema.js';

export interface Config {
  mesos: { masters: string[] };
  marathon: { urls: string[]; framework: string };
  file: { paths: string[] };
  kubernetes: { enabled: boolean; kubeconfig?: string; context?: string; namespace?: string };
  auth: { tokenFile?: string; basicFile?: string };
  tls: { caFile?: string };
  dns: { listen: string[] };
  status: { socket: string; listen: string[]; allowNonLoopback: boolean };
  vips: { ipv4Min: string; ipv4Max: string; ipv6Min: string; ipv6Max: string; ipv6: boolean };
  ipvs: {
    scheduler: string;
    /** Undefined: leave the kernel's value. */
    tcpTimeoutMs?: number;
    tcpFinTimeoutMs?: number;
    udpTimeoutMs?: number;
    drainTimeoutMs: number;
  };
  reconcile: { resyncIntervalMs: number; minIntervalMs: number };
  dataplane: { interface: string; hairpin: boolean; iptables: string; poolRoutes: boolean };
  stateDir: string;
  log: { level: LogLevel; format: LogFormat };
  /** Where each setting came from, for `l4lb status` and the start-up log line. */
  origin: ReadonlyMap<string, Origin>;
  /** The config file that was read, if any. */
  configFile?: string;
}

function get<T extends Value>(l: Loaded, key: string): T {
  return l.values.get(key) as T;
}
function opt<T extends Value>(l: Loaded, key: string): T | undefined {
  return l.values.get(key) as T | undefined;
}

function compareAddr(a: string, b: string, family: number): number {
  return Buffer.compare(inetBytes(family, a), inetBytes(family, b));
}

export function loadConfig(input: LoadInput): Config {
  const l = loadSettings(input);
  const problems: string[] = [];
  const v4min = get<string>(l, 'vips.ipv4-min');
  const v4max = get<string>(l, 'vips.ipv4-max');
  const v6min = get<string>(l, 'vips.ipv6-min');
  const v6max = get<string>(l, 'vips.ipv6-max');
  if (compareAddr(v4min, v4max, AF_INET) >= 0) problems.push(`vips.ipv4-min (${v4min}) must be below vips.ipv4-max (${v4max})`);
  if (compareAddr(v6min, v6max, AF_INET6) >= 0) problems.push(`vips.ipv6-min (${v6min}) must be below vips.ipv6-max (${v6max})`);
  if (problems.length) throw new ConfigError(problems);
  const cfg: Config = {
    mesos: { masters: [...get<readonly string[]>(l, 'mesos.masters')] },
    marathon: { urls: [...get<readonly string[]>(l, 'marathon.urls')], framework: get<string>(l, 'marathon.framework') },
    file: { paths: [...get<readonly string[]>(l, 'file.paths')] },
    kubernetes: { enabled: get<boolean>(l, 'kubernetes.enabled') },
    auth: {},
    tls: {},
    dns: { listen: [...get<readonly string[]>(l, 'dns.listen')] },
    status: {
      socket: get<string>(l, 'status.socket'),
      listen: [...get<readonly string[]>(l, 'status.listen')],
      allowNonLoopback: get<boolean>(l, 'status.allow-non-loopback'),
    },
    vips: { ipv4Min: v4min, ipv4Max: v4max, ipv6Min: canonicalInet(v6min), ipv6Max: canonicalInet(v6max), ipv6: get<boolean>(l, 'vips.ipv6') },
    ipvs: {
      scheduler: get<string>(l, 'ipvs.scheduler'),
      drainTimeoutMs: get<number>(l, 'ipvs.drain-timeout'),
    },
    reconcile: { resyncIntervalMs: get<number>(l, 'reconcile.resync-interval'), minIntervalMs: get<number>(l, 'reconcile.min-interval') },
    dataplane: {
      interface: get<string>(l, 'dataplane.interface'),
      hairpin: get<boolean>(l, 'dataplane.hairpin'),
      iptables: get<string>(l, 'dataplane.iptables'),
      poolRoutes: get<boolean>(l, 'dataplane.pool-routes'),
    },
    stateDir: get<string>(l, 'state-dir'),
    log: { level: get<LogLevel>(l, 'log.level'), format: get<LogFormat>(l, 'log.format') },
    origin: l.origin,
    ...(l.file !== undefined ? { configFile: l.file } : {}),
  };
  const token = opt<string>(l, 'auth.token-file');
  const basic = opt<string>(l, 'auth.basic-file');
  const ca = opt<string>(l, 'tls.ca-file');
  if (token !== undefined) cfg.auth.tokenFile = token;
  if (basic !== undefined) cfg.auth.basicFile = basic;
  if (ca !== undefined) cfg.tls.caFile = ca;
  for (const k of ['kubeconfig', 'context', 'namespace'] as const) {
    const v = opt<string>(l, `kubernetes.${k}`);
    if (v !== undefined) cfg.kubernetes[k] = v;
  }
  const tcp = opt<number>(l, 'ipvs.tcp-timeout');
  const fin = opt<number>(l, 'ipvs.tcpfin-timeout');
  const udp = opt<number>(l, 'ipvs.udp-timeout');
  if (tcp !== undefined) cfg.ipvs.tcpTimeoutMs = tcp;
  if (fin !== undefined) cfg.ipvs.tcpFinTimeoutMs = fin;
  if (udp !== undefined) cfg.ipvs.udpTimeoutMs = udp;
  return cfg;
}

/** The configuration reference as a Markdown table (README.md embeds it; a test keeps them equal). */
export function configReference(): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const rows = SETTINGS.map((s) => {
    const d =
      s.defaultDoc ??
      (s.default === undefined
        ? '(unset)'
        : s.type.kind === 'duration'
          ? formatDurationDoc(s.default as number)
          : Array.isArray(s.default)
            ? (s.default as string[]).join(',')
            : String(s.default));
    return `| \`${s.key}\` | \`--${flagName(s)}\` | \`${envName(s)}\` | ${esc(d)} | ${esc(s.doc)} |`;
  });
  return ['| config file key | flag | environment | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n') + '\n';
}

function formatDurationDoc(ms: number): string {
  return ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000}m` : ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}
