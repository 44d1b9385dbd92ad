// The work queue of VIP keys (sample-controller's rate-limited queue, minus
// the goroutines): a key is in it at most once, with the time it becomes
// ready and why it is there; failures back off per key exponentially
// (1 s, 2 s, 4 s ... 5 min) until `forget`. The queue holds no timer: the
// loop asks `nextReadyAt()` and arms one timer for the whole queue.
//
// A plain `add` of a key that is backing off makes it ready now (as
// client-go): a new desired state deserves a new attempt; the failure count
// is kept, so if it fails again the next delay is longer.

export type QueueReason = 'change' | 'retry' | 'drain';

export interface BackoffOptions {
  /** First retry delay; default 1 s. */
  baseMs?: number;
  /** Cap; default 5 min. */
  maxMs?: number;
}

interface Entry {
  readyAt: number;
  reason: QueueReason;
}

export class WorkQueue {
  private readonly entries = new Map<string, Entry>();
  private readonly failuresByKey = new Map<string, number>();
  private readonly baseMs: number;
  private readonly maxMs: number;

  constructor(
    private readonly now: () => number,
    backoff: BackoffOptions = {},
  ) {
    this.baseMs = backoff.baseMs ?? 1000;
    this.maxMs = backoff.maxMs ?? 5 * 60_000;
  }

  /** Ready now (a change). */
  add(key: string): void {
    this.put(key, this.now(), 'change');
  }

  /** Ready now, many at once: one clock read (a syscall under user-mode Linux) for the lot. */
  addMany(keys: Iterable<string>): void {
    const now = this.now();
    for (const k of keys) this.put(k, now, 'change');
  }

  /** Ready after `ms`, unless it is already due sooner (drain rechecks). */
  addAfter(key: string, ms: number, reason: QueueReason = 'drain'): void {
    this.put(key, this.now() + Math.max(0, ms), reason);
  }

  /** A failure: ready after the key's next backoff delay; returns that delay. */
  addRateLimited(key: string): number {
    const n = (this.failuresByKey.get(key) ?? 0) + 1;
    this.failuresByKey.set(key, n);
    const delay = this.backoffFor(n);
    // A failure overrides an earlier, sooner entry: the key must wait.
    this.entries.set(key, { readyAt: this.now() + delay, reason: 'retry' });
    return delay;
  }

  /** Success: the next failure starts from the base delay again. */
  forget(key: string): void {
    this.failuresByKey.delete(key);
  }

  /** Consecutive failures of `key`. */
  failures(key: string): number {
    return this.failuresByKey.get(key) ?? 0;
  }

  /** True when the key failed and waits for its backoff to elapse. */
  backingOff(key: string): boolean {
    const e = this.entries.get(key);
    return e !== undefined && e.reason === 'retry' && e.readyAt > this.now();
  }

  /** Removes and returns the keys due now, with the reason each was queued for. */
  takeReady(): Map<string, QueueReason> {
    const now = this.now();
    const out = new Map<string, QueueReason>();
    for (const [k, e] of this.entries) {
      if (e.readyAt <= now) {
        out.set(k, e.reason);
        this.entries.delete(k);
      }
    }
    return out;
  }

  /** Removes a key that a full pass is handling anyway (keeps its failure count). */
  take(key: string): QueueReason | undefined {
    const e = this.entries.get(key);
    if (e && e.readyAt <= this.now()) {
      this.entries.delete(key);
      return e.reason;
    }
    return undefined;
  }

  /** When the earliest key becomes ready; undefined when empty. */
  nextReadyAt(): number | undefined {
    let min: number | undefined;
    for (const e of this.entries.values()) if (min === undefined || e.readyAt < min) min = e.readyAt;
    return min;
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  private backoffFor(failures: number): number {
    return Math.min(this.maxMs, this.baseMs * 2 ** Math.min(failures - 1, 30));
  }

  private put(key: string, readyAt: number, reason: QueueReason): void {
    const e = this.entries.get(key);
    if (e === undefined || readyAt < e.readyAt) this.entries.set(key, { readyAt, reason });
  }
}
