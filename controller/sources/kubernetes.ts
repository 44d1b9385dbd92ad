// The Kubernetes source: informers (@kubernetes/client-node's ListWatch) on
// Services and discovery.k8s.io/v1 EndpointSlices; annotated Services become
// Tasks (rules in kubernetes-objects.ts).
//
// - ListWatch does the protocol: list, watch from the list's
//   resourceVersion, resume a watch the server ended from the last
//   resourceVersion (bookmarks move it: we ask for them), re-list on 410
//   Gone. Its cache is the view; its callbacks only mark Services dirty.
// - The list function is ours: a GET with a deadline whose errors carry the
//   API server's Status message (403 names the missing RBAC rule).
// - The watch goes through the library's Watch, wrapped to add
//   allowWatchBookmarks/timeoutSeconds, to drop objects without a name
//   (the library would throw on them), and to turn what ListWatch leaves to
//   the caller into `lost`: a watch or list error, a non-410 ERROR event, a
//   watch that outlives its timeoutSeconds (dead connection), a server that
//   ends every watch at once.
// - A connection (`gen`) is a pair of fresh informers. After any error the
//   view is kept (`stale`), and the next pair re-lists after a backoff.
//   A complete view needs both lists; it goes to the sink in one `replace`
//   (also after a 410 re-list); watch events go as per-Service upserts and
//   removes of the Tasks that changed.
// - The library (~0.4 s to load) is imported on the first connect, so CLI
//   commands that never watch Kubernetes do not pay for it. The kubeconfig is
//   parsed then too; a bad one is reported like a connection error.

import { accessSync, constants as fsConstants } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig, KubernetesListObject, KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import type { LabelRejection, Task } from '../model/index.js';
import { asSourceError, excerpt, SourceError } from './errors.js';
import { arr, at, isObject, parseJson, str } from './json.js';
import { objectKey, serviceTasks, serviceVips, sliceServiceKey } from './kubernetes-objects.js';
import type { TimerHandle } from './timers.js';
import { ReconnectingSource, type ReconnectOptions } from './watch.js';

/** Where the service account of a pod is mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubernetesSourceOptions extends ReconnectOptions {
  /** Source id (default `kubernetes`). */
  id?: string;
  /** A kubeconfig file; without it, the pod's service account (in-cluster). */
  kubeconfig?: string;
  /** Context of the kubeconfig (default its current-context). */
  context?: string;
  /** Watch one namespace only (default all namespaces). */
  namespace?: string;
  /** Prefix of the service account files in-cluster (tests; default none). */
  inClusterRoot?: string;
  /** Environment with KUBERNETES_SERVICE_HOST/PORT in-cluster (default process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Whole-list deadline, ms (default 60,000). */
  requestTimeoutMs?: number;
  /** timeoutSeconds of each watch (default 300-600, random per watch as client-go). */
  watchTimeoutSeconds?: number;
  /** A watch still open this long after its timeoutSeconds is dead (default 30,000 ms). */
  watchGraceMs?: number;
}

type Resource = 'services' | 'endpointslices';
const RESOURCES: readonly Resource[] = ['services', 'endpointslices'];

type Lib = typeof import('@kubernetes/client-node');
let libPromise: Promise<Lib> | undefined;
const loadLib = (): Promise<Lib> => (libPromise ??= import('@kubernetes/client-node'));

interface Informer {
  resource: Resource;
  path: string;
  lw: ListWatch<KubernetesObject>;
  listed: boolean;
  /** Fires when the current watch outlives its timeoutSeconds. */
  deadline: TimerHandle | undefined;
  openedAt: number;
  quickEnds: number;
  /** The open watch request: ListWatch.stop() misses one whose headers are still on the way. */
  request: AbortController | undefined;
}

interface Conn {
  gen: number;
  kc: KubeConfig;
  server: string;
  abort: AbortController;
  informers: Record<Resource, Informer>;
  /** A list completed since the last flush: the next flush replaces the view. */
  full: boolean;
  dirty: Set<string>;
  flushQueued: boolean;
  synced: boolean;
  /** EndpointSlice key -> its Service's key, and the reverse index. */
  sliceOwner: Map<string, string>;
  slicesOf: Map<string, Set<string>>;
}

/** `namespace/name` -> [name, namespace] for ListWatch.get. */
function split(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(i + 1), key.slice(0, i)];
}

const byKey = (a: unknown, b: unknown): number => {
  const x = objectKey(a) ?? '';
  const y = objectKey(b) ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
};

export class KubernetesSource extends ReconnectingSource {
  private readonly opts: KubernetesSourceOptions;
  private conn: Conn | undefined;
  /** Service key -> task id -> fingerprint of what the sink has. */
  private known = new Map<string, Map<string, string>>();
  /** Service key -> its annotation problems (what sink.rejected has). */
  private rejections = new Map<string, LabelRejection[]>();
  private readonly stats = { lists: 0, watches: 0, events: 0, bookmarks: 0, expired: 0 };

  constructor(opts: KubernetesSourceOptions, logger: Logger) {
    const env = opts.env ?? process.env;
    let endpoint: string;
    if (opts.kubeconfig !== undefined) {
      try {
        accessSync(opts.kubeconfig, fsConstants.R_OK);
      } catch (e) {
        throw new SourceError('SRC_BAD_OPTIONS', `cannot read the kubeconfig ${opts.kubeconfig}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      }
      endpoint = `kubeconfig ${opts.kubeconfig}`;
    } else {
      const host = env['KUBERNETES_SERVICE_HOST'];
      const token = `${opts.inClusterRoot ?? ''}${SERVICE_ACCOUNT_DIR}/token`;
      let readable = true;
      try {
        accessSync(token, fsConstants.R_OK);
      } catch {
        readable = false;
      }
      if (host === undefined || host === '' || !readable) {
        throw new SourceError('SRC_BAD_OPTIONS', `not in a Kubernetes pod (${host === undefined || host === '' ? 'KUBERNETES_SERVICE_HOST is unset' : `no service account token at ${token}`}): run l4lb in a pod with a service account, or set kubernetes.kubeconfig`);
      }
      endpoint = `https://${host.includes(':') ? `[${host}]` : host}:${env['KUBERNETES_SERVICE_PORT'] ?? '443'}`;
    }
    if (opts.namespace !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(opts.namespace)) {
      throw new SourceError('SRC_BAD_OPTIONS', `not a namespace name: ${JSON.stringify(opts.namespace)}`);
    }
    super(opts.id ?? 'kubernetes', 'kubernetes', endpoint, logger, opts);
    this.opts = opts;
  }

  /** Lists, watch requests, watch events, bookmarks and 410 Gone since start (tests, metrics). */
  get counters(): { lists: number; watches: number; events: number; bookmarks: number; expired: number } {
    return { ...this.stats };
  }

  protected async connect(gen: number): Promise<void> {
    const lib = await loadLib();
    if (!this.isCurrent(gen)) return;
    const kc = this.kubeConfig(lib);
    const cluster = kc.getCurrentCluster() as { server: string };
    const server = cluster.server.replace(/\/+$/, '');
    const ns = this.opts.namespace;
    const paths: Record<Resource, string> = {
      services: ns === undefined ? '/api/v1/services' : `/api/v1/namespaces/${ns}/services`,
      endpointslices: ns === undefined ? '/apis/discovery.k8s.io/v1/endpointslices' : `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
    };
    const c = { gen, kc, server, abort: new AbortController(), full: false, dirty: new Set<string>(), flushQueued: false, synced: false, sliceOwner: new Map(), slicesOf: new Map() } as Omit<Conn, 'informers'> as Conn;
    const informers = {} as Record<Resource, Informer>;
    for (const resource of RESOURCES) informers[resource] = this.informer(lib, c, resource, paths[resource]);
    c.informers = informers;
    this.conn = c;
    for (const resource of RESOURCES) void informers[resource].lw.start();
  }

  protected disconnect(): void {
    const c = this.conn;
    this.conn = undefined;
    if (c === undefined) return;
    c.abort.abort();
    for (const resource of RESOURCES) {
      const inf = c.informers[resource];
      this.timers.clearTimeout(inf.deadline);
      void inf.lw.stop();
      inf.request?.abort();
    }
  }

  // A bad kubeconfig is the operator's to fix: SRC_BAD_OPTIONS in the status, retried.
  private kubeConfig(lib: Lib): KubeConfig {
    const kc = new lib.KubeConfig();
    const where = this.opts.kubeconfig ?? 'the in-cluster service account';
    try {
      if (this.opts.kubeconfig !== undefined) {
        kc.loadFromFile(this.opts.kubeconfig);
        if (this.opts.context !== undefined) {
          if (kc.getContextObject(this.opts.context) === null) throw new Error(`it has no context ${JSON.stringify(this.opts.context)}`);
          kc.setCurrentContext(this.opts.context);
        }
      } else {
        const env = this.opts.env ?? process.env;
        const saved = { host: process.env['KUBERNETES_SERVICE_HOST'], port: process.env['KUBERNETES_SERVICE_PORT'] };
        // loadFromCluster reads process.env; an injected env (tests) stands in for the call only.
        const set = (k: string, v: string | undefined): void => {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        };
        set('KUBERNETES_SERVICE_HOST', env['KUBERNETES_SERVICE_HOST']);
        set('KUBERNETES_SERVICE_PORT', env['KUBERNETES_SERVICE_PORT']);
        try {
          kc.loadFromCluster(this.opts.inClusterRoot);
        } finally {
          set('KUBERNETES_SERVICE_HOST', saved.host);
          set('KUBERNETES_SERVICE_PORT', saved.port);
        }
      }
    } catch (e) {
      throw new SourceError('SRC_BAD_OPTIONS', `cannot load ${where}: ${(e as Error).message}`);
    }
    const cluster = kc.getCurrentCluster();
    if (cluster === null || typeof cluster.server !== 'string' || cluster.server === '') {
      throw new SourceError('SRC_BAD_OPTIONS', `${where} names no cluster server (current-context ${JSON.stringify(kc.getCurrentContext())})`);
    }
    if (cluster.server.startsWith('http:') && cluster.skipTLSVerify !== true) {
      throw new SourceError('SRC_BAD_OPTIONS', `${where}: server ${cluster.server} is plain http; the client refuses it unless the cluster sets insecure-skip-tls-verify: true`);
    }
    return kc;
  }

  private informer(lib: Lib, c: Conn, resource: Resource, path: string): Informer {
    const real = new lib.Watch(c.kc);
    const inf = {} as Informer;
    // Structurally a Watch: ListWatch calls watch() only.
    const watch: Watch = {
      config: c.kc,
      watch: (p, query, callback, done) => this.openWatch(c, inf, real, p, query, callback, done),
    };
    const lw = new lib.ListWatch<KubernetesObject>(path, watch, () => this.list(c, inf), false);
    Object.assign(inf, { resource, path, lw, listed: false, deadline: undefined, openedAt: 0, quickEnds: 0, request: undefined });
    const mark = (o: KubernetesObject, deleted: boolean): void => {
      if (!this.isCurrent(c.gen)) return;
      if (resource === 'services') {
        const key = objectKey(o);
        if (key !== undefined) c.dirty.add(key);
      } else {
        this.indexSlice(c, o, deleted);
      }
      this.queueFlush(c);
    };
    lw.on('add', (o) => mark(o, false));
    lw.on('update', (o) => mark(o, false));
    lw.on('delete', (o) => mark(o, true));
    lw.on('error', (e: unknown) => this.lost(c.gen, this.errorOf(e, `${resource} watch`)));
    return inf;
  }

  private indexSlice(c: Conn, o: unknown, deleted: boolean): void {
    const key = objectKey(o);
    if (key === undefined) return;
    const before = c.sliceOwner.get(key);
    const after = deleted ? undefined : sliceServiceKey(o);
    if (before !== undefined) {
      c.dirty.add(before);
      if (before !== after) {
        c.slicesOf.get(before)?.delete(key);
        if (c.slicesOf.get(before)?.size === 0) c.slicesOf.delete(before);
      }
    }
    if (after === undefined) {
      c.sliceOwner.delete(key);
      return;
    }
    c.sliceOwner.set(key, after);
    let set = c.slicesOf.get(after);
    if (set === undefined) c.slicesOf.set(after, (set = new Set()));
    set.add(key);
    c.dirty.add(after);
  }

  /** ListWatch's list function: one GET with a deadline; errors carry the server's Status. */
  private async list(c: Conn, inf: Informer): Promise<KubernetesListObject<KubernetesObject>> {
    if (!this.isCurrent(c.gen)) throw new SourceError('SRC_CONNECT', 'connection replaced');
    const url = new URL(c.server + inf.path);
    const value = await this.getJson(c, url);
    if (!this.isCurrent(c.gen)) throw new SourceError('SRC_CONNECT', 'connection replaced');
    const rv = str(value, 'metadata', 'resourceVersion');
    if (!isObject(value) || !Array.isArray(value['items']) || rv === undefined || rv === '') {
      throw new SourceError('SRC_BAD_RECORD', `GET ${url.pathname}: not a list with items and metadata.resourceVersion`, { url: url.toString() });
    }
    const items: KubernetesObject[] = [];
    let skipped = 0;
    for (const item of arr(value, 'items')) {
      if (objectKey(item) === undefined) skipped++;
      else items.push(item as KubernetesObject);
    }
    if (skipped > 0) this.log.warn('skipping list items without metadata.name', { resource: inf.resource, skipped });
    this.stats.lists++;
    this.touch();
    if (this.log.isDebugEnabled()) this.log.debug('listed', { resource: inf.resource, items: items.length, resourceVersion: rv });
    if (!c.informers.services.listed && !c.informers.endpointslices.listed) this.connected(c.server);
    inf.listed = true;
    inf.quickEnds = 0;
    c.full = true;
    this.queueFlush(c);
    return { metadata: { resourceVersion: rv }, items };
  }

  private getJson(c: Conn, url: URL): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timeoutMs = this.opts.requestTimeoutMs ?? 60_000;
      const abort = new AbortController();
      const onAbort = (): void => abort.abort();
      c.abort.signal.addEventListener('abort', onAbort, { once: true });
      const timer = this.timers.setTimeout(() => {
        abort.abort();
        reject(new SourceError('SRC_TIMEOUT', `GET ${url.pathname}: no complete answer within ${timeoutMs} ms`, { url: url.toString() }));
      }, timeoutMs);
      const finish = (): void => {
        this.timers.clearTimeout(timer);
        c.abort.signal.removeEventListener('abort', onAbort);
      };
      const opts: https.RequestOptions = {};
      c.kc.applyToHTTPSOptions(opts).then(() => {
        const headers = { ...(opts.headers as Record<string, string> | undefined), Accept: 'application/json' };
        const mod = url.protocol === 'https:' ? https : http;
        const req = mod.get(url, { agent: opts.agent, headers, ...(opts.auth !== undefined && { auth: opts.auth }), signal: abort.signal }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('error', (e) => (finish(), reject(this.errorOf(e, `GET ${url.pathname}`))));
          res.on('end', () => {
            finish();
            const text = Buffer.concat(chunks).toString('utf8');
            const parsed = parseJson(text);
            if (res.statusCode !== 200) {
              reject(this.statusError(`GET ${url.pathname}`, res.statusCode ?? 0, parsed.ok ? parsed.value : text, url));
              return;
            }
            if (!parsed.ok) {
              reject(new SourceError('SRC_BAD_RECORD', `GET ${url.pathname}: not JSON: ${parsed.message}`, { url: url.toString(), near: excerpt(text, 120) }));
              return;
            }
            resolve(parsed.value);
          });
        });
        req.on('error', (e) => (finish(), reject(this.errorOf(e, `GET ${url.pathname}`))));
      }, (e: unknown) => (finish(), reject(new SourceError('SRC_BAD_OPTIONS', `credentials for ${c.server}: ${(e as Error).message}`))));
    });
  }

  /** `GET /api/v1/services: 403 Forbidden: services is forbidden: User ... cannot list ...`. */
  private statusError(what: string, code: number, body: unknown, url?: URL): SourceError {
    const reason = str(body, 'reason') ?? http.STATUS_CODES[code] ?? '';
    const message = str(body, 'message') ?? (typeof body === 'string' ? excerpt(body.trim(), 200) : '');
    const hint = code === 403 ? ' (l4lb needs list and watch on services and discovery.k8s.io endpointslices)'
      : code === 401 ? ' (the credentials were refused)' : '';
    return new SourceError('SRC_HTTP_STATUS', `${what}: ${code} ${reason}${message !== '' ? `: ${message}` : ''}${hint}`,
      { status: code, ...(url !== undefined && { url: url.toString() }) });
  }

  private errorOf(e: unknown, what: string): SourceError {
    if (e instanceof SourceError) return e;
    const code = isObject(e) && typeof e['statusCode'] === 'number' ? e['statusCode'] : undefined;
    if (code !== undefined) return this.statusError(what, code, undefined);
    const err = asSourceError(e);
    return new SourceError(err.code, `${what}: ${err.message}`, err.context, { cause: e });
  }

  /** The library's watch, with our parameters, checks and deadline around it. */
  private async openWatch(c: Conn, inf: Informer, real: Watch, path: string, query: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, obj: unknown, watchObj?: unknown) => void, done: (err: unknown) => void): Promise<AbortController> {
    // ListWatch starts a watch after a list even when stopped meanwhile: never open one for an old connection.
    if (!this.isCurrent(c.gen)) return new AbortController();
    this.stats.watches++;
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300 + Math.floor(Math.random() * 300);
    inf.openedAt = this.timers.now();
    let events = 0;
    this.timers.clearTimeout(inf.deadline);
    inf.deadline = this.timers.setTimeout(() => {
      this.lost(c.gen, new SourceError('SRC_TIMEOUT', `${inf.resource} watch still open ${timeoutSeconds} s after its timeoutSeconds: the connection is dead`, { url: c.server }));
    }, timeoutSeconds * 1000 + (this.opts.watchGraceMs ?? 30_000));
    const onEvent = (phase: string, obj: unknown, watchObj?: unknown): void => {
      if (!this.isCurrent(c.gen)) return;
      events++;
      this.stats.events++;
      this.touch();
      switch (phase) {
        case 'ADDED':
        case 'MODIFIED':
        case 'DELETED':
          if (objectKey(obj) === undefined) {
            this.log.warn('skipping a watch event without metadata.name', { resource: inf.resource, type: phase, near: excerpt(JSON.stringify(obj) ?? '', 120) });
            return;
          }
          break;
        case 'BOOKMARK':
          this.stats.bookmarks++;
          if (str(obj, 'metadata', 'resourceVersion') === undefined) return;
          break;
        case 'ERROR':
          if (isObject(obj) && obj['code'] === 410) {
            // ListWatch forgets the resourceVersion and re-lists when the stream ends.
            this.stats.expired++;
            this.log.info('watch expired (410 Gone): re-listing', { resource: inf.resource, reason: str(obj, 'message') });
            break;
          }
          this.lost(c.gen, this.statusError(`${inf.resource} watch`, typeof at(obj, 'code') === 'number' ? (at(obj, 'code') as number) : 0, obj));
          return;
        default:
          this.log.warn('skipping a watch event of unknown type', { resource: inf.resource, type: phase });
          return;
      }
      callback(phase, obj, watchObj);
    };
    const onDone = (err: unknown): void => {
      if (!this.isCurrent(c.gen)) return done(err);
      this.timers.clearTimeout(inf.deadline);
      inf.deadline = undefined;
      if (err === null || err === undefined) {
        // A server that ends every watch at once would make ListWatch re-watch in a tight loop.
        inf.quickEnds = events === 0 && this.timers.now() - inf.openedAt < 1000 ? inf.quickEnds + 1 : 0;
        if (inf.quickEnds >= 3) {
          this.lost(c.gen, new SourceError('SRC_STREAM_ENDED', `${inf.resource} watch: the API server ended ${inf.quickEnds} watches at once`, { url: c.server }));
          return;
        }
      }
      done(err);
    };
    const params = { ...query, allowWatchBookmarks: true, timeoutSeconds };
    const request = await real.watch(path, params, onEvent, onDone);
    if (this.isCurrent(c.gen)) inf.request = request;
    else request.abort(); // the connection was replaced while the headers were on the way
    return request;
  }

  private queueFlush(c: Conn): void {
    if (c.flushQueued) return;
    c.flushQueued = true;
    // After the burst of callbacks ListWatch makes for one list or one chunk of events.
    setImmediate(() => {
      c.flushQueued = false;
      if (this.isCurrent(c.gen)) this.flush(c);
    });
  }

  private flush(c: Conn): void {
    if (!c.informers.services.listed || !c.informers.endpointslices.listed) return; // no complete view yet
    if (c.full) this.flushAll(c);
    else this.flushDirty(c);
  }

  private tasksOf(c: Conn, svc: unknown, slices: readonly unknown[]): { key: string; tasks: Task[]; rejected: LabelRejection[] } | undefined {
    const sv = serviceVips(svc, this.id);
    if (sv === undefined) return undefined;
    const r = serviceTasks(sv, [...slices].sort(byKey), this.id);
    for (const p of r.problems) this.log.warn('skipping an endpoint address', { service: sv.key, problem: p, endpoint: c.server });
    return { key: sv.key, tasks: r.tasks, rejected: sv.rejected };
  }

  /** A (re-)list: the whole view in one replace. */
  private flushAll(c: Conn): void {
    c.full = false;
    c.dirty.clear();
    c.sliceOwner.clear();
    c.slicesOf.clear();
    const slices = c.informers.endpointslices.lw.list();
    const bySvc = new Map<string, KubernetesObject[]>();
    for (const s of slices) {
      this.indexSlice(c, s, false);
      const owner = sliceServiceKey(s);
      if (owner !== undefined) bySvc.set(owner, [...(bySvc.get(owner) ?? []), s]);
    }
    c.dirty.clear();
    const known = new Map<string, Map<string, string>>();
    const rejections = new Map<string, LabelRejection[]>();
    const all: Task[] = [];
    for (const svc of [...c.informers.services.lw.list()].sort(byKey)) {
      const key = objectKey(svc);
      if (key === undefined) continue;
      const r = this.tasksOf(c, svc, bySvc.get(key) ?? []);
      if (r === undefined) continue;
      if (r.tasks.length > 0) known.set(key, new Map(r.tasks.map((t) => [t.id, JSON.stringify(t)])));
      if (r.rejected.length > 0) rejections.set(key, r.rejected);
      all.push(...r.tasks);
    }
    this.known = known;
    this.sink?.replace(this.id, all);
    this.setTaskCount(all.length);
    this.setRejections(rejections);
    if (!c.synced) {
      c.synced = true;
      this.synced(all.length);
    } else {
      this.log.info('re-listed: view replaced', { tasks: all.length });
    }
  }

  /** Watch events: the Services they touched, recomputed and diffed. */
  private flushDirty(c: Conn): void {
    const keys = [...c.dirty];
    c.dirty.clear();
    const rejections = new Map(this.rejections);
    for (const key of keys) {
      const [name, ns] = split(key);
      const svc = c.informers.services.lw.get(name, ns);
      const slices: KubernetesObject[] = [];
      for (const sk of c.slicesOf.get(key) ?? []) {
        const [sn, sns] = split(sk);
        const s = c.informers.endpointslices.lw.get(sn, sns);
        if (s !== undefined) slices.push(s);
      }
      const r = svc === undefined ? undefined : this.tasksOf(c, svc, slices);
      const before = this.known.get(key) ?? new Map<string, string>();
      const after = new Map<string, string>();
      for (const t of r?.tasks ?? []) {
        const fp = JSON.stringify(t);
        after.set(t.id, fp);
        if (before.get(t.id) !== fp) this.sink?.upsert(t);
      }
      for (const id of before.keys()) if (!after.has(id)) this.sink?.remove({ source: this.id, id });
      if (after.size > 0) this.known.set(key, after);
      else this.known.delete(key);
      if (r !== undefined && r.rejected.length > 0) rejections.set(key, r.rejected);
      else rejections.delete(key);
    }
    let n = 0;
    for (const m of this.known.values()) n += m.size;
    this.setTaskCount(n);
    this.setRejections(rejections);
  }

  /** One log line per Service whose problems changed; the sink gets the whole list when anything changed. */
  private setRejections(next: Map<string, LabelRejection[]>): void {
    const same = (a: LabelRejection[] | undefined, b: LabelRejection[] | undefined): boolean => JSON.stringify(a ?? []) === JSON.stringify(b ?? []);
    let changed = false;
    for (const key of new Set([...this.rejections.keys(), ...next.keys()])) {
      const a = this.rejections.get(key);
      const b = next.get(key);
      if (same(a, b)) continue;
      changed = true;
      if (b === undefined) this.log.info('annotations fixed', { service: key });
      else this.log.warn('rejected annotations', { service: key, problems: b.map((r) => `${r.key}: ${JSON.stringify(r.value)}: ${r.code}: ${r.message}`) });
    }
    this.rejections = next;
    if (changed) this.sink?.rejected?.(this.id, [...next.values()].flat());
  }

  /** Current annotation problems of every Service (status, tests). */
  rejected(): LabelRejection[] {
    return [...this.rejections.values()].flat();
  }
}
