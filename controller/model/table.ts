// The incremental desired table: tasks in, VIPs (address, protocol, port ->
// backends) out. A change costs O(size of the changed tasks + backends of the
// VIPs they touch); `recomputedVips` counts VIP rebuilds so tests can prove it.
//
// Layers: task -> contributions (derive.ts) -> groups (a VIP before it has an
// address: protocol + name-or-IP + port) -> VIPs, one per family with
// backends. Named VIPs get their address from one Allocator per family; a
// name is allocated while any of its groups has a backend in that family,
// and IP VIP addresses are reserved in the pools so no name ever takes them.

import { createHash } from 'node:crypto';
import { Allocator } from './allocator.js';
import { addressSortKey, backendOrderKey, compareOrderKeys, deriveTask, type Contribution, type Derived, type GroupInfo } from './derive.js';
import { ModelError } from './errors.js';
import { homeOffset } from './hash.js';
import { hostPort } from './ip.js';
import { fqdnOf } from './naming.js';
import { poolAddress, poolOffset, resolveOptions, type Pool, type ResolvedOptions } from './options.js';
import { electScheduler, type SchedulerVote } from './scheduler.js';
import type { Backend, Family, LabelRejection, ModelOptions, NameAddress, Task, TaskRef, UnallocatedName, Vip } from './types.js';

export interface ChangeSummary {
  /** Table generation after the change (bumped only if some VIP changed). */
  generation: number;
  /** VIP keys added, removed or modified, sorted. */
  changed: string[];
  /**
   * VIPs rebuilt by this change, counted per group: a (protocol, name or IP,
   * port) whose VIPs (one per family) were recomputed.
   */
  recomputed: number;
  /** rejected() may differ (it does not bump the generation). */
  rejectedChanged: boolean;
}

export interface TableBatch {
  upsert?: readonly Task[];
  remove?: readonly TaskRef[];
}

interface StoredTask {
  fingerprint: string;
  derived: Derived;
}

interface Group {
  info: GroupInfo;
  contribs: Map<string, Contribution>;
  /** VIP keys this group currently produces (one per family). */
  vipKeys: string[];
}

const taskKey = (source: string, id: string): string => `${source}\u0000${id}`;

/**
 * A task's 160-bit digest of its JSON text: an unchanged task is skipped, and
 * keeping the text itself would cost about 1 KB per task.
 */
const sameStrings = (a: readonly string[] | undefined, b: readonly string[] | undefined): boolean =>
  (a?.length ?? 0) === (b?.length ?? 0) && (a ?? []).every((x, i) => x === b![i]);

const digest = (json: string): string => createHash('sha1').update(json).digest('base64');
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Equal as JSON values (key order aside): whether a rebuilt VIP changed. A
 * rebuilt VIP shares its unchanged backends with the old one, so most
 * comparisons end at `===`; this replaced a SHA-1 of each VIP's JSON text
 * (10,000 VIPs x 10 backends: 15 MB of text hashed per cold sync).
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    if (x[k] === undefined) continue; // JSON has no undefined: an absent key
    n++;
    if (!sameJson(x[k], y[k])) return false;
  }
  for (const k in y) if (y[k] !== undefined) n--;
  return n === 0;
}
const FAMILIES: readonly Family[] = [4, 6];

export class VipTable {
  private readonly opts: ResolvedOptions;
  private readonly tasks = new Map<string, StoredTask>();
  private readonly bySource = new Map<string, Set<string>>();
  private readonly groups = new Map<string, Group>();
  private readonly nameGroups = new Map<string, Set<string>>();
  /** Backends per name and family, across the name's groups. */
  private readonly nameCounts = new Map<string, [number, number]>();
  private readonly reservedCounts = new Map<string, { family: Family; value: bigint; count: number }>();
  private readonly alloc: Record<Family, Allocator>;
  private readonly vipMap = new Map<string, { vip: Vip; sortKey: string }>();
  private sorted: Vip[] | undefined;
  /** Backends over all VIPs, kept as VIPs change: every reconcile pass reports it. */
  private backendTotal = 0;
  /** names() as last computed; dropped when an address moves (allocators report it). */
  private namesCache: NameAddress[] | undefined;
  /** Bumped when anything DNS serves may have changed: a name's address, a VIP's names or port names, the VIP set. */
  private dnsGen = 0;
  private rejectedCache: LabelRejection[] | undefined;
  private gen = 0;
  /** Total VIP (group) rebuilds since creation; see ChangeSummary.recomputed. */
  recomputedVips = 0;

  constructor(options?: ModelOptions) {
    this.opts = resolveOptions(options);
    const make = (p: Pool): Allocator => new Allocator(p.size, (name) => homeOffset(p, name));
    this.alloc = { 4: make(this.opts.ipv4), 6: make(this.opts.ipv6) };
  }

  get generation(): number {
    return this.gen;
  }

  get options(): ResolvedOptions {
    return this.opts;
  }

  /** Add or replace one task (a terminal task is removed). */
  upsertTask(task: Task): ChangeSummary {
    return this.apply({ upsert: [task] });
  }

  removeTask(ref: TaskRef): ChangeSummary {
    return this.apply({ remove: [ref] });
  }

  /** A source's full snapshot (e.g. after a reconnect) replaces its tasks in one step. */
  replaceSource(source: string, tasks: readonly Task[]): ChangeSummary {
    const keep = new Set<string>();
    for (const t of tasks) {
      if (t.source !== source) {
        throw new ModelError('MODEL_BAD_TASK', `task ${t.id} has source ${t.source}, not ${source}`);
      }
      keep.add(taskKey(t.source, t.id));
    }
    const remove: TaskRef[] = [];
    for (const key of this.bySource.get(source) ?? []) {
      if (!keep.has(key)) remove.push({ source, id: key.slice(source.length + 1) });
    }
    return this.apply({ upsert: tasks, remove });
  }

  /**
   * Any mix of upserts and removals as one step (one generation at most).
   * Throws ModelError(MODEL_BAD_TASK) before changing anything if a task
   * breaks the Task contract; bad labels never throw.
   */
  apply(batch: TableBatch): ChangeSummary {
    for (const task of batch.upsert ?? []) {
      if (typeof task.source !== 'string' || typeof task.id !== 'string' || !Array.isArray(task.ports) ||
        !Array.isArray(task.taskIps)) {
        throw new ModelError('MODEL_BAD_TASK', 'a task needs string source and id, and ports and taskIps arrays');
      }
    }
    const ctx: ApplyContext = { dirty: new Set(), names: new Map(), reservations: new Map(), rejectedChanged: false };
    for (const ref of batch.remove ?? []) this.setTask(ref.source, ref.id, undefined, ctx);
    for (const task of batch.upsert ?? []) {
      this.setTask(task.source, task.id, task.state === 'terminal' ? undefined : task, ctx);
    }
    this.allocate(ctx);
    return { ...this.rebuild(ctx.dirty), rejectedChanged: ctx.rejectedChanged };
  }

  /**
   * Changes when what DNS serves may have changed (addresses of names, a VIP's
   * names or port names, VIPs appearing or going); backend changes leave it
   * alone, so the daemon rebuilds its zone only when this moves.
   */
  get dnsGeneration(): number {
    return this.dnsGen;
  }

  /** The desired table, sorted by family, address, port, protocol. */
  vips(): readonly Vip[] {
    if (this.sorted === undefined) {
      this.sorted = [...this.vipMap.values()].sort((a, b) => cmp(a.sortKey, b.sortKey)).map((e) => e.vip);
    }
    return this.sorted;
  }

  vip(key: string): Vip | undefined {
    return this.vipMap.get(key)?.vip;
  }

  /** VIPs and backends in the table, without sorting or walking it. */
  totals(): { vips: number; backends: number } {
    return { vips: this.vipMap.size, backends: this.backendTotal };
  }

  /** Every skipped label with its reason, sorted by source, task, key, value. */
  rejected(): readonly LabelRejection[] {
    if (this.rejectedCache === undefined) {
      const all: LabelRejection[] = [];
      for (const t of this.tasks.values()) all.push(...t.derived.rejected);
      this.rejectedCache = all.sort(
        (a, b) => cmp(a.source, b.source) || cmp(a.taskId, b.taskId) || cmp(a.key, b.key) ||
          cmp(a.value, b.value) || cmp(a.code, b.code),
      );
    }
    return this.rejectedCache;
  }

  /** Allocated named-VIP addresses (for DNS), sorted by name. */
  names(): readonly NameAddress[] {
    if (this.namesCache !== undefined) return this.namesCache;
    const out: NameAddress[] = [];
    for (const name of [...this.nameGroups.keys()].sort(cmp)) {
      const entry: NameAddress = { name, fqdn: fqdnOf(name) };
      const o4 = this.alloc[4].offsetOf(name);
      const o6 = this.alloc[6].offsetOf(name);
      if (o4 !== undefined) entry.ipv4 = poolAddress(this.opts.ipv4, o4);
      if (o6 !== undefined) entry.ipv6 = poolAddress(this.opts.ipv6, o6);
      if (o4 !== undefined || o6 !== undefined) out.push(entry);
    }
    this.namesCache = out;
    return out;
  }

  /** Names that found no free address in their family's pool. */
  unallocated(): UnallocatedName[] {
    return FAMILIES.flatMap((family) => this.alloc[family].unallocated().map((name) => ({ name, family })));
  }

  get taskCount(): number {
    return this.tasks.size;
  }

  /** Name placements done by the allocators (collision work), for tests. */
  get placements(): number {
    return this.alloc[4].placements + this.alloc[6].placements;
  }

  // Replace one task's contribution; records what must be re-allocated/rebuilt.
  private setTask(source: string, id: string, task: Task | undefined, ctx: ApplyContext): void {
    const key = taskKey(source, id);
    const old = this.tasks.get(key);
    let next: StoredTask | undefined;
    if (task !== undefined) {
      const fingerprint = digest(JSON.stringify(task));
      if (old !== undefined && old.fingerprint === fingerprint) return;
      next = { fingerprint, derived: deriveTask(task, this.opts) };
    }
    if (old === undefined && next === undefined) return;
    if (old !== undefined) this.unlink(key, old.derived, ctx);
    if (next !== undefined) {
      this.tasks.set(key, next);
      let set = this.bySource.get(source);
      if (set === undefined) this.bySource.set(source, (set = new Set()));
      set.add(key);
      this.link(key, next.derived, ctx);
    } else {
      this.tasks.delete(key);
      const set = this.bySource.get(source);
      set?.delete(key);
      if (set?.size === 0) this.bySource.delete(source);
    }
    if ((old?.derived.rejected.length ?? 0) > 0 || (next?.derived.rejected.length ?? 0) > 0) {
      this.rejectedCache = undefined;
      ctx.rejectedChanged = true;
    }
  }

  private link(key: string, d: Derived, ctx: ApplyContext): void {
    for (const c of d.contributions) {
      let g = this.groups.get(c.groupKey);
      if (g === undefined) {
        g = { info: c.info, contribs: new Map(), vipKeys: [] };
        this.groups.set(c.groupKey, g);
        if (c.info.kind === 'named') {
          let set = this.nameGroups.get(c.info.name);
          if (set === undefined) this.nameGroups.set(c.info.name, (set = new Set()));
          set.add(c.groupKey);
        }
      }
      g.contribs.set(key, c);
      ctx.dirty.add(c.groupKey);
      if (c.info.kind === 'named') this.countName(c.info.name, c, +1, ctx);
    }
    for (const r of d.reservations) this.countReservation(r.family, r.value, +1, ctx);
  }

  private unlink(key: string, d: Derived, ctx: ApplyContext): void {
    for (const c of d.contributions) {
      const g = this.groups.get(c.groupKey);
      if (g === undefined) continue;
      g.contribs.delete(key);
      ctx.dirty.add(c.groupKey);
      if (c.info.kind === 'named') this.countName(c.info.name, c, -1, ctx);
    }
    for (const r of d.reservations) this.countReservation(r.family, r.value, -1, ctx);
  }

  private countName(name: string, c: Contribution, sign: 1 | -1, ctx: ApplyContext): void {
    let counts = this.nameCounts.get(name);
    if (counts === undefined) this.nameCounts.set(name, (counts = [0, 0]));
    if (!ctx.names.has(name)) ctx.names.set(name, [counts[0] > 0, counts[1] > 0]);
    for (const b of c.backends) counts[b.ip.includes(':') ? 1 : 0] += sign;
    if (counts[0] === 0 && counts[1] === 0) this.nameCounts.delete(name);
  }

  private countReservation(family: Family, value: bigint, sign: 1 | -1, ctx: ApplyContext): void {
    const key = `${family}|${value}`;
    let r = this.reservedCounts.get(key);
    if (r === undefined) this.reservedCounts.set(key, (r = { family, value, count: 0 }));
    if (!ctx.reservations.has(key)) ctx.reservations.set(key, { family, value, was: r.count > 0 });
    r.count += sign;
    if (r.count === 0) this.reservedCounts.delete(key);
  }

  // Feed presence changes (names with/without backends, reserved addresses)
  // to the allocators; groups of names that moved become dirty.
  private allocate(ctx: ApplyContext): void {
    for (const family of FAMILIES) {
      const idx = family === 4 ? 0 : 1;
      const pool = family === 4 ? this.opts.ipv4 : this.opts.ipv6;
      const addNames: string[] = [];
      const removeNames: string[] = [];
      for (const [name, was] of ctx.names) {
        const now = (this.nameCounts.get(name)?.[idx] ?? 0) > 0;
        if (now && !was[idx]) addNames.push(name);
        if (!now && was[idx]) removeNames.push(name);
      }
      const reserve: bigint[] = [];
      const unreserve: bigint[] = [];
      for (const [key, b] of ctx.reservations) {
        if (b.family !== family) continue;
        const off = poolOffset(pool, b.value);
        if (off === undefined) continue;
        const now = this.reservedCounts.has(key);
        if (now && !b.was) reserve.push(off);
        if (!now && b.was) unreserve.push(off);
      }
      const changes = this.alloc[family].update({ addNames, removeNames, reserve, unreserve });
      if (changes.length > 0) {
        this.namesCache = undefined;
        this.dnsGen++;
      }
      for (const ch of changes) {
        for (const gk of this.nameGroups.get(ch.name) ?? []) ctx.dirty.add(gk);
      }
    }
  }

  // Two phases: a key a dirty group drops may be the key another dirty group
  // now produces (a named VIP moving off an address an IP VIP just took).
  private rebuild(dirty: Set<string>): Omit<ChangeSummary, 'rejectedChanged'> {
    const changed = new Set<string>();
    const dropped: string[] = [];
    const fresh: Array<{ vip: Vip; sortKey: string }> = [];
    let recomputed = 0;
    for (const gk of dirty) {
      const g = this.groups.get(gk);
      if (g === undefined) continue;
      recomputed++;
      const built = this.buildVips(g);
      dropped.push(...g.vipKeys);
      fresh.push(...built);
      g.vipKeys = built.map((f) => f.vip.key);
      if (g.contribs.size === 0) this.dropGroup(gk, g);
    }
    const freshKeys = new Set(fresh.map((f) => f.vip.key));
    for (const k of dropped) {
      const gone = freshKeys.has(k) ? undefined : this.vipMap.get(k);
      if (gone !== undefined && this.vipMap.delete(k)) {
        this.backendTotal -= gone.vip.backends.length;
        changed.add(k);
        this.dnsGen++;
      }
    }
    for (const f of fresh) {
      const old = this.vipMap.get(f.vip.key);
      if (old === undefined || !sameJson(old.vip, f.vip)) {
        if (old === undefined || !sameStrings(old.vip.names, f.vip.names) || !sameStrings(old.vip.portNames, f.vip.portNames)) this.dnsGen++;
        this.vipMap.set(f.vip.key, f);
        this.backendTotal += f.vip.backends.length - (old?.vip.backends.length ?? 0);
        changed.add(f.vip.key);
      }
    }
    this.recomputedVips += recomputed;
    if (changed.size > 0) {
      this.gen++;
      this.sorted = undefined;
    }
    return { generation: this.gen, changed: [...changed].sort(cmp), recomputed };
  }

  private dropGroup(gk: string, g: Group): void {
    this.groups.delete(gk);
    if (g.info.kind === 'named') {
      const set = this.nameGroups.get(g.info.name);
      set?.delete(gk);
      if (set?.size === 0) this.nameGroups.delete(g.info.name);
    }
  }

  // The group's VIPs: one per family that has backends (and, for a named
  // VIP, an address); backends unique by (ip, port).
  private buildVips(g: Group): Array<{ vip: Vip; sortKey: string }> {
    const out: Array<{ vip: Vip; sortKey: string }> = [];
    for (const family of FAMILIES) {
      const winners = new Map<number | string, Backend>();
      // The scheduler each winning backend's task names; made only once one names any.
      let votes: Map<number | string, string> | undefined;
      const labels = new Set<string>();
      const portNames = new Set<string>();
      const sources = new Set<string>();
      for (const c of g.contribs.values()) {
        let used = false;
        for (const b of c.backends) {
          if ((b.ip.includes(':') ? 6 : 4) !== family) continue;
          used = true;
          sources.add(b.source);
          const k = backendOrderKey(b);
          const prev = winners.get(k);
          if (prev === undefined || better(b, prev)) {
            winners.set(k, b);
            if (c.scheduler !== undefined) (votes ??= new Map()).set(k, c.scheduler);
            else votes?.delete(k);
          }
        }
        if (used) {
          for (const l of c.labels) labels.add(l);
          for (const n of c.portNames) portNames.add(n);
        }
      }
      if (winners.size === 0) continue;
      let address: string;
      let value: bigint;
      if (g.info.kind === 'named') {
        const pool = family === 4 ? this.opts.ipv4 : this.opts.ipv6;
        const off = this.alloc[family].offsetOf(g.info.name);
        if (off === undefined) continue; // pool exhausted: see unallocated()
        value = pool.min + off;
        address = poolAddress(pool, off);
      } else {
        if (g.info.family !== family) continue;
        value = g.info.value;
        address = g.info.address;
      }
      const { protocol, port } = g.info;
      const election = votes === undefined ? undefined : electScheduler(votes.values());
      // Frozen: callers share these objects with the table's cache.
      const vip: Vip = Object.freeze({
        key: `${protocol}/${hostPort(address, port)}`,
        protocol,
        address,
        family,
        port,
        kind: g.info.kind,
        names: Object.freeze(g.info.kind === 'named' ? [g.info.fqdn] : []) as string[],
        labels: Object.freeze([...labels].sort(cmp)) as string[],
        sources: Object.freeze([...sources].sort(cmp)) as string[],
        ...(portNames.size > 0 ? { portNames: Object.freeze([...portNames].sort(cmp)) as string[] } : {}),
        ...(election?.scheduler !== undefined ? { scheduler: election.scheduler } : {}),
        ...(election?.votes !== undefined ? { schedulerVotes: Object.freeze(election.votes.map((v) => Object.freeze(v))) as SchedulerVote[] } : {}),
        backends: Object.freeze([...winners].sort((a, b) => compareOrderKeys(a[0], b[0])).map((w) => w[1])) as Backend[],
      });
      const sortKey = `${addressSortKey(family, value)}|${String(port).padStart(5, '0')}|${protocol}`;
      out.push({ vip, sortKey });
    }
    return out;
  }
}

interface ApplyContext {
  dirty: Set<string>;
  /** Names touched, with whether they had v4/v6 backends before. */
  names: Map<string, [boolean, boolean]>;
  /** Reserved addresses touched, with whether they were reserved before. */
  reservations: Map<string, { family: Family; value: bigint; was: boolean }>;
  rejectedChanged: boolean;
}

// Two tasks claiming one (ip, port) in a VIP (e.g. the same task seen by two
// sources): the serving one wins, then the lower (source, task id).
function better(a: Backend, b: Backend): boolean {
  if (a.weight !== b.weight) return a.weight > b.weight;
  return cmp(a.source, b.source) < 0 || (a.source === b.source && cmp(a.taskId, b.taskId) < 0);
}
