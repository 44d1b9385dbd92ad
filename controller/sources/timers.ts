// Time as an injected dependency: sources take a `Timers` so tests can make
// hours pass in a millisecond (see fake-timers.ts) and never sleep.

export interface TimerHandle {
  /** Opaque; pass back to clearTimeout. */
  readonly id: unknown;
}

export interface Timers {
  /** Milliseconds, monotonic enough for timeouts and ages. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The process clock; timers are unref'd so a source never keeps a CLI alive by itself. */
export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return { id: t };
  },
  clearTimeout(handle) {
    if (handle !== undefined) clearTimeout(handle.id as NodeJS.Timeout);
  },
};
