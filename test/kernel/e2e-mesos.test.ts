// End to end with the Mesos operator API: a master outage keeps every VIP
// forwarding (the last known state is kept, nothing is withdrawn), and after
// the reconnect the new snapshot converges the kernel in one step.
// The named-VIP pool is moved into 198.51.100.0/24 (a documentation range).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, cleanupAfter, createBackend, ipvsadm, startHttpServer, type Backend } from './lib.js';
import { MesosMasterEmulator } from '../emulators/mesos-master.js';
import { Daemon, countLandings, dig, until } from './e2e-lib.js';

requireKernel();
const cleanup = cleanupAfter();
const DNS_PORT = 5354;
const NAME = 'web.marathon.l4lb.thisdcos.directory';

let master: MesosMasterEmulator;
let backends: Backend[] = [];
let daemon: Daemon;
let vip = '';

const spread = (n: number) => countLandings(`http://${vip}:80/`, n);

const dests = async () => (await ipvsadm('-S', '-n')).stdout.split('\n').filter((l) => l.startsWith(`-a -t ${vip}:80 `));

before(async () => {
  backends = [await createBackend(0, cleanup), await createBackend(1, cleanup)];
  for (const b of backends) await startHttpServer(b, { port: 8080, body: b.name }, cleanup);
  // Heartbeats every second: a silent master is noticed after 3 s.
  master = await MesosMasterEmulator.start({ heartbeatIntervalSeconds: 1 });
  cleanup.add(() => master.stop());
  master.addAgent({ id: 'S0', hostname: '203.0.113.100' });
  master.addFramework({ id: 'F0', name: 'marathon' });
  backends.forEach((b, i) =>
    master.addTask({ id: `web.${i}`, frameworkId: 'F0', agentId: 'S0', name: 'web', ips: [b.addr], ports: [{ number: 8080, name: 'http', vips: ['/web:80'] }] }),
  );
  const stateDir = mkdtempSync(join(tmpdir(), 'l4lb-state-'));
  daemon = new Daemon([
    '--mesos', master.url,
    '--dns-listen', `127.0.0.1:${DNS_PORT}`,
    '--state-dir', stateDir,
    '--vips-ipv4-min', '198.51.100.0',
    '--vips-ipv4-max', '198.51.100.255',
    '--reconcile-resync-interval', '1s',
    '--ipvs-drain-timeout', '1s',
    '--dataplane-iptables', process.env.L4LB_IPTABLES ?? 'iptables',
    '--log-format', 'json',
  ]);
  cleanup.add(() => daemon.kill('SIGKILL'));
});

after(() => daemon?.kill('SIGKILL'));

test('tasks from the Mesos stream become a VIP that balances over both', async () => {
  vip = await until('DNS answer', async () => (await dig(DNS_PORT, NAME)) || undefined);
  assert.deepEqual(Object.values(await spread(10)).sort(), [5, 5]);
});

test('a master outage: the source goes stale, every VIP keeps forwarding through full resyncs', async () => {
  // Every reconnect attempt fails for a while; the open stream is cut.
  master.failNext(4, 500, 'master unavailable', '/api/v1');
  master.dropStreams();
  await daemon.waitFor((l) => l.message === 'source state' && l['state'] === 'stale', 'the source going stale');
  // Meanwhile the cluster changes: web.1 is killed. l4lb cannot know yet.
  master.updateTask('F0', 'web.1', { state: 'TASK_KILLED' });
  // Resyncs keep running (every 1 s) against the last known state: nothing is withdrawn.
  const passesBefore = daemon.lines.filter((l) => l.message === 'reconcile pass').length;
  await daemon.waitFor(
    (l) => l.message === 'reconcile pass' && daemon.lines.filter((x) => x.message === 'reconcile pass').indexOf(l) >= passesBefore + 1,
    'a resync during the outage',
  );
  assert.equal((await dests()).length, 2);
  assert.deepEqual(Object.values(await spread(10)).sort(), [5, 5]);
});

test('the reconnect replaces the view in one step and converges: the killed task drains out', async () => {
  await daemon.waitFor((l) => l.message === 'source state' && l['state'] === 'synced' && daemon.lines.some((x) => x['state'] === 'stale'), 'the source synced again', 60_000);
  // The outage was real: reconnects were refused by the master before one got through.
  const refused = daemon.lines.filter((l) => l.message === 'connection failed' && /500/.test(String(l['reason'])));
  assert.ok(refused.length >= 1, `no refused reconnect in the log:\n${daemon.lines.filter((l) => l.message !== 'reconcile pass').slice(-20).map((l) => JSON.stringify(l)).join('\n')}`);
  await until('one destination', async () => ((await dests()).length === 1 ? true : undefined), 20_000);
  assert.deepEqual(await spread(4), { be0: 4 });
});
