// What the daemon tells the operator surface, and what the status API reads.
// The daemon calls `changed` for every VIP key a source change touched and
// `pass` for every reconcile pass; the recorder keeps what status, metrics and
// `describe` need: first-seen times, recent events per VIP, recent errors,
// drift repairs, readiness, and the event-to-kernel latency.
//
// Latency: the oldest pending mark of a key -> the end of the first pass that
// started after it and did not fail for that key.
//
// Drift repair: a change a periodic resync (trigger `resync`) made to a VIP no
// source change asked for: the kernel had drifted (e.g. `ipvsadm -D`). Drain
// progress (a draining backend deleted once idle or timed out) is not drift.

import type { LabelRejection, Vip } from '../model/index.js';
import type { PassResult, PlanEvent } from '../reconcile/index.js';
import type { SourceStatus } from '../sources/types.js';
import type { DestinationEntry, ServiceEntry, ServiceKey } from '../../native/ipvs/index.js';
import type { Metrics } from '../metrics/index.js';
import { dcosVips, detail, matchVips, summarize, type KernelRead, type VipContext } from './view.js';
import type { DcosVip, ErrorView, PassView, SourceView, StatusView, VipDetail, VipEvent, VipSummary } from './types.js';

const EVENTS_PER_VIP = 20;
const MAX_VIPS_WITH_EVENTS = 5000;
const RECENT_ERRORS = 20;
const MAX_REJECTED = 100;

/** Wall-clock ms of a performance.now() reading (the reconciler's clock). */
const wall = (perfMs: number): number => performance.timeOrigin + perfMs;

/** Read-only IPVS reads with counters (a separate handle from the reconciler's). */
export interface KernelReader {
  service(key: ServiceKey): ServiceEntry | undefined;
  destinations(key: ServiceKey): DestinationEntry[];
}

/** The daemon parts the recorder reads; all reads, never writes. */
export interface DaemonView {
  version: string;
  startedAt: Date;
  scheduler: string;
  vips(): readonly Vip[];
  rejected(): readonly LabelRejection[];
  sources(): readonly SourceStatus[];
  /** Every source synced and the reconciler runs. */
  synced(): boolean;
  isForwarding(key: string): boolean;
  /** Draining destinations of a VIP (id -> performance.now() ms when the drain started). */
  drains(key: string): Iterable<readonly [string, number]>;
  kernel(): KernelReader | undefined;
  serviceKey(vipKey: string): ServiceKey;
  dns(): { listen: string[]; queries: number; responses: Record<string, number> } | undefined;
  /** Resync interval: a loop that ran no pass for several of these is wedged. */
  resyncIntervalMs: number;
}

/** The routes' data; a fake in the route tests. */
export interface StatusProvider {
  dcosVips(): DcosVip[];
  vipSummaries(): VipSummary[];
  vipDetails(ref: string): VipDetail[];
  status(): StatusView;
  health(): { ok: boolean; message: string };
  ready(): boolean;
  metrics(): Promise<{ contentType: string; body: string }>;
}

export class StatusRecorder implements StatusProvider {
  private readonly firstSeen = new Map<string, number>();
  /** VIP key -> performance.now() of its oldest change not yet applied. */
  private readonly pending = new Map<string, number>();
  private readonly events = new Map<string, VipEvent[]>();
  private readonly recentErrors: ErrorView[] = [];
  private failing: ReadonlySet<string> = new Set();
  private lastPass: PassResult | undefined;
  private lastPassEnd: number | undefined;
  private lastSuccessAt: number | undefined;
  private reconcilingSince: number | undefined;
  private passes = 0;
  private errorCount = 0;
  private driftRepairs = 0;
  private isReady = false;

  constructor(
    private readonly d: DaemonView,
    private readonly m: Metrics,
  ) {}

  /** The reconciler started (every source synced). */
  reconciling(): void {
    this.reconcilingSince ??= performance.now();
  }

  /** A source change touched these VIP keys (the table's ChangeSummary.changed). */
  changed(keys: readonly string[], exists: (key: string) => boolean): void {
    // One clock read per change, not per key: under user-mode Linux each read is a syscall (~15 us).
    const now = performance.now();
    const wallNow = Date.now();
    for (const k of keys) {
      if (exists(k)) {
        if (!this.firstSeen.has(k)) this.firstSeen.set(k, wallNow);
      } else {
        this.firstSeen.delete(k);
      }
      // Before the reconciler runs, the startup pass covers everything: no latency to measure.
      if (this.reconcilingSince !== undefined && !this.pending.has(k)) this.pending.set(k, now);
    }
  }

  pass(r: PassResult): void {
    this.passes++;
    // Kept for the status view, which reads counts only: not the events (a cold sync has one per destination).
    this.lastPass = { ...r, events: [] };
    const end = r.startedAt + r.durationMs;
    this.lastPassEnd = end;
    this.m.pass(r);
    const failed = new Set(r.failedVips);
    this.failing = failed;

    // Drift: what a resync changed for keys no change was pending for (decided before pending is cleared).
    let repairs = 0;
    const isRepair = (e: PlanEvent): boolean =>
      r.trigger === 'resync' && !this.pending.has(e.vip) && e.kind !== 'adopted' && !(e.kind === 'deleted' && e.reason !== 'datagram');
    const at = new Date(wall(end)).toISOString();
    for (const e of r.events) if (isRepair(e) && !failed.has(e.vip)) repairs++;
    for (const ev of aggregateEvents(r.events, (e) => isRepair(e) && !failed.has(e.vip))) this.addEvent(ev.vip, { at, reason: ev.reason, message: ev.message });
    this.driftRepairs += repairs;
    this.m.repairs(repairs);

    for (const [k, marked] of this.pending) {
      if (marked > r.startedAt || failed.has(k)) continue;
      this.m.eventToKernelSeconds(Math.max(0, end - marked) / 1000);
      this.pending.delete(k);
    }

    this.errorCount += r.errors.length;
    for (const e of r.errors.slice(0, RECENT_ERRORS)) {
      this.recentErrors.push({ at, ...(e.vip ? { vip: e.vip } : {}), code: e.code, message: e.message });
      if (e.vip) this.addEvent(e.vip, { at, reason: 'Failed', message: e.op ? `${e.op}: ${e.message}` : e.message });
    }
    if (this.recentErrors.length > RECENT_ERRORS) this.recentErrors.splice(0, this.recentErrors.length - RECENT_ERRORS);
    if (r.errors.length === 0) this.lastSuccessAt = wall(end);
    // Ready once a pass read and applied the kernel: per-VIP failures (retried) do not hold readiness back.
    if (!this.isReady && r.errors.every((e) => e.vip !== undefined)) this.isReady = true;
  }

  private addEvent(vip: string, e: VipEvent): void {
    let list = this.events.get(vip);
    if (list) this.events.delete(vip); // re-inserted below: the map's order is least recently touched first
    else list = [];
    list.push(e);
    if (list.length > EVENTS_PER_VIP) list.splice(0, list.length - EVENTS_PER_VIP);
    this.events.set(vip, list);
    if (this.events.size > MAX_VIPS_WITH_EVENTS) this.events.delete(this.events.keys().next().value!);
  }

  // ---- StatusProvider

  ready(): boolean {
    return this.isReady;
  }

  health(): { ok: boolean; message: string } {
    if (this.reconcilingSince === undefined) return { ok: true, message: 'ok: waiting for every source to sync' };
    const last = this.lastPassEnd ?? this.reconcilingSince;
    const idle = performance.now() - last;
    // A full resync is due every interval; several missed in a row means the loop is stuck.
    const limit = Math.max(3 * this.d.resyncIntervalMs, 60_000);
    if (idle > limit) return { ok: false, message: `no reconcile pass for ${Math.round(idle / 1000)}s (resync every ${this.d.resyncIntervalMs / 1000}s): the reconcile loop is stuck` };
    return { ok: true, message: 'ok' };
  }

  private context(): VipContext {
    return {
      scheduler: this.d.scheduler,
      forwarding: (k) => this.d.isForwarding(k),
      failing: (k) => this.failing.has(k),
      since: (k) => this.firstSeen.get(k) ?? this.d.startedAt.getTime(),
      drains: (k) => [...this.d.drains(k)].map(([id, t]) => [id, wall(t)] as const),
    };
  }

  dcosVips(): DcosVip[] {
    return dcosVips(this.d.vips());
  }

  vipSummaries(): VipSummary[] {
    const ctx = this.context();
    return this.d.vips().map((v) => summarize(v, ctx));
  }

  vipDetails(ref: string): VipDetail[] {
    const ctx = this.context();
    const kernel = this.d.kernel();
    return matchVips(ref, this.d.vips()).map((v) => {
      let k: KernelRead;
      if (!kernel) k = { ok: false, error: 'the kernel is not open yet' };
      else {
        try {
          const key = this.d.serviceKey(v.key);
          const service = kernel.service(key);
          k = { ok: true, service, destinations: service ? kernel.destinations(key) : [] };
        } catch (e) {
          const errno = (e as { errnoName?: string }).errnoName;
          if (errno) this.m.netlinkError(errno);
          k = { ok: false, error: (e as Error).message };
        }
      }
      return detail(summarize(v, ctx), k, this.events.get(v.key) ?? []);
    });
  }

  status(): StatusView {
    let backends = 0;
    const vips = this.d.vips();
    for (const v of vips) backends += v.backends.length;
    const rejected = this.d.rejected();
    const dns = this.d.dns();
    const r = this.lastPass;
    return {
      version: this.d.version,
      pid: process.pid,
      startedAt: this.d.startedAt.toISOString(),
      synced: this.d.synced(),
      ready: this.isReady,
      sources: this.d.sources().map(sourceView),
      reconcile: {
        passes: this.passes,
        ...(r ? { lastPass: passView(r) } : {}),
        ...(this.lastSuccessAt !== undefined ? { lastSuccessAt: new Date(this.lastSuccessAt).toISOString() } : {}),
        driftRepairs: this.driftRepairs,
        errors: this.errorCount,
        recentErrors: [...this.recentErrors],
        failingVips: [...this.failing].sort(),
      },
      vips: vips.length,
      backends,
      draining: r?.draining ?? 0,
      ...(dns ? { dns } : {}),
      rejected: rejected.slice(0, MAX_REJECTED),
      rejectedTotal: rejected.length,
    };
  }

  async metrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.m.contentType, body: await this.m.text() };
  }
}

function sourceView(s: SourceStatus): SourceView {
  return {
    id: s.id,
    kind: s.kind,
    state: s.state,
    endpoint: s.endpoint,
    since: s.since.toISOString(),
    ...(s.lastEventAt ? { lastEventAt: s.lastEventAt.toISOString() } : {}),
    ...(s.lastError ? { lastError: s.lastError } : {}),
    reconnects: s.reconnects,
    tasks: s.tasks,
  };
}

function passView(r: PassResult): PassView {
  return {
    trigger: r.trigger,
    full: r.full,
    at: new Date(wall(r.startedAt)).toISOString(),
    durationMs: r.durationMs,
    keys: r.keys,
    opsTotal: r.opsTotal,
    failedOps: r.failedOps,
    errors: r.errors.length,
    vips: r.vips,
    backends: r.backends,
    draining: r.draining,
    foreign: r.foreign,
  };
}

/** A plan event as a describe line: kubectl-style reason and a sentence. */
export function describeEvent(e: PlanEvent, repair: boolean, destinations?: string): { reason: string; message: string } {
  const d = 'destination' in e ? (destinations ?? `backend ${e.destination}`) : '';
  const fix = (reason: string, message: string) => (repair ? { reason: 'Repaired', message: `${message} (the kernel had drifted)` } : { reason, message });
  switch (e.kind) {
    case 'service-added':
      return fix('Added', `IPVS service created (scheduler ${e.scheduler})`);
    case 'service-edited':
      return fix('Edited', `IPVS service scheduler ${e.was} -> ${e.scheduler}`);
    case 'service-deleted':
      return fix('Removed', 'IPVS service deleted');
    case 'adopted':
      return { reason: 'Adopted', message: 'existing IPVS service adopted' };
    case 'added':
      return fix('Added', `${d} added with weight ${e.weight}`);
    case 'weight-changed':
      return fix('WeightChanged', `${d} weight ${e.was} -> ${e.weight}`);
    case 'weight-restored':
      return fix('Restored', `${d} back to weight ${e.weight} after ${Math.round(e.drainedMs / 1000)}s at 0`);
    case 'destination-edited':
      return fix('Edited', `${d} settings restored`);
    case 'drained':
      return fix('Drained', `${d} drained: weight 0, ${e.connections} connection(s) left`);
    case 'deleted':
      return fix('Removed', `${d} deleted (${e.reason === 'datagram' ? 'UDP: at once' : e.reason === 'idle' ? 'no connections left' : 'drain timeout'})`);
  }
}

interface EventGroup {
  first: PlanEvent;
  repair: boolean;
  /** The first LISTED_DESTINATIONS destinations; `n` counts them all. */
  destinations: string[];
  n: number;
}

/** Destinations an aggregated event names before it says "and N more". */
export const LISTED_DESTINATIONS = 5;

/**
 * One event per VIP and kind of change in a pass: the backends that got the
 * same change are listed in one message (as `kubectl describe` folds repeated
 * events). A first sync adds 10 backends to a VIP in one pass: one line, not
 * ten, and the events kept for 5,000 VIPs stay a few MB at 10,000 VIPs.
 */
export function aggregateEvents(events: readonly PlanEvent[], repair: (e: PlanEvent) => boolean): Array<{ vip: string; reason: string; message: string }> {
  const groups = new Map<string, EventGroup>();
  let prev: PlanEvent | undefined;
  let prevGroup: EventGroup | undefined;
  for (const e of events) {
    const r = repair(e);
    // Events alike but for their destination share a message template. A VIP's events come
    // in runs (a cold sync: 10 adds in a row), so a run reuses its group without rendering one.
    let g = prevGroup !== undefined && prevGroup.repair === r && alikeButDestination(prev!, e) ? prevGroup : undefined;
    if (g === undefined) {
      const key = `${e.vip}\u0000${r}\u0000${describeEvent(e, r, '\u0000').message}`;
      g = groups.get(key);
      if (g === undefined) groups.set(key, (g = { first: e, repair: r, destinations: [], n: 0 }));
    }
    if ('destination' in e) {
      g.n++;
      if (g.destinations.length < LISTED_DESTINATIONS) g.destinations.push(e.destination);
    }
    prev = e;
    prevGroup = g;
  }
  const out: Array<{ vip: string; reason: string; message: string }> = [];
  for (const g of groups.values()) {
    const listed = g.n <= 1 ? undefined
      : `backends ${g.destinations.join(', ')}${g.n > LISTED_DESTINATIONS ? ` and ${g.n - LISTED_DESTINATIONS} more` : ''}`;
    out.push({ vip: g.first.vip, ...describeEvent(g.first, g.repair, listed) });
  }
  return out;
}

/** Same kind, VIP and every other field; the destination may differ. */
function alikeButDestination(a: PlanEvent, b: PlanEvent): boolean {
  if (a.kind !== b.kind || a.vip !== b.vip) return false;
  const x = a as unknown as Record<string, unknown>;
  const y = b as unknown as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    n++;
    if (k !== 'destination' && x[k] !== y[k]) return false;
  }
  for (const _ in y) n--;
  return n === 0;
}
