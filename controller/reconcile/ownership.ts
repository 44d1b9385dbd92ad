// Which kernel IPVS services l4lb may touch, across restarts.
//
// THE RULE
//   A kernel service is OWNED by l4lb iff its key is in l4lb's ownership
//   record. The record is claimed BEFORE l4lb creates (or adopts) a service
//   and pruned AFTER the service is deleted, so at every instant
//   "in the kernel and created by l4lb" implies "in the record".
//   - desired + in kernel + owned      -> converged (edited in place)
//   - desired + in kernel + not owned  -> ADOPTED: claimed, then converged
//                                         (logged as `adopted`)
//   - desired + not in kernel          -> claimed, then created
//   - not desired + in kernel + owned  -> deleted, then pruned from the record
//   - not desired + in kernel + not owned -> FOREIGN: never edited or
//                                         deleted, whatever its address (even
//                                         inside the VIP pools, 11.0.0.0/8)
//   - firewall-mark and SCTP services are never l4lb's (it creates neither).
//   Why a record and not "everything in the pools": someone's `ipvsadm -A` in
//   11.0.0.0/8 must survive (anchors item 6: kube-proxy deletes others' rules
//   to this day); why not "desired only": a VIP removed while l4lb was down
//   must still be deleted after the restart.
//
// WHERE IT LIVES
//   JSON at `/run/l4lb/owned.json` by default: /run is a tmpfs, so the record
//   lives exactly as long as the kernel's IPVS table (both die at reboot).
//   Written atomically (temp file, fsync, rename, fsync of the directory).
//   It also stores the kernel's boot id and the network namespace's inode:
//   IPVS tables are per netns and per boot, so a record found on persistent
//   storage after a reboot, or from another namespace, describes a table that
//   is gone; it is ignored (and rewritten on the next claim) rather than used
//   to delete services someone else has since created.
//
// WHEN THE RECORD IS UNREADABLE
//   A corrupt or unreadable record is a clear error (ERR_OWNERSHIP_RECORD,
//   reported by the reconciler's first pass, which rewrites it); l4lb
//   falls back to "owned = what it claims from now on": desired services are
//   adopted, and nothing else is ever deleted, since l4lb cannot prove it is
//   its own. The bad file is kept aside as `<path>.corrupt`.

import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { canonicalKey, ReconcileError } from './keys.js';
import type { OwnershipView } from './plan.js';

export const DEFAULT_OWNERSHIP_PATH = '/run/l4lb/owned.json';
const RECORD_VERSION = 1;

export interface OwnershipLoad {
  /** Recorded VIP keys; undefined when there is no usable record (first start on this kernel). */
  services?: string[];
  /** Why a record that exists was not used (another boot or netns). */
  ignored?: string;
}

/** Where the record is kept; a file in production, memory in unit tests. */
export interface OwnershipStore {
  /** Human-readable location for messages (`/run/l4lb/owned.json`). */
  readonly location: string;
  /** Throws ReconcileError ERR_OWNERSHIP_RECORD when a record exists but cannot be read or parsed. */
  load(): OwnershipLoad;
  /** Replaces the record atomically; throws ReconcileError ERR_OWNERSHIP_WRITE. */
  save(services: readonly string[]): void;
}

/** The kernel table's identity: boot id + network namespace inode. */
export function kernelIdentity(): string {
  let boot = 'unknown-boot';
  let netns = 'unknown-netns';
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    /* not Linux, or /proc not mounted: identity is weaker, never wrong */
  }
  try {
    netns = String(statSync('/proc/self/ns/net').ino);
  } catch {
    /* same */
  }
  return `${boot}/${netns}`;
}

export interface FileOwnershipStoreOptions {
  /** Default /run/l4lb/owned.json. */
  path?: string;
  /** Default kernelIdentity(); injectable for tests. */
  identity?: string;
}

export class FileOwnershipStore implements OwnershipStore {
  readonly location: string;
  private readonly identity: string;

  constructor(opts: FileOwnershipStoreOptions = {}) {
    this.location = opts.path ?? DEFAULT_OWNERSHIP_PATH;
    this.identity = opts.identity ?? kernelIdentity();
  }

  load(): OwnershipLoad {
    let text: string;
    try {
      text = readFileSync(this.location, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ReconcileError('ERR_OWNERSHIP_RECORD', `cannot read the ownership record ${this.location}: ${(e as Error).message}`, { cause: e });
    }
    try {
      const rec = parseRecord(text);
      if (rec.identity !== this.identity) {
        return { ignored: `the record was written for kernel table ${rec.identity}, this is ${this.identity} (reboot or another network namespace)` };
      }
      return { services: rec.services };
    } catch (e) {
      try {
        copyFileSync(this.location, `${this.location}.corrupt`);
      } catch {
        /* keeping a copy is best effort */
      }
      throw new ReconcileError('ERR_OWNERSHIP_RECORD', `the ownership record ${this.location} is corrupt (${(e as Error).message}); kept a copy as ${this.location}.corrupt`, { cause: e });
    }
  }

  save(services: readonly string[]): void {
    const body = JSON.stringify({ version: RECORD_VERSION, identity: this.identity, services: [...services].sort() }) + '\n';
    const tmp = `${this.location}.tmp-${process.pid}`;
    try {
      const dir = dirname(this.location);
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const fd = openSync(tmp, 'w', 0o644);
      try {
        writeSync(fd, body);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.location);
      const dfd = openSync(dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch (e) {
      throw new ReconcileError('ERR_OWNERSHIP_WRITE', `cannot write the ownership record ${this.location}: ${(e as Error).message}`, { cause: e });
    }
  }
}

function parseRecord(text: string): { identity: string; services: string[] } {
  const v = JSON.parse(text) as unknown;
  if (typeof v !== 'object' || v === null) throw new Error('not a JSON object');
  const r = v as Record<string, unknown>;
  if (r.version !== RECORD_VERSION) throw new Error(`unknown version ${JSON.stringify(r.version)}`);
  if (typeof r.identity !== 'string') throw new Error('no identity');
  if (!Array.isArray(r.services) || !r.services.every((s) => typeof s === 'string')) throw new Error('services is not a list of strings');
  return { identity: r.identity, services: r.services.map((s: string) => canonicalKey(s)) };
}

/** A store in memory: unit tests, dry runs. `fail` makes the next loads/saves throw. */
export class MemoryOwnershipStore implements OwnershipStore {
  readonly location = 'memory';
  saved: string[] | undefined;
  saves = 0;
  failLoad = false;
  failSave = false;

  constructor(initial?: readonly string[]) {
    this.saved = initial ? [...initial] : undefined;
  }

  load(): OwnershipLoad {
    if (this.failLoad) throw new ReconcileError('ERR_OWNERSHIP_RECORD', 'the ownership record memory is corrupt (test)');
    return this.saved ? { services: [...this.saved] } : {};
  }

  save(services: readonly string[]): void {
    if (this.failSave) throw new ReconcileError('ERR_OWNERSHIP_WRITE', 'cannot write the ownership record memory (test)');
    this.saved = [...services].sort();
    this.saves++;
  }
}

/** The ownership set in memory, always equal to what was last saved. */
export class Ownership implements OwnershipView {
  private readonly owned: Set<string>;
  /** Why the record could not be used at load time (reported by the reconciler); undefined when fine. */
  readonly problem: ReconcileError | undefined;
  /** Why an existing record was ignored (another boot or netns), for an info line. */
  readonly ignored: string | undefined;
  private dirtyProblem: boolean;

  private constructor(
    private readonly store: OwnershipStore,
    keys: readonly string[],
    problem: ReconcileError | undefined,
    ignored: string | undefined,
  ) {
    this.owned = new Set(keys);
    this.problem = problem;
    this.ignored = ignored;
    this.dirtyProblem = problem !== undefined;
  }

  /** Loads the record; never throws: an unreadable record leaves `problem` set and owns nothing. */
  static load(store: OwnershipStore): Ownership {
    try {
      const r = store.load();
      return new Ownership(store, r.services ?? [], undefined, r.ignored);
    } catch (e) {
      const err = e instanceof ReconcileError ? e : new ReconcileError('ERR_OWNERSHIP_RECORD', `cannot load the ownership record ${store.location}: ${String(e)}`, { cause: e });
      return new Ownership(store, [], err, undefined);
    }
  }

  get location(): string {
    return this.store.location;
  }

  /** True while a corrupt record has not been replaced by a good one. */
  get degraded(): boolean {
    return this.dirtyProblem;
  }

  isOwned(vipKey: string): boolean {
    return this.owned.has(vipKey);
  }

  keys(): string[] {
    return [...this.owned];
  }

  get size(): number {
    return this.owned.size;
  }

  /** Records `keys` as owned; persisted before it returns. Throws ERR_OWNERSHIP_WRITE (and then owns nothing new). */
  claim(keys: Iterable<string>): void {
    const add = [...keys].filter((k) => !this.owned.has(k));
    if (add.length === 0) return;
    this.store.save([...this.owned, ...add]);
    for (const k of add) this.owned.add(k);
    this.dirtyProblem = false;
  }

  /** Replaces a corrupt record by the current set (the reconciler does this on its first full pass). */
  repair(): void {
    if (!this.dirtyProblem) return;
    this.store.save([...this.owned]);
    this.dirtyProblem = false;
  }

  /** Forgets `keys` (their services are gone). Throws ERR_OWNERSHIP_WRITE (and then still owns them). */
  release(keys: Iterable<string>): void {
    const drop = new Set([...keys].filter((k) => this.owned.has(k)));
    if (drop.size === 0) return;
    this.store.save([...this.owned].filter((k) => !drop.has(k)));
    for (const k of drop) this.owned.delete(k);
    this.dirtyProblem = false;
  }
}
