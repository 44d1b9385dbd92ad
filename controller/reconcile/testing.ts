// Fakes for the reconciler's unit tests (not a test file): an in-memory IPVS
// that answers like the kernel (EEXIST, ESRCH, ENOENT with the same errno
// numbers and messages as IpvsHandle), counts reads and writes, and lets a
// test set connection counts or play `ipvsadm`; and a manual clock.

import {
  destinationKeyId,
  emptyStats,
  formatServiceKey,
  serviceKeyId,
  type Destination,
  type DestinationEntry,
  type DestinationKey,
  type IpvsOp,
  type OpResult,
  type Service,
  type ServiceEntry,
  type ServiceKey,
} from '../../native/ipvs/index.js';
import { opError, validateOp } from '../../native/ipvs/ops.js';
import { NetlinkError } from '../../native/errors.js';
import type { DesiredTable, Kernel, Timers } from './loop.js';
import type { Vip } from '../model/index.js';

const ERRNO = { ENOENT: 2, ESRCH: 3, EEXIST: 17, EINVAL: 22 } as const;

interface FakeService {
  service: Service;
  dests: Map<string, DestinationEntry>;
}

export class FakeKernel implements Kernel {
  private readonly table = new Map<string, FakeService>();
  /** Every write op applied through apply() (successful or not), in order. */
  readonly writes: IpvsOp[] = [];
  reads = { services: 0, service: 0, destinations: 0 };
  applyCalls = 0;
  /** Schedulers this "kernel" has modules for. */
  schedulers = new Set(['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'mh', 'sed', 'nq']);
  /** Throws from the next read (dump/service/destinations) when set. */
  failReads: Error | undefined;
  /** Throws from apply() when set (ENOBUFS-like: outcome unknown). */
  failApply: Error | undefined;

  services(): ServiceEntry[] {
    this.reads.services++;
    if (this.failReads) throw this.failReads;
    return [...this.table.values()].map((s) => entry(s.service));
  }

  service(key: ServiceKey): ServiceEntry | undefined {
    this.reads.service++;
    if (this.failReads) throw this.failReads;
    const s = this.table.get(serviceKeyId(key));
    return s ? entry(s.service) : undefined;
  }

  destinations(key: ServiceKey): DestinationEntry[] {
    this.reads.destinations++;
    if (this.failReads) throw this.failReads;
    const s = this.table.get(serviceKeyId(key));
    // As the kernel: listing the destinations of a missing service fails with ESRCH.
    if (!s) throw new NetlinkError(ERRNO.ESRCH, 'list destinations', formatServiceKey(key));
    return [...s.dests.values()].map((d) => ({ ...d }));
  }

  apply(ops: readonly IpvsOp[]): OpResult[] {
    this.applyCalls++;
    if (this.failApply) throw this.failApply;
    return ops.map((op) => {
      this.writes.push(op);
      try {
        validateOp(op);
      } catch (e) {
        return { op, error: e as Error & { code: string } };
      }
      const errno = this.one(op);
      return errno ? { op, error: opError(op, { errno, extAck: undefined }) } : { op };
    });
  }

  /** `ipvsadm -A` etc. without going through apply(): not counted as l4lb's writes. Throws the kernel's error. */
  ipvsadm(op: IpvsOp): void {
    const errno = this.one(op);
    if (errno) throw opError(op, { errno, extAck: undefined });
  }

  /** Sets a destination's connection counts (what `ipvsadm -Ln` shows as ActiveConn/InActConn). */
  setConnections(svc: ServiceKey, dest: DestinationKey, active: number, inactive = 0): void {
    const d = this.table.get(serviceKeyId(svc))?.dests.get(destinationKeyId(dest));
    if (!d) throw new Error(`no destination ${dest.address}:${dest.port}`);
    d.activeConnections = active;
    d.inactiveConnections = inactive;
  }

  /** `ipvsadm -S -n`-like lines, sorted: compares whole tables in tests. */
  save(): string[] {
    const out: string[] = [];
    for (const s of this.table.values()) {
      const v = s.service;
      out.push(`-A ${v.protocol} ${v.address}:${v.port} fwm=${v.fwmark} -s ${v.scheduler} flags=${v.flags}`);
      for (const d of s.dests.values()) out.push(`-a ${v.protocol} ${v.address}:${v.port} -r ${d.address}:${d.port} ${d.forward} -w ${d.weight}`);
    }
    return out.sort();
  }

  get size(): number {
    return this.table.size;
  }

  /** A destination as the kernel holds it, or undefined. */
  dest(svc: ServiceKey, dest: DestinationKey): DestinationEntry | undefined {
    return this.table.get(serviceKeyId(svc))?.dests.get(destinationKeyId(dest));
  }

  has(svc: ServiceKey): boolean {
    return this.table.has(serviceKeyId(svc));
  }

  private one(op: IpvsOp): number {
    const id = serviceKeyId(op.service);
    const s = this.table.get(id);
    switch (op.kind) {
      case 'add-service':
        if (s) return ERRNO.EEXIST;
        if (!this.schedulers.has(op.service.scheduler)) return ERRNO.ENOENT;
        this.table.set(id, { service: { ...op.service }, dests: new Map() });
        return 0;
      case 'edit-service':
        if (!s) return ERRNO.ESRCH;
        if (!this.schedulers.has(op.service.scheduler)) return ERRNO.ENOENT;
        s.service = { ...op.service };
        return 0;
      case 'delete-service':
        if (!s) return ERRNO.ESRCH;
        this.table.delete(id);
        return 0;
      case 'add-destination': {
        if (!s) return ERRNO.ESRCH;
        const did = destinationKeyId(op.destination);
        if (s.dests.has(did)) return ERRNO.EEXIST;
        s.dests.set(did, destEntry(op.destination));
        return 0;
      }
      case 'edit-destination': {
        if (!s) return ERRNO.ESRCH;
        const cur = s.dests.get(destinationKeyId(op.destination));
        if (!cur) return ERRNO.ENOENT;
        Object.assign(cur, { ...op.destination, activeConnections: cur.activeConnections, inactiveConnections: cur.inactiveConnections });
        return 0;
      }
      case 'delete-destination':
        if (!s) return ERRNO.ESRCH;
        return s.dests.delete(destinationKeyId(op.destination)) ? 0 : ERRNO.ENOENT;
    }
  }
}

function entry(s: Service): ServiceEntry {
  return { ...s, stats: emptyStats() };
}

function destEntry(d: Destination): DestinationEntry {
  return { ...d, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: emptyStats() };
}

/** A manual clock: time moves only in advance(). */
export class FakeTimers implements Timers {
  private t = 1_000_000;
  private seq = 0;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): { readonly id: unknown } {
    const id = ++this.seq;
    this.pending.set(id, { at: this.t + Math.max(0, ms), fn });
    return { id };
  }

  clearTimeout(h: { readonly id: unknown } | undefined): void {
    if (h) this.pending.delete(h.id as number);
  }

  /** Delay until the next timer, or undefined. */
  nextIn(): number | undefined {
    let min = Infinity;
    for (const e of this.pending.values()) min = Math.min(min, e.at);
    return min === Infinity ? undefined : min - this.t;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const [id, e] of this.pending) if (e.at <= end && (!best || e.at < best[1].at || (e.at === best[1].at && id < best[0]))) best = [id, e];
      if (!best) break;
      this.pending.delete(best[0]);
      this.t = Math.max(this.t, best[1].at);
      best[1].fn();
    }
    this.t = end;
  }
}

/** A desired table the test edits directly (VipTable has its own tests). */
export class MapTable implements DesiredTable {
  readonly map = new Map<string, Vip>();
  constructor(vips: readonly Vip[] = []) {
    for (const v of vips) this.map.set(v.key, v);
  }
  vips(): Vip[] {
    return [...this.map.values()];
  }
  vip(key: string): Vip | undefined {
    return this.map.get(key);
  }
  totals(): { vips: number; backends: number } {
    let backends = 0;
    for (const v of this.map.values()) backends += v.backends.length;
    return { vips: this.map.size, backends };
  }
  set(v: Vip): void {
    this.map.set(v.key, v);
  }
  delete(key: string): void {
    this.map.delete(key);
  }
}
