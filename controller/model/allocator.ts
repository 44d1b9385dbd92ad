// Order-independent placement of named VIPs in one family's pool.
//
// dcos-net gives a name its hash address and, on a collision, probes +1
// (wrapping) until a free address; which name wins depends on which arrived
// first, so two nodes can disagree. Here the result is a function of the
// current set of names and reserved addresses only:
//
//   Canonical rule: insert the names in ascending byte order of the name,
//   each at its hash offset, probing +1 (wrapping) past taken offsets and past
//   reserved offsets (addresses used by IP VIPs). A name finding no free
//   offset after `size` probes is unallocated.
//
// Without collisions every name sits at its hash address, exactly as in
// DC/OS. With collisions the result equals what DC/OS computes when the names
// arrive in sorted order, and it is the same on every node whatever the event
// order. The price: when a name that sorts earlier joins a collision, names
// that sort later in the same cluster move.
//
// Incremental: linear probing keeps every name inside the run (maximal block
// of taken or reserved offsets) that contains its hash offset, and a run's
// layout depends only on the names hashed into it. A change therefore
// re-places only the names of the runs around the changed offsets; if a
// re-placed name probes into a neighbouring run the runs have merged, so that
// run joins and placement restarts. With a sparse pool a run is one name.

export interface AllocatorUpdate {
  addNames?: Iterable<string>;
  removeNames?: Iterable<string>;
  /** Offsets to reserve (reference counted). */
  reserve?: Iterable<bigint>;
  unreserve?: Iterable<bigint>;
}

export interface AllocatorChange {
  name: string;
  before?: bigint;
  after?: bigint;
}

const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class Allocator {
  private readonly owner = new Map<bigint, string>();
  private readonly slotOf = new Map<string, bigint>();
  private readonly names = new Set<string>();
  private readonly unplaced = new Set<string>();
  private readonly reserved = new Map<bigint, number>();
  private readonly homes = new Map<string, bigint>();
  /** Names re-placed so far; lets tests prove a change stays local. */
  placements = 0;

  constructor(
    private readonly size: bigint,
    private readonly hash: (name: string) => bigint,
  ) {}

  offsetOf(name: string): bigint | undefined {
    return this.slotOf.get(name);
  }

  unallocated(): string[] {
    return [...this.unplaced].sort(byName);
  }

  /** Apply a batch of changes; returns the names whose offset changed. */
  update(u: AllocatorUpdate): AllocatorChange[] {
    const seeds: bigint[] = [];
    const added = new Set<string>();
    const readded = new Set<string>();
    const removed = new Set<string>();
    for (const n of u.removeNames ?? []) {
      if (!this.names.delete(n)) continue;
      removed.add(n);
      this.unplaced.delete(n);
      const s = this.slotOf.get(n);
      if (s !== undefined) seeds.push(s);
    }
    for (const n of u.addNames ?? []) {
      if (this.names.has(n)) continue;
      this.names.add(n);
      if (removed.delete(n)) readded.add(n); // removed and re-added: just re-place it
      else added.add(n);
      seeds.push(this.home(n));
    }
    for (const r of u.reserve ?? []) {
      const c = this.reserved.get(r) ?? 0;
      this.reserved.set(r, c + 1);
      if (c === 0) seeds.push(r);
    }
    for (const r of u.unreserve ?? []) {
      const c = this.reserved.get(r) ?? 0;
      if (c <= 1) {
        this.reserved.delete(r);
        if (c === 1) seeds.push(r);
      } else {
        this.reserved.set(r, c - 1);
      }
    }
    if (seeds.length === 0) return [];

    // Runs are read from the old layout, removed names still in place.
    const group = new Set<string>([...added, ...readded, ...this.unplaced]);
    for (const p of seeds) this.collectRun(p, group);
    const before = new Map<string, bigint | undefined>();
    for (const n of added) before.set(n, undefined);
    for (const n of removed) this.clear(n, before);
    for (const n of removed) group.delete(n);

    this.place(group, before);
    for (const n of removed) this.homes.delete(n);

    const changes: AllocatorChange[] = [];
    for (const [name, b] of before) {
      const after = this.slotOf.get(name);
      if (b !== after) changes.push({ name, ...(b !== undefined && { before: b }), ...(after !== undefined && { after }) });
    }
    return changes.sort((x, y) => byName(x.name, y.name));
  }

  private place(group: Set<string>, before: Map<string, bigint | undefined>): void {
    for (;;) {
      for (const n of group) this.clear(n, before);
      const contact = this.tryPlace([...group].sort(byName), group);
      if (contact === undefined) return;
      // A neighbouring run was reached: it merges with ours; redo both.
      this.collectRun(contact, group);
    }
  }

  // Places names in priority order; returns an offset owned by a name outside
  // `group` if probing reached one (placement is then incomplete).
  private tryPlace(order: string[], group: Set<string>): bigint | undefined {
    for (const n of order) {
      let s = this.home(n);
      let placed = false;
      for (let steps = 0n; steps < this.size; steps++) {
        const o = this.owner.get(s);
        if (o === undefined && !this.reserved.has(s)) {
          this.owner.set(s, n);
          this.slotOf.set(n, s);
          this.unplaced.delete(n);
          this.placements++;
          placed = true;
          break;
        }
        if (o !== undefined && !group.has(o)) return s;
        s = this.next(s);
      }
      if (!placed) this.unplaced.add(n);
    }
    return undefined;
  }

  private clear(n: string, before: Map<string, bigint | undefined>): void {
    const s = this.slotOf.get(n);
    if (!before.has(n)) before.set(n, s);
    if (s === undefined) return;
    this.slotOf.delete(n);
    this.owner.delete(s);
  }

  // Adds to `group` the names of the run around offset p (p itself included
  // even when free: freeing an offset affects the run on each side of it).
  private collectRun(p: bigint, group: Set<string>): void {
    const take = (s: bigint): void => {
      const o = this.owner.get(s);
      if (o !== undefined) group.add(o);
    };
    take(p);
    let steps = 1n;
    for (let s = this.next(p); steps < this.size && this.taken(s); s = this.next(s), steps++) take(s);
    for (let s = this.prev(p); steps < this.size && this.taken(s); s = this.prev(s), steps++) take(s);
  }

  private taken(s: bigint): boolean {
    return this.owner.has(s) || this.reserved.has(s);
  }

  private next(s: bigint): bigint {
    return s + 1n === this.size ? 0n : s + 1n;
  }

  private prev(s: bigint): bigint {
    return s === 0n ? this.size - 1n : s - 1n;
  }

  private home(n: string): bigint {
    let h = this.homes.get(n);
    if (h === undefined) {
      h = this.hash(n);
      this.homes.set(n, h);
    }
    return h;
  }
}
