// End to end in a real kernel: a Marathon-to-Kubernetes migration on one
// name. The Marathon emulator runs /myapp (VIP_0 "/myapp:80") as two tasks;
// the Kubernetes API emulator has the Service shop/myapp annotated to join
// the same VIP (framework marathon) with two "pods" in its EndpointSlice.
// Every task and pod is a real HTTP server in its own network namespace that
// answers its own name; `l4lb run` (a real process) watches both APIs and
// programs IPVS. Connections through the VIP land on all four; scaling the
// Marathon app to zero moves everything to the pods while a client loop
// keeps connecting, without one failed connection.
//
// The named-VIP pool is 198.51.100.0/24 (documentation range) as in the
// other e2e tests; every address lives inside the test kernel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, cleanupAfter, createBackend, httpGet, ipvsadm, startHttpServer, type Backend, type Server } from './lib.js';
import { MarathonEmulator } from '../emulators/marathon.js';
import { KubernetesApiEmulator, endpointSliceObject, serviceObject, type EndpointSpec } from '../emulators/kubernetes-api.js';
import { Daemon, countLandings, deployHttpApp, dig as digAt, e2eDaemonFlags, until } from './e2e-lib.js';

requireKernel();
const cleanup = cleanupAfter();
const NAME = 'myapp.marathon.l4lb.thisdcos.directory';
const DNS_PORT = 5353;
const POD_PORT = 8080;
const dig = (name: string) => digAt(DNS_PORT, name);

let marathon: MarathonEmulator;
let kube: KubernetesApiEmulator;
let agents: Backend[] = [];
let pods: Backend[] = [];
const marathonServers: Server[] = [];
let daemon: Daemon;
let vip = '';
const work = mkdtempSync(join(tmpdir(), 'l4lb-e2e-k8s-'));

const podBody = (i: number) => `pod-${i}`;
const slice = (endpoints: EndpointSpec[]) =>
  endpointSliceObject({ namespace: 'shop', name: 'myapp-x7k2p', service: 'myapp', ports: [{ name: 'http', port: POD_PORT }], endpoints });
const podEndpoint = (i: number, state: 'ready' | 'terminating' = 'ready'): EndpointSpec => ({
  addresses: [pods[i]!.addr], pod: `myapp-${i}`, nodeName: `node-${i}`,
  ...(state === 'ready' ? { ready: true, serving: true, terminating: false } : { ready: false, serving: true, terminating: true }),
});

/** `-a -t VIP:80 -r IP:PORT -m -w W` lines of the VIP, as [ip:port, weight]. */
async function destinations(): Promise<Array<[string, number]>> {
  const save = (await ipvsadm('-S', '-n')).stdout;
  return save.split('\n').filter((l) => l.startsWith(`-a -t ${vip}:80 `)).map((l): [string, number] => {
    const m = / -r (\S+) .*-w (\d+)/.exec(l);
    return [m?.[1] ?? '?', Number(m?.[2])];
  }).sort();
}

before(async () => {
  agents = [await createBackend(0, cleanup), await createBackend(1, cleanup)];
  pods = [await createBackend(2, cleanup), await createBackend(3, cleanup)];
  marathon = await MarathonEmulator.start({ agents: agents.map((b, i) => ({ id: `agent-${i}`, host: b.addr, ip: b.addr })) });
  cleanup.add(() => marathon.stop());
  marathonServers.push(...(await deployHttpApp(marathon, agents, { id: '/myapp', instances: 2, vip: '/myapp:80' }, cleanup)).servers);
  for (const [i, p] of pods.entries()) await startHttpServer(p, { port: POD_PORT, body: podBody(i) }, cleanup);

  kube = await KubernetesApiEmulator.start({ token: 'l4lb-sa-token' });
  cleanup.add(() => kube.stop());
  kube.apply('services', serviceObject({
    namespace: 'shop', name: 'myapp', ports: [{ name: 'http', port: 80, targetPort: 'http' }],
    annotations: { 'l4lb.thisdcos.directory/vip-http': '/myapp:80', 'l4lb.thisdcos.directory/framework': 'marathon' },
  }));
  kube.apply('endpointslices', slice([podEndpoint(0), podEndpoint(1)]));
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(kubeconfig, [
    'apiVersion: v1', 'kind: Config', 'current-context: e2e',
    'clusters:', '- name: emu', '  cluster:', `    server: ${kube.url}`, '    insecure-skip-tls-verify: true',
    'contexts:', '- name: e2e', '  context:', '    cluster: emu', '    user: l4lb',
    'users:', '- name: l4lb', '  user:', '    token: l4lb-sa-token', '',
  ].join('\n'));

  daemon = new Daemon([
    '--marathon', marathon.url,
    '--kubernetes-kubeconfig', kubeconfig,
    '--dns-listen', `127.0.0.1:${DNS_PORT}`,
    ...e2eDaemonFlags(join(work, 'state')),
    '--log-level', 'debug',
  ]);
  cleanup.add(() => daemon.kill('SIGKILL'));
});

after(async () => {
  await daemon?.kill('SIGKILL');
});

test('one name from both sources: the VIP forwards to two Marathon tasks and two pods', async () => {
  vip = await until('DNS answer', async () => (await dig(NAME)) || undefined).catch((e: Error) => {
    throw new Error(`${e.message}; daemon log:\n${daemon.lines.slice(-25).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  assert.match(vip, /^198\.51\.100\.\d+$/);
  const k8s = await daemon.waitFor((l) => l.message === 'synced' && l['source'] === 'kubernetes', 'the kubernetes source synced');
  assert.equal(k8s['tasks'], 2);
  const tasks = [...marathon.apps.get('/myapp')!.tasks.values()];
  const want = [...tasks.map((t) => `${String(t['host'])}:${(t['ports'] as number[])[0]}`), ...pods.map((p) => `${p.addr}:${POD_PORT}`)];
  await until('four destinations', async () => ((await destinations()).length === 4 ? true : undefined));
  assert.deepEqual((await destinations()).map(([d]) => d).sort(), want.sort());
  assert.ok((await destinations()).every(([, w]) => w === 1));
});

test('connections land on all four: 40 requests, 10 each', async () => {
  const counts = await countLandings(`http://${vip}:80/`, 40);
  assert.equal(Object.keys(counts).length, 4, JSON.stringify(counts));
  assert.ok(counts[podBody(0)] !== undefined && counts[podBody(1)] !== undefined, JSON.stringify(counts));
  assert.deepEqual(Object.values(counts), [10, 10, 10, 10], JSON.stringify(counts));
});

test('scaling the Marathon app to zero moves all traffic to the pods with no failed connection', async () => {
  const seen: string[] = [];
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const r = await httpGet(`http://${vip}:80/`, 5000);
        if (r.status === 200) seen.push(r.body);
        else failures.push(`HTTP ${r.status}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  })();
  await until('the loop runs', async () => (seen.length >= 20 ? true : undefined));
  const before = seen.length;
  marathon.scaleApp('/myapp', 0);
  // l4lb drains the Marathon backends (weight 0), then deletes them after the 2 s drain timeout.
  await until('only the pods are destinations', async () => {
    const d = await destinations();
    return d.length === 2 && d.every(([dest]) => dest.endsWith(`:${POD_PORT}`)) ? true : undefined;
  }, 30_000);
  // Now Marathon really kills the tasks' processes.
  for (const s of marathonServers) await s.stop();
  const switched = seen.length;
  await until('30 more requests after the switch', async () => (seen.length >= switched + 30 ? true : undefined));
  running = false;
  await loop;
  assert.deepEqual(failures, [], `${failures.length} failed connections`);
  assert.ok(seen.slice(0, before).some((b) => b.startsWith('myapp.')), 'the Marathon tasks served before the scale-down');
  const after = seen.slice(switched);
  assert.ok(after.every((b) => b === podBody(0) || b === podBody(1)), JSON.stringify(after.filter((b) => !b.startsWith('pod-'))));
  assert.ok(after.includes(podBody(0)) && after.includes(podBody(1)), 'both pods serve');
  assert.ok(daemon.lines.some((l) => l.message === 'source state' && l['source'] === 'kubernetes') && !daemon.lines.some((l) => l['source'] === 'kubernetes' && l['state'] === 'stale'));
});

test('a terminating pod drains at weight 0, then leaves; the Kubernetes API going down withdraws nothing', async () => {
  kube.apply('endpointslices', slice([podEndpoint(0), podEndpoint(1, 'terminating')]));
  await until('pod 1 at weight 0', async () => {
    const d = await destinations();
    return d.some(([dest, w]) => dest === `${pods[1]!.addr}:${POD_PORT}` && w === 0) ? true : undefined;
  });
  const counts = await countLandings(`http://${vip}:80/`, 6);
  assert.deepEqual(counts, { [podBody(0)]: 6 });
  await kube.down();
  await daemon.waitFor((l) => l.message === 'source state' && l['source'] === 'kubernetes' && l['state'] === 'stale', 'kubernetes stale');
  await new Promise((r) => setTimeout(r, 3000)); // two resyncs
  assert.deepEqual((await destinations()).map(([d, w]) => `${d} ${w}`), [`${pods[0]!.addr}:${POD_PORT} 1`, `${pods[1]!.addr}:${POD_PORT} 0`]);
  assert.deepEqual(await countLandings(`http://${vip}:80/`, 4), { [podBody(0)]: 4 });
  // Pod 1 is gone by the time the API is back: the re-list replaces the view.
  kube.apply('endpointslices', slice([podEndpoint(0)]));
  await kube.up();
  await until('pod 1 deleted', async () => ((await destinations()).length === 1 ? true : undefined), 30_000);
  assert.deepEqual(await countLandings(`http://${vip}:80/`, 4), { [podBody(0)]: 4 });
});
