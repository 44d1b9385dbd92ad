// The Mesos master source: `POST /api/v1 {"type":"SUBSCRIBE"}` on the first
// master that answers (standbys redirect to the leader), RecordIO decoded
// incrementally, each event folded by the model's state machine
// (applyMesosEvent) and the touched tasks re-parsed and sent to the sink.
//
// - SUBSCRIBED replaces the source's whole view in one step (sink.replace).
//   After a master failover it lists recovered agents whose tasks are not
//   known yet; like dcos-net, the replace waits until they re-register (or
//   recovery.maxWaitMs) plus recovery.settleMs, keeping the old view.
// - Tasks wait until their agent and framework are known, and their agent's
//   hostname resolved (resolver, cached).
// - No bytes for 3 heartbeat intervals, a broken record, an unexpected
//   status or a closed stream: the view is kept and marked stale, and the
//   source reconnects with jittered backoff.

import type { Logger } from '../log.js';
import {
  applyMesosEvent, emptySnapshot, keepTask, snapshotTask, snapshotTasks, type KeptTask, type MesosSnapshot, type MesosTasksOptions,
} from '../model/index.js';
import { excerpt, SourceError } from './errors.js';
import { parseWithSplit, type SplitRule } from './json-split.js';
import { HttpClient, showUrl, statusError, type HttpAuth, type OpenResponse } from './http.js';
import { num, parseJson, str } from './json.js';
import { agentHostnames, describeEvent, eventShapeProblem, MESOS_EVENT_TYPES, recoveredAgentIds } from './mesos-events.js';
import { RecordIoDecoder } from './recordio.js';
import { createDnsResolver, type AgentResolver } from './resolver.js';
import type { TimerHandle } from './timers.js';
import { ReconnectingSource, Watchdog, type ReconnectOptions } from './watch.js';

export interface MesosSourceOptions extends ReconnectOptions {
  /** Source id (default `mesos`). */
  id?: string;
  /** Master URLs (`http://m1:5050`; `/api/v1` is added when there is no path), tried in turn. */
  masters: readonly string[];
  auth?: HttpAuth;
  /** PEM CA bundle for https masters. */
  caFile?: string;
  ca?: string | Buffer;
  /** Agent hostname -> IPv4 (default dns.lookup family 4, cached). */
  resolver?: AgentResolver;
  /** Connect + response headers deadline per master, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Largest RecordIO record (default 256 MiB). */
  maxRecordBytes?: number;
  /** Missed heartbeats before reconnecting (default 3). */
  missedHeartbeats?: number;
  /** Publishing after a failover: see the file comment (default 600,000 and 10,000 ms, as dcos-net). */
  recovery?: { maxWaitMs?: number; settleMs?: number };
  /** Records from this many bytes on are parsed task by task (parseWithSplit); default 64 KiB, 0: always. */
  splitRecordBytes?: number;
}

const SUBSCRIBE = JSON.stringify({ type: 'SUBSCRIBE' });
const DEFAULT_HEARTBEAT_S = 15;
const DEFAULT_SPLIT_RECORD_BYTES = 64 * 1024;

// In a SUBSCRIBED record, the tasks are parsed one at a time and kept
// slimmed (keepTask), so the cluster's tasks never exist as one object tree.
// Lists nothing reads (finished and unreachable tasks, executors: on a big
// cluster as large as the running tasks) are skipped without being parsed.
const STATE = ['subscribed', 'get_state'];
const TASKS_PATH = [...STATE, 'get_tasks', 'tasks'];
const UNREAD_PATHS = [
  [...STATE, 'get_tasks', 'completed_tasks'],
  [...STATE, 'get_tasks', 'unreachable_tasks'],
  [...STATE, 'get_tasks', 'orphan_tasks'],
  [...STATE, 'get_tasks', 'pending_tasks'],
  [...STATE, 'get_executors', 'executors'],
];

/** A decoded record: the event, and for a SUBSCRIBED record parsed task by task, its tasks. */
interface Decoded {
  ev: unknown;
  kept: Map<string, KeptTask> | undefined;
}

/** Per-connection state; a new connection gets a fresh one. */
interface Conn {
  gen: number;
  res: OpenResponse;
  watchdog: Watchdog;
  subscribed: boolean;
  heartbeatS: number;
  records: number;
  queue: Decoded[];
  head: number;
  draining: boolean;
}

interface Pending {
  gen: number;
  waiting: Set<string>;
  maxTimer: TimerHandle | undefined;
  settleTimer: TimerHandle | undefined;
  immediate?: NodeJS.Immediate;
}

/** `http://m:5050` -> `http://m:5050/api/v1`; throws SRC_BAD_OPTIONS on a bad URL. */
export function masterApiUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SourceError('SRC_BAD_OPTIONS', `not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SourceError('SRC_BAD_OPTIONS', `master URL must be http or https: ${showUrl(url)}`);
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/api/v1';
  return url;
}

export class MesosSource extends ReconnectingSource {
  private readonly masters: URL[];
  private readonly http: HttpClient;
  private readonly resolver: AgentResolver;
  private readonly opts: MesosSourceOptions;
  private readonly taskOpts: MesosTasksOptions;
  private preferred = 0;
  private conn: Conn | undefined;
  private pending: Pending | undefined;
  private snap: MesosSnapshot = emptySnapshot();
  private emitted = new Set<string>();
  private readonly unknownTypes = new Set<string>();
  private recordCount = 0;
  private eventCount = 0;

  constructor(opts: MesosSourceOptions, logger: Logger) {
    if (opts.masters.length === 0) throw new SourceError('SRC_BAD_OPTIONS', 'the Mesos source needs at least one master URL');
    const masters = opts.masters.map(masterApiUrl);
    super(opts.id ?? 'mesos', 'mesos', showUrl(masters[0] as URL), logger, opts);
    this.opts = opts;
    this.masters = masters;
    this.http = new HttpClient({
      ...(opts.auth !== undefined && { auth: opts.auth }),
      ...(opts.caFile !== undefined && { caFile: opts.caFile }),
      ...(opts.ca !== undefined && { ca: opts.ca }),
      timeoutMs: opts.connectTimeoutMs ?? 10_000,
    }, this.timers);
    this.resolver = opts.resolver ?? createDnsResolver({ timers: this.timers });
    this.taskOpts = { source: this.id, resolveAgent: (h) => this.resolver.peek(h) ?? undefined };
  }

  /** Stream bytes, records decoded and events folded since start (all connections), for tests and metrics. */
  get counters(): { bytes: number; records: number; events: number } {
    return { bytes: this.byteCount, records: this.recordCount, events: this.eventCount };
  }

  protected async connect(gen: number): Promise<void> {
    const failures: SourceError[] = [];
    for (let k = 0; k < this.masters.length; k++) {
      const i = (this.preferred + k) % this.masters.length;
      const url = this.masters[i] as URL;
      let res: OpenResponse;
      try {
        res = await this.http.open(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: SUBSCRIBE,
        });
      } catch (e) {
        failures.push(e instanceof SourceError ? e : new SourceError('SRC_CONNECT', String(e)));
        if (!this.isCurrent(gen)) return;
        continue;
      }
      if (!this.isCurrent(gen)) {
        res.close();
        return;
      }
      if (res.status !== 200) {
        failures.push(statusError(res, await this.http.readHead(res)));
        if (!this.isCurrent(gen)) return;
        continue;
      }
      this.preferred = i;
      this.attach(gen, res);
      return;
    }
    const last = failures[failures.length - 1] as SourceError;
    if (failures.length === 1) throw last;
    throw new SourceError(last.code, `no master answered SUBSCRIBE: ${failures.map((f) => f.message).join('; ')}`,
      { masters: this.masters.map((m) => showUrl(m)) });
  }

  protected disconnect(): void {
    const c = this.conn;
    this.conn = undefined;
    if (c !== undefined) {
      c.watchdog.stop();
      c.res.close();
    }
    this.clearPending();
  }

  private attach(gen: number, res: OpenResponse): void {
    const endpoint = showUrl(res.url);
    const watchdog = new Watchdog(this.timers, (silentMs) => {
      const hb = this.conn?.heartbeatS ?? DEFAULT_HEARTBEAT_S;
      this.lost(gen, new SourceError('SRC_TIMEOUT', `no bytes from ${endpoint} for ${Math.round(silentMs)} ms (heartbeat interval ${hb} s)`,
        { url: endpoint, silentMs: Math.round(silentMs), heartbeatIntervalSeconds: hb }));
    });
    const c: Conn = { gen, res, watchdog, subscribed: false, heartbeatS: DEFAULT_HEARTBEAT_S, records: 0, queue: [], head: 0, draining: false };
    this.conn = c;
    this.connected(endpoint);
    watchdog.arm(this.watchdogMs(DEFAULT_HEARTBEAT_S));
    const decoder = new RecordIoDecoder(this.opts.maxRecordBytes !== undefined ? { maxRecordBytes: this.opts.maxRecordBytes } : {});
    this.pump(gen, res.body, watchdog, decoder, (r: Buffer) => this.onRecord(c, r), {
      endpoint,
      ended: () => new SourceError('SRC_STREAM_ENDED', `${endpoint} ended the SUBSCRIBE stream`, { url: endpoint, records: c.records }),
      closed: 'closed the connection',
    });
  }

  private watchdogMs(heartbeatS: number): number {
    return (this.opts.missedHeartbeats ?? 3) * heartbeatS * 1000;
  }

  private onRecord(c: Conn, body: Buffer): void {
    c.records++;
    this.recordCount++;
    const bad = (message: string): void =>
      this.lost(c.gen, new SourceError('SRC_BAD_RECORD', `record ${c.records} from ${showUrl(c.res.url)}: ${message}`,
        { url: showUrl(c.res.url), record: c.records, near: excerpt(body, 120) }));
    let ev: unknown;
    let kept: Map<string, KeptTask> | undefined;
    if (body.length >= (this.opts.splitRecordBytes ?? DEFAULT_SPLIT_RECORD_BYTES)) {
      const tasks = new Map<string, KeptTask>();
      try {
        ev = parseWithSplit(body, this.splitRules(tasks));
      } catch (e) {
        return bad(`not JSON (${(e as Error).message})`);
      }
      kept = tasks;
    } else {
      const parsed = parseJson(body.toString('utf8'));
      if (!parsed.ok) return bad(`not JSON (${parsed.message})`);
      ev = parsed.value;
    }
    const problem = eventShapeProblem(ev);
    if (problem !== undefined) return bad(problem);
    const type = str(ev, 'type') as string;
    if (!c.subscribed && type !== 'SUBSCRIBED') return bad(`the first record is ${type}, not SUBSCRIBED`);
    if (type === 'HEARTBEAT') return;
    if (!MESOS_EVENT_TYPES.has(type)) {
      if (!this.unknownTypes.has(type)) {
        this.unknownTypes.add(type);
        this.log.warn('ignoring an unknown event type', { type, endpoint: showUrl(c.res.url) });
      }
      return;
    }
    if (type === 'SUBSCRIBED') {
      c.subscribed = true;
      c.heartbeatS = num(ev, 'subscribed', 'heartbeat_interval_seconds') ?? DEFAULT_HEARTBEAT_S;
      c.watchdog.arm(this.watchdogMs(c.heartbeatS));
    }
    this.enqueue(c, { ev, kept: type === 'SUBSCRIBED' ? kept : undefined });
  }

  /** Each task of a SUBSCRIBED record parsed and kept (slimmed) on its own; the unread lists skipped. */
  private splitRules(tasks: Map<string, KeptTask>): SplitRule[] {
    const each = (buf: Buffer, start: number, end: number, index: number): void => {
      let raw: unknown;
      try {
        raw = JSON.parse(buf.toString('utf8', start, end));
      } catch (e) {
        throw new SyntaxError(`${TASKS_PATH.join('.')}[${index}] at byte ${start}: ${(e as Error).message}`);
      }
      keepTask(tasks, raw);
    };
    return [{ path: TASKS_PATH, each }, ...UNREAD_PATHS.map((path) => ({ path }))];
  }

  // Events are folded in order; one that brings an agent hostname not yet
  // resolved waits for DNS, and the events after it wait too.
  private enqueue(c: Conn, d: Decoded): void {
    if (!c.draining && this.unresolved(d.ev).length === 0) {
      this.apply(c.gen, d);
      return;
    }
    c.queue.push(d);
    if (!c.draining) void this.drain(c);
  }

  private async drain(c: Conn): Promise<void> {
    c.draining = true;
    while (c.head < c.queue.length) {
      const d = c.queue[c.head] as Decoded;
      // Done with the slot: a queued snapshot is not kept alive by the queue.
      c.queue[c.head++] = { ev: undefined, kept: undefined };
      const hosts = this.unresolved(d.ev);
      if (hosts.length > 0) await Promise.all(hosts.map((h) => this.resolver.resolve(h)));
      if (!this.isCurrent(c.gen)) return;
      this.apply(c.gen, d);
    }
    c.queue = [];
    c.head = 0;
    c.draining = false;
  }

  private unresolved(ev: unknown): string[] {
    return agentHostnames(ev).filter((h) => this.resolver.peek(h) === undefined);
  }

  private apply(gen: number, { ev, kept }: Decoded): void {
    const effect = applyMesosEvent(this.snap, ev, kept);
    this.eventCount++;
    this.touch();
    if (this.log.isDebugEnabled()) this.log.debug('event', describeEvent(ev));
    if (effect.kind === 'reset') {
      this.onSubscribed(gen, ev);
      return;
    }
    if (this.pending !== undefined) {
      if (str(ev, 'type') === 'AGENT_ADDED') this.checkRecovered();
      return;
    }
    if (effect.kind === 'tasks') {
      for (const id of effect.taskIds) this.emitTask(id);
      this.setTaskCount(this.emitted.size);
    }
  }

  private onSubscribed(gen: number, ev: unknown): void {
    this.clearPending();
    const waiting = recoveredAgentIds(ev);
    const maxWaitMs = this.opts.recovery?.maxWaitMs ?? 600_000;
    if (waiting.length === 0 || maxWaitMs <= 0) {
      // Published off this record's stack: the record text and its full parse
      // (tens of MB on a big cluster) are garbage by the time the table is
      // built, so both never have to fit in memory at once. Events arriving
      // meanwhile fold into the snapshot the publish reads.
      const timer = setImmediate(() => this.publish(gen));
      this.pending = { gen, waiting: new Set(), maxTimer: undefined, settleTimer: undefined, immediate: timer };
      return;
    }
    this.log.info('waiting for recovered agents to re-register before replacing the view',
      { agents: waiting.length, maxWaitMs, endpoint: this.status().endpoint });
    const maxTimer = this.timers.setTimeout(() => {
      const missing = [...(this.pending?.waiting ?? [])];
      this.log.warn('recovered agents did not re-register in time; publishing without them', { missing: missing.slice(0, 20), count: missing.length });
      this.publish(gen);
    }, maxWaitMs);
    this.pending = { gen, waiting: new Set(waiting), maxTimer, settleTimer: undefined };
    this.checkRecovered();
  }

  private checkRecovered(): void {
    const p = this.pending;
    if (p === undefined || p.settleTimer !== undefined || p.immediate !== undefined) return;
    for (const id of p.waiting) if (this.snap.agents.has(id)) p.waiting.delete(id);
    if (p.waiting.size > 0) return;
    p.settleTimer = this.timers.setTimeout(() => this.publish(p.gen), this.opts.recovery?.settleMs ?? 10_000);
  }

  private clearPending(): void {
    if (this.pending === undefined) return;
    this.timers.clearTimeout(this.pending.maxTimer);
    this.timers.clearTimeout(this.pending.settleTimer);
    if (this.pending.immediate !== undefined) clearImmediate(this.pending.immediate);
    this.pending = undefined;
  }

  /** The snapshot replaces everything this source said before, in one step. */
  private publish(gen: number): void {
    if (!this.isCurrent(gen)) return;
    this.clearPending();
    const { tasks, held } = snapshotTasks(this.snap, this.taskOpts);
    this.emitted = new Set(tasks.map((t) => t.id));
    this.sink?.replace(this.id, tasks);
    if (held.length > 0) {
      const reasons: Record<string, number> = {};
      for (const h of held) reasons[h.reason] = (reasons[h.reason] ?? 0) + 1;
      this.log.info('tasks held back until their agent or framework is known', { count: held.length, reasons });
      if (this.log.isDebugEnabled()) for (const h of held) this.log.debug('task held', { ...h });
    }
    this.synced(tasks.length);
  }

  private emitTask(id: string): void {
    const r = snapshotTask(this.snap, id, this.taskOpts);
    if (r?.ok === true) {
      this.emitted.add(id);
      this.sink?.upsert(r.task);
      return;
    }
    if (this.emitted.delete(id)) this.sink?.remove({ source: this.id, id });
    if (r !== undefined && this.log.isDebugEnabled()) this.log.debug('task held', { ...r.held });
  }
}
