// The reconcile loop: one worker, level-triggered. Handlers only `mark` VIP
// keys; a pass takes every key that is due, reads those services from the
// kernel (a full resync dumps the whole table instead), plans, records
// ownership, runs the removal hook, applies everything in ONE batch, maps
// failures back to their VIPs (which back off; the others are done), runs the
// add hook, and reports ONE PassResult. `stop()` leaves the kernel as it is.
//
// Order per VIP (anchors item 9): IPVS forwards before the VIP is announced
// (`afterAdd` runs after the batch: address, then DNS), and a VIP is
// withdrawn before IPVS forgets it (`beforeRemove` runs before the batch: DNS,
// then address). A failing `beforeRemove` keeps the service (retried).

import type { Logger } from '../log.js';
import type { Vip } from '../model/index.js';
import type { DestinationEntry, IpvsOp, OpResult, ServiceWithDestinations } from '../../native/ipvs/index.js';
import { DrainState } from './drain.js';
import { canonicalKey, keyOfService, serviceKeyOf } from './keys.js';
import type { Ownership } from './ownership.js';
import {
  asPassError, BENIGN, fmtOp, higher, passLogFields,
  type DesiredTable, type Kernel, type PassError, type PassResult, type PassTrigger, type ReconcileHooks, type Timers,
} from './pass.js';
import { countOps, DEFAULT_PLAN_CONFIG, plan, type PlanConfig, type PlanEvent, type VipPlan } from './plan.js';
import { WorkQueue, type BackoffOptions, type QueueReason } from './queue.js';

export type { DesiredTable, Kernel, PassError, PassResult, PassTrigger, ReconcileHooks, Timers } from './pass.js';

export interface ReconcilerOptions {
  kernel: Kernel;
  desired: DesiredTable;
  ownership: Ownership;
  timers: Timers;
  config?: Partial<PlanConfig>;
  /** Minimum time between the end of a pass and the start of the next (coalescing); default 100 ms. */
  minIntervalMs?: number;
  /** Full resync period; default 30 s. */
  resyncMs?: number;
  /** How often a draining VIP is re-read for its connection counts; default 5 s. */
  drainPollMs?: number;
  backoff?: BackoffOptions;
  /** From this many due keys on, one dump is cheaper than per-key reads; default 256. */
  dumpThreshold?: number;
  hooks?: ReconcileHooks;
  onPass?: (r: PassResult) => void;
  /** One info line per pass, a debug line per op. */
  logger?: Logger;
}

export class Reconciler {
  private readonly kernel: Kernel;
  private readonly desired: DesiredTable;
  private readonly ownership: Ownership;
  private readonly timers: Timers;
  private readonly config: PlanConfig;
  private readonly minIntervalMs: number;
  private readonly resyncMs: number;
  private readonly drainPollMs: number;
  private readonly dumpThreshold: number;
  private readonly hooks: ReconcileHooks;
  private readonly onPass: ((r: PassResult) => void) | undefined;
  private readonly logger: Logger | undefined;
  private readonly queue: WorkQueue;
  /** When each draining destination started; exposed read-only for status. */
  readonly drains = new DrainState();

  private started = false;
  private stopped = false;
  private timer: { readonly id: unknown } | undefined;
  private timerAt = Infinity;
  private running: Promise<void> | undefined;
  private lastPassEnd = -Infinity;
  private nextFullAt = Infinity;
  private fullFailures = 0;
  private startupDone = false;
  private passCount = 0;
  private readonly pendingAnnounce = new Set<string>();

  constructor(o: ReconcilerOptions) {
    this.kernel = o.kernel;
    this.desired = o.desired;
    this.ownership = o.ownership;
    this.timers = o.timers;
    this.config = { ...DEFAULT_PLAN_CONFIG, ...o.config };
    this.minIntervalMs = o.minIntervalMs ?? 100;
    this.resyncMs = o.resyncMs ?? 30_000;
    this.drainPollMs = o.drainPollMs ?? 5_000;
    this.dumpThreshold = o.dumpThreshold ?? 256;
    this.hooks = o.hooks ?? {};
    this.onPass = o.onPass;
    this.logger = o.logger?.child({ component: 'reconcile' });
    this.queue = new WorkQueue(() => this.timers.now(), o.backoff);
  }

  /** Starts with a full pass over the kernel (adoption: zero writes when it already matches). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.nextFullAt = this.timers.now();
    this.schedule();
  }

  /** A VIP changed (added, removed, backends or labels changed): reconcile it soon. */
  mark(vipKey: string): void {
    this.queue.add(canonicalKey(vipKey));
    this.schedule();
  }

  markMany(vipKeys: Iterable<string>): void {
    for (const k of vipKeys) this.queue.add(canonicalKey(k));
    this.schedule();
  }

  /** Asks for a full resync soon (e.g. a source reconnected and replaced its tasks). */
  resync(): void {
    this.nextFullAt = Math.min(this.nextFullAt, this.timers.now());
    this.schedule();
  }

  /** Resolves when no pass is running (tests, shutdown). */
  async whenIdle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops timers and waits for a running pass; the kernel is left exactly as it is. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.whenIdle();
  }

  /** Passes run so far. */
  get passes(): number {
    return this.passCount;
  }

  /** Keys waiting in the queue (due or not). */
  get queued(): number {
    return this.queue.size;
  }

  private schedule(): void {
    if (!this.started || this.stopped || this.running) return;
    const now = this.timers.now();
    const due = Math.min(this.nextFullAt, this.queue.nextReadyAt() ?? Infinity);
    if (due === Infinity) return;
    const at = Math.max(due, this.lastPassEnd + this.minIntervalMs, now);
    if (this.timer && this.timerAt <= at) return;
    this.timers.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.running = this.pass().finally(() => {
        this.running = undefined;
        this.lastPassEnd = this.timers.now();
        this.schedule();
      });
    }, at - now);
  }

  private async pass(): Promise<void> {
    const t0 = this.timers.now();
    const wall0 = performance.now();
    const full = this.nextFullAt <= t0;
    const errors: PassError[] = [];
    const events: PlanEvent[] = [];
    const failed = new Set<string>();
    let trigger: PassTrigger = full ? (this.startupDone ? 'resync' : 'startup') : 'drain';
    const ready = this.queue.takeReady();
    for (const r of ready.values()) trigger = higher(trigger, r);

    if (this.ownership.degraded && this.ownership.problem) {
      errors.push({ code: this.ownership.problem.code, message: this.ownership.problem.message });
    }

    // 1. Read: the keys in scope, their desired VIPs and their kernel services.
    let scope: Set<string>;
    let desired: Vip[];
    let actual: ServiceWithDestinations[];
    let foreignTotal = 0;
    try {
      ({ scope, desired, actual } = full || ready.size >= this.dumpThreshold ? this.readDump(full, ready) : this.readKeys(ready, errors, failed));
    } catch (e) {
      const err = asPassError(e, 'ERR_RECONCILE_READ');
      errors.push(err);
      for (const k of ready.keys()) this.queue.addRateLimited(k);
      if (full) this.nextFullAt = t0 + this.backoffFull();
      this.report({ trigger, full, t0, wall0, keys: ready.size, ops: [], results: [], events, errors, failed: new Set(ready.keys()), foreign: 0 });
      return;
    }
    if (full) {
      this.nextFullAt = t0 + this.resyncMs;
      this.fullFailures = 0;
    }

    // 2. Plan.
    const p = plan(desired, actual, { owned: this.ownership, drains: this.drains, now: t0, config: this.config });
    foreignTotal = p.foreign.length;
    const present = new Set<string>();
    for (const s of actual) {
      const k = keyOfService(s);
      if (k !== undefined) present.add(k);
    }
    const stale = [...scope].filter((k) => this.ownership.isOwned(k) && !present.has(k) && this.desired.vip(k) === undefined);

    // 3. Claim ownership before creating or adopting.
    let groups = p.groups;
    const claims = groups.filter((g) => g.claim).map((g) => g.key);
    if (claims.length > 0) {
      try {
        this.ownership.claim(claims);
      } catch (e) {
        const err = asPassError(e, 'ERR_OWNERSHIP_WRITE');
        groups = this.dropGroups(groups, (g) => g.claim, err, errors, failed);
      }
    }

    if (full && this.ownership.degraded) {
      try {
        this.ownership.repair();
      } catch (e) {
        errors.push(asPassError(e, 'ERR_OWNERSHIP_WRITE'));
      }
    }

    // 4. Withdraw (DNS, address) before IPVS forgets a VIP.
    const removing = groups.filter((g) => g.remove).map((g) => g.key);
    if (removing.length > 0 && this.hooks.beforeRemove) {
      try {
        await this.hooks.beforeRemove(removing);
      } catch (e) {
        const err = asPassError(e, 'ERR_RECONCILE_HOOK');
        groups = this.dropGroups(groups, (g) => g.remove, err, errors, failed);
      }
    }

    // 5. Apply in one batch; map failures back to VIPs.
    const ops: IpvsOp[] = [];
    const opKeys: string[] = [];
    for (const g of groups) for (const op of g.ops) (ops.push(op), opKeys.push(g.key));
    let results: OpResult[] = [];
    let batchFailed = false;
    if (ops.length > 0) {
      try {
        results = this.kernel.apply(ops);
      } catch (e) {
        // The batch's outcome is unknown (ENOBUFS, timeout): every VIP in it retries, and a full resync re-reads the kernel.
        const err = asPassError(e, 'ERR_RECONCILE_APPLY');
        errors.push(err);
        for (const g of groups) failed.add(g.key);
        batchFailed = true;
        this.nextFullAt = Math.min(this.nextFullAt, t0 + this.backoffFull());
        results = ops.map((op) => ({ op, error: Object.assign(new Error(err.message), { code: err.code }) }));
      }
    }
    const failedOps = new Set<number>();
    results.forEach((r, i) => {
      if (!r.error) return;
      const errno = (r.error as { errnoName?: string }).errnoName;
      if (errno && BENIGN.has(`${r.op.kind}:${errno}`)) return; // already as we want it
      failedOps.add(i);
      const key = opKeys[i]!;
      failed.add(key);
      if (!batchFailed && errors.length < 1000) errors.push({ vip: key, code: r.error.code, message: r.error.message, op: fmtOp(r.op) });
    });

    // 6. Bookkeeping per VIP: backoff or forget, drain state, requeue draining VIPs.
    const released: string[] = [...stale];
    const announce: string[] = [];
    for (const g of groups) {
      this.drains.apply(g.drainUpdates);
      events.push(...g.events);
      if (failed.has(g.key)) continue;
      this.queue.forget(g.key);
      if (g.remove) released.push(g.key);
      if (g.add) announce.push(g.key);
      if (g.drainDeadline !== undefined) this.queue.addAfter(g.key, Math.min(this.drainPollMs, Math.max(0, g.drainDeadline - t0)));
    }
    for (const k of failed) this.queue.addRateLimited(k);
    const planned = new Set(groups.map((g) => g.key));
    for (const k of scope) if (!failed.has(k) && !planned.has(k)) this.queue.forget(k);
    if (released.length > 0) {
      try {
        this.ownership.release(released);
        for (const k of released) this.drains.forgetVip(k);
      } catch (e) {
        errors.push(asPassError(e, 'ERR_OWNERSHIP_WRITE')); // retried by the next full pass (stale keys)
      }
    }

    // 7. Announce (address, DNS) after IPVS forwards. On startup: every desired VIP the kernel has.
    if (!this.startupDone && full) {
      for (const k of present) if (this.desired.vip(k) && this.ownership.isOwned(k)) announce.push(k);
      this.startupDone = true;
    }
    for (const k of announce) this.pendingAnnounce.add(k);
    if (this.pendingAnnounce.size > 0 && this.hooks.afterAdd) {
      const list = [...this.pendingAnnounce].filter((k) => this.desired.vip(k) !== undefined).sort();
      try {
        await this.hooks.afterAdd([...new Set(list)]);
        this.pendingAnnounce.clear();
      } catch (e) {
        errors.push(asPassError(e, 'ERR_RECONCILE_HOOK'));
        for (const k of list) this.queue.addRateLimited(k);
      }
    } else {
      this.pendingAnnounce.clear();
    }

    this.report({ trigger, full, t0, wall0, keys: scope.size, ops, results, failedOps, events, errors, failed, foreign: foreignTotal });
  }

  /** Full pass: one dump; the scope is everything desired, in the kernel, or recorded, minus keys backing off. */
  private readDump(full: boolean, ready: Map<string, QueueReason>): { scope: Set<string>; desired: Vip[]; actual: ServiceWithDestinations[] } {
    const dump = this.kernel.dump();
    const scope = new Set<string>();
    if (full) {
      const consider = (k: string) => {
        if (ready.has(k) || !this.queue.backingOff(k)) {
          scope.add(k);
          this.queue.take(k);
        }
      };
      for (const v of this.desired.vips()) consider(v.key);
      for (const s of dump) {
        const k = keyOfService(s);
        if (k !== undefined) consider(k);
      }
      for (const k of this.ownership.keys()) consider(k);
    }
    for (const k of ready.keys()) scope.add(k);
    const desired: Vip[] = [];
    for (const k of scope) {
      const v = this.desired.vip(k);
      if (v) desired.push(v);
    }
    const actual: ServiceWithDestinations[] = [];
    for (const s of dump) {
      const k = keyOfService(s);
      // Full passes keep foreign services too, so they are counted (never touched).
      if (k === undefined ? full : scope.has(k)) actual.push(s);
    }
    return { scope, desired, actual };
  }

  /** Per-key pass: `service()` + `destinations()` per due key; a key whose read fails backs off alone. */
  private readKeys(ready: Map<string, QueueReason>, errors: PassError[], failed: Set<string>): { scope: Set<string>; desired: Vip[]; actual: ServiceWithDestinations[] } {
    const scope = new Set<string>();
    const desired: Vip[] = [];
    const actual: ServiceWithDestinations[] = [];
    for (const k of ready.keys()) {
      try {
        const sk = serviceKeyOf(k);
        const s = this.kernel.service(sk);
        if (s) {
          let dests: DestinationEntry[];
          try {
            dests = this.kernel.destinations(sk);
          } catch (e) {
            if ((e as { errnoName?: string }).errnoName !== 'ESRCH') throw e;
            dests = [];
          }
          actual.push({ ...s, destinations: dests });
        }
      } catch (e) {
        errors.push({ ...asPassError(e, 'ERR_RECONCILE_READ'), vip: k });
        failed.add(k);
        this.queue.addRateLimited(k);
        continue;
      }
      scope.add(k);
      const v = this.desired.vip(k);
      if (v) desired.push(v);
    }
    return { scope, desired, actual };
  }

  private dropGroups(groups: VipPlan[], pred: (g: VipPlan) => boolean, err: PassError, errors: PassError[], failed: Set<string>): VipPlan[] {
    const keep: VipPlan[] = [];
    for (const g of groups) {
      if (!pred(g)) {
        keep.push(g);
        continue;
      }
      errors.push({ ...err, vip: g.key });
      failed.add(g.key);
    }
    return keep;
  }

  private backoffFull(): number {
    this.fullFailures++;
    return Math.min(5 * 60_000, 1000 * 2 ** Math.min(this.fullFailures - 1, 30));
  }

  private report(r: {
    trigger: PassTrigger;
    full: boolean;
    t0: number;
    wall0: number;
    keys: number;
    ops: IpvsOp[];
    results: OpResult[];
    failedOps?: Set<number>;
    events: PlanEvent[];
    errors: PassError[];
    failed: Set<string>;
    foreign: number;
  }): void {
    this.passCount++;
    let backends = 0;
    const vips = this.desired.vips();
    for (const v of vips) backends += v.backends.length;
    const result: PassResult = {
      trigger: r.trigger,
      full: r.full,
      startedAt: r.t0,
      durationMs: Math.round((performance.now() - r.wall0) * 1000) / 1000,
      keys: r.keys,
      ops: countOps(r.ops),
      opsTotal: r.ops.length,
      failedOps: r.failedOps?.size ?? 0,
      vips: vips.length,
      backends,
      draining: this.drains.size,
      foreign: r.foreign,
      events: r.events,
      errors: r.errors,
      failedVips: [...r.failed].sort(),
    };
    if (this.logger) {
      if (this.logger.isDebugEnabled()) {
        r.results.forEach((res, i) => {
          this.logger!.debug('ipvs op', { op: fmtOp(r.ops[i]!), error: res.error?.message });
        });
      }
      this.logger.log(result.errors.length > 0 ? 'warn' : 'info', 'reconcile pass', passLogFields(result));
    }
    this.onPass?.(result);
  }
}
