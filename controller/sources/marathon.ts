// The Marathon source: `GET /v2/events` (SSE, filtered by event_type) first,
// then the snapshot `GET /v2/apps?embed=apps.tasks` -> sink.replace. Events
// are not ordered and carry partial state, so they are never applied: each
// marks its app dirty, and a coalesced re-read (`GET /v2/apps/<id>?embed=
// app.tasks`, or one full snapshot when many apps are dirty) brings the
// truth, debounced by `debounceMs`. Only tasks whose parse changed are sent.
// Stream loss, silence (no bytes, keep-alives included, for
// `idleTimeoutMs`), a bad event or a failed re-read: the view is kept and
// marked stale, and the source reconnects and re-snapshots.

import type { Logger } from '../log.js';
import type { Task } from '../model/index.js';
import { excerpt, SourceError } from './errors.js';
import { HttpClient, showUrl, statusError, type HttpAuth, type OpenResponse } from './http.js';
import { arr, isObject, parseJson, str } from './json.js';
import { tasksFromApp } from './marathon-app.js';
import { createDnsResolver, type AgentResolver } from './resolver.js';
import { SseParser, type SseEvent } from './sse.js';
import type { TimerHandle } from './timers.js';
import { ReconnectingSource, Watchdog, type ReconnectOptions } from './watch.js';

export interface MarathonSourceOptions extends ReconnectOptions {
  /** Source id (default `marathon`). */
  id?: string;
  /** Marathon base URLs (`http://marathon.mesos:8080`), tried in turn. */
  urls: readonly string[];
  /** Marathon's framework name, the second label of its VIP names (default `marathon`). */
  framework?: string;
  auth?: HttpAuth;
  caFile?: string;
  ca?: string | Buffer;
  /** Task host -> IPv4 (default dns.lookup family 4, cached). */
  resolver?: AgentResolver;
  /** Connect + response headers deadline, ms (default 10,000). */
  connectTimeoutMs?: number;
  /** Whole-body deadline of a snapshot or re-read, ms (default 60,000). */
  requestTimeoutMs?: number;
  /** No bytes on the event stream for this long -> reconnect (default 30,000: 3 Jetty keep-alives). */
  idleTimeoutMs?: number;
  /** Dirty apps are re-read this long after the first event (default 250 ms). */
  debounceMs?: number;
  /** More dirty apps than this -> one full snapshot instead (default 20). */
  fullSnapshotAbove?: number;
  /** A full re-read this often, as a safety net (default 10 min; 0 = never). */
  resyncIntervalMs?: number;
}

/** The event types the source asks for; any of them marks apps dirty. */
export const MARATHON_EVENT_TYPES: readonly string[] = [
  'event_stream_attached', 'status_update_event', 'instance_changed_event', 'health_status_changed_event',
  'app_terminated_event', 'deployment_success', 'deployment_failed', 'api_post_event',
];

interface Conn {
  gen: number;
  base: URL;
  res: OpenResponse;
  watchdog: Watchdog;
  synced: boolean;
  dirty: Set<string>;
  /** Everything is dirty (an event named no app, or the resync timer). */
  all: boolean;
  timer: TimerHandle | undefined;
  resync: TimerHandle | undefined;
  reading: boolean;
}

/** App ids an event names; undefined when it names none it should (then re-read everything). */
export function appsOfEvent(type: string, data: unknown): string[] | undefined {
  switch (type) {
    case 'event_stream_attached':
      return [];
    case 'status_update_event':
    case 'health_status_changed_event':
    case 'app_terminated_event': {
      const id = str(data, 'appId');
      return id === undefined ? undefined : [id];
    }
    case 'instance_changed_event': {
      const id = str(data, 'runSpecId');
      return id === undefined ? undefined : [id];
    }
    case 'api_post_event': {
      const id = str(data, 'appDefinition', 'id');
      return id === undefined ? undefined : [id];
    }
    case 'deployment_success':
    case 'deployment_failed': {
      const ids = new Set<string>();
      for (const step of arr(data, 'plan', 'steps')) {
        for (const a of arr(step, 'actions')) {
          const app = str(a, 'app');
          if (app !== undefined) ids.add(app);
        }
      }
      for (const side of ['original', 'target']) for (const app of arr(data, 'plan', side, 'apps')) {
        const id = str(app, 'id');
        if (id !== undefined) ids.add(id);
      }
      return ids.size === 0 ? undefined : [...ids];
    }
    default:
      return [];
  }
}

/** `http://m:8080/` -> `http://m:8080` (paths are added per request). */
function baseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SourceError('SRC_BAD_OPTIONS', `not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SourceError('SRC_BAD_OPTIONS', `Marathon URL must be http or https: ${showUrl(url)}`);
  url.pathname = url.pathname.replace(/\/+$/, '');
  url.search = '';
  return url;
}

const at = (base: URL, path: string, query = ''): URL => new URL(`${base.pathname.replace(/\/+$/, '')}${path}${query}`, base);

export class MarathonSource extends ReconnectingSource {
  private readonly bases: URL[];
  private readonly http: HttpClient;
  private readonly resolver: AgentResolver;
  private readonly opts: MarathonSourceOptions;
  private readonly framework: string;
  private preferred = 0;
  private conn: Conn | undefined;
  /** appId -> taskId -> fingerprint of what the sink has. */
  private known = new Map<string, Map<string, string>>();
  private eventCount = 0;
  private readCount = 0;
  private snapshotCount = 0;

  constructor(opts: MarathonSourceOptions, logger: Logger) {
    if (opts.urls.length === 0) throw new SourceError('SRC_BAD_OPTIONS', 'the Marathon source needs at least one URL');
    const bases = opts.urls.map(baseUrl);
    super(opts.id ?? 'marathon', 'marathon', showUrl(bases[0] as URL), logger, opts);
    this.opts = opts;
    this.bases = bases;
    this.framework = opts.framework ?? 'marathon';
    this.http = new HttpClient({
      ...(opts.auth !== undefined && { auth: opts.auth }),
      ...(opts.caFile !== undefined && { caFile: opts.caFile }),
      ...(opts.ca !== undefined && { ca: opts.ca }),
      timeoutMs: opts.connectTimeoutMs ?? 10_000,
    }, this.timers);
    this.resolver = opts.resolver ?? createDnsResolver({ timers: this.timers });
  }

  /** Event-stream bytes and events, single-app re-reads and full snapshots since start (tests, metrics). */
  get counters(): { bytes: number; events: number; appReads: number; snapshots: number } {
    return { bytes: this.byteCount, events: this.eventCount, appReads: this.readCount, snapshots: this.snapshotCount };
  }

  protected async connect(gen: number): Promise<void> {
    const query = `?${MARATHON_EVENT_TYPES.map((t) => `event_type=${t}`).join('&')}`;
    const failures: SourceError[] = [];
    for (let k = 0; k < this.bases.length; k++) {
      const i = (this.preferred + k) % this.bases.length;
      const base = this.bases[i] as URL;
      let res: OpenResponse;
      try {
        res = await this.http.open(at(base, '/v2/events', query), { headers: { Accept: 'text/event-stream' } });
      } catch (e) {
        failures.push(e instanceof SourceError ? e : new SourceError('SRC_CONNECT', String(e)));
        if (!this.isCurrent(gen)) return;
        continue;
      }
      if (!this.isCurrent(gen)) return res.close();
      if (res.status !== 200) {
        failures.push(statusError(res, await this.http.readHead(res)));
        if (!this.isCurrent(gen)) return;
        continue;
      }
      this.preferred = i;
      // After redirects, the server that answered is the one to read from.
      const answered = new URL(res.url.toString());
      answered.pathname = answered.pathname.replace(/\/v2\/events$/, '');
      answered.search = '';
      await this.attach(gen, answered, res);
      return;
    }
    const last = failures[failures.length - 1] as SourceError;
    if (failures.length === 1) throw last;
    throw new SourceError(last.code, `no Marathon answered: ${failures.map((f) => f.message).join('; ')}`);
  }

  protected disconnect(): void {
    const c = this.conn;
    this.conn = undefined;
    if (c === undefined) return;
    c.watchdog.stop();
    this.timers.clearTimeout(c.timer);
    this.timers.clearTimeout(c.resync);
    c.res.close();
  }

  private async attach(gen: number, base: URL, res: OpenResponse): Promise<void> {
    const endpoint = showUrl(base);
    const idle = this.opts.idleTimeoutMs ?? 30_000;
    const watchdog = new Watchdog(this.timers, (silentMs) =>
      this.lost(gen, new SourceError('SRC_TIMEOUT', `no bytes on the event stream of ${endpoint} for ${Math.round(silentMs)} ms`, { url: endpoint })));
    const c: Conn = { gen, base, res, watchdog, synced: false, dirty: new Set(), all: false, timer: undefined, resync: undefined, reading: false };
    this.conn = c;
    this.connected(endpoint);
    watchdog.arm(idle);
    const parser = new SseParser();
    // No end() flush: an event without its closing blank line is not an event.
    this.pump(gen, res.body, watchdog, { push: (chunk: Buffer) => parser.push(chunk) }, (ev: SseEvent) => this.onEvent(c, ev), {
      endpoint,
      ended: () => new SourceError('SRC_STREAM_ENDED', `${endpoint} ended the event stream`, { url: endpoint }),
      closed: 'closed the event stream',
    });
    // The stream is open: whatever changes from now on is marked dirty.
    await this.snapshot(c);
  }

  private onEvent(c: Conn, ev: SseEvent): void {
    this.eventCount++;
    this.touch();
    const parsed = parseJson(ev.data);
    if (!parsed.ok || !isObject(parsed.value)) {
      this.lost(c.gen, new SourceError('SRC_BAD_RECORD', `${ev.type} event from ${showUrl(c.base)}: data is not a JSON object`,
        { url: showUrl(c.base), event: ev.type, near: excerpt(ev.data, 120) }));
      return;
    }
    const apps = appsOfEvent(ev.type, parsed.value);
    if (this.log.isDebugEnabled()) this.log.debug('event', { type: ev.type, apps });
    if (apps === undefined) {
      this.log.warn('an event names no app; re-reading every app', { type: ev.type, near: excerpt(ev.data, 120) });
      c.all = true;
    } else {
      for (const id of apps) c.dirty.add(id);
    }
    this.schedule(c);
  }

  private schedule(c: Conn): void {
    if (!c.synced || c.reading || c.timer !== undefined || (!c.all && c.dirty.size === 0)) return;
    c.timer = this.timers.setTimeout(() => {
      c.timer = undefined;
      void this.flush(c);
    }, this.opts.debounceMs ?? 250);
  }

  private async flush(c: Conn): Promise<void> {
    if (!this.isCurrent(c.gen)) return;
    const apps = [...c.dirty];
    const full = c.all || apps.length > (this.opts.fullSnapshotAbove ?? 20);
    c.dirty.clear();
    c.all = false;
    c.reading = true;
    try {
      if (full) await this.snapshot(c);
      else for (const id of apps) await this.reread(c, id);
    } catch (e) {
      this.lost(c.gen, e);
      return;
    } finally {
      c.reading = false;
    }
    this.schedule(c);
  }

  /** The full view: replaces everything this source said before. */
  private async snapshot(c: Conn): Promise<void> {
    let value: unknown;
    try {
      ({ value } = await this.http.getJson(at(c.base, '/v2/apps', '?embed=apps.tasks'), { timeoutMs: this.opts.requestTimeoutMs ?? 60_000 }));
    } catch (e) {
      this.lost(c.gen, e);
      return;
    }
    if (!this.isCurrent(c.gen)) return;
    this.snapshotCount++;
    if (!Array.isArray(isObject(value) ? value['apps'] : undefined)) {
      this.lost(c.gen, new SourceError('SRC_BAD_RECORD', `${showUrl(c.base)}/v2/apps: no "apps" list`, { url: showUrl(c.base) }));
      return;
    }
    const apps = arr(value, 'apps');
    await this.resolveHosts(apps);
    if (!this.isCurrent(c.gen)) return;
    const known = new Map<string, Map<string, string>>();
    const all: Task[] = [];
    for (const app of apps) {
      const tasks = this.convert(app);
      if (tasks === undefined) continue;
      known.set(tasks.appId, new Map(tasks.tasks.map((t) => [t.id, JSON.stringify(t)])));
      all.push(...tasks.tasks);
    }
    this.known = known;
    this.sink?.replace(this.id, all);
    this.setTaskCount(all.length);
    if (!c.synced) {
      c.synced = true;
      this.synced(all.length);
      this.armResync(c);
      this.schedule(c); // events that arrived while the snapshot was read
    }
  }

  /** One app: upsert its changed tasks, remove its vanished ones (all of them on 404). */
  private async reread(c: Conn, appId: string): Promise<void> {
    const path = `/v2/apps${appId.split('/').map((s) => encodeURIComponent(s)).join('/')}`;
    const r = await this.http.getJson(at(c.base, path, '?embed=app.tasks'), { timeoutMs: this.opts.requestTimeoutMs ?? 60_000, accept404: true });
    if (!this.isCurrent(c.gen)) return;
    this.readCount++;
    const app = r.status === 404 ? undefined : isObject(r.value) ? r.value['app'] : undefined;
    if (r.status !== 404 && !isObject(app)) {
      throw new SourceError('SRC_BAD_RECORD', `${showUrl(c.base)}${path}: no "app" object`, { url: showUrl(c.base) });
    }
    if (app !== undefined) await this.resolveHosts([app]);
    if (!this.isCurrent(c.gen)) return;
    const before = this.known.get(appId) ?? new Map<string, string>();
    const after = new Map<string, string>();
    const converted = app === undefined ? undefined : this.convert(app);
    for (const t of converted?.tasks ?? []) {
      const fp = JSON.stringify(t);
      after.set(t.id, fp);
      if (before.get(t.id) !== fp) this.sink?.upsert(t);
    }
    for (const id of before.keys()) if (!after.has(id)) this.sink?.remove({ source: this.id, id });
    if (after.size > 0) this.known.set(appId, after);
    else this.known.delete(appId);
    let n = 0;
    for (const m of this.known.values()) n += m.size;
    this.setTaskCount(n);
  }

  private convert(app: unknown): { appId: string; tasks: Task[] } | undefined {
    const r = tasksFromApp(app, { source: this.id, framework: this.framework, resolveHost: (h) => this.resolver.peek(h) ?? undefined });
    for (const p of r.problems) this.log.warn('skipping part of an app', { problem: p });
    return r.appId === '' ? undefined : { appId: r.appId, tasks: r.tasks };
  }

  private async resolveHosts(apps: readonly unknown[]): Promise<void> {
    const hosts = new Set<string>();
    for (const app of apps) for (const t of arr(app, 'tasks')) {
      const h = str(t, 'host');
      if (h !== undefined && this.resolver.peek(h) === undefined) hosts.add(h);
    }
    if (hosts.size > 0) await Promise.all([...hosts].map((h) => this.resolver.resolve(h)));
  }

  private armResync(c: Conn): void {
    const every = this.opts.resyncIntervalMs ?? 600_000;
    if (every <= 0) return;
    c.resync = this.timers.setTimeout(() => {
      if (!this.isCurrent(c.gen)) return;
      c.all = true;
      this.schedule(c);
      this.armResync(c);
    }, every);
  }
}
