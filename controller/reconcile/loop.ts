// The reconcile loop: one worker, level-triggered. Handlers only `mark` VIP
// keys; a pass takes every key that is due, reads those services from the
// kernel, plans, records ownership, runs the removal hook, applies everything
// in ONE batch, maps failures back to their VIPs (which back off; the others
// are done), runs the add hook, and reports ONE PassResult. `stop()` leaves
// the kernel as it is.
//
// Sweeps: a full resync (and any burst of at least `dumpThreshold` keys) reads
// the service list once, then works through its keys in chunks sized to take
// about `chunkBudgetMs` (20 ms) each, reading each service's destinations just before
// planning it. Between chunks the event loop runs, and a change that is due
// is reconciled before the next chunk, so a resync of 10,000 VIPs never holds
// a change back for more than one chunk, and no pass holds the whole kernel
// table in memory. A key a change pass handled is dropped from the sweep
// (it was just read fresh). One PassResult covers the whole sweep.
//
// Order per VIP (anchors item 9): IPVS forwards before the VIP is announced
// (`afterAdd` runs after the batch: address, then DNS), and a VIP is
// withdrawn before IPVS forgets it (`beforeRemove` runs before the batch: DNS,
// then address). A failing `beforeRemove` keeps the service (retried).

import type { Logger } from '../log.js';
import type { Vip } from '../model/index.js';
import type { DestinationEntry, IpvsOp, ServiceEntry, ServiceWithDestinations } from '../../native/ipvs/index.js';
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
  /** From this many due keys on, one service list plus chunks beats per-key reads; default 256. */
  dumpThreshold?: number;
  /** Target time of one sweep chunk (the chunk size adapts to it); default 20 ms. */
  chunkBudgetMs?: number;
  /** A fixed number of keys per sweep chunk instead of the adaptive size (tests). */
  chunkKeys?: number;
  /**
   * Runs the next sweep chunk after pending I/O (the daemon passes
   * `setImmediate`): a 0 ms timer may run in the same timers phase and starve
   * the sources' sockets. Default: a 0 ms timer (fine for fake clocks).
   */
  yieldToIo?: (fn: () => void) => void;
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
  private readonly chunkBudgetMs: number;
  private readonly fixedChunkKeys: number | undefined;
  private readonly yieldToIo: ((fn: () => void) => void) | undefined;
  /** Token of a pending yieldToIo callback; a callback whose token is stale does nothing. */
  private yielding: object | undefined;
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
  /** End of the last change pass or sweep: changes are coalesced for `minIntervalMs` after it. */
  private lastChangeEnd = -Infinity;
  private sweep: Sweep | undefined;
  /** Measured cost of one key in a sweep chunk (ms); the chunk size follows from it and the budget. */
  private msPerKey: number | undefined;
  /** Keys the last chunk took: the next chunk may at most double it (one fast chunk is no proof). */
  private lastTaken = 0;
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
    this.chunkBudgetMs = o.chunkBudgetMs ?? 20;
    this.fixedChunkKeys = o.chunkKeys;
    this.yieldToIo = o.yieldToIo;
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
    const keys: string[] = [];
    for (const k of vipKeys) keys.push(canonicalKey(k));
    this.queue.addMany(keys);
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
    this.yielding = undefined;
    this.sweep = undefined;
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

  /** A sweep (full resync or large burst) is under way. */
  get sweeping(): boolean {
    return this.sweep !== undefined;
  }

  private schedule(): void {
    if (!this.started || this.stopped || this.running || this.yielding) return;
    if (this.sweep && this.yieldToIo) {
      this.timers.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      const token = {};
      this.yielding = token;
      this.yieldToIo(() => {
        if (this.yielding !== token) return;
        this.yielding = undefined;
        if (!this.stopped) this.run();
      });
      return;
    }
    const now = this.timers.now();
    const next = this.queue.nextReadyAt();
    const changeAt = next === undefined ? Infinity : Math.max(next, this.lastChangeEnd + this.minIntervalMs);
    // A sweep goes on at once (I/O runs in between chunks); a full one starts when due.
    const sweepAt = this.sweep ? now : this.nextFullAt;
    const due = Math.min(changeAt, sweepAt);
    if (due === Infinity) return;
    const at = Math.max(due, now);
    if (this.timer && this.timerAt <= at) return;
    this.timers.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.run();
    }, at - now);
  }

  private run(): void {
    this.running = this.step().finally(() => {
      this.running = undefined;
      this.schedule();
    });
  }

  /** One unit of work: due changes first, else the next sweep chunk, else a new full sweep. */
  private async step(): Promise<void> {
    const now = this.timers.now();
    const changesDue = (this.queue.nextReadyAt() ?? Infinity) <= now && now >= this.lastChangeEnd + this.minIntervalMs;
    if (!this.sweep && this.nextFullAt <= now) {
      // Changes already queued go first, without waiting out the coalescing interval: a
      // resync is about to hold the loop anyway. A burst joins the sweep, at its front.
      const ready = (this.queue.nextReadyAt() ?? Infinity) <= now ? this.queue.takeReady() : new Map<string, QueueReason>();
      if (ready.size > 0 && ready.size < this.dumpThreshold) {
        await this.changePass(ready);
        this.lastChangeEnd = this.timers.now();
        return; // the sweep starts with the next step, at once
      }
      this.startSweep(true, ready);
      return; // the scope and the chunks follow, one step each
    }
    if (changesDue) {
      const ready = this.queue.takeReady();
      if (ready.size >= this.dumpThreshold) {
        if (this.sweep) {
          this.joinSweep(this.sweep, ready);
          await this.chunk(this.sweep);
        } else {
          this.startSweep(false, ready);
        }
      } else {
        await this.changePass(ready);
      }
      // The coalescing interval runs from the end of every change pass, sweep or not.
      this.lastChangeEnd = this.timers.now();
      return;
    }
    if (this.sweep) await this.chunk(this.sweep);
  }

  /** A few keys: read each (service + destinations), plan, apply, report. */
  private async changePass(ready: Map<string, QueueReason>): Promise<void> {
    const acc = this.newAccum('drain', false);
    for (const r of ready.values()) acc.trigger = higher(acc.trigger, r);
    this.noteOwnershipProblem(acc);
    const read = this.newRead();
    for (const k of ready.keys()) {
      // This key is now read fresh: a sweep under way need not do it again.
      this.sweep?.pending.delete(k);
      this.sweep?.handled.add(k);
      this.readInto(read, k, () => this.kernel.service(serviceKeyOf(k)), acc);
    }
    await this.process(read.scope, read.desired, read.actual, acc, false);
    acc.workMs = acc.maxChunkMs = performance.now() - acc.wall0;
    acc.chunks = 1;
    this.finish(acc);
  }

  /**
   * Starts a sweep: lists the kernel's services once and fixes the keys to
   * work through. A full sweep covers everything desired, in the kernel or in
   * the record (minus keys backing off); otherwise the given keys.
   */
  private startSweep(full: boolean, ready: Map<string, QueueReason>): void {
    const acc = this.newAccum(full ? (this.startupDone ? 'resync' : 'startup') : 'change', full);
    for (const r of ready.values()) acc.trigger = higher(acc.trigger, r);
    this.noteOwnershipProblem(acc);
    const w0 = performance.now();
    let list: ServiceEntry[];
    try {
      list = this.kernel.services();
    } catch (e) {
      acc.errors.push(asPassError(e, 'ERR_RECONCILE_READ'));
      for (const k of ready.keys()) {
        this.queue.addRateLimited(k);
        acc.failed.add(k);
      }
      if (full) this.nextFullAt = acc.t0 + this.backoffFull();
      acc.workMs += performance.now() - w0;
      this.finish(acc);
      return;
    }
    if (full) {
      this.nextFullAt = acc.t0 + this.resyncMs;
      this.fullFailures = 0;
    }
    const services = new Map<string, ServiceEntry>();
    for (const s of list) {
      const k = keyOfService(s);
      // Firewall-mark and SCTP services are never l4lb's: counted, never touched.
      if (k === undefined) acc.foreign++;
      else services.set(k, s);
    }
    acc.workMs += performance.now() - w0;
    acc.maxChunkMs = Math.max(acc.maxChunkMs, performance.now() - w0);
    // The keys are fixed by the next step: the loop yields in between.
    this.sweep = { acc, keys: [], next: 0, pending: new Set(), services, fresh: new Set(), scope: { full, ready }, handled: new Set() };
  }

  /**
   * The second step of a sweep: which keys it covers. A full sweep covers
   * everything desired, in the kernel or in the record (minus keys backing
   * off and keys a change pass handled since the service list was read).
   */
  private buildScope(sw: Sweep, full: boolean, ready: Map<string, QueueReason>): void {
    const acc = sw.acc;
    const services = sw.services;
    const keys = new Set<string>();
    for (const k of ready.keys()) if (!sw.handled.has(k)) keys.add(k);
    if (full) {
      // A key in the queue (a change waiting out the coalescing interval, a retry backing
      // off, a drain recheck) is the queue's: it is read fresh when due, not from this list.
      const consider = (k: string) => {
        if (!sw.handled.has(k) && !this.queue.has(k)) keys.add(k);
      };
      for (const v of this.desired.vips()) consider(v.key);
      for (const k of services.keys()) consider(k);
      for (const k of this.ownership.keys()) consider(k);
    }
    // One walk: recorded keys gone from the kernel and not desired (a full sweep just
    // forgets them), and desired keys the sweep will create.
    const order: string[] = [];
    const stale: string[] = [];
    const claims: string[] = [];
    for (const k of keys) {
      const inKernel = services.has(k);
      const wanted = this.desired.vip(k) !== undefined;
      const owned = this.ownership.isOwned(k);
      if (full && !inKernel && !wanted && owned) stale.push(k);
      else {
        order.push(k);
        if (!inKernel && wanted && !owned) claims.push(k);
      }
    }
    if (stale.length > 0) {
      try {
        this.ownership.release(stale);
        for (const k of stale) this.drains.forgetVip(k);
      } catch (e) {
        acc.errors.push(asPassError(e, 'ERR_OWNERSHIP_WRITE')); // retried by the next full sweep
      }
    }
    if (full && this.ownership.degraded) {
      try {
        this.ownership.repair();
      } catch (e) {
        acc.errors.push(asPassError(e, 'ERR_OWNERSHIP_WRITE'));
      }
    }
    // Claim every desired key the sweep will create in one record write, not one per chunk
    // (a key claimed but never created is released by the next full sweep). Adoptions are
    // left to the chunks (they report them). On failure each chunk claims its own keys and
    // reports the error per VIP.
    if (claims.length > 0) {
      try {
        this.ownership.claim(claims);
      } catch {
        // Reported by the chunks' own claims.
      }
    }
    // Keys a burst added meanwhile stay; concat, since a spread of 100,000 arguments overflows the stack.
    sw.keys = sw.keys.length > 0 ? sw.keys.concat(order) : order;
    for (const k of order) sw.pending.add(k);
  }

  /** A burst that arrives during a sweep joins it; its services are read fresh (the list predates them). */
  private joinSweep(sw: Sweep, ready: Map<string, QueueReason>): void {
    for (const [k, r] of ready) {
      sw.acc.trigger = higher(sw.acc.trigger, r);
      if (!sw.pending.has(k)) sw.keys.push(k);
      sw.pending.add(k);
      sw.fresh.add(k);
    }
  }

  /** The next chunk of a sweep; the last one reports the whole sweep. */
  private async chunk(sw: Sweep): Promise<void> {
    const w0 = performance.now();
    if (sw.scope) {
      const { full, ready } = sw.scope;
      sw.scope = undefined;
      this.buildScope(sw, full, ready);
      const ms = performance.now() - w0;
      sw.acc.workMs += ms;
      sw.acc.maxChunkMs = Math.max(sw.acc.maxChunkMs, ms);
      if (sw.keys.length > 0) return; // the chunks follow, after a yield
    }
    const read = this.newRead();
    // The startup sweep gets 5x the budget: nothing forwards yet, so throughput beats latency.
    const budget = sw.acc.trigger === 'startup' ? 5 * this.chunkBudgetMs : this.chunkBudgetMs;
    const limit = this.chunkSize(budget);
    let taken = 0;
    while (sw.next < sw.keys.length && taken < limit) {
      const k = sw.keys[sw.next++]!;
      if (!sw.pending.delete(k)) continue; // a change pass did it meanwhile
      // Queued again (a change, a drain recheck): the queue owns it and reads it fresh when due.
      if (this.queue.has(k) && !sw.fresh.has(k)) continue;
      taken++;
      this.readInto(read, k, () => (sw.fresh.has(k) ? this.kernel.service(serviceKeyOf(k)) : sw.services.get(k)), sw.acc);
    }
    await this.process(read.scope, read.desired, read.actual, sw.acc, sw.acc.trigger === 'startup');
    const ms = performance.now() - w0;
    sw.acc.workMs += ms;
    sw.acc.maxChunkMs = Math.max(sw.acc.maxChunkMs, ms);
    sw.acc.chunks++;
    // A sweep's last few keys are too few to measure by.
    if (taken >= 32 || (taken > 0 && this.msPerKey === undefined)) {
      this.msPerKey = Math.max(ms / taken, 1e-3);
      this.lastTaken = taken;
    }
    if (sw.next >= sw.keys.length) {
      this.sweep = undefined;
      if (sw.acc.trigger === 'startup') this.startupDone = true;
      // Changes that waited for this chunk are due now: a sweep is no change pass, so it does
      // not restart their coalescing interval.
      this.finish(sw.acc);
    }
  }

  private chunkSize(budgetMs: number): number {
    return this.fixedChunkKeys ?? nextChunkKeys(budgetMs, this.msPerKey, this.lastTaken);
  }

  private newRead(): KeyReads {
    return { scope: new Set(), desired: [], actual: [] };
  }

  /** Reads one key into `r`; a key whose read fails is reported on its VIP and backs off alone. */
  private readInto(r: KeyReads, k: string, service: () => ServiceEntry | undefined, acc: Accum): void {
    let s: ServiceWithDestinations | undefined;
    try {
      s = this.readKey(k, service());
    } catch (e) {
      acc.errors.push({ ...asPassError(e, 'ERR_RECONCILE_READ'), vip: k });
      acc.failed.add(k);
      this.queue.addRateLimited(k);
      return;
    }
    if (s) r.actual.push(s);
    r.scope.add(k);
    const v = this.desired.vip(k);
    if (v) r.desired.push(v);
  }

  /**
   * A key's kernel service with its destinations, or undefined when the
   * service does not exist (also when it vanished between the service read and
   * the destination read: ESRCH).
   */
  private readKey(k: string, s: ServiceEntry | undefined): ServiceWithDestinations | undefined {
    if (!s) return undefined;
    let dests: DestinationEntry[];
    try {
      dests = this.kernel.destinations(serviceKeyOf(k));
    } catch (e) {
      if ((e as { errnoName?: string }).errnoName === 'ESRCH') return undefined;
      throw e;
    }
    return { ...s, destinations: dests };
  }

  /** Plan, claim, withdraw, apply, bookkeeping and announce for one set of keys. */
  private async process(scope: Set<string>, desired: Vip[], actual: ServiceWithDestinations[], acc: Accum, startup: boolean): Promise<void> {
    const t0 = this.timers.now();
    // This chunk's failures (each backs off once); merged into the pass's at the end.
    const failed = new Set<string>();
    acc.keys += scope.size;

    // Plan.
    const p = plan(desired, actual, { owned: this.ownership, drains: this.drains, now: t0, config: this.config });
    acc.foreign += p.foreign.length;

    // Claim ownership before creating or adopting.
    let groups = p.groups;
    const claims = groups.filter((g) => g.claim).map((g) => g.key);
    if (claims.length > 0) {
      try {
        this.ownership.claim(claims);
      } catch (e) {
        const err = asPassError(e, 'ERR_OWNERSHIP_WRITE');
        groups = this.dropGroups(groups, (g) => g.claim, err, acc.errors, failed);
      }
    }

    // Withdraw (DNS, address) before IPVS forgets a VIP.
    const removing = groups.filter((g) => g.remove).map((g) => g.key);
    if (removing.length > 0 && this.hooks.beforeRemove) {
      try {
        await this.hooks.beforeRemove(removing);
      } catch (e) {
        const err = asPassError(e, 'ERR_RECONCILE_HOOK');
        groups = this.dropGroups(groups, (g) => g.remove, err, acc.errors, failed);
      }
    }

    // Apply in one batch; map failures back to VIPs.
    const ops: IpvsOp[] = [];
    const opKeys: string[] = [];
    for (const g of groups) for (const op of g.ops) (ops.push(op), opKeys.push(g.key));
    if (ops.length > 0) {
      let results;
      let batchFailed = false;
      try {
        results = this.kernel.apply(ops);
      } catch (e) {
        // The batch's outcome is unknown (ENOBUFS, timeout): every VIP in it retries, and a full resync re-reads the kernel.
        const err = asPassError(e, 'ERR_RECONCILE_APPLY');
        acc.errors.push(err);
        batchFailed = true;
        this.nextFullAt = Math.min(this.nextFullAt, t0 + this.backoffFull());
        results = ops.map((op) => ({ op, error: Object.assign(new Error(err.message), { code: err.code }) }));
      }
      const debug = this.logger?.isDebugEnabled() ?? false;
      results.forEach((r, i) => {
        const op = ops[i]!;
        acc.ops[op.kind]++;
        acc.opsTotal++;
        if (debug) this.logger!.debug('ipvs op', { op: fmtOp(op), error: r.error?.message });
        if (!r.error) return;
        const errno = (r.error as { errnoName?: string }).errnoName;
        if (errno && BENIGN.has(`${r.op.kind}:${errno}`)) return; // already as we want it
        acc.failedOps++;
        const key = opKeys[i]!;
        failed.add(key);
        if (!batchFailed && acc.errors.length < 1000) acc.errors.push({ vip: key, code: r.error.code, message: r.error.message, op: fmtOp(r.op) });
      });
      if (batchFailed) for (const g of groups) failed.add(g.key);
    }

    // Bookkeeping per VIP: backoff or forget, drain state, requeue draining VIPs.
    const released: string[] = [];
    const announce: string[] = [];
    for (const g of groups) {
      this.drains.apply(g.drainUpdates);
      acc.events.push(...g.events);
      if (failed.has(g.key)) continue;
      this.queue.forget(g.key);
      if (g.remove) released.push(g.key);
      if (g.add) announce.push(g.key);
      if (g.drainDeadline !== undefined) this.queue.addAfter(g.key, Math.min(this.drainPollMs, Math.max(0, g.drainDeadline - t0)));
    }
    for (const k of failed) {
      this.queue.addRateLimited(k);
      acc.failed.add(k);
    }
    const planned = new Set(groups.map((g) => g.key));
    for (const k of scope) if (!failed.has(k) && !planned.has(k)) this.queue.forget(k);
    if (released.length > 0) {
      try {
        this.ownership.release(released);
        for (const k of released) this.drains.forgetVip(k);
      } catch (e) {
        acc.errors.push(asPassError(e, 'ERR_OWNERSHIP_WRITE')); // retried by the next full pass (stale keys)
      }
    }

    // Announce (address, DNS) after IPVS forwards. On startup: every desired VIP the kernel has.
    if (startup) {
      for (const s of actual) {
        const k = keyOfService(s);
        if (k !== undefined && this.desired.vip(k) && this.ownership.isOwned(k)) announce.push(k);
      }
    }
    for (const k of announce) this.pendingAnnounce.add(k);
    if (this.pendingAnnounce.size > 0 && this.hooks.afterAdd) {
      const list = [...this.pendingAnnounce].filter((k) => this.desired.vip(k) !== undefined).sort();
      try {
        await this.hooks.afterAdd(list);
        this.pendingAnnounce.clear();
      } catch (e) {
        acc.errors.push(asPassError(e, 'ERR_RECONCILE_HOOK'));
        for (const k of list) this.queue.addRateLimited(k);
      }
    } else {
      this.pendingAnnounce.clear();
    }
  }

  private newAccum(trigger: PassTrigger, full: boolean): Accum {
    return {
      trigger,
      full,
      t0: this.timers.now(),
      wall0: performance.now(),
      workMs: 0,
      maxChunkMs: 0,
      chunks: 0,
      keys: 0,
      ops: countOps([]),
      opsTotal: 0,
      failedOps: 0,
      events: [],
      errors: [],
      failed: new Set(),
      foreign: 0,
    };
  }

  private noteOwnershipProblem(acc: Accum): void {
    if (this.ownership.degraded && this.ownership.problem) {
      acc.errors.push({ code: this.ownership.problem.code, message: this.ownership.problem.message });
    }
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

  /** Reports one pass (or a whole sweep): one PassResult, one log line. */
  private finish(acc: Accum): void {
    this.passCount++;
    const { vips, backends } = this.desired.totals();
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const result: PassResult = {
      trigger: acc.trigger,
      full: acc.full,
      startedAt: acc.t0,
      durationMs: round(acc.workMs),
      wallMs: round(performance.now() - acc.wall0),
      chunks: Math.max(1, acc.chunks),
      maxChunkMs: round(acc.maxChunkMs),
      keys: acc.keys,
      ops: acc.ops,
      opsTotal: acc.opsTotal,
      failedOps: acc.failedOps,
      vips,
      backends,
      draining: this.drains.size,
      foreign: acc.foreign,
      events: acc.events,
      errors: acc.errors,
      failedVips: [...acc.failed].sort(),
    };
    this.logger?.log(result.errors.length > 0 ? 'warn' : 'info', 'reconcile pass', passLogFields(result));
    this.onPass?.(result);
  }
}

/**
 * Keys for the next sweep chunk: what takes about `budgetMs` at the last
 * chunk's cost per key (the startup sweep's chunks and a resync's share one
 * measure, each with its own budget), at most twice the last chunk (one fast
 * chunk is no proof), 32 to 8,192; 512 before anything was measured.
 */
export function nextChunkKeys(budgetMs: number, msPerKey: number | undefined, lastTaken: number): number {
  if (msPerKey === undefined) return 512;
  const fit = Math.round(budgetMs / msPerKey);
  return Math.max(32, Math.min(8192, fit, lastTaken > 0 ? 2 * lastTaken : fit));
}

/** What a pass (or a sweep, over its chunks) has done so far. */
interface Accum {
  trigger: PassTrigger;
  full: boolean;
  t0: number;
  wall0: number;
  workMs: number;
  maxChunkMs: number;
  chunks: number;
  keys: number;
  ops: Record<IpvsOp['kind'], number>;
  opsTotal: number;
  failedOps: number;
  events: PlanEvent[];
  errors: PassError[];
  failed: Set<string>;
  foreign: number;
}

/** Keys read for one pass or chunk: their desired VIPs and kernel services. */
interface KeyReads {
  scope: Set<string>;
  desired: Vip[];
  actual: ServiceWithDestinations[];
}

/** A sweep under way: the keys to work through and the service list read at its start. */
interface Sweep {
  acc: Accum;
  keys: string[];
  next: number;
  /** Keys not yet done; a change pass that handles a key removes it. */
  pending: Set<string>;
  /** The kernel's services when the sweep started, by VIP key. */
  services: Map<string, ServiceEntry>;
  /** Keys that joined later: their service is read fresh. */
  fresh: Set<string>;
  /** Set until the scope step has run (the step after the service list). */
  scope: { full: boolean; ready: Map<string, QueueReason> } | undefined;
  /** Keys a change pass handled since the sweep started: read fresh, never redone from the list. */
  handled: Set<string>;
}
