// The Kubernetes API emulator at the wire, read with bare node:http: what a
// client of the real API server sees for list and watch.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { endpointSliceObject, KubernetesApiEmulator, serviceObject, type Json } from './kubernetes-api.js';

const open: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const x of open) await x.stop();
});

async function emulator(opts: Parameters<typeof KubernetesApiEmulator.start>[0] = {}): Promise<KubernetesApiEmulator> {
  const k = await KubernetesApiEmulator.start(opts);
  open.push(k);
  return k;
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Json }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) as Json }));
    }).on('error', reject);
  });
}

interface WatchStream {
  res: http.IncomingMessage;
  /** Lines so far, parsed. */
  events: Json[];
  ended: Promise<void>;
  close(): void;
}

function watch(url: string): Promise<WatchStream> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      const events: Json[] = [];
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, i)) as Json);
          buf = buf.slice(i + 1);
        }
      });
      const ended = new Promise<void>((r) => res.on('end', () => r()));
      resolve({ res, events, ended, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

const until = async (cond: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

const web = (name = 'web', namespace = 'default') => serviceObject({ namespace, name, ports: [{ name: 'http', port: 80 }] });
const rvOf = (o: unknown): string => ((o as Json)['metadata'] as Json)['resourceVersion'] as string;

describe('Kubernetes API emulator: lists', () => {
  it('a list has kind, apiVersion, metadata.resourceVersion and items without kind; one counter for all objects', async () => {
    const k = await emulator();
    const a = k.apply('services', web('a'));
    const s = k.apply('endpointslices', endpointSliceObject({ name: 'a-x', service: 'a', ports: [{ name: 'http', port: 8080 }], endpoints: [{ addresses: ['10.0.0.1'] }] }));
    k.apply('services', web('b', 'other'));
    assert.equal(Number(rvOf(s)), Number(rvOf(a)) + 1);
    const r = await get(`${k.url}/api/v1/services`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual([r.body['kind'], r.body['apiVersion'], (r.body['metadata'] as Json)['resourceVersion']], ['ServiceList', 'v1', String(k.resourceVersion)]);
    const items = r.body['items'] as Json[];
    assert.deepEqual(items.map((i) => [(i['metadata'] as Json)['namespace'], (i['metadata'] as Json)['name'], i['kind']]), [['default', 'a', undefined], ['other', 'b', undefined]]);
    const ns = await get(`${k.url}/api/v1/namespaces/other/services`);
    assert.deepEqual((ns.body['items'] as Json[]).map((i) => (i['metadata'] as Json)['name']), ['b']);
    const slices = await get(`${k.url}/apis/discovery.k8s.io/v1/endpointslices`);
    assert.deepEqual([slices.body['kind'], slices.body['apiVersion']], ['EndpointSliceList', 'discovery.k8s.io/v1']);
    const one = await get(`${k.url}/api/v1/namespaces/default/services/a`);
    assert.deepEqual([one.body['kind'], one.body['apiVersion']], ['Service', 'v1']);
  });

  it('errors are Status objects: 404 NotFound, 401 Unauthorized, 403 Forbidden, 504 too large resource version', async () => {
    const k = await emulator({ token: 'secret' });
    const auth = { Authorization: 'Bearer secret' };
    assert.deepEqual((await get(`${k.url}/api/v1/services`)).body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    const missing = await get(`${k.url}/api/v1/namespaces/default/services/nope`, auth);
    assert.equal(missing.status, 404);
    assert.deepEqual([missing.body['reason'], missing.body['message']], ['NotFound', 'services "nope" not found']);
    assert.equal((await get(`${k.url}/api/v1/pods`, auth)).status, 404);
    k.forbid('endpointslices');
    const f = await get(`${k.url}/apis/discovery.k8s.io/v1/endpointslices`, auth);
    assert.equal(f.status, 403);
    assert.equal(f.body['message'], 'endpointslices is forbidden: User "system:serviceaccount:kube-system:l4lb" cannot list resource "endpointslices" in API group "discovery.k8s.io" at the cluster scope');
    const big = await get(`${k.url}/api/v1/services?resourceVersion=99999`, auth);
    assert.deepEqual([big.status, big.body['reason'], big.body['code']], [504, 'Timeout', 504]);
    assert.equal((await get(`${k.url}/api/v1/services?labelSelector=a%3Db`, auth)).status, 400, 'selectors are refused, not ignored');
  });
});

describe('Kubernetes API emulator: watches', () => {
  it('from a resourceVersion: every later change as one JSON line with kind/apiVersion, then live; DELETED has a new resourceVersion', async () => {
    const k = await emulator();
    k.apply('services', web('a'));
    const from = k.resourceVersion;
    k.apply('services', { ...web('a'), spec: { ...(web('a')['spec'] as Json), sessionAffinity: 'ClientIP' } });
    k.apply('endpointslices', endpointSliceObject({ name: 'a-x', service: 'a', ports: [], endpoints: [] }));
    const w = await watch(`${k.url}/api/v1/services?watch=true&resourceVersion=${from}`);
    assert.equal(w.res.headers['content-type'], 'application/json');
    assert.equal(w.res.headers['transfer-encoding'], 'chunked');
    await until(() => w.events.length === 1, 'the replayed change');
    assert.deepEqual([w.events[0]?.['type'], (w.events[0]?.['object'] as Json)['kind'], (w.events[0]?.['object'] as Json)['apiVersion']], ['MODIFIED', 'Service', 'v1']);
    k.delete('services', 'default', 'a');
    await until(() => w.events.length === 2, 'the live delete');
    assert.equal(w.events[1]?.['type'], 'DELETED');
    assert.equal(rvOf(w.events[1]?.['object']), String(k.resourceVersion));
    w.close();
  });

  it('without a resourceVersion: a synthetic ADDED for every object first', async () => {
    const k = await emulator();
    k.apply('services', web('a'));
    k.apply('services', web('b'));
    const w = await watch(`${k.url}/api/v1/services?watch=1`);
    await until(() => w.events.length === 2, 'two ADDED');
    assert.deepEqual(w.events.map((e) => e['type']), ['ADDED', 'ADDED']);
    w.close();
  });

  it('a resourceVersion older than the last compaction: one ERROR event with a 410 Expired Status, then the end', async () => {
    const k = await emulator();
    k.apply('services', web('a'));
    const old = k.resourceVersion;
    k.apply('services', web('b'));
    k.compact();
    const w = await watch(`${k.url}/api/v1/services?watch=true&resourceVersion=${old}`);
    await w.ended;
    assert.deepEqual(w.events, [{
      type: 'ERROR',
      object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${old} (${k.resourceVersion})`, reason: 'Expired', code: 410 },
    }]);
    const current = await watch(`${k.url}/api/v1/services?watch=true&resourceVersion=${k.resourceVersion}`);
    await until(() => k.watches() === 1, 'a current resourceVersion is still watchable');
    current.close();
  });

  it('bookmarks reach only watches that allowed them; timeoutSeconds ends a watch cleanly', async () => {
    const k = await emulator();
    k.apply('services', web('a'));
    const rv = k.resourceVersion;
    const withB = await watch(`${k.url}/api/v1/services?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true&timeoutSeconds=1`);
    const without = await watch(`${k.url}/api/v1/services?watch=true&resourceVersion=${rv}`);
    await until(() => k.watches() === 2, 'two watches');
    k.apply('endpointslices', endpointSliceObject({ name: 'a-x', service: 'a', ports: [], endpoints: [] }));
    k.bookmark();
    await until(() => withB.events.length === 1, 'a bookmark');
    assert.deepEqual(withB.events[0], { type: 'BOOKMARK', object: { kind: 'Service', apiVersion: 'v1', metadata: { resourceVersion: String(k.resourceVersion), creationTimestamp: null } } });
    await withB.ended;
    assert.deepEqual(without.events, []);
    assert.equal(k.watches(), 1);
    without.close();
  });

  it('faults: dropped watches end without the chunked terminator; clean ends; down and up on the same port', async () => {
    const k = await emulator();
    const w = await watch(`${k.url}/api/v1/services?watch=true`);
    await until(() => k.watches() === 1, 'watching');
    const aborted = new Promise<string>((r) => {
      w.res.on('aborted', () => r('aborted'));
      w.res.on('end', () => r('end'));
    });
    k.dropWatches();
    assert.equal(await aborted, 'aborted');
    const url = k.url;
    await k.down();
    await assert.rejects(get(`${url}/api/v1/services`), { code: 'ECONNREFUSED' });
    k.apply('services', web('while-down'));
    await k.up();
    assert.equal(k.url, url);
    const r = await get(`${url}/api/v1/services`);
    assert.deepEqual((r.body['items'] as Json[]).map((i) => (i['metadata'] as Json)['name']), ['while-down']);
  });
});
