// A manual clock for tests (not a test file): time moves only in advance().

import type { TimerHandle, Timers } from './timers.js';

interface Entry {
  at: number;
  seq: number;
  fn: () => void;
}

export class FakeTimers implements Timers {
  private t = 0;
  private seq = 0;
  private readonly pending = new Map<number, Entry>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const seq = ++this.seq;
    this.pending.set(seq, { at: this.t + Math.max(0, ms), seq, fn });
    return { id: seq };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.pending.delete(handle.id as number);
  }

  /** Timers waiting to fire. */
  get size(): number {
    return this.pending.size;
  }

  /** Delay until the next timer, or undefined. */
  nextIn(): number | undefined {
    let min: number | undefined;
    for (const e of this.pending.values()) if (min === undefined || e.at < min) min = e.at;
    return min === undefined ? undefined : min - this.t;
  }

  /** Move time forward, firing due timers in order (including ones they set). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: Entry | undefined;
      for (const e of this.pending.values()) {
        if (e.at <= end && (next === undefined || e.at < next.at || (e.at === next.at && e.seq < next.seq))) next = e;
      }
      if (next === undefined) break;
      this.pending.delete(next.seq);
      this.t = Math.max(this.t, next.at);
      next.fn();
    }
    this.t = end;
  }
}
