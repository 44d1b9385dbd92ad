// Every setting of `l4lb run`, declared once: its config-file key, its
// environment variable, its flag, its type, default and documentation. The
// loader, the CLI flags, the validation and the README's configuration
// reference are all derived from this table, so they cannot drift apart.

import { IPVS_SCHEDULERS } from '../model/index.js';

export type SettingType =
  | { kind: 'string'; pattern?: RegExp; patternDoc?: string }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'duration'; minMs: number; maxMs: number }
  | { kind: 'bool' }
  | { kind: 'list' }
  | { kind: 'ip'; family?: 4 | 6 };

export interface Setting {
  /** Dotted key in the config file, e.g. `ipvs.scheduler`. */
  key: string;
  type: SettingType;
  /** Default value in the config's own representation (durations in ms); undefined = unset. */
  default: string | number | boolean | readonly string[] | undefined;
  doc: string;
  /** Flag without dashes; derived from the key when absent (`ipvs.scheduler` -> `ipvs-scheduler`). */
  flag?: string;
  /** Shown instead of the default in docs (e.g. for values that depend on the kernel). */
  defaultDoc?: string;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export const SETTINGS: readonly Setting[] = [
  // Sources: where tasks and VIP labels come from (several at once is fine).
  { key: 'mesos.masters', flag: 'mesos', type: { kind: 'list' }, default: [], doc: 'Mesos master URLs (operator API SUBSCRIBE stream), tried in turn; a standby redirects to the leader. Repeat the flag or separate with commas.' },
  { key: 'marathon.urls', flag: 'marathon', type: { kind: 'list' }, default: [], doc: 'Marathon URLs (REST snapshot + event stream), tried in turn.' },
  { key: 'marathon.framework', type: { kind: 'string' }, default: 'marathon', doc: "Marathon's framework name: the second label of its VIP names." },
  { key: 'file.paths', flag: 'file', type: { kind: 'list' }, default: [], doc: 'VIP files (YAML or JSON), watched for changes.' },
  {
    key: 'kubernetes.enabled',
    type: { kind: 'bool' },
    default: false,
    doc: 'Watch Kubernetes Services and EndpointSlices: Services join named VIPs through `l4lb.thisdcos.directory/` annotations (see "Kubernetes"). Uses the pod\'s service account unless `kubernetes.kubeconfig` is set.',
  },
  {
    key: 'kubernetes.kubeconfig',
    type: { kind: 'string' },
    default: undefined,
    defaultDoc: '(in-cluster service account)',
    doc: 'kubeconfig file for the Kubernetes API; setting it turns the Kubernetes source on. Without it: KUBERNETES_SERVICE_HOST/PORT and the token and CA in /var/run/secrets/kubernetes.io/serviceaccount.',
  },
  { key: 'kubernetes.context', type: { kind: 'string' }, default: undefined, defaultDoc: '(current-context)', doc: 'Context of the kubeconfig to use.' },
  {
    key: 'kubernetes.namespace',
    type: { kind: 'string', pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, patternDoc: 'a namespace name' },
    default: undefined,
    defaultDoc: '(all namespaces)',
    doc: 'Watch Services and EndpointSlices of this namespace only (then a namespaced Role is enough).',
  },
  { key: 'auth.token-file', type: { kind: 'string' }, default: undefined, defaultDoc: '(none)', doc: 'File with a DC/OS auth token, sent as `Authorization: token=...` to Mesos and Marathon.' },
  { key: 'auth.basic-file', type: { kind: 'string' }, default: undefined, defaultDoc: '(none)', doc: 'File with `user:password` for HTTP basic auth to Mesos and Marathon.' },
  { key: 'tls.ca-file', type: { kind: 'string' }, default: undefined, defaultDoc: '(system CAs)', doc: 'PEM CA bundle to verify https Mesos and Marathon URLs.' },

  // Model: names and addresses.
  {
    key: 'vips.ipv4-min',
    type: { kind: 'ip', family: 4 },
    default: '11.0.0.0',
    doc: 'First address of the named-VIP IPv4 pool. Must match every node (and DC/OS, whose pool is 11.0.0.0-11.255.255.255): the pool changes the hash result.',
  },
  { key: 'vips.ipv4-max', type: { kind: 'ip', family: 4 }, default: '11.255.255.255', doc: 'Last address of the named-VIP IPv4 pool (never handed out itself, as in DC/OS).' },
  { key: 'vips.ipv6-min', type: { kind: 'ip', family: 6 }, default: 'fd01:c::', doc: 'First address of the named-VIP IPv6 pool.' },
  { key: 'vips.ipv6-max', type: { kind: 'ip', family: 6 }, default: 'fd01:c::ffff:ffff:ffff:ffff', doc: 'Last address of the named-VIP IPv6 pool.' },
  { key: 'vips.ipv6', type: { kind: 'bool' }, default: true, doc: 'Give named VIPs an IPv6 address when they have IPv6 backends; the node then also gets IPv6 forwarding (`net.ipv6.conf.all.forwarding=1`; interfaces with `accept_ra=1` are raised to 2 first, so they keep accepting router advertisements) and the ip6tables hairpin rule.' },

  // IPVS.
  { key: 'ipvs.scheduler', type: { kind: 'enum', values: IPVS_SCHEDULERS }, default: 'wlc', doc: 'IPVS scheduler of every VIP that names none of its own (DC/OS uses wlc); a VIP names one with the `l4lb.scheduler` label, the `l4lb.thisdcos.directory/scheduler` annotation or a VIP file\'s `scheduler` (see "Scheduler per VIP").' },
  {
    key: 'ipvs.tcp-timeout',
    type: { kind: 'duration', minMs: 0, maxMs: 2_000_000_000 },
    default: undefined,
    defaultDoc: 'kernel default (900s)',
    doc: 'Idle timeout of established TCP connections (`ipvsadm --set`). IPVS forgets a connection idle for longer: clients that keep idle connections must send TCP keepalives more often than this.',
  },
  { key: 'ipvs.tcpfin-timeout', type: { kind: 'duration', minMs: 0, maxMs: 2_000_000_000 }, default: undefined, defaultDoc: 'kernel default (120s)', doc: 'Timeout of TCP connections after a FIN.' },
  { key: 'ipvs.udp-timeout', type: { kind: 'duration', minMs: 0, maxMs: 2_000_000_000 }, default: undefined, defaultDoc: 'kernel default (300s)', doc: 'Idle timeout of UDP flows.' },
  {
    key: 'ipvs.drain-timeout',
    type: { kind: 'duration', minMs: 0, maxMs: 86_400_000 },
    default: 300_000,
    doc: 'How long a removed TCP backend keeps weight 0 for its existing connections before it is deleted anyway (it is deleted earlier once it has none).',
  },

  // Reconciler.
  { key: 'reconcile.resync-interval', type: { kind: 'duration', minMs: 1000, maxMs: 86_400_000 }, default: 30_000, doc: 'Full resync: dump the kernel and repair drift (e.g. `ipvsadm -D`) at this interval.' },
  { key: 'reconcile.min-interval', type: { kind: 'duration', minMs: 0, maxMs: 60_000 }, default: 100, doc: 'Minimum time between two passes: bursts of changes coalesce into one pass.' },

  // Node dataplane.
  { key: 'dataplane.interface', type: { kind: 'string', pattern: IFNAME, patternDoc: 'a Linux interface name (1-15 of A-Z a-z 0-9 _ . -)' }, default: 'minuteman', doc: 'Dummy interface that carries the VIP addresses (dcos-net uses `minuteman`).' },
  {
    key: 'dataplane.pool-routes',
    type: { kind: 'bool' },
    default: true,
    doc: 'Make the named-VIP pools local with one `local` route per CIDR in table local (`ip route show table local proto 76`) instead of one address per named VIP: no per-VIP kernel work, and a pool address that is not a VIP is refused on the node instead of routed off it. IP VIPs always get an address. `false`: every VIP is an address on the link, as in dcos-net.',
  },
  { key: 'dataplane.hairpin', type: { kind: 'bool' }, default: true, doc: 'Maintain the SNAT rule that lets a backend reach its own VIP.' },
  { key: 'dataplane.iptables', type: { kind: 'string' }, default: 'iptables', doc: 'iptables binary for the hairpin rule (`iptables-legacy` where nftables has no IPv4 NAT).' },
  { key: 'state-dir', type: { kind: 'string' }, default: '/run/l4lb', doc: 'Where l4lb records the IPVS services it created (tmpfs: lives exactly as long as the kernel table).' },

  // DNS.
  {
    key: 'dns.listen',
    type: { kind: 'list' },
    default: ['127.0.0.1:53'],
    doc: 'Addresses (`host:port`, `[v6]:port`) where l4lb answers the l4lb.thisdcos.directory zone over UDP and TCP; empty (`""`) turns DNS off. DC/OS uses 198.51.100.1-3:53.',
  },

  // Status API (the CLI's `get`, `describe`, `endpoints`, `status`), metrics and health.
  { key: 'status.socket', type: { kind: 'string' }, default: '/run/l4lb/l4lb.sock', doc: 'Unix socket of the status API, mode 0660 (root and the socket\'s group): `/v1/vips`, `/v1/status`, `/healthz`, `/readyz`, `/metrics`. The CLI reads it too (`--socket`, or the same `L4LB_STATUS_SOCKET`).' },
  { key: 'status.listen', type: { kind: 'list' }, default: [], defaultDoc: '(none)', doc: 'Also serve the status API over TCP at these `host:port` / `[v6]:port` addresses (e.g. for Prometheus); loopback only unless `status.allow-non-loopback`.' },
  { key: 'status.allow-non-loopback', type: { kind: 'bool' }, default: false, doc: 'Allow `status.listen` on a non-loopback address. The API has no authentication: only on a trusted network.' },

  // Logging.
  { key: 'log.level', type: { kind: 'enum', values: ['error', 'warn', 'info', 'debug'] }, default: 'info', doc: 'Log level.' },
  { key: 'log.format', type: { kind: 'enum', values: ['json', 'text', 'auto'] }, default: 'auto', doc: 'JSON lines, text, or auto (text on a terminal, JSON otherwise).' },
];

/** `ipvs.tcp-timeout` -> `L4LB_IPVS_TCP_TIMEOUT`. */
export function envName(s: Setting): string {
  return `L4LB_${s.key.toUpperCase().replace(/[.-]/g, '_')}`;
}

/** `ipvs.tcp-timeout` -> `ipvs-tcp-timeout`. */
export function flagName(s: Setting): string {
  return s.flag ?? s.key.replace(/\./g, '-');
}

export function settingByKey(key: string): Setting | undefined {
  return SETTINGS.find((s) => s.key === key);
}
