// Jittered exponential backoff for reconnects: initial, initial*factor, ...
// capped at max; each delay is drawn in [d * (1 - jitter), d] so that many
// nodes restarted together do not reconnect in step. Pure (random injected).

export interface BackoffOptions {
  /** First delay in ms (default 500). */
  initialMs?: number;
  /** Cap in ms (default 30,000). */
  maxMs?: number;
  /** Growth per attempt (default 2). */
  factor?: number;
  /** Fraction of the delay that is random, 0..1 (default 0.5). */
  jitter?: number;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
}

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private n = 0;

  constructor(opts: BackoffOptions = {}) {
    this.initial = opts.initialMs ?? 500;
    this.max = Math.max(opts.maxMs ?? 30_000, this.initial);
    this.factor = opts.factor ?? 2;
    this.jitter = Math.min(1, Math.max(0, opts.jitter ?? 0.5));
    this.random = opts.random ?? Math.random;
  }

  /** Delays handed out since the last reset. */
  get attempts(): number {
    return this.n;
  }

  /** The next delay in ms. */
  next(): number {
    const base = Math.min(this.max, this.initial * this.factor ** Math.min(this.n, 64));
    this.n++;
    return Math.round(base * (1 - this.jitter * this.random()));
  }

  /** Back to the initial delay (after a connection proved healthy). */
  reset(): void {
    this.n = 0;
  }
}
