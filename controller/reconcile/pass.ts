// What a reconcile pass talks to and what it reports: the kernel and desired
// table interfaces, the hooks, the clock, and the one-line-per-pass result.

import type { Vip } from '../model/index.js';
import {
  describeOp,
  type DestinationEntry,
  type IpvsOp,
  type OpResult,
  type ServiceEntry,
  type ServiceKey,
} from '../../native/ipvs/index.js';
import { ReconcileError } from './keys.js';
import type { PlanEvent } from './plan.js';
import type { QueueReason } from './queue.js';

/** The kernel side, as IpvsHandle provides it (a fake in unit tests). */
export interface Kernel {
  /** Every service, without destinations (one netlink dump). */
  services(): ServiceEntry[];
  service(key: ServiceKey): ServiceEntry | undefined;
  destinations(key: ServiceKey): DestinationEntry[];
  apply(ops: readonly IpvsOp[]): OpResult[];
}

/** The desired side, as VipTable provides it. */
export interface DesiredTable {
  vips(): readonly Vip[];
  vip(key: string): Vip | undefined;
  /** What each pass reports; cheap (a pass must not walk 10,000 VIPs to count them). */
  totals(): { vips: number; backends: number };
}

/** Same shape as controller/sources/timers.ts, so `realTimers` fits. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): { readonly id: unknown };
  clearTimeout(handle: { readonly id: unknown } | undefined): void;
}

export interface ReconcileHooks {
  /** Before the batch that deletes these VIPs' services: withdraw DNS, then the address. Throwing keeps the services. */
  beforeRemove?(vips: readonly string[]): void | Promise<void>;
  /** After these VIPs' services were created or adopted (on startup: every desired VIP in the kernel): address, then DNS. */
  afterAdd?(vips: readonly string[]): void | Promise<void>;
}

export type PassTrigger = 'startup' | 'resync' | 'change' | 'retry' | 'drain';

export interface PassError {
  /** The VIP concerned; absent for pass-wide errors (kernel read, record). */
  vip?: string;
  code: string;
  message: string;
  /** `add destination 10.0.0.1:80 to TCP 11.0.0.1:80` for failed operations. */
  op?: string;
}

export interface PassResult {
  trigger: PassTrigger;
  /** Full resync (every service in the kernel, desired or recorded) rather than the queued keys only. */
  full: boolean;
  startedAt: number;
  /** Time spent working (a sweep: the sum of its chunks). */
  durationMs: number;
  /** Start to end; for a sweep this includes the change passes run between its chunks. */
  wallMs: number;
  /** Chunks of a sweep (1 for a small pass); change passes may run between chunks. */
  chunks: number;
  /** The longest time the loop held the event loop in one go during this pass. */
  maxChunkMs: number;
  /** VIP keys planned this pass. */
  keys: number;
  ops: Record<IpvsOp['kind'], number>;
  opsTotal: number;
  failedOps: number;
  /** Desired table totals. */
  vips: number;
  backends: number;
  draining: number;
  /** Foreign services seen and left alone (full passes only count them all). */
  foreign: number;
  events: PlanEvent[];
  errors: PassError[];
  failedVips: string[];
}

const TRIGGER_RANK: Record<PassTrigger, number> = { startup: 5, resync: 4, change: 3, retry: 2, drain: 1 };
export const BENIGN: ReadonlySet<string> = new Set(['delete-service:ESRCH', 'delete-destination:ENOENT', 'delete-destination:ESRCH']);

/** The fields of the one log line per pass. */
export function passLogFields(r: PassResult): Record<string, unknown> {
  return {
    trigger: r.trigger,
    full: r.full,
    durationMs: r.durationMs,
    ...(r.chunks > 1 ? { wallMs: r.wallMs, chunks: r.chunks, maxChunkMs: r.maxChunkMs } : {}),
    keys: r.keys,
    ops: r.ops,
    opsTotal: r.opsTotal,
    vips: r.vips,
    backends: r.backends,
    draining: r.draining,
    foreign: r.foreign,
    errors: r.errors.length,
    ...(r.failedVips.length > 0 ? { failedVips: r.failedVips.slice(0, 20) } : {}),
    ...(r.errors.length > 0 ? { firstErrors: r.errors.slice(0, 5).map((e) => `${e.vip ?? '-'}: ${e.message}`) } : {}),
  };
}

export function higher(a: PassTrigger, b: QueueReason): PassTrigger {
  return TRIGGER_RANK[b] > TRIGGER_RANK[a] ? b : a;
}

export function fmtOp(op: IpvsOp): string {
  const d = describeOp(op);
  return `${d.op} ${d.object}`;
}

export function asPassError(e: unknown, fallback: string): PassError {
  if (e instanceof ReconcileError) return { code: e.code, message: e.message };
  const code = (e as { code?: unknown })?.code;
  return { code: typeof code === 'string' ? code : fallback, message: e instanceof Error ? e.message : String(e) };
}
