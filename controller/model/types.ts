// Domain types of the pure VIP model. Every source (Mesos, Marathon, file,
// Kubernetes) normalizes what it sees into `Task`; the table turns tasks into
// the desired VIP table. Field names follow dcos-net's task map
// (dcos_net_mesos_listener:task()) so its test expectations map one to one.

import type { SchedulerVote } from './scheduler.js';

export type Protocol = 'tcp' | 'udp';
export type Family = 4 | 6;

/**
 * Lifecycle as dcos-net sees it. Only `running` and `killing` tasks are
 * backends; `terminal` tasks are removed from the table on upsert.
 */
export type TaskState = 'preparing' | 'running' | 'killing' | 'terminal';

/** Container runtime, informational (dcos-net reports it; the model ignores it). */
export type Runtime = 'mesos' | 'docker' | 'unknown';

/** One VIP label as found on a port: key (`VIP_0`, `vip_port1`, ...) and raw value. */
export interface VipLabel {
  key: string;
  /** Raw value, e.g. `/myapp:80`, `10.1.2.3:53`, `[fd00::1]:80`. */
  value: string;
}

/**
 * A task port. Like dcos-net, "scope" is carried by which field is set:
 * with `hostPort` the backend is `agentIp:hostPort` (host scope); otherwise it
 * is every task IP with `:port` (container scope).
 */
export interface TaskPort {
  name?: string;
  protocol: Protocol;
  port?: number;
  hostPort?: number;
  vips: VipLabel[];
  /** IPVS scheduler named for this port's VIPs (label `l4lb.scheduler`, already valid); wins over `Task.scheduler`. */
  scheduler?: string;
}

/** A normalized task: what dcos-net's parse yields, plus where it came from. */
export interface Task {
  /** Source id, e.g. `mesos`, `marathon`, `file:/etc/l4lb/vips.yaml`. */
  source: string;
  /** Unique within the source; Mesos uses `frameworkId/taskId`. */
  id: string;
  name: string;
  /** Framework name; the second label of a named VIP (`marathon`, `kafka`). */
  framework: string;
  /** Agent (node) IP, needed only for host-scope ports. */
  agentIp?: string;
  /** Task IPs in canonical form (see ip.ts), newest status first-to-last order. */
  taskIps: string[];
  ports: TaskPort[];
  state: TaskState;
  /** Absent: no health check. false: a check exists and is failing or has no result yet. */
  healthy?: boolean;
  runtime?: Runtime;
  /** IPVS scheduler named for all the task's VIPs (already valid); a port's own wins. Absent: no preference. */
  scheduler?: string;
  /** Problems the source found while normalizing (bad legacy labels, ...). */
  rejected?: LabelRejection[];
}

/** Identity of a task in the table. */
export interface TaskRef {
  source: string;
  id: string;
}

/** Stable reason codes for skipped labels; see labels.ts for each meaning. */
export type RejectionCode =
  | 'VIP_MISSING_COLON'
  | 'VIP_EMPTY_NAME'
  | 'VIP_INVALID_NAME'
  | 'VIP_EMPTY_FRAMEWORK'
  | 'VIP_PORT_NOT_INTEGER'
  | 'VIP_PORT_ZERO'
  | 'VIP_PORT_TOO_LARGE'
  | 'VIP_UNKNOWN_PROTOCOL'
  | 'VIP_BAD_NETWORK_SCOPE'
  | 'VIP_DISCOVERY_PORT_ZERO'
  | 'VIP_LEGACY_BAD_INDEX'
  | 'VIP_LEGACY_INDEX_OUT_OF_RANGE'
  | 'VIP_LEGACY_BAD_SCHEME'
  | 'VIP_IPV6_DISABLED'
  | 'VIP_NO_AGENT_IP'
  | 'VIP_NO_BACKEND_ADDRESS'
  | 'VIP_UNKNOWN_PORT'
  | 'VIP_PORT_AMBIGUOUS'
  | 'VIP_BAD_FRAMEWORK'
  | 'VIP_UNKNOWN_ANNOTATION'
  | 'VIP_BAD_SCHEDULER';

/** A label the model skipped, with the reason; shown in status and logs. */
export interface LabelRejection {
  source: string;
  taskId: string;
  /** Label key, e.g. `VIP_0`; for port-level problems the port's VIP label key. */
  key: string;
  value: string;
  code: RejectionCode;
  message: string;
}

export type BackendHealth = 'healthy' | 'unhealthy' | 'unknown';

/** One IPVS destination of a VIP. */
export interface Backend {
  ip: string;
  port: number;
  /** IPVS weight: 1 serving, 0 draining (killing) or failing its health check. */
  weight: 0 | 1;
  taskId: string;
  framework: string;
  source: string;
  state: 'running' | 'killing';
  health: BackendHealth;
}

/** One IPVS virtual service of the desired table. */
export interface Vip {
  /** `tcp/11.215.13.222:80`, `udp/[fd01:c::1]:53`: protocol + address + port. */
  key: string;
  protocol: Protocol;
  address: string;
  family: Family;
  port: number;
  kind: 'named' | 'ip';
  /** FQDNs that resolve to this address (named VIPs only), sorted. */
  names: string[];
  /** Raw label values this VIP came from (`/myapp:80`, `myapp:80`), sorted. */
  labels: string[];
  /** Source ids that contributed backends, sorted. */
  sources: string[];
  /** Names of the task ports behind this VIP (`http`), sorted; present only when some port has a name. For DNS SRV. */
  portNames?: string[];
  /**
   * IPVS scheduler the VIP's backends named (the vote in scheduler.ts);
   * absent when none did: the global `ipvs.scheduler` applies.
   */
  scheduler?: string;
  /** Present only when backends named different schedulers: every name with its backend count, winner first. */
  schedulerVotes?: SchedulerVote[];
  /** Sorted by (ip, port); unique by (ip, port). */
  backends: Backend[];
}

/** Address of a named VIP's name, per family. */
export interface NameAddress {
  /** Hash input and identity, e.g. `myapp.marathon`. */
  name: string;
  /** `myapp.marathon.l4lb.thisdcos.directory` */
  fqdn: string;
  ipv4?: string;
  ipv6?: string;
}

/** A named VIP whose family pool had no free address left. */
export interface UnallocatedName {
  name: string;
  family: Family;
}

/** Address pools and switches; see options.ts for defaults. */
export interface ModelOptions {
  ipv4Min?: string;
  ipv4Max?: string;
  ipv6Min?: string;
  ipv6Max?: string;
  ipv6Enabled?: boolean;
}
