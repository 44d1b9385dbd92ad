// The Kubernetes API server's list and watch of Services and
// discovery.k8s.io/v1 EndpointSlices on loopback, faithful at the wire
// (k8s.io/apiserver: endpoints/handlers/watch.go, storage/cacher):
//
//   GET /api/v1/services                      GET /api/v1/namespaces/{ns}/services[/{name}]
//   GET /apis/discovery.k8s.io/v1/endpointslices
//   GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices[/{name}]
//
// - One resourceVersion counter for every object (etcd's revision): each
//   change bumps it and stamps the object. Lists answer
//   `{"kind":"ServiceList","apiVersion":"v1","metadata":{"resourceVersion":"N"},"items":[...]}`
//   (items without kind/apiVersion, as the server encodes typed lists).
// - `?watch=true|1` streams newline-delimited `{"type":...,"object":...}`
//   (objects with kind/apiVersion), chunked, `Content-Type: application/json`.
//   resourceVersion unset or "0": synthetic ADDED for every object, then
//   changes. resourceVersion=N: every change after N, then live; N older than
//   the last compaction: one ERROR event with a Status (code 410, reason
//   Expired, "too old resource version: N (M)") and the stream ends. N newer
//   than the server: 504 Timeout "Too large resource version" (cause
//   ResourceVersionTooLarge), as a list or as a watch ERROR event.
//   `allowWatchBookmarks=true` lets bookmark() reach that watch;
//   `timeoutSeconds` ends the watch cleanly after that long.
// - Errors are Status objects with the server's reasons: 401 Unauthorized
//   (bearer token), 403 Forbidden (forbid()), 404 NotFound, 405
//   MethodNotAllowed, 400 BadRequest (selectors and paging are not emulated
//   and say so instead of being ignored).
// Faults: dropWatches() (sockets destroyed mid-stream), endWatches() (clean
// end, as at timeoutSeconds), endEveryWatch(), sendRaw(), compact(),
// down()/up() (nothing listens), forbid(), plus failNext/stallNext of server.ts.

import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import { EmulatorServer, type EmulatorServerOptions, type RecordedRequest } from './server.js';

export type Json = Record<string, unknown>;
export type Resource = 'services' | 'endpointslices';

interface ResourceInfo {
  kind: string;
  listKind: string;
  apiVersion: string;
  /** Path prefix of the group version. */
  prefix: string;
  /** For Forbidden messages: `""` or `"discovery.k8s.io"`. */
  group: string;
}

export const RESOURCES: Readonly<Record<Resource, ResourceInfo>> = {
  services: { kind: 'Service', listKind: 'ServiceList', apiVersion: 'v1', prefix: '/api/v1', group: '' },
  endpointslices: {
    kind: 'EndpointSlice', listKind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', prefix: '/apis/discovery.k8s.io/v1', group: 'discovery.k8s.io',
  },
};

export interface KubernetesApiOptions extends EmulatorServerOptions {
  /** Answer 401 unless `Authorization: Bearer <token>`. */
  token?: string;
}

interface Change {
  rv: number;
  resource: Resource;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: Json;
}

interface Watcher {
  resource: Resource;
  namespace: string | undefined;
  bookmarks: boolean;
  res: http.ServerResponse;
  timer: NodeJS.Timeout | undefined;
  /** The resourceVersion the client asked for (`` for none). */
  from: string;
}

/** A Status object as the API server writes it. */
export function status(code: number, reason: string, message: string, details?: Json): Json {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details !== undefined && { details }), code };
}

const clone = <T>(v: T): T => structuredClone(v);

export class KubernetesApiEmulator extends EmulatorServer {
  private readonly token: string | undefined;
  private readonly objects: Record<Resource, Map<string, Json>> = { services: new Map(), endpointslices: new Map() };
  private readonly history: Change[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly forbidden = new Set<Resource>();
  private endAtOnce = false;
  private rv = 1000;
  private compacted = 1000;
  private port = 0;

  private constructor(opts: KubernetesApiOptions) {
    super(opts);
    this.token = opts.token;
  }

  static async start(opts: KubernetesApiOptions = {}): Promise<KubernetesApiEmulator> {
    const k = new KubernetesApiEmulator(opts);
    await k.listen();
    k.port = Number(new URL(k.url).port);
    return k;
  }

  /** The current resourceVersion (the last change's). */
  get resourceVersion(): number {
    return this.rv;
  }

  /** Open watches, optionally of one resource. */
  watches(resource?: Resource): number {
    return [...this.watchers].filter((w) => resource === undefined || w.resource === resource).length;
  }

  async waitForWatches(n: number, resource?: Resource, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.watches(resource) < n) {
      if (Date.now() > deadline) throw new Error(`kubernetes emulator: ${this.watches(resource)} of ${n} watches after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Requests of one resource: `list` or `watch`, with their query. */
  calls(resource: Resource, kind: 'list' | 'watch'): URLSearchParams[] {
    return this.requests
      .map((r) => new URL(r.url, 'http://x'))
      .filter((u) => resourceOf(u.pathname)?.resource === resource && isWatch(u.searchParams) === (kind === 'watch'))
      .map((u) => u.searchParams);
  }

  // --- objects ------------------------------------------------------------------

  /** Creates or replaces an object (by namespace/name); returns it as stored. */
  apply(resource: Resource, object: Json): Json {
    const meta = { ...((object['metadata'] ?? {}) as Json) };
    const namespace = String(meta['namespace'] ?? 'default');
    const name = String(meta['name'] ?? '');
    if (name === '') throw new Error('kubernetes emulator: an object needs metadata.name');
    const key = `${namespace}/${name}`;
    const old = this.objects[resource].get(key);
    const oldMeta = (old?.['metadata'] ?? {}) as Json;
    const rv = ++this.rv;
    const stored: Json = clone({
      ...object,
      metadata: {
        ...meta, namespace, name,
        uid: oldMeta['uid'] ?? randomUUID(),
        resourceVersion: String(rv),
        creationTimestamp: oldMeta['creationTimestamp'] ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    });
    delete stored['kind'];
    delete stored['apiVersion'];
    this.objects[resource].set(key, stored);
    this.publish({ rv, resource, type: old === undefined ? 'ADDED' : 'MODIFIED', object: stored });
    return clone(stored);
  }

  /** Deletes an object; the DELETED event carries its last state with a new resourceVersion. */
  delete(resource: Resource, namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.objects[resource].get(key);
    if (old === undefined) throw new Error(`kubernetes emulator: no ${resource} ${key}`);
    this.objects[resource].delete(key);
    const rv = ++this.rv;
    const gone = clone(old);
    (gone['metadata'] as Json)['resourceVersion'] = String(rv);
    this.publish({ rv, resource, type: 'DELETED', object: gone });
  }

  get(resource: Resource, namespace: string, name: string): Json | undefined {
    const o = this.objects[resource].get(`${namespace}/${name}`);
    return o === undefined ? undefined : clone(o);
  }

  // --- faults -------------------------------------------------------------------

  /** History before now is gone: a watch from an older resourceVersion gets 410 Expired. */
  compact(): void {
    this.compacted = this.rv;
    this.history.splice(0);
  }

  /** A BOOKMARK with the current resourceVersion to every watch that allowed them. */
  bookmark(): void {
    for (const w of this.watchers) {
      if (!w.bookmarks) continue;
      const info = RESOURCES[w.resource];
      this.write(w, { type: 'BOOKMARK', object: { kind: info.kind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.rv), creationTimestamp: null } } });
    }
  }

  /** Watch connections die mid-stream (no chunked terminator). */
  dropWatches(): void {
    for (const w of [...this.watchers]) {
      this.unwatch(w);
      w.res.socket?.destroy();
    }
  }

  /** Watches end cleanly, as when their timeoutSeconds run out. */
  endWatches(): void {
    for (const w of [...this.watchers]) {
      this.unwatch(w);
      w.res.end();
    }
  }

  /** A raw line (a JSON event, or garbage) to every open watch. */
  sendRaw(line: string): void {
    for (const w of this.watchers) w.res.write(`${line}\n`);
  }

  /** While on, every watch is answered 200 and ended at once without an event (a misbehaving proxy). */
  endEveryWatch(on: boolean): void {
    this.endAtOnce = on;
  }

  /** Every request about `resource` gets 403 Forbidden (RBAC missing) until allow(). */
  forbid(resource: Resource): void {
    this.forbidden.add(resource);
  }

  allow(resource: Resource): void {
    this.forbidden.delete(resource);
  }

  /** The API server goes away: nothing listens on the port, open connections die. */
  async down(): Promise<void> {
    await this.stop();
  }

  /** Back on the same port, with the same objects and history. */
  async up(): Promise<void> {
    (this.serverOptions as { port?: number }).port = this.port;
    await this.listen();
  }

  protected override onStop(): void {
    for (const w of [...this.watchers]) this.unwatch(w);
  }

  // --- HTTP -------------------------------------------------------------------

  protected route(req: http.IncomingMessage, res: http.ServerResponse, _body: string, rec: RecordedRequest): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const reply = (code: number, value: unknown): void => {
      if (code !== 200) rec.outcome = String(code);
      res.writeHead(code, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' }).end(JSON.stringify(value));
    };
    if (this.token !== undefined && req.headers.authorization !== `Bearer ${this.token}`) {
      return reply(401, status(401, 'Unauthorized', 'Unauthorized'));
    }
    const target = resourceOf(url.pathname);
    if (target === undefined) return reply(404, status(404, 'NotFound', 'the server could not find the requested resource', {}));
    const { resource, namespace, name } = target;
    const info = RESOURCES[resource];
    const q = url.searchParams;
    const watch = isWatch(q);
    const verb = watch ? 'watch' : name !== undefined ? 'get' : 'list';
    if (req.method !== 'GET') {
      return reply(405, status(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, {}));
    }
    if (this.forbidden.has(resource)) {
      const scope = namespace === undefined ? 'at the cluster scope' : `in the namespace "${namespace}"`;
      return reply(403, status(403, 'Forbidden',
        `${resource} is forbidden: User "system:serviceaccount:kube-system:l4lb" cannot ${verb} resource "${resource}" in API group "${info.group}" ${scope}`,
        { kind: resource }));
    }
    for (const p of ['labelSelector', 'fieldSelector', 'continue']) {
      if (q.has(p) && q.get(p) !== '') return reply(400, status(400, 'BadRequest', `kubernetes emulator: ${p} is not emulated`));
    }
    const rvText = q.get('resourceVersion') ?? '';
    if (rvText !== '' && !/^\d+$/.test(rvText)) {
      return reply(400, status(400, 'BadRequest', `resourceVersion: Invalid value: "${rvText}": must be an integer`));
    }
    const tooLarge = rvText !== '' && Number(rvText) > this.rv
      ? status(504, 'Timeout', `Too large resource version: ${rvText}, current: ${this.rv}`,
        { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 })
      : undefined;
    if (name !== undefined && !watch) {
      const o = this.objects[resource].get(`${namespace}/${name}`);
      if (o === undefined) return reply(404, status(404, 'NotFound', `${resource}${info.group ? `.${info.group}` : ''} "${name}" not found`, { name, group: info.group, kind: resource }));
      return reply(200, { kind: info.kind, apiVersion: info.apiVersion, ...o });
    }
    if (!watch) {
      if (tooLarge !== undefined) return reply(504, tooLarge);
      const items = this.current(resource, namespace);
      return reply(200, { kind: info.listKind, apiVersion: info.apiVersion, metadata: { resourceVersion: String(this.rv) }, items });
    }
    // A watch: headers now, then one JSON line per event.
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const w: Watcher = { resource, namespace, bookmarks: q.get('allowWatchBookmarks') === 'true', res, timer: undefined, from: rvText };
    if (tooLarge !== undefined) return this.fail(w, tooLarge);
    if (this.endAtOnce) return void res.end();
    if (rvText !== '' && rvText !== '0' && Number(rvText) < this.compacted) {
      return this.fail(w, status(410, 'Expired', `too old resource version: ${rvText} (${this.compacted})`));
    }
    const timeout = Number(q.get('timeoutSeconds') ?? '');
    if (Number.isInteger(timeout) && timeout > 0) {
      w.timer = setTimeout(() => {
        this.unwatch(w);
        res.end();
      }, timeout * 1000);
      w.timer.unref();
    }
    this.watchers.add(w);
    res.on('close', () => this.unwatch(w));
    if (rvText === '' || rvText === '0') {
      for (const o of this.current(resource, namespace)) this.write(w, { type: 'ADDED', object: { kind: info.kind, apiVersion: info.apiVersion, ...o } });
    } else {
      for (const c of this.history) if (c.rv > Number(rvText) && this.matches(w, c)) this.send(w, c);
    }
  }

  private current(resource: Resource, namespace: string | undefined): Json[] {
    return [...this.objects[resource].entries()]
      .filter(([k]) => namespace === undefined || k.startsWith(`${namespace}/`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => clone(o));
  }

  private publish(c: Change): void {
    this.history.push(c);
    for (const w of this.watchers) if (this.matches(w, c)) this.send(w, c);
  }

  private matches(w: Watcher, c: Change): boolean {
    return w.resource === c.resource && (w.namespace === undefined || (c.object['metadata'] as Json)['namespace'] === w.namespace);
  }

  private send(w: Watcher, c: Change): void {
    const info = RESOURCES[c.resource];
    this.write(w, { type: c.type, object: { kind: info.kind, apiVersion: info.apiVersion, ...clone(c.object) } });
  }

  private write(w: Watcher, event: Json): void {
    w.res.write(`${JSON.stringify(event)}\n`);
  }

  /** An ERROR event with a Status, then the end of the stream (what the server does for 410 and 504). */
  private fail(w: Watcher, s: Json): void {
    this.write(w, { type: 'ERROR', object: s });
    w.res.end();
  }

  private unwatch(w: Watcher): void {
    clearTimeout(w.timer);
    this.watchers.delete(w);
  }
}

function isWatch(q: URLSearchParams): boolean {
  const v = q.get('watch');
  return v === 'true' || v === '1';
}

/** `/api/v1/namespaces/ns/services/x` -> services in ns, named x. */
function resourceOf(pathname: string): { resource: Resource; namespace?: string; name?: string } | undefined {
  for (const resource of Object.keys(RESOURCES) as Resource[]) {
    const prefix = RESOURCES[resource].prefix;
    if (!pathname.startsWith(`${prefix}/`)) continue;
    const parts = pathname.slice(prefix.length + 1).split('/').map(decodeURIComponent);
    if (parts.length === 1 && parts[0] === resource) return { resource };
    if (parts[0] === 'namespaces' && parts[2] === resource && parts[1] !== '' && parts[1] !== undefined) {
      if (parts.length === 3) return { resource, namespace: parts[1] };
      if (parts.length === 4 && parts[3] !== '') return { resource, namespace: parts[1], ...(parts[3] !== undefined && { name: parts[3] }) };
    }
  }
  return undefined;
}

// --- object builders (wire format) ------------------------------------------------

export interface ServicePortSpec {
  name?: string;
  port: number;
  targetPort?: number | string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
}

/** A ClusterIP Service as the API server returns it. */
export function serviceObject(o: { namespace?: string; name: string; annotations?: Record<string, string>; ports: ServicePortSpec[]; clusterIP?: string }): Json {
  return {
    metadata: { namespace: o.namespace ?? 'default', name: o.name, ...(o.annotations !== undefined && { annotations: o.annotations }) },
    spec: {
      type: 'ClusterIP',
      clusterIP: o.clusterIP ?? '10.96.0.10',
      clusterIPs: [o.clusterIP ?? '10.96.0.10'],
      ipFamilies: ['IPv4'],
      ipFamilyPolicy: 'SingleStack',
      selector: { app: o.name },
      sessionAffinity: 'None',
      ports: o.ports.map((p) => ({
        ...(p.name !== undefined && { name: p.name }), protocol: p.protocol ?? 'TCP', port: p.port, targetPort: p.targetPort ?? p.port,
      })),
    },
    status: { loadBalancer: {} },
  };
}

export interface EndpointSpec {
  addresses: string[];
  /** Omitted fields are omitted on the wire (nil: ready and serving are then unknown). */
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  pod?: string;
  nodeName?: string;
}

/** An EndpointSlice as the EndpointSlice controller writes it. */
export function endpointSliceObject(o: {
  namespace?: string; name: string; service: string; addressType?: 'IPv4' | 'IPv6' | 'FQDN';
  ports: Array<{ name?: string; port: number; protocol?: 'TCP' | 'UDP' | 'SCTP' }>; endpoints: EndpointSpec[];
}): Json {
  const namespace = o.namespace ?? 'default';
  return {
    metadata: {
      namespace, name: o.name, generateName: `${o.service}-`,
      labels: { 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io', 'kubernetes.io/service-name': o.service },
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: o.service, uid: '00000000-0000-0000-0000-000000000000', controller: true, blockOwnerDeletion: true }],
    },
    addressType: o.addressType ?? 'IPv4',
    endpoints: o.endpoints.map((e) => {
      const conditions: Json = {};
      if (e.ready !== undefined) conditions['ready'] = e.ready;
      if (e.serving !== undefined) conditions['serving'] = e.serving;
      if (e.terminating !== undefined) conditions['terminating'] = e.terminating;
      return {
        addresses: e.addresses, conditions,
        ...(e.pod !== undefined && { targetRef: { kind: 'Pod', namespace, name: e.pod, uid: randomUUID() } }),
        ...(e.nodeName !== undefined && { nodeName: e.nodeName }),
      };
    }),
    ports: o.ports.map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port })),
  };
}
