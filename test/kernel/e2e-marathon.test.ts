// End to end in a real kernel: the Marathon emulator serves an app with a VIP
// label whose tasks are real HTTP servers in their own network namespaces;
// `l4lb run` (a real process) watches it, programs IPVS, puts the VIP on its
// dummy link and answers DNS. We count where connections land.
//
// The named-VIP pool is moved into 198.51.100.0/24 (a documentation range):
// no test ever sends traffic to 11.0.0.0/8. DC/OS-exact addresses are covered
// by the model's unit tests.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, cleanupAfter, createBackend, ipvsadm, run, startHttpServer, type Backend } from './lib.js';
import { MarathonEmulator } from '../emulators/marathon.js';
import { Daemon, countLandings, deployHttpApp, dig as digAt, e2eDaemonFlags, openLine, startEchoServer, until } from './e2e-lib.js';

requireKernel();
const cleanup = cleanupAfter();
const NAME = 'myapp.marathon.l4lb.thisdcos.directory';
const DNS_PORT = 5353;
const dig = (name: string) => digAt(DNS_PORT, name);

let marathon: MarathonEmulator;
let backends: Backend[] = [];
let daemon: Daemon;
let vip = '';
const stateDir = mkdtempSync(join(tmpdir(), 'l4lb-state-'));

function startDaemon(): Daemon {
  const d = new Daemon([
    '--marathon', marathon.url,
    '--dns-listen', `127.0.0.1:${DNS_PORT}`,
    ...e2eDaemonFlags(stateDir),
    '--log-level', 'debug',
  ]);
  cleanup.add(() => d.kill('SIGKILL'));
  return d;
}

const spread = (n: number) => countLandings(`http://${vip}:80/`, n);

before(async () => {
  backends = [await createBackend(0, cleanup), await createBackend(1, cleanup), await createBackend(2, cleanup)];
  marathon = await MarathonEmulator.start({ agents: backends.map((b, i) => ({ id: `agent-${i}`, host: b.addr, ip: b.addr })) });
  cleanup.add(() => marathon.stop());
  // Each task is a real server on its agent (backend namespace) at its host port.
  await deployHttpApp(marathon, backends, { id: '/myapp', instances: 3, vip: '/myapp:80' }, cleanup);
  // A second app whose tasks echo lines back: for a long-lived connection.
  const echoTasks = marathon.deployApp({
    id: '/echo',
    instances: 1,
    networks: [{ mode: 'host' }],
    portDefinitions: [{ port: 0, protocol: 'tcp', name: 'echo', labels: { VIP_0: '/echo:7' } }],
  });
  for (const t of echoTasks) {
    const b = backends.find((x) => x.addr === t['host'])!;
    await startEchoServer(b, (t['ports'] as number[])[0]!, cleanup);
  }
  // A service somebody else made with ipvsadm, inside the VIP pool: never to be touched.
  await ipvsadm('-A', '-t', '198.51.100.250:8080', '-s', 'rr');
  await ipvsadm('-a', '-t', '198.51.100.250:8080', '-r', '203.0.113.99:8080', '-m', '-w', '7');
  daemon = startDaemon();
});

after(async () => {
  await daemon?.kill('SIGKILL');
});

test('the name resolves through l4lb DNS once its VIP forwards, to the pool address', async () => {
  vip = await until('DNS answer', async () => (await dig(NAME)) || undefined).catch((e: Error) => {
    throw new Error(`${e.message}; daemon log:\n${daemon.lines.slice(-25).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  assert.match(vip, /^198\.51\.100\.\d+$/);
  const save = (await ipvsadm('-S', '-n')).stdout;
  assert.match(save, new RegExp(`-A -t ${vip.replace(/\./g, '\\.')}:80 -s wlc`));
  // Local through the pool route on lo (dataplane.pool-routes), not an address of its own.
  assert.match((await run('ip', ['route', 'show', 'table', 'local', 'proto', '76'])).stdout, /^local 198\.51\.100\.0\/24 dev lo /m);
  assert.equal((await run('ip', ['-o', 'addr', 'show', 'dev', 'minuteman'])).stdout.includes(vip), false);
});

test('connections from the node land on every task: 30 requests, 10 each', async () => {
  const counts = await spread(30);
  assert.deepEqual(Object.values(counts).sort(), [10, 10, 10], JSON.stringify(counts));
});

test('a client in another network namespace (the forwarded path) reaches every task', async () => {
  const client = await createBackend(5, cleanup);
  const counts: Record<string, number> = {};
  for (let i = 0; i < 9; i++) {
    const r = await client.exec('busybox', ['timeout', '5', 'wget', '-q', '-O', '-', `http://${vip}/`]);
    counts[r.stdout] = (counts[r.stdout] ?? 0) + 1;
  }
  assert.deepEqual(Object.values(counts).sort(), [3, 3, 3], JSON.stringify(counts));
});

test('a backend reaching its own VIP works (hairpin), from inside its namespace', async () => {
  const b = backends[0]!;
  for (let i = 0; i < 6; i++) {
    const r = await b.exec('busybox', ['timeout', '5', 'wget', '-q', '-O', '-', `http://${vip}/`]).catch((e: Error) => ({ stdout: `FAILED ${e.message}` }));
    assert.match(r.stdout, /^myapp\./, r.stdout);
  }
});

test('ipvsadm -D of the owned service is repaired by the next resync; the foreign service is untouched', async () => {
  await ipvsadm('-D', '-t', `${vip}:80`);
  await until('repair', async () => ((await ipvsadm('-S', '-n')).stdout.includes(`-A -t ${vip}:80`) ? true : undefined), 20_000);
  const counts = await spread(9);
  assert.deepEqual(Object.values(counts).sort(), [3, 3, 3]);
  const save = (await ipvsadm('-S', '-n')).stdout;
  assert.match(save, /-A -t 198\.51\.100\.250:8080 -s rr\n-a -t 198\.51\.100\.250:8080 -r 203\.0\.113\.99:8080 -m -w 7/);
});

test('kill -9 and restart: the new daemon adopts the kernel with zero writes, traffic never stops', async () => {
  // A long-lived connection through the echo VIP, opened before the crash.
  const echoVip = await until('echo DNS answer', async () => (await dig('echo.marathon.l4lb.thisdcos.directory')) || undefined);
  const conn = await openLine(echoVip, 7);
  assert.equal(await conn.roundTrip('before'), 'before');
  await daemon.kill('SIGKILL');
  assert.equal(await conn.roundTrip('while l4lb is down'), 'while l4lb is down');
  // Forwarding continues while l4lb is down.
  assert.deepEqual(Object.values(await spread(3)).sort(), [1, 1, 1]);
  daemon = startDaemon();
  const first = await daemon.waitFor((l) => l.message === 'reconcile pass', 'a first reconcile pass');
  assert.equal(first['opsTotal'], 0, JSON.stringify(first));
  assert.equal(first['errors'], 0, JSON.stringify(first));
  assert.deepEqual(Object.values(await spread(3)).sort(), [1, 1, 1]);
  assert.equal(await conn.roundTrip('after the restart'), 'after the restart');
  conn.close();
});

test('scaling up: a new task gets (at least) its share', async () => {
  marathon.scaleApp('/myapp', 4);
  const app = marathon.apps.get('/myapp')!;
  for (const t of app.tasks.values()) {
    const port = (t['ports'] as number[])[0]!;
    const b = backends.find((x) => x.addr === t['host'])!;
    await startHttpServer(b, { port, body: String(t['id']) }, cleanup).catch(() => undefined); // the first three already run
  }
  await until('4 destinations', async () => {
    const lines = (await ipvsadm('-S', '-n')).stdout.split('\n').filter((l) => l.startsWith(`-a -t ${vip}:80 `));
    return lines.length === 4 ? true : undefined;
  });
  const counts = await spread(20);
  // wlc favours the newcomer (the others still hold inactive TIME_WAIT entries): all four serve, the new one at least its share.
  assert.equal(Object.keys(counts).length, 4, JSON.stringify(counts));
  const newest = [...app.tasks.keys()].sort().pop()!;
  assert.ok((counts[newest] ?? 0) >= 5, JSON.stringify(counts));
});

test('scaling down: the removed task drains out, the others take the traffic', async () => {
  marathon.scaleApp('/myapp', 2);
  await until('the killed tasks drained out', async () => {
    const lines = (await ipvsadm('-S', '-n')).stdout.split('\n').filter((l) => l.startsWith(`-a -t ${vip}:80 `));
    return lines.length <= 2 ? true : undefined;
  });
  // Drain: weight 0 first, then deleted after the 2 s drain timeout.
  await until('2 destinations', async () => {
    const lines = (await ipvsadm('-S', '-n')).stdout.split('\n').filter((l) => l.startsWith(`-a -t ${vip}:80 `));
    return lines.length === 2 ? true : undefined;
  });
  const counts = await spread(10);
  assert.deepEqual(Object.values(counts).sort(), [5, 5], JSON.stringify(counts));
});

test('SIGTERM stops the daemon cleanly and leaves the VIP forwarding', async () => {
  await daemon.kill('SIGTERM');
  assert.equal(daemon.proc.exitCode, 0);
  assert.ok(daemon.lines.some((l) => l.message === 'stopped'));
  assert.deepEqual(Object.values(await spread(4)).sort(), [2, 2]);
});
