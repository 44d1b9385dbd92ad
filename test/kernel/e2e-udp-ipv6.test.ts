// End to end in a real kernel, two things the other e2e files do not cover:
//
// A. A UDP named VIP (Marathon, `udp,tcp` port): datagrams from the node and
//    from another namespace land on every backend (real UDP servers answering
//    with their namespace's name). When a task is killed, its UDP destination
//    is deleted at once (never weight 0) even with a 300 s drain timeout, while
//    its TCP destination, holding an open connection, stays at weight 0. When
//    the task comes back on the same address, the UDP destination is added
//    with weight 1 and the draining TCP one gets its weight back.
// B. An IPv6 named VIP (Mesos tasks with IPv6 container IPs): AAAA from the
//    fd01:c:: pool, `ipvsadm -Sn` equal to the desired table, connections from
//    the node, from another namespace and from a backend to itself (hairpin).
//
// Addresses: IPv4 VIPs in 198.51.100.0/24, IPv6 VIPs in fd01:c::/64, backends
// in 203.0.113.0/24 and fd00::/8, all inside this test's network namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, cleanupAfter, createBackend, ipvsTable, run, startHttpServer, startUdpServer, type Backend } from './lib.js';
import { MarathonEmulator } from '../emulators/marathon.js';
import { MesosMasterEmulator } from '../emulators/mesos-master.js';
import { Daemon, countLandings, countLandingsFrom, countUdpLandings, dig, e2eDaemonFlags, openLine, startEchoServer, statusJson, until, weightsUntilDeleted, type Line } from './e2e-lib.js';
import type { VipSummary } from '../../controller/status/types.js';

requireKernel();
const cleanup = cleanupAfter();
const DNS_PORT = 5355;
const UDP_NAME = 'dns-like.marathon.l4lb.thisdcos.directory';
const V6_NAME = 'web6.marathon.l4lb.thisdcos.directory';
/** The fixed host port of every /dns-like task (one task per agent): a relaunch on an agent is the same backend. */
const HOST_PORT = 31053;

let marathon: MarathonEmulator;
let master: MesosMasterEmulator;
let udpBackends: Backend[] = [];
let v6Backends: Backend[] = [];
let client: Backend;
let daemon: Daemon;
let vip = '';
let vip6 = '';
const socket = join(mkdtempSync(join(tmpdir(), 'l4lb-sock-')), 'l4lb.sock');

const dest = (b: Backend) => `${b.addr}:${HOST_PORT}`;
const udpDests = async () => (await ipvsTable()).get(`udp/${vip}:5353`)?.dests ?? new Map<string, number>();
const tcpDests = async () => (await ipvsTable()).get(`tcp/${vip}:5353`)?.dests ?? new Map<string, number>();
const sorted = (counts: Record<string, number>) => Object.keys(counts).sort();

before(async () => {
  udpBackends = [await createBackend(0, cleanup), await createBackend(1, cleanup), await createBackend(2, cleanup)];
  v6Backends = [await createBackend(3, cleanup, { ipv6: true }), await createBackend(4, cleanup, { ipv6: true }), await createBackend(5, cleanup, { ipv6: true })];
  client = await createBackend(6, cleanup, { ipv6: true });

  // A: one task per agent, both protocols on the same fixed host port; each
  // agent runs a UDP server answering its name and a TCP line echo there.
  marathon = await MarathonEmulator.start({ agents: udpBackends.map((b, i) => ({ id: `agent-${i}`, host: b.addr, ip: b.addr })) });
  cleanup.add(() => marathon.stop());
  marathon.deployApp({
    id: '/dns-like',
    instances: 3,
    networks: [{ mode: 'container/bridge' }],
    container: { type: 'DOCKER', portMappings: [{ containerPort: 53, hostPort: HOST_PORT, protocol: 'udp,tcp', name: 'dns', labels: { VIP_0: '/dns-like:5353' } }] },
  });
  for (const b of udpBackends) {
    await startUdpServer(b, { port: HOST_PORT }, cleanup);
    await startEchoServer(b, HOST_PORT, cleanup);
  }

  // B: Mesos tasks whose only IPs are IPv6 (container network), port 8080.
  for (const b of v6Backends) await startHttpServer(b, { port: 8080, body: b.name }, cleanup);
  master = await MesosMasterEmulator.start();
  cleanup.add(() => master.stop());
  master.addAgent({ id: 'S0', hostname: '203.0.113.200' });
  master.addFramework({ id: 'F0', name: 'marathon' });
  v6Backends.forEach((b, i) =>
    master.addTask({ id: `web6.${i}`, frameworkId: 'F0', agentId: 'S0', name: 'web6', ips: [b.addr6!], ports: [{ number: 8080, name: 'http', vips: ['/web6:80'] }] }),
  );

  daemon = new Daemon([
    '--marathon', marathon.url,
    '--mesos', master.url,
    '--dns-listen', `127.0.0.1:${DNS_PORT}`,
    '--status-socket', socket,
    // A long drain: a UDP destination that goes at once did not wait for it.
    ...e2eDaemonFlags(mkdtempSync(join(tmpdir(), 'l4lb-state-')), { drainTimeout: '300s' }),
    '--log-level', 'debug',
  ]);
  cleanup.add(() => daemon.kill('SIGKILL'));
});

after(() => daemon?.kill('SIGKILL'));

// --- A: UDP ------------------------------------------------------------------------

test('UDP VIP: the name resolves once the UDP and TCP services forward to all three tasks', async () => {
  vip = await until('DNS answer', async () => (await dig(DNS_PORT, UDP_NAME)) || undefined).catch((e: Error) => {
    throw new Error(`${e.message}; daemon log:\n${daemon.lines.slice(-25).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  assert.match(vip, /^198\.51\.100\.\d+$/);
  const table = await ipvsTable();
  const all = new Map(udpBackends.map((b) => [dest(b), 1]));
  assert.deepEqual(table.get(`udp/${vip}:5353`), { scheduler: 'wlc', dests: all });
  assert.deepEqual(table.get(`tcp/${vip}:5353`), { scheduler: 'wlc', dests: all });
});

test('UDP VIP: 30 datagrams from the node, each a new flow, land 10 on each backend', async () => {
  const counts = await countUdpLandings(vip, 5353, 30);
  assert.deepEqual(counts, { be0: 10, be1: 10, be2: 10 });
});

test('UDP VIP: a client in another namespace (the forwarded path) reaches every backend', async () => {
  const counts = await countLandingsFrom(client, 'udp', `${vip} 5353`, 9);
  assert.deepEqual(counts, { be0: 3, be1: 3, be2: 3 });
});

let lines: Line[] = [];

test('a killed task: its UDP destination is deleted at once (never weight 0), its TCP one with a connection drains at weight 0', async () => {
  // Three open TCP connections: wlc puts them on three different backends (one active connection each).
  lines = [await openLine(vip, 5353), await openLine(vip, 5353), await openLine(vip, 5353)];
  for (const [i, l] of lines.entries()) assert.equal(await l.roundTrip(`hello ${i}`), `hello ${i}`);
  const gone = udpBackends[0]!;
  const task = [...marathon.apps.get('/dns-like')!.tasks.values()].find((t) => t['host'] === gone.addr)!;
  const mark = daemon.lines.length;
  marathon.killTask(String(task['id']));

  // Watch the kernel until the UDP destination is gone: it is never seen at weight 0.
  const seen = await weightsUntilDeleted('the UDP destination', async () => (await udpDests()).get(dest(gone)));
  assert.ok(seen.every((w) => w === 1), `UDP weights seen before the delete: ${seen.join(',')}`);
  // The daemon's ops say the same: one delete, no weight change, for UDP; a weight change and no delete for TCP.
  await until('the TCP destination at weight 0', async () => ((await tcpDests()).get(dest(gone)) === 0 ? true : undefined), 20_000);
  const ops = daemon.opsSince(mark);
  assert.deepEqual(ops.filter((o) => o.includes(`of UDP ${vip}:5353`)), [`delete destination ${dest(gone)} of UDP ${vip}:5353`], ops.join('\n'));
  assert.deepEqual(ops.filter((o) => o.includes(`of TCP ${vip}:5353`)), [`edit destination ${dest(gone)} of TCP ${vip}:5353`], ops.join('\n'));

  // Two full resyncs later (every 2 s) the TCP destination still drains: its connection holds it, the timeout is 300 s.
  const passes = () => daemon.lines.filter((l) => l.message === 'reconcile pass' && l['trigger'] === 'resync').length;
  const p0 = passes();
  await until('two resyncs', async () => (passes() >= p0 + 2 ? true : undefined), 30_000);
  assert.deepEqual(await tcpDests(), new Map([[dest(gone), 0], [dest(udpBackends[1]!), 1], [dest(udpBackends[2]!), 1]]));
  assert.deepEqual(await udpDests(), new Map([[dest(udpBackends[1]!), 1], [dest(udpBackends[2]!), 1]]));
  // The open connections, the drained one among them, still work.
  for (const [i, l] of lines.entries()) assert.equal(await l.roundTrip(`still ${i}`), `still ${i}`);
  // New UDP flows land only on the two remaining backends (be0's server still answers, were it asked).
  assert.deepEqual(sorted(await countUdpLandings(vip, 5353, 10)), ['be1', 'be2']);
});

test('the task comes back on the same address: UDP destination added with weight 1, the draining TCP one gets its weight back', async () => {
  const back = udpBackends[0]!;
  const mark = daemon.lines.length;
  marathon.scaleApp('/dns-like', 3);
  const relaunched = [...marathon.apps.get('/dns-like')!.tasks.values()].filter((t) => t['host'] === back.addr);
  assert.equal(relaunched.length, 1, 'the emulator launches the new task on agent-0 again');
  await until('both destinations at weight 1', async () =>
    (await udpDests()).get(dest(back)) === 1 && (await tcpDests()).get(dest(back)) === 1 ? true : undefined, 20_000);
  const ops = daemon.opsSince(mark);
  assert.deepEqual(ops.filter((o) => o.includes(dest(back))).sort(), [`add destination ${dest(back)} to UDP ${vip}:5353`, `edit destination ${dest(back)} of TCP ${vip}:5353`].sort(), ops.join('\n'));
  assert.equal(sorted(await countUdpLandings(vip, 5353, 30)).join(','), 'be0,be1,be2');
  for (const [i, l] of lines.entries()) assert.equal(await l.roundTrip(`after ${i}`), `after ${i}`);
  for (const l of lines) l.close();
});

// --- B: IPv6 -------------------------------------------------------------------------

test('IPv6 named VIP: l4lb DNS answers AAAA from the fd01:c:: pool (and no A); it is local through the pool route, with no address', async () => {
  vip6 = await until('AAAA answer', async () => (await dig(DNS_PORT, V6_NAME, 'AAAA')) || undefined).catch((e: Error) => {
    throw new Error(`${e.message}; daemon log:\n${daemon.lines.filter((l) => l.message !== 'ipvs op').slice(-25).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  assert.match(vip6, /^fd01:c::[0-9a-f:]+$/);
  assert.equal(await dig(DNS_PORT, V6_NAME, 'A'), '');
  assert.match((await run('ip', ['-6', 'route', 'show', 'table', 'local', 'proto', '76'])).stdout, /^local fd01:c::\/64 dev lo /m);
  assert.equal((await run('ip', ['-6', '-o', 'addr', 'show', 'dev', 'minuteman'])).stdout.includes(vip6), false);
});

test('IPv6: ipvsadm -S -n reads back the service and destinations exactly as the desired table says', async () => {
  const key = `tcp/[${vip6}]:80`;
  const summary = (await statusJson<VipSummary[]>(socket, '/v1/l4lb/vips')).find((v) => v.key === key);
  assert.ok(summary, `${key} is not in l4lb's table`);
  assert.equal(summary.family, 6);
  assert.equal(summary.address, vip6);
  assert.deepEqual(summary.names, [V6_NAME]);
  const kernel = (await ipvsTable()).get(key);
  assert.ok(kernel, `${key} is not in the kernel`);
  const desired = new Map(summary.backendList.map((b) => [`[${b.ip}]:${b.port}`, b.weight]));
  assert.deepEqual(kernel, { scheduler: summary.scheduler, dests: desired });
  assert.deepEqual(desired, new Map(v6Backends.map((b) => [`[${b.addr6}]:8080`, 1])));
});

test('IPv6: connections from the node land on every backend: 30 requests, 10 each', async () => {
  const counts = await countLandings(`http://[${vip6}]:80/`, 30);
  assert.deepEqual(counts, { be3: 10, be4: 10, be5: 10 });
});

test('IPv6: a client in another namespace (the forwarded path) reaches every backend', async () => {
  const counts = await countLandingsFrom(client, 'http', `http://[${vip6}]:80/`, 9);
  assert.deepEqual(counts, { be3: 3, be4: 3, be5: 3 });
});

test('IPv6 hairpin: a backend reaching its own VIP is served, also by itself', async () => {
  const self = v6Backends[0]!;
  const counts = await countLandingsFrom(self, 'http', `http://[${vip6}]:80/`, 6);
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 6, JSON.stringify(counts));
  assert.ok((counts[self.name] ?? 0) >= 1, `never scheduled to itself: ${JSON.stringify(counts)}`);
});
