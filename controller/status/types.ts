// The JSON the status API serves: one definition for the server and the CLI.
// Times are ISO 8601 strings; durations are milliseconds unless named otherwise.

import type { BackendHealth, LabelRejection, Protocol, SchedulerVote } from '../model/index.js';
import type { SourceKind, SourceState } from '../sources/types.js';

/** `GET /v1/vips`: dcos-net's shape, element for element (dcos_rest_vips_handler.erl). */
export interface DcosVip {
  /** `<fqdn>:<port>` for a named VIP, `<ip>:<port>` for an IP VIP (IPv6 unbracketed, as inet:ntoa). */
  vip: string;
  protocol: Protocol;
  backend: Array<{ ip: string; port: number }>;
}

/**
 * A backend's state as an operator sees it:
 * active: serving (weight > 0); draining: weight 0 while its connections end (task killing, or removed);
 * unhealthy: failing its health check (weight 0); pending: desired but not (yet) in the kernel.
 */
export type BackendState = 'active' | 'draining' | 'unhealthy' | 'pending';

export interface BackendView {
  ip: string;
  port: number;
  /** Desired weight; for a removed backend still in the kernel, the kernel's. */
  weight: number;
  state: BackendState;
  /** Absent for a removed backend that only the kernel still has. */
  taskId?: string;
  framework?: string;
  source?: string;
  health?: BackendHealth;
  /** When it started draining, if it does. */
  drainingSince?: string;
}

/** One VIP in l4lb's own shape (`GET /v1/l4lb/vips`). */
export interface VipSummary {
  /** `tcp/198.51.100.7:80`: protocol + address + port, unique. */
  key: string;
  /** FQDNs, sorted; empty for an IP VIP. */
  names: string[];
  address: string;
  family: 4 | 6;
  protocol: Protocol;
  port: number;
  kind: 'named' | 'ip';
  /** Label values the VIP came from (`/myapp:80`). */
  labels: string[];
  /** Task port names (for SRV). */
  portNames: string[];
  sources: string[];
  /** The IPVS scheduler the VIP should have: the one its backends named, else `ipvs.scheduler`. */
  scheduler: string;
  /** Backends named different schedulers (e.g. mid rolling deploy): each name and its backends, winner first. */
  schedulerVotes?: SchedulerVote[];
  /** The IPVS service exists and the VIP is announced (address, DNS). */
  forwarding: boolean;
  /** The last pass that touched it failed for it (it is retried with backoff). */
  failing: boolean;
  /** When this daemon first saw the VIP in its desired table. */
  since: string;
  backends: { ready: number; total: number };
  backendList: BackendView[];
}

export interface KernelStats {
  activeConnections: number;
  inactiveConnections: number;
  /** Connections since the service (or destination) was created. */
  connections: number;
  /** Connections per second over the kernel's 2 s estimator. */
  cps: number;
  bytesIn: number;
  bytesOut: number;
  bytesInPerSec: number;
  bytesOutPerSec: number;
  packetsIn: number;
  packetsOut: number;
}

export interface BackendDetail extends BackendView {
  /** Live counters of the IPVS destination; absent when the kernel has none. */
  kernel?: KernelStats & { weight: number };
}

export interface VipEvent {
  at: string;
  /** Added, Drained, Removed, Repaired, WeightChanged, Restored, Adopted, Edited, Failed. */
  reason: string;
  message: string;
}

/** `GET /v1/l4lb/vips/{ref}`: everything `l4lb describe vip` shows. */
export interface VipDetail extends Omit<VipSummary, 'backendList'> {
  backendList: BackendDetail[];
  /** The IPVS service as the kernel has it now; absent when it does not exist. */
  kernel?: { scheduler: string; stats: KernelStats };
  /** Reading the kernel failed (the rest of the detail still comes from the desired table). */
  kernelError?: string;
  events: VipEvent[];
}

export interface SourceView {
  id: string;
  kind: SourceKind;
  state: SourceState;
  endpoint: string;
  since: string;
  lastEventAt?: string;
  lastError?: string;
  reconnects: number;
  tasks: number;
}

export interface PassView {
  trigger: string;
  full: boolean;
  at: string;
  durationMs: number;
  keys: number;
  opsTotal: number;
  failedOps: number;
  errors: number;
  vips: number;
  backends: number;
  draining: number;
  foreign: number;
}

export interface ErrorView {
  at: string;
  vip?: string;
  code: string;
  message: string;
}

/** `GET /v1/status`. */
export interface StatusView {
  version: string;
  pid: number;
  startedAt: string;
  /** Every source gave a complete view and the reconciler runs. */
  synced: boolean;
  /** The first reconcile pass succeeded (as /readyz). */
  ready: boolean;
  sources: SourceView[];
  reconcile: {
    passes: number;
    lastPass?: PassView;
    /** End of the last pass without any error. */
    lastSuccessAt?: string;
    driftRepairs: number;
    /** Errors reported by passes since start, and the most recent ones. */
    errors: number;
    recentErrors: ErrorView[];
    /** VIPs whose last attempt failed. */
    failingVips: string[];
  };
  vips: number;
  backends: number;
  draining: number;
  dns?: { listen: string[]; queries: number; responses: Record<string, number> };
  /** Labels the model skipped (first 100), and how many there are. */
  rejected: LabelRejection[];
  rejectedTotal: number;
}

/** Every error body of the API. */
export interface ApiError {
  error: string;
  message: string;
}
