import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { endpointSliceObject, KubernetesApiEmulator, serviceObject, type EndpointSpec } from '../../test/emulators/kubernetes-api.js';
import { makeTestPki } from '../../test/emulators/tls.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { sourcesOptions } from '../daemon/daemon.js';
import { silentLogger } from '../log.js';
import type { LabelRejection } from '../model/index.js';
import { createSources } from './index.js';
import { KubernetesSource, SERVICE_ACCOUNT_DIR, type KubernetesSourceOptions } from './kubernetes.js';
import { captureLogger, RecordingSink, settle, waitFor } from './test-helpers.js';

const A = 'l4lb.thisdcos.directory/';
const dir = mkdtempSync(join(tmpdir(), 'l4lb-k8s-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const open: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const x of open.splice(0).reverse()) await x.stop();
});

/** A kubeconfig file as kubectl writes it, for a plain-http emulator. */
function kubeconfigFor(k: KubernetesApiEmulator, token?: string): string {
  const path = join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`);
  writeFileSync(path, [
    'apiVersion: v1', 'kind: Config', 'current-context: test',
    'clusters:', '- name: emu', '  cluster:', `    server: ${k.url}`, '    insecure-skip-tls-verify: true',
    'contexts:', '- name: test', '  context:', '    cluster: emu', '    user: l4lb',
    'users:', '- name: l4lb', '  user:', ...(token !== undefined ? [`    token: ${token}`] : ['    {}']),
    '',
  ].join('\n'));
  return path;
}

async function emulator(opts: Parameters<typeof KubernetesApiEmulator.start>[0] = {}): Promise<KubernetesApiEmulator> {
  const k = await KubernetesApiEmulator.start(opts);
  open.push(k);
  return k;
}

class RejectionSink extends RecordingSink {
  readonly rejections: LabelRejection[][] = [];
  rejected(_source: string, r: readonly LabelRejection[]): void {
    this.rejections.push([...r]);
  }
}

function watch(k: KubernetesApiEmulator, over: Partial<KubernetesSourceOptions> = {}) {
  const { logger, lines } = captureLogger();
  const source = new KubernetesSource({ kubeconfig: kubeconfigFor(k), backoff: { initialMs: 5, maxMs: 50 }, watchTimeoutSeconds: 60, ...over }, logger);
  open.push(source);
  const sink = new RejectionSink();
  source.start(sink);
  return { source, sink, lines };
}

const synced = (sink: RecordingSink) => waitFor(() => sink.state === 'synced', 'synced');

/** `shop/myapp` with a VIP on its `http` port, joined to Marathon's name. */
const myapp = (annotations: Record<string, string> = { [`${A}vip-http`]: '/myapp:80', [`${A}framework`]: 'marathon' }) =>
  serviceObject({ namespace: 'shop', name: 'myapp', annotations, ports: [{ name: 'http', port: 80, targetPort: 'http' }] });
const slice = (name: string, endpoints: EndpointSpec[], service = 'myapp') =>
  endpointSliceObject({ namespace: 'shop', name, service, ports: [{ name: 'http', port: 8080 }], endpoints });
const ready = (ip: string): EndpointSpec => ({ addresses: [ip], ready: true, serving: true, terminating: false });
const terminating = (ip: string): EndpointSpec => ({ addresses: [ip], ready: false, serving: true, terminating: true });
const id = (ip: string) => `shop/myapp/${ip}`;

describe('Kubernetes source: list and watch', () => {
  it('lists both resources, replaces the view once, then watches from the lists\' resourceVersion with bookmarks', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    k.apply('services', serviceObject({ namespace: 'shop', name: 'plain', ports: [{ port: 80 }] }));
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5'), ready('10.244.2.7')]));
    k.apply('endpointslices', slice('plain-a', [ready('10.244.9.9')], 'plain'));
    const listedAt = k.resourceVersion;
    const { source, sink } = watch(k);
    await synced(sink);
    assert.deepEqual(sink.trace().filter((t) => !t.startsWith('status')), [`replace(${id('10.244.1.5')},${id('10.244.2.7')})`]);
    const t = sink.tasks.get(id('10.244.1.5'));
    assert.deepEqual([t?.framework, t?.state, t?.ports[0]?.port, t?.ports[0]?.vips[0]?.value], ['marathon', 'running', 8080, '/myapp:80']);
    await k.waitForWatches(2);
    for (const r of ['services', 'endpointslices'] as const) {
      const [w] = k.calls(r, 'watch');
      assert.equal(w?.get('resourceVersion'), String(listedAt), r);
      assert.equal(w?.get('allowWatchBookmarks'), 'true', r);
      assert.equal(w?.get('timeoutSeconds'), '60', r);
    }
    assert.deepEqual([source.status().state, source.status().tasks, source.status().endpoint], ['synced', 2, k.url]);
  });

  it('watch events become per-Service upserts and removes of the Tasks that changed', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    const { sink } = watch(k);
    await synced(sink);
    await k.waitForWatches(2);
    let mark = sink.calls.length;
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5'), ready('10.244.2.7')]));
    await waitFor(() => sink.tasks.size === 2, 'scaled up');
    assert.deepEqual(sink.trace(mark), [`upsert(${id('10.244.2.7')})`], 'the unchanged pod is not re-sent');
    mark = sink.calls.length;
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5'), terminating('10.244.2.7')]));
    await waitFor(() => sink.tasks.get(id('10.244.2.7'))?.state === 'killing', 'draining');
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    await waitFor(() => !sink.tasks.has(id('10.244.2.7')), 'gone');
    assert.deepEqual(sink.trace(mark), [`upsert(${id('10.244.2.7')})`, `remove(${id('10.244.2.7')})`]);
    // The annotation changes: same pods, a new framework.
    k.apply('services', myapp({ [`${A}vip-http`]: '/myapp:80' }));
    await waitFor(() => sink.tasks.get(id('10.244.1.5'))?.framework === 'kubernetes', 'framework kubernetes');
    // A Service nobody annotated changes: nothing for the sink.
    mark = sink.calls.length;
    k.apply('services', serviceObject({ namespace: 'shop', name: 'plain', ports: [{ port: 80 }] }));
    k.apply('endpointslices', slice('plain-a', [ready('10.9.9.9')], 'plain'));
    await settle(50);
    assert.deepEqual(sink.trace(mark), []);
    k.delete('services', 'shop', 'myapp');
    await waitFor(() => sink.tasks.size === 0, 'service deleted');
  });

  it('bad annotations are rejected with their reason in the sink and the log, and cleared when fixed', async () => {
    const k = await emulator();
    k.apply('services', myapp({ [`${A}vip-htp`]: '/myapp:80', [`${A}vip-http`]: '/myapp:80' }));
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    const { sink, lines, source } = watch(k);
    await synced(sink);
    assert.deepEqual(sink.rejections.map((r) => r.map((x) => [x.taskId, x.key, x.code])), [[['shop/myapp', `${A}vip-htp`, 'VIP_UNKNOWN_PORT']]]);
    assert.equal(sink.tasks.size, 1, 'the good annotation still works');
    const line = lines.find((l) => l['message'] === 'rejected annotations');
    assert.deepEqual(line?.['problems'], [`${A}vip-htp: "/myapp:80": VIP_UNKNOWN_PORT: the Service has no port named "htp" (ports: http)`]);
    await k.waitForWatches(2);
    k.apply('services', myapp({ [`${A}vip-http`]: '/myapp:80' }));
    await waitFor(() => sink.rejections.length === 2, 'rejections cleared');
    assert.deepEqual(sink.rejections[1], []);
    assert.deepEqual(source.rejected(), []);
    assert.ok(lines.some((l) => l['message'] === 'annotations fixed'));
  });

  it('a Service with a bad value never crashes the source, neither does a watch event without a name', async () => {
    const k = await emulator();
    k.apply('services', myapp({ [`${A}vip`]: 'garbage', [`${A}framework`]: 'Not A Label' }));
    const { sink, lines } = watch(k);
    await synced(sink);
    await k.waitForWatches(2);
    k.sendRaw('{"type":"ADDED","object":{"kind":"Service","apiVersion":"v1","metadata":{}}}');
    k.sendRaw('{"type":"ADDED","object":null}');
    k.sendRaw('this is not JSON');
    k.apply('services', myapp());
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    await waitFor(() => sink.tasks.size === 1, 'later events still apply');
    // Two nameless events, each sent to both watches.
    assert.equal(lines.filter((l) => l['message'] === 'skipping a watch event without metadata.name').length, 4);
    assert.equal(sink.state, 'synced');
  });
});

describe('Kubernetes source: 410 Gone, bookmarks, lost connections', () => {
  it('410 Gone when resuming a watch: re-lists and replaces the view in one step, without going stale', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    const { sink, source } = watch(k);
    await synced(sink);
    await k.waitForWatches(2);
    const lists = source.counters.lists;
    // The watch connection goes away (cleanly) while changes happen; their history is compacted.
    k.endWatches();
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5'), ready('10.244.3.3')]));
    k.compact();
    const mark = sink.calls.length;
    await waitFor(() => sink.tasks.has(id('10.244.3.3')), 'the change made during the gap');
    assert.ok(source.counters.expired >= 1, 'a 410 was seen');
    assert.ok(source.counters.lists > lists, 're-listed');
    assert.ok(sink.trace(mark).includes(`replace(${id('10.244.1.5')},${id('10.244.3.3')})`), sink.trace(mark).join(' '));
    assert.ok(!sink.trace(mark).some((t) => t.startsWith('remove') || t === 'status(stale)'), sink.trace(mark).join(' '));
  });

  it('bookmarks move the resourceVersion: a watch resumed after compaction needs no re-list; without one it would', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    const { sink, source } = watch(k);
    await synced(sink);
    await k.waitForWatches(2);
    // Only slices change: the services watch sees no event, its resourceVersion falls behind.
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.6')]));
    await waitFor(() => sink.tasks.has(id('10.244.1.6')), 'slice change');
    k.bookmark();
    await waitFor(() => source.counters.bookmarks === 2, 'two bookmarks');
    k.compact();
    const lists = source.counters.lists;
    const watches = k.calls('services', 'watch').length;
    k.endWatches();
    await waitFor(() => k.calls('services', 'watch').length === watches + 1 && k.watches() === 2, 'resumed');
    assert.equal(k.calls('services', 'watch').at(-1)?.get('resourceVersion'), String(k.resourceVersion), 'from the bookmark');
    assert.equal(source.counters.expired, 0);
    assert.equal(source.counters.lists, lists, 'no re-list');
    // The same without a bookmark: the services watch resumes from an old resourceVersion and gets 410.
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.7')]));
    await waitFor(() => sink.tasks.has(id('10.244.1.7')), 'slice change');
    k.compact();
    k.endWatches();
    await waitFor(() => source.counters.expired === 1 && source.counters.lists === lists + 1, 'a 410 and a re-list of services');
  });

  it('dropped watch connections and a down API server: stale with the last view, then re-list and one replace', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5'), ready('10.244.2.7')]));
    const { sink, source, lines } = watch(k);
    await synced(sink);
    await k.waitForWatches(2);
    const mark = sink.calls.length;
    await k.down();
    await waitFor(() => sink.state === 'stale', 'stale');
    assert.match(source.status().lastError ?? '', /ECONNREFUSED|Premature close|socket hang up|ECONNRESET/);
    await settle(100); // a few failed reconnects
    assert.equal(sink.tasks.size, 2, 'the last view is kept while the API is down');
    assert.deepEqual(sink.trace(mark).filter((t) => !t.startsWith('status')), [], 'nothing withdrawn');
    assert.ok(lines.some((l) => l['message'] === 'connection lost, keeping the last view'));
    // Meanwhile a pod went away and another came.
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5'), ready('10.244.4.4')]));
    await k.up();
    await synced(sink);
    assert.deepEqual(sink.trace(mark).filter((t) => !t.startsWith('status')), [`replace(${id('10.244.1.5')},${id('10.244.4.4')})`]);
    assert.ok(source.status().reconnects >= 1);
    // A drop mid-stream (no clean end) too.
    const m2 = sink.calls.length;
    await k.waitForWatches(2);
    k.dropWatches();
    await waitFor(() => sink.calls.slice(m2).some((c) => c.op === 'status' && c.state === 'stale'), 'stale after a drop');
    await synced(sink);
    assert.equal(sink.tasks.size, 2);
  });

  it('an ERROR event other than 410 is a lost connection; so is a server that ends every watch at once', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    const { sink, source } = watch(k);
    await synced(sink);
    await k.waitForWatches(2);
    k.sendRaw(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'etcdserver: request timed out', reason: 'InternalError', code: 500 } }));
    await waitFor(() => sink.calls.some((c) => c.op === 'status' && c.state === 'stale' && /500 InternalError: etcdserver: request timed out/.test(c.lastError ?? '')), 'stale with the Status message');
    await synced(sink);
    await k.waitForWatches(2);
    k.endEveryWatch(true);
    const before = source.counters.watches;
    k.endWatches();
    await waitFor(() => source.status().lastError?.includes('ended 3 watches at once') === true, 'detected');
    assert.ok(source.counters.watches - before < 10, 'no tight loop');
    k.endEveryWatch(false);
    await synced(sink);
  });

  it('a watch that outlives its timeoutSeconds is a dead connection', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    const { sink } = watch(k, { watchTimeoutSeconds: 1, watchGraceMs: 200 });
    await synced(sink);
    // The next services request (the watch resumed after its timeout) is never answered.
    k.stallNext(1, '/api/v1/services');
    await waitFor(() => sink.calls.some((c) => c.op === 'status' && /still open 1 s after its timeoutSeconds/.test(c.lastError ?? '')), 'dead watch detected', 10_000);
    await synced(sink);
  });

  it('403 Forbidden names the missing permission; the source connects once it is granted', async () => {
    const k = await emulator();
    k.forbid('endpointslices');
    k.apply('services', myapp());
    const { sink, source } = watch(k);
    await waitFor(() => /endpointslices is forbidden/.test(source.status().lastError ?? ''), 'forbidden');
    assert.equal(source.status().state, 'connecting');
    assert.match(source.status().lastError ?? '', /^GET \/apis\/discovery\.k8s\.io\/v1\/endpointslices: 403 Forbidden: .*l4lb needs list and watch on services and discovery\.k8s\.io endpointslices/);
    k.allow('endpointslices');
    await synced(sink);
  });

  it('stop() closes the watches and reports stopped', async () => {
    const k = await emulator();
    const { sink, source } = watch(k);
    await synced(sink);
    await k.waitForWatches(2);
    await source.stop();
    await waitFor(() => k.watches() === 0, 'watches closed');
    assert.equal(sink.state, 'stopped');
  });
});

describe('Kubernetes source: configuration', () => {
  it('one namespace: only its paths are read', async () => {
    const k = await emulator();
    k.apply('services', myapp());
    k.apply('services', serviceObject({ namespace: 'other', name: 'x', annotations: { [`${A}vip`]: '/x:80' }, ports: [{ port: 80 }] }));
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    k.apply('endpointslices', endpointSliceObject({ namespace: 'other', name: 'x-a', service: 'x', ports: [{ port: 80 }], endpoints: [ready('10.1.1.1')] }));
    const { sink } = watch(k, { namespace: 'shop' });
    await synced(sink);
    assert.deepEqual([...sink.tasks.keys()], [id('10.244.1.5')]);
    assert.ok(k.requests.every((r) => r.url.startsWith('/api/v1/namespaces/shop/services') || r.url.startsWith('/apis/discovery.k8s.io/v1/namespaces/shop/endpointslices')));
  });

  it('in-cluster: KUBERNETES_SERVICE_HOST/PORT, the service account token and CA over https', async (t) => {
    const pki = makeTestPki();
    if (pki === undefined) return t.skip('openssl is not installed');
    const k = await emulator({ tls: { key: pki.key, cert: pki.cert }, token: 'sa-token' });
    k.apply('services', myapp());
    k.apply('endpointslices', slice('myapp-a', [ready('10.244.1.5')]));
    const root = join(dir, 'pod');
    mkdirSync(`${root}${SERVICE_ACCOUNT_DIR}`, { recursive: true });
    writeFileSync(`${root}${SERVICE_ACCOUNT_DIR}/token`, 'sa-token');
    writeFileSync(`${root}${SERVICE_ACCOUNT_DIR}/ca.crt`, (await import('node:fs')).readFileSync(pki.caFile));
    const { logger } = captureLogger();
    const source = new KubernetesSource({ inClusterRoot: root, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: new URL(k.url).port } }, logger);
    open.push(source);
    const sink = new RecordingSink();
    source.start(sink);
    await synced(sink);
    assert.deepEqual([...sink.tasks.keys()], [id('10.244.1.5')]);
    await k.waitForWatches(2);
    assert.equal(k.calls('services', 'watch').length, 1);
    assert.ok(k.requests.every((r) => r.headers.authorization === 'Bearer sa-token'), 'lists and watches carry the token');
    pki.cleanup();
  });

  it('bad options are SRC_BAD_OPTIONS at construction; a kubeconfig that does not parse is reported in the status', async () => {
    const { logger } = captureLogger();
    assert.throws(() => new KubernetesSource({ env: {} }, logger), { code: 'SRC_BAD_OPTIONS', message: /KUBERNETES_SERVICE_HOST is unset.*kubernetes\.kubeconfig/ });
    assert.throws(() => new KubernetesSource({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, inClusterRoot: join(dir, 'nowhere') }, logger), { code: 'SRC_BAD_OPTIONS', message: /no service account token/ });
    assert.throws(() => new KubernetesSource({ kubeconfig: join(dir, 'missing') }, logger), { code: 'SRC_BAD_OPTIONS', message: /ENOENT/ });
    assert.throws(() => new KubernetesSource({ kubeconfig: join(dir, 'missing'), namespace: 'Bad_NS' }, logger), { code: 'SRC_BAD_OPTIONS' });
    const bad = join(dir, 'bad-kubeconfig');
    writeFileSync(bad, 'clusters: [}');
    const source = new KubernetesSource({ kubeconfig: bad, backoff: { initialMs: 1000 } }, logger);
    open.push(source);
    const sink = new RecordingSink();
    source.start(sink);
    await waitFor(() => source.status().lastError !== undefined, 'an error');
    assert.match(source.status().lastError ?? '', /^cannot load .*bad-kubeconfig/);
    assert.equal(source.status().state, 'connecting');
    const k = await emulator();
    const ctx = new KubernetesSource({ kubeconfig: kubeconfigFor(k), context: 'nope', backoff: { initialMs: 1000 } }, logger);
    open.push(ctx);
    ctx.start(new RecordingSink());
    await waitFor(() => ctx.status().lastError !== undefined, 'an error');
    assert.match(ctx.status().lastError ?? '', /has no context "nope"/);
  });

  it('settings: kubernetes.kubeconfig alone turns the source on, kubernetes.enabled alone means in-cluster', async () => {
    const k = await emulator();
    const path = kubeconfigFor(k);
    const cfg = loadConfig({ env: { L4LB_KUBERNETES_NAMESPACE: 'shop' }, flags: { 'kubernetes.kubeconfig': path, 'kubernetes.context': 'test' } });
    assert.deepEqual(sourcesOptions(cfg).kubernetes, { kubeconfig: path, context: 'test', namespace: 'shop' });
    assert.deepEqual(createSources(sourcesOptions(cfg), silentLogger()).map((s) => [s.id, s.kind, s.constructor]), [['kubernetes', 'kubernetes', KubernetesSource]]);
    assert.deepEqual(sourcesOptions(loadConfig({ env: { L4LB_KUBERNETES_ENABLED: 'true' } })).kubernetes, {});
    assert.equal(sourcesOptions(loadConfig({ env: {} })).kubernetes, undefined);
    assert.throws(() => loadConfig({ env: {}, flags: { 'kubernetes.namespace': 'Not_A_Namespace' } }), ConfigError);
  });
});
