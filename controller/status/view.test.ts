// Pure views: dcos-net's /v1/vips shape, summaries, details merged with kernel
// counters, and which VIPs a reference names.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { VipTable } from '../model/index.js';
import { port, task } from '../model/test-helpers.js';
import { emptyStats, type DestinationEntry, type ServiceEntry } from '../../native/ipvs/index.js';
import { dcosVips, detail, matchVips, summarize, type VipContext } from './view.js';

const POOL = { ipv4Min: '198.51.100.0', ipv4Max: '198.51.100.255', ipv6Min: 'fd01:c::', ipv6Max: 'fd01:c::ffff' };

function table() {
  const t = new VipTable(POOL);
  t.upsertTask(task('a', { taskIps: ['203.0.113.2', 'fd00::2'], ports: [port(['/myapp:80'], { port: 8080 })] }));
  t.upsertTask(task('b', { taskIps: ['203.0.113.6'], state: 'killing', ports: [port(['/myapp:80'], { port: 8080 })] }));
  t.upsertTask(task('c', { taskIps: ['203.0.113.10'], healthy: false, ports: [port(['/myapp:80'], { port: 8080 })] }));
  t.upsertTask(task('d', { taskIps: ['203.0.113.14'], ports: [port(['198.51.100.250:53'], { protocol: 'udp', port: 5353 })] }));
  t.upsertTask(task('e', { framework: 'kafka', taskIps: ['203.0.113.18'], ports: [port(['broker:9092'], { port: 9092 })] }));
  t.upsertTask(task('f', { taskIps: ['fd00::9'], ports: [port(['fd01:c::99:53'], { protocol: 'udp', port: 53 })] }));
  return t;
}

const ctx = (over: Partial<VipContext> = {}): VipContext => ({
  scheduler: 'wlc',
  forwarding: () => true,
  failing: () => false,
  since: () => Date.UTC(2024, 0, 1),
  drains: () => [],
  ...over,
});

test('/v1/vips: one entry per name, protocol and port with every family\'s backends; IP VIPs by address (IPv6 unbracketed)', () => {
  const t = table();
  const named = t.vips().filter((v) => v.names[0]?.startsWith('myapp.'));
  assert.equal(named.length, 2, 'an IPv4 and an IPv6 VIP for one name');
  const out = dcosVips(t.vips());
  const myapp = out.filter((e) => e.vip === 'myapp.marathon.l4lb.thisdcos.directory:80');
  assert.equal(myapp.length, 1);
  assert.deepEqual(Object.keys(myapp[0]!).sort(), ['backend', 'protocol', 'vip']);
  assert.equal(myapp[0]!.protocol, 'tcp');
  assert.deepEqual(myapp[0]!.backend.map((b) => `${b.ip}:${b.port}`).sort(), ['203.0.113.10:8080', '203.0.113.2:8080', '203.0.113.6:8080', 'fd00::2:8080']);
  assert.deepEqual(out.find((e) => e.vip === '198.51.100.250:53'), { vip: '198.51.100.250:53', protocol: 'udp', backend: [{ ip: '203.0.113.14', port: 5353 }] });
  assert.ok(out.some((e) => e.vip === 'fd01:c::99:53'));
});

test('summaries: ready/total counts serving backends; killing is draining, failing checks unhealthy; removed drains listed', () => {
  const t = table();
  const v = t.vips().find((x) => x.family === 4 && x.names[0]?.startsWith('myapp.'))!;
  const s = summarize(v, ctx({ drains: () => [['inet/203.0.113.99/8080', Date.UTC(2024, 0, 2)]] }));
  assert.deepEqual(s.backends, { ready: 1, total: 3 });
  assert.deepEqual(s.backendList.map((b) => [b.ip, b.state, b.weight]), [
    ['203.0.113.2', 'active', 1],
    ['203.0.113.6', 'draining', 0],
    ['203.0.113.10', 'unhealthy', 0],
    ['203.0.113.99', 'draining', 0],
  ]);
  assert.equal(s.backendList[3]!.drainingSince, '2024-01-02T00:00:00.000Z');
  assert.equal(s.backendList[3]!.taskId, undefined);
  assert.equal(s.scheduler, 'wlc');
  assert.equal(s.since, '2024-01-01T00:00:00.000Z');
  assert.deepEqual(s.portNames, ['http']);
});

test('details: kernel counters per backend; desired but missing is pending; kernel-only is draining', () => {
  const t = table();
  const v = t.vips().find((x) => x.family === 4 && x.names[0]?.startsWith('myapp.'))!;
  const s = summarize(v, ctx());
  const stats = { ...emptyStats(), connections: 7, bytesIn: 1000, bytesOut: 5000, cps: 2 };
  const dest = (address: string, weight: number, active: number): DestinationEntry => ({
    family: 'inet', address, port: 8080, forward: 'masq', weight, upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
    activeConnections: active, inactiveConnections: 1, persistentConnections: 0, stats,
  });
  const service = { family: 'inet', protocol: 'tcp', address: v.address, port: 80, fwmark: 0, scheduler: 'wlc', flags: 0, timeout: 0, netmask: 0xffffffff, pe: '', stats } as ServiceEntry;
  const d = detail(s, { ok: true, service, destinations: [dest('203.0.113.2', 1, 3), dest('203.0.113.6', 0, 0), dest('203.0.113.77', 0, 2)] }, [{ at: 'x', reason: 'Added', message: 'm' }]);
  const by = Object.fromEntries(d.backendList.map((b) => [b.ip, b]));
  assert.equal(by['203.0.113.2']!.kernel?.activeConnections, 3);
  assert.equal(by['203.0.113.2']!.kernel?.connections, 7);
  assert.equal(by['203.0.113.10']!.state, 'unhealthy', 'not in the kernel, but weight 0 anyway: stays unhealthy');
  assert.equal(by['203.0.113.77']!.state, 'draining');
  assert.equal(d.kernel?.stats.activeConnections, 5);
  assert.equal(d.kernel?.scheduler, 'wlc');
  assert.equal(d.events.length, 1);

  const missing = detail(s, { ok: true, service: undefined, destinations: [] }, []);
  assert.equal(missing.backendList.find((b) => b.ip === '203.0.113.2')!.state, 'pending');
  assert.equal(missing.kernel, undefined);
  const failed = detail(s, { ok: false, error: 'EPERM' }, []);
  assert.equal(failed.kernelError, 'EPERM');
  assert.equal(failed.backendList.length, 3);
});

test('references: key, IP:PORT, bare IP, FQDN in any zone, relative name, label form, first label, with or without port', () => {
  const t = table();
  const keys = (ref: string) => matchVips(ref, t.vips()).map((v) => v.key);
  const myapp4 = t.vips().find((x) => x.family === 4 && x.names[0]?.startsWith('myapp.'))!;
  assert.deepEqual(keys(myapp4.key), [myapp4.key]);
  assert.deepEqual(keys(`${myapp4.address}:80`), [myapp4.key]);
  assert.deepEqual(keys(myapp4.address), [myapp4.key]);
  assert.deepEqual(keys(`${myapp4.address}:81`), []);
  assert.equal(keys('myapp.marathon').length, 2);
  assert.equal(keys('myapp.marathon.l4lb.thisdcos.directory').length, 2);
  assert.equal(keys('MyApp.Marathon.dclb.thisdcos.global.').length, 2);
  assert.equal(keys('/myapp').length, 2);
  assert.equal(keys('myapp:80').length, 2);
  assert.deepEqual(keys('tcp/myapp.marathon:80').length, 2);
  assert.deepEqual(keys('udp/myapp.marathon:80'), []);
  assert.deepEqual(keys('broker'), keys('broker.kafka'));
  assert.equal(keys('broker').length, 1);
  assert.deepEqual(keys('198.51.100.250:53'), ['udp/198.51.100.250:53']);
  assert.deepEqual(keys('[fd01:c::99]:53'), ['udp/[fd01:c::99]:53']);
  assert.deepEqual(keys('fd01:c::99'), ['udp/[fd01:c::99]:53']);
  for (const bad of ['', 'nope', 'nope.marathon', 'myapp.kafka', ':80', '[::1', '%%%']) assert.deepEqual(keys(bad), [], bad);
});

test('summaries: the VIP\'s own scheduler (else the default), and the backends\' disagreement when they disagree', () => {
  const t = new VipTable(POOL);
  t.upsertTask(task('old', { taskIps: ['203.0.113.2'], ports: [port(['/web:80'], { port: 8080, scheduler: 'rr' })] }));
  t.upsertTask(task('new.1', { taskIps: ['203.0.113.3'], ports: [port(['/web:80'], { port: 8080, scheduler: 'sh' })] }));
  t.upsertTask(task('new.2', { taskIps: ['203.0.113.4'], ports: [port(['/web:80'], { port: 8080, scheduler: 'sh' })] }));
  t.upsertTask(task('plain', { taskIps: ['203.0.113.5'], ports: [port(['/plain:80'], { port: 8080 })] }));
  const by = Object.fromEntries(t.vips().map((v) => [v.names[0]!.split('.')[0], summarize(v, ctx())]));
  assert.equal(by['web']!.scheduler, 'sh');
  assert.deepEqual(by['web']!.schedulerVotes, [{ scheduler: 'sh', backends: 2 }, { scheduler: 'rr', backends: 1 }]);
  assert.equal(by['plain']!.scheduler, 'wlc');
  assert.equal('schedulerVotes' in by['plain']!, false);
});
