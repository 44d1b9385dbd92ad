// What the streaming sources (Mesos, Marathon) share: the state machine of
// SourceStatus, one log line per connection change, reconnects with
// jittered backoff, and a watchdog for silent servers. A subclass opens its
// connection in connect(gen) and reports breakage with lost(gen, error);
// `gen` numbers connections so callbacks of an old one are ignored.

import type { Logger } from '../log.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { asSourceError, SourceError } from './errors.js';
import type { Source, SourceKind, SourceSink, SourceState, SourceStatus } from './types.js';
import { realTimers, type TimerHandle, type Timers } from './timers.js';
import { transition } from './status.js';

export interface ReconnectOptions {
  /** Injected clock (tests); default the process clock. */
  timers?: Timers;
  /** Reconnect delays (default 0.5 s doubling to 30 s, 50 % jitter). */
  backoff?: BackoffOptions;
  /** A synced connection that lived this long resets the backoff when it breaks (default 30 s). */
  stableMs?: number;
}

/** Fires `onExpire` when kick() was not called for `timeoutMs`; one timer, re-armed lazily. */
export class Watchdog {
  private timer: TimerHandle | undefined;
  private last = 0;
  private timeoutMs = 0;

  constructor(private readonly timers: Timers, private readonly onExpire: (silentMs: number) => void) {}

  /** (Re)starts with a new timeout, counting from now. */
  arm(timeoutMs: number): void {
    this.timeoutMs = timeoutMs;
    this.last = this.timers.now();
    this.schedule(timeoutMs);
  }

  /** Bytes arrived. */
  kick(): void {
    this.last = this.timers.now();
  }

  stop(): void {
    this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => {
      const silent = this.timers.now() - this.last;
      if (silent >= this.timeoutMs) {
        this.timer = undefined;
        this.onExpire(silent);
      } else {
        this.schedule(this.timeoutMs - silent);
      }
    }, ms);
  }
}

export abstract class ReconnectingSource implements Source {
  protected readonly log: Logger;
  protected readonly timers: Timers;
  protected sink: SourceSink | undefined;
  /** The current connection's number; bumped on every attempt and every loss. */
  protected gen = 0;
  private readonly backoff: Backoff;
  private readonly stableMs: number;
  private readonly st: SourceStatus;
  private retryTimer: TimerHandle | undefined;
  private syncedAt: number | undefined;
  private stopped = false;

  protected constructor(readonly id: string, readonly kind: SourceKind, endpoint: string, logger: Logger, opts: ReconnectOptions) {
    this.log = logger.child({ component: 'source', source: id });
    this.timers = opts.timers ?? realTimers;
    this.backoff = new Backoff(opts.backoff);
    this.stableMs = opts.stableMs ?? 30_000;
    this.st = { id, kind, state: 'connecting', endpoint, since: new Date(), reconnects: 0, tasks: 0 };
  }

  start(sink: SourceSink): void {
    if (this.sink !== undefined) throw new Error(`source ${this.id} already started`);
    this.sink = sink;
    this.log.info('starting', { endpoint: this.st.endpoint });
    sink.status(this.status());
    this.attempt();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.gen++;
    this.timers.clearTimeout(this.retryTimer);
    await this.disconnect();
    this.setState('stopped', undefined);
    this.log.info('stopped', { endpoint: this.st.endpoint });
  }

  status(): SourceStatus {
    return { ...this.st };
  }

  /** Open a connection; throw (or call lost) on failure. */
  protected abstract connect(gen: number): Promise<void>;

  /** Release the current connection's resources (sockets, timers). */
  protected abstract disconnect(): void | Promise<void>;

  /** Bytes received on streams, for the source's counters. */
  protected byteCount = 0;

  /**
   * Feeds a streaming response body through an incremental decoder: each
   * chunk kicks the watchdog and is counted; each decoded item goes to
   * `onItem` while connection `gen` is current. A decode error, the end of
   * the stream (after `decoder.end()` when it has one) or its loss is lost(gen).
   */
  protected pump<T>(
    gen: number,
    body: NodeJS.ReadableStream,
    watchdog: Watchdog,
    decoder: { push(chunk: Buffer): T[]; end?(): void },
    onItem: (item: T) => void,
    how: { endpoint: string; ended: () => SourceError; closed: string },
  ): void {
    body.on('data', (chunk: Buffer) => {
      if (!this.isCurrent(gen)) return;
      watchdog.kick();
      this.byteCount += chunk.length;
      let items: T[];
      try {
        items = decoder.push(chunk);
      } catch (e) {
        this.lost(gen, e);
        return;
      }
      for (const item of items) {
        onItem(item);
        if (!this.isCurrent(gen)) return;
      }
    });
    body.on('end', () => {
      if (!this.isCurrent(gen)) return;
      try {
        decoder.end?.();
      } catch (e) {
        this.lost(gen, e);
        return;
      }
      this.lost(gen, how.ended());
    });
    body.on('error', (e: Error) => this.lost(gen, new SourceError('SRC_CONNECT', `${how.endpoint}: ${e.message}`, { url: how.endpoint })));
    body.on('close', () => this.lost(gen, new SourceError('SRC_CONNECT', `${how.endpoint} ${how.closed}`, { url: how.endpoint })));
  }

  protected isCurrent(gen: number): boolean {
    return !this.stopped && gen === this.gen;
  }

  /** Connection `gen` broke: keep the view, mark it stale, retry after a backoff. */
  protected lost(gen: number, e: unknown): void {
    if (!this.isCurrent(gen)) return;
    const err: SourceError = asSourceError(e);
    this.gen++;
    void this.disconnect();
    if (this.syncedAt !== undefined && this.timers.now() - this.syncedAt >= this.stableMs) this.backoff.reset();
    this.syncedAt = undefined;
    const delay = this.backoff.next();
    const state: SourceState = this.st.state === 'connecting' ? 'connecting' : 'stale';
    this.log.warn(state === 'stale' && this.st.state === 'synced' ? 'connection lost, keeping the last view' : 'connection failed',
      { endpoint: this.st.endpoint, code: err.code, reason: err.message, retryInMs: delay, ...err.context });
    this.setState(state, err.message);
    this.retryTimer = this.timers.setTimeout(() => {
      this.st.reconnects++;
      this.attempt();
    }, delay);
  }

  /** Connected to `endpoint` (the leader after redirects). */
  protected connected(endpoint: string): void {
    this.st.endpoint = endpoint;
    this.log.info('connected', { endpoint });
  }

  /** A complete view was handed to the sink. */
  protected synced(tasks: number): void {
    this.syncedAt = this.timers.now();
    this.st.tasks = tasks;
    this.touch();
    this.log.info('synced', { endpoint: this.st.endpoint, tasks, reconnects: this.st.reconnects });
    this.setState('synced', undefined);
  }

  protected touch(): void {
    this.st.lastEventAt = new Date();
  }

  protected setTaskCount(n: number): void {
    this.st.tasks = n;
  }

  protected get state(): SourceState {
    return this.st.state;
  }

  private attempt(): void {
    if (this.stopped) return;
    const gen = ++this.gen;
    this.connect(gen).catch((e: unknown) => this.lost(gen, e));
  }

  private setState(state: SourceState, lastError: string | undefined): void {
    if (transition(this.st, state, lastError)) this.sink?.status(this.status());
  }
}
