// End to end in a real kernel: a Marathon app on an IPv6 container network
// (like DC/OS `dcos6`) whose one port is `udp,tcp` with a VIP label. Its tasks
// report only IPv6 addresses; each is a backend namespace running a UDP server
// and an HTTP server (busybox) on the container port, both answering with the
// namespace's name. Proves, counting where datagrams and connections land:
// the name resolves to AAAA only; both IPVS services read back from ipvsadm
// as desired; UDP and TCP reach every backend from the node, from another
// namespace (the forwarded path) and from a backend to its own VIP (hairpin);
// a killed task's UDP destination is deleted at once while its TCP one, held
// by an open connection, drains at weight 0 and keeps serving it; the task
// relaunched on the same address gets both back at weight 1.
//
// Addresses: VIPs in fd01:c::/64 (the default IPv6 pool), backends fd00:0:0:<n>::2,
// all inside this test's network namespace.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, cleanupAfter, createBackend, ipvsTable, startHttpServer, startUdpServer, type Backend } from './lib.js';
import { MarathonEmulator } from '../emulators/marathon.js';
import { Daemon, countLandings, countLandingsFrom, countUdpLandings, dig, e2eDaemonFlags, statusJson, until, weightsUntilDeleted } from './e2e-lib.js';
import type { VipSummary } from '../../controller/status/types.js';

requireKernel();
const cleanup = cleanupAfter();
const DNS_PORT = 5356;
const NAME = 'echo6.marathon.l4lb.thisdcos.directory';
/** The container port of every task; the VIP port is 53. */
const PORT = 5353;

let marathon: MarathonEmulator;
let backends: Backend[] = [];
let client: Backend;
let daemon: Daemon;
let vip = '';
const socket = join(mkdtempSync(join(tmpdir(), 'l4lb-sock-')), 'l4lb.sock');

const dest = (b: Backend) => `[${b.addr6}]:${PORT}`;
const dests = async (protocol: 'tcp' | 'udp') => (await ipvsTable()).get(`${protocol}/[${vip}]:53`)?.dests ?? new Map<string, number>();
const dump = (n = 25) => daemon.lines.filter((l) => l.message !== 'ipvs op').slice(-n).map((l) => JSON.stringify(l)).join('\n');

/** A TCP connection opened now and used later: one HTTP/1.0 GET, resolving with the body (the backend's name). */
function holdConnection(host: string, port: number): Promise<{ get(): Promise<string>; close(): void }> {
  return new Promise((resolve, reject) => {
    const s: Socket = connect({ host, port }, () => resolve({
      get: () => new Promise((res, rej) => {
        let text = '';
        const t = setTimeout(() => rej(new Error('no answer within 5 s on the held connection')), 5000);
        s.setEncoding('utf8').on('data', (d: string) => (text += d)).once('end', () => {
          clearTimeout(t);
          res(text.slice(text.indexOf('\r\n\r\n') + 4));
        });
        s.write('GET / HTTP/1.0\r\n\r\n');
      }),
      close: () => s.destroy(),
    }));
    s.once('error', reject);
  });
}

before(async () => {
  backends = [];
  for (const i of [10, 11, 12]) backends.push(await createBackend(i, cleanup, { ipv6: true }));
  client = await createBackend(13, cleanup, { ipv6: true });
  // One agent per backend namespace; a task on the container network there gets the namespace's IPv6 address.
  marathon = await MarathonEmulator.start({
    agents: backends.map((b, i) => ({ id: `agent-${i}`, host: b.addr, ip: b.addr, containerIps: [b.addr6!] })),
  });
  cleanup.add(() => marathon.stop());
  for (const b of backends) {
    await startUdpServer(b, { port: PORT }, cleanup);
    await startHttpServer(b, { port: PORT }, cleanup);
  }
  marathon.deployApp({
    id: '/echo6',
    instances: 3,
    networks: [{ mode: 'container', name: 'dcos6' }],
    container: { type: 'MESOS', portMappings: [{ containerPort: PORT, protocol: 'udp,tcp', name: 'echo', labels: { VIP_0: '/echo6:53' } }] },
  });
  daemon = new Daemon([
    '--marathon', marathon.url,
    '--dns-listen', `127.0.0.1:${DNS_PORT}`,
    '--status-socket', socket,
    // A long drain: a UDP destination that goes at once did not wait for it.
    ...e2eDaemonFlags(mkdtempSync(join(tmpdir(), 'l4lb-state-')), { drainTimeout: '300s' }),
    '--log-level', 'debug',
  ]);
  cleanup.add(() => daemon.kill('SIGKILL'));
});

after(() => daemon?.kill('SIGKILL'));

test('Marathon IPv6 tasks: the name answers AAAA from the fd01:c:: pool and no A', async () => {
  vip = await until('AAAA answer', async () => (await dig(DNS_PORT, NAME, 'AAAA')) || undefined).catch((e: Error) => {
    throw new Error(`${e.message}; daemon log:\n${dump()}`);
  });
  assert.match(vip, /^fd01:c::[0-9a-f:]+$/);
  assert.equal(await dig(DNS_PORT, NAME, 'A'), '');
});

test('Marathon IPv6 tasks: ipvsadm -S -n reads back a UDP and a TCP service, each exactly as the desired table says', async () => {
  const summaries = await statusJson<VipSummary[]>(socket, '/v1/l4lb/vips');
  const all = new Map(backends.map((b) => [dest(b), 1]));
  for (const protocol of ['udp', 'tcp'] as const) {
    const key = `${protocol}/[${vip}]:53`;
    const summary = summaries.find((v) => v.key === key);
    assert.ok(summary, `${key} is not in l4lb's table: ${summaries.map((v) => v.key).join(', ')}`);
    assert.equal(summary.family, 6);
    assert.deepEqual(summary.names, [NAME]);
    const desired = new Map(summary.backendList.map((b) => [`[${b.ip}]:${b.port}`, b.weight]));
    assert.deepEqual(desired, all);
    assert.deepEqual((await ipvsTable()).get(key), { scheduler: summary.scheduler, dests: desired });
  }
});

test('UDP over IPv6 from the node: 30 datagrams, each a new flow, land 10 on each backend', async () => {
  assert.deepEqual(await countUdpLandings(vip, 53, 30), { be10: 10, be11: 10, be12: 10 });
});

test('TCP over IPv6 from the node: 30 connections land 10 on each backend', async () => {
  assert.deepEqual(await countLandings(`http://[${vip}]:53/`, 30), { be10: 10, be11: 10, be12: 10 });
});

test('UDP and TCP over IPv6 from another namespace (the forwarded path) reach every backend', async () => {
  assert.deepEqual(await countLandingsFrom(client, 'udp', `${vip} 53`, 9), { be10: 3, be11: 3, be12: 3 });
  assert.deepEqual(await countLandingsFrom(client, 'http', `http://[${vip}]:53/`, 9), { be10: 3, be11: 3, be12: 3 });
});

test('UDP over IPv6 hairpin: a backend sending to its own VIP is answered, also by itself', async () => {
  const self = backends[1]!;
  const counts = await countLandingsFrom(self, 'udp', `${vip} 53`, 6);
  assert.equal(Object.values(counts).reduce((a, b) => a + b, 0), 6, JSON.stringify(counts));
  assert.ok((counts[self.name] ?? 0) >= 1, `never scheduled to itself: ${JSON.stringify(counts)}`);
});

test('a killed IPv6 task: UDP destination deleted at once, TCP destination drains at weight 0 and keeps its open connection; relaunched, both are back at weight 1', async () => {
  // Three idle connections: wlc puts one on each backend.
  const held = [await holdConnection(vip, 53), await holdConnection(vip, 53), await holdConnection(vip, 53)];
  const gone = backends[0]!;
  const task = [...marathon.apps.get('/echo6')!.tasks.values()].find((t) => t['host'] === gone.addr)!;
  const mark = daemon.lines.length;
  marathon.killTask(String(task['id']));

  const seen = await weightsUntilDeleted('the UDP destination', async () => (await dests('udp')).get(dest(gone)));
  assert.ok(seen.every((w) => w === 1), `UDP weights seen before the delete: ${seen.join(',')}`);
  await until('the TCP destination at weight 0', async () => ((await dests('tcp')).get(dest(gone)) === 0 ? true : undefined), 20_000);
  const ops = daemon.opsSince(mark);
  assert.deepEqual(ops.filter((o) => o.includes(dest(gone))).sort(),
    [`delete destination ${dest(gone)} of UDP [${vip}]:53`, `edit destination ${dest(gone)} of TCP [${vip}]:53`].sort(), ops.join('\n'));
  // New flows avoid the killed task; the held connections, the drained one among them, are still served where they landed.
  assert.deepEqual(Object.keys(await countUdpLandings(vip, 53, 10)).sort(), ['be11', 'be12']);
  assert.deepEqual(Object.keys(await countLandings(`http://[${vip}]:53/`, 10)).sort(), ['be11', 'be12']);
  assert.deepEqual((await Promise.all(held.map((h) => h.get()))).sort(), ['be10', 'be11', 'be12']);

  const back = daemon.lines.length;
  marathon.scaleApp('/echo6', 3);
  const relaunched = [...marathon.apps.get('/echo6')!.tasks.values()].filter((t) => t['host'] === gone.addr);
  assert.equal(relaunched.length, 1, 'the emulator relaunches the task on agent-0, at the same address');
  await until('both destinations at weight 1', async () =>
    (await dests('udp')).get(dest(gone)) === 1 && (await dests('tcp')).get(dest(gone)) === 1 ? true : undefined, 20_000);
  const ops2 = daemon.opsSince(back);
  assert.deepEqual(ops2.filter((o) => o.includes(dest(gone))).sort(),
    [`add destination ${dest(gone)} to UDP [${vip}]:53`, `edit destination ${dest(gone)} of TCP [${vip}]:53`].sort(), ops2.join('\n'));
  // wlc: the relaunched backend has no UDP flows yet, so it takes most new ones; every backend takes some.
  assert.deepEqual(Object.keys(await countUdpLandings(vip, 53, 30)).sort(), ['be10', 'be11', 'be12']);
  for (const h of held) h.close();
});
