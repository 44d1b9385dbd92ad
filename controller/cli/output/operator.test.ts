// The operator printers: ages as kubectl prints them, aligned tables,
// describe blocks, endpoints, status, watch events.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { diffVips, endpointsOf, formatAge, renderBackends, renderDescribe, renderNames, renderStatus, renderVips, renderWatchEvents, shortName, toYaml } from './operator.js';
import type { StatusView, VipDetail, VipSummary } from '../../status/types.js';
import yaml from 'js-yaml';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();

function vip(over: Partial<VipSummary> = {}): VipSummary {
  return {
    key: 'tcp/198.51.100.7:80', names: ['myapp.marathon.l4lb.thisdcos.directory'], address: '198.51.100.7', family: 4, protocol: 'tcp', port: 80,
    kind: 'named', labels: ['/myapp:80'], portNames: ['http'], sources: ['marathon'], scheduler: 'wlc', forwarding: true, failing: false,
    since: ago(330_000), backends: { ready: 2, total: 3 },
    backendList: [
      { ip: '203.0.113.2', port: 31000, weight: 1, state: 'active', taskId: 'myapp.1', framework: 'marathon', source: 'marathon', health: 'healthy' },
      { ip: '203.0.113.6', port: 31001, weight: 1, state: 'active', taskId: 'myapp.2', framework: 'marathon', source: 'marathon', health: 'unknown' },
      { ip: '203.0.113.10', port: 31002, weight: 0, state: 'draining', taskId: 'myapp.3', framework: 'marathon', source: 'marathon', health: 'unknown', drainingSince: ago(4000) },
    ],
    ...over,
  };
}

const ipVip = vip({ key: 'udp/[fd01:c::99]:53', names: [], address: 'fd01:c::99', family: 6, protocol: 'udp', port: 53, kind: 'ip', labels: ['fd01:c::99:53'], portNames: [], sources: ['file:/etc/v.yaml'], since: ago(3 * 86_400_000 + 5 * 3_600_000), backends: { ready: 1, total: 1 }, backendList: [{ ip: 'fd00::9', port: 53, weight: 1, state: 'active', taskId: 't', framework: 'marathon', source: 'file:/etc/v.yaml' }] });

test('ages as kubectl prints them', () => {
  const cases: Array<[number, string]> = [
    [-5000, '<invalid>'], [-500, '0s'], [0, '0s'], [59_000, '59s'], [119_000, '119s'], [120_000, '2m'], [330_000, '5m30s'], [600_000, '10m'],
    [179 * 60_000, '179m'], [3 * 3_600_000, '3h'], [5.5 * 3_600_000, '5h30m'], [20 * 3_600_000, '20h'], [(3 * 24 + 5) * 3_600_000, '3d5h'],
    [200 * 86_400_000, '200d'], [(3 * 365 + 10) * 86_400_000, '3y10d'], [9 * 365 * 86_400_000, '9y'],
  ];
  for (const [ms, want] of cases) assert.equal(formatAge(ms), want, String(ms));
});

test('get vips: aligned columns, short names, ready/total, <none> for IP VIPs; wide adds status, sources, port names', () => {
  const out = renderVips([vip(), ipVip], { now: NOW });
  assert.equal(out, [
    'NAME             ADDRESS        PROTOCOL   PORT   BACKENDS   SCHEDULER   AGE',
    'myapp.marathon   198.51.100.7   TCP        80     2/3        wlc         5m30s',
    '<none>           fd01:c::99     UDP        53     1/1        wlc         3d5h',
    '',
  ].join('\n'));
  const wide = renderVips([vip({ failing: true }), ipVip], { now: NOW, wide: true }).split('\n');
  assert.match(wide[0]!, /AGE +STATUS +SOURCES +PORT NAMES$/);
  assert.match(wide[1]!, /Failing +marathon +http$/);
  assert.match(wide[2]!, /Forwarding +file:\/etc\/v\.yaml +-$/);
  // Every row's columns start where the header's do.
  const col = wide[0]!.indexOf('STATUS');
  assert.ok(wide.slice(1, 3).every((l) => /^\S/.test(l.slice(col)) && l[col - 1] === ' '));
  assert.equal(renderVips([], { now: NOW }), 'No VIPs found.\n');
  assert.equal(renderNames([vip(), ipVip]), 'tcp/198.51.100.7:80\nudp/[fd01:c::99]:53\n');
  assert.equal(shortName('a.b.l4lb.thisdcos.directory'), 'a.b');
});

test('watch: added, modified and deleted rows; the header only once', () => {
  const a = vip();
  const b = ipVip;
  const first = diffVips(new Map(), [a, b]);
  assert.deepEqual(first.map((e) => e.type), ['ADDED', 'ADDED']);
  const changed = vip({ backends: { ready: 3, total: 3 } });
  const second = diffVips(new Map([[a.key, a], [b.key, b]]), [changed]);
  assert.deepEqual(second.map((e) => [e.type, e.object.key]), [['MODIFIED', a.key], ['DELETED', b.key]]);
  assert.deepEqual(diffVips(new Map([[a.key, a]]), [vip()]), []);
  const withHeader = renderWatchEvents(first, { now: NOW, header: true }).split('\n');
  assert.match(withHeader[0]!, /^EVENT {3}NAME/);
  const rows = renderWatchEvents(second, { now: NOW, header: false }).split('\n');
  assert.match(rows[0]!, /^MODIFIED {3}myapp\.marathon .* 3\/3 /);
  assert.match(rows[1]!, /^DELETED {4}<none>/);
});

test('get backends: one row per backend of every VIP, draining and removed ones included', () => {
  const removed = vip({ backendList: [...vip().backendList, { ip: '203.0.113.99', port: 31003, weight: 0, state: 'draining', drainingSince: ago(1000) }] });
  const lines = renderBackends([removed, ipVip]).trimEnd().split('\n');
  assert.match(lines[0]!, /^VIP {3,}BACKEND {3,}WEIGHT {3}STATE {6}TASK {3,}FRAMEWORK {3}SOURCE$/);
  assert.equal(lines.length, 6);
  assert.match(lines[1]!, /^myapp\.marathon:80\/tcp {3,}203\.0\.113\.2:31000 {3,}1 {8}active/);
  assert.match(lines[4]!, /203\.0\.113\.99:31003 +0 +draining +<removed> +- +-$/);
  assert.match(lines[5]!, /^\[fd01:c::99\]:53\/udp {3,}\[fd00::9\]:53 /);
});

test('describe: kubectl layout with kernel counters, backends and events newest first', () => {
  const stats = { activeConnections: 3, inactiveConnections: 4, connections: 120, cps: 2, bytesIn: 2048, bytesOut: 3 * 1024 * 1024, bytesInPerSec: 100, bytesOutPerSec: 0, packetsIn: 1, packetsOut: 1 };
  const d: VipDetail = {
    ...vip(),
    backendList: vip().backendList.map((b, i) => ({ ...b, kernel: { ...stats, activeConnections: i, weight: b.weight } })),
    kernel: { scheduler: 'wlc', stats },
    events: [
      { at: ago(300_000), reason: 'Added', message: 'IPVS service created (scheduler wlc)' },
      { at: ago(4000), reason: 'Drained', message: 'backend 203.0.113.10:31002 drained: weight 0, 1 connection(s) left' },
    ],
  };
  const out = renderDescribe([d], NOW);
  const lines = out.split('\n');
  assert.equal(lines[0], 'Name:        myapp.marathon.l4lb.thisdcos.directory');
  assert.equal(lines[1], 'Key:         tcp/198.51.100.7:80');
  assert.ok(lines.includes('Backends:    2 ready of 3'));
  assert.ok(lines.includes('Kernel:'));
  assert.ok(lines.includes('  Active Connections:    3'));
  assert.ok(lines.includes('  Bytes Out:             3.0MiB (0B/s)'));
  const evIdx = lines.indexOf('Events:');
  assert.match(lines[evIdx + 1]!, /^ {2}REASON {4}AGE {3}MESSAGE$/);
  assert.match(lines[evIdx + 2]!, /^ {2}Drained {3}4s {4}backend/);
  assert.match(lines[evIdx + 3]!, /^ {2}Added {5}5m {4}IPVS service created/);
  assert.match(out, /203\.0\.113\.10:31002 +0 +draining \(4s\) +2 +4 +120 +2 +2\.0KiB +3\.0MiB +myapp\.3 +marathon/);
  const bare = renderDescribe([{ ...vip(), backendList: [], events: [], kernelError: 'EPERM' }, { ...ipVip, backendList: [], events: [] }], NOW);
  assert.match(bare, /Kernel: +<unreadable: EPERM>/);
  assert.match(bare, /Kernel: +<no IPVS service>/);
  assert.match(bare, /Events: +<none>/);
  assert.match(bare, /\n\nName: +<none>\n/, 'blocks separated by a blank line');
  assert.ok(lines.includes('Scheduler:   wlc'), 'agreement and in sync: just the name');
});

test('describe: the scheduler shows a pending change and the backends\' disagreement', () => {
  const stats = { activeConnections: 0, inactiveConnections: 0, connections: 0, cps: 0, bytesIn: 0, bytesOut: 0, bytesInPerSec: 0, bytesOutPerSec: 0, packetsIn: 0, packetsOut: 0 };
  const d: VipDetail = {
    ...vip({ scheduler: 'sh', schedulerVotes: [{ scheduler: 'sh', backends: 2 }, { scheduler: 'rr', backends: 1 }] }),
    backendList: [], events: [], kernel: { scheduler: 'rr', stats },
  };
  const line = (x: VipDetail) => renderDescribe([x], NOW).split('\n').find((l) => l.startsWith('Scheduler:'));
  assert.equal(line(d), 'Scheduler:   rr (desired sh; backends disagree: sh 2, rr 1; most backends win)');
  assert.equal(line({ ...d, kernel: { scheduler: 'sh', stats } }), 'Scheduler:   sh (backends disagree: sh 2, rr 1; most backends win)');
  assert.equal(line({ ...d, kernel: undefined, schedulerVotes: undefined }), 'Scheduler:   sh');
  assert.match(renderVips([vip({ scheduler: 'sh' })], { now: NOW }), /\n\S+ +198\.51\.100\.7 +TCP +80 +2\/3 +sh +5m30s\n/);
});

test('endpoints: the DC/OS shape; two families of one port merge; several ports need NAME:PORT', () => {
  assert.deepEqual(endpointsOf('myapp.marathon', [vip()]), {
    address: ['203.0.113.2:31000', '203.0.113.6:31001'],
    dns: ['myapp.marathon.l4lb.thisdcos.directory:80'],
    vip: 'myapp.marathon.l4lb.thisdcos.directory:80',
  });
  assert.deepEqual(Object.keys(endpointsOf('x', [vip()])), ['address', 'dns', 'vip']);
  const v6 = vip({ key: 'tcp/[fd01:c::7]:80', address: 'fd01:c::7', family: 6, backendList: [{ ip: 'fd00::2', port: 31000, weight: 1, state: 'active' }] });
  assert.deepEqual(endpointsOf('myapp', [vip(), v6]).address, ['203.0.113.2:31000', '203.0.113.6:31001', '[fd00::2]:31000']);
  assert.throws(() => endpointsOf('myapp', [vip(), vip({ key: 'tcp/198.51.100.7:443', port: 443 })]), /2 ports \(80\/tcp, 443\/tcp\): give one as NAME:PORT/);
  assert.deepEqual(endpointsOf('fd01:c::99', [ipVip]), { address: ['[fd00::9]:53'], dns: [], vip: '[fd01:c::99]:53' });
});

test('status: fields, sources table, recent errors, rejected labels', () => {
  const s: StatusView = {
    version: '0.1.0', pid: 42, startedAt: ago(3_600_000), synced: true, ready: true,
    sources: [{ id: 'marathon', kind: 'marathon', state: 'synced', endpoint: 'http://127.0.0.1:8080', since: ago(3_500_000), lastEventAt: ago(3000), reconnects: 1, tasks: 4 }],
    reconcile: {
      passes: 12, lastPass: { trigger: 'resync', full: true, at: ago(2000), durationMs: 1.5, keys: 2, opsTotal: 0, failedOps: 0, errors: 0, vips: 2, backends: 4, draining: 0, foreign: 1 },
      lastSuccessAt: ago(2000), driftRepairs: 3, errors: 1, recentErrors: [{ at: ago(60_000), vip: 'tcp/198.51.100.7:80', code: 'ERR_NETLINK', message: 'EINVAL' }], failingVips: [],
    },
    vips: 2, backends: 4, draining: 0, dns: { listen: ['127.0.0.1:53'], queries: 9, responses: { NOERROR: 9 } },
    rejected: [{ source: 'marathon', taskId: 't1', key: 'VIP_0', value: 'nope', code: 'VIP_MISSING_COLON', message: 'no port' }], rejectedTotal: 1,
  };
  const out = renderStatus(s, NOW);
  assert.match(out, /^Daemon: +l4lb 0\.1\.0, pid 42, up 60m\n/);
  assert.match(out, /\nReady: +true\n/);
  assert.match(out, /\nLast Pass: +resync \(full\) 2s ago, 1\.5ms, 0 operation\(s\), 0 error\(s\)\n/);
  assert.match(out, /\nDrift Repairs: +3\n/);
  assert.match(out, /\nSources:\n {2}SOURCE +STATE +SINCE +LAST EVENT +TASKS +RECONNECTS +ENDPOINT +ERROR\n {2}marathon +synced +58m +3s ago +4 +1 +http:\/\/127\.0\.0\.1:8080 +-\n/);
  assert.match(out, /Recent Errors:\n {2}AGE +VIP +CODE +MESSAGE\n {2}60s +tcp\/198\.51\.100\.7:80 +ERR_NETLINK +EINVAL/);
  assert.match(out, /Rejected Labels \(1\):\n/);
  const waiting = renderStatus({ ...s, ready: false, synced: false, reconcile: { ...s.reconcile, lastPass: undefined, lastSuccessAt: undefined } as StatusView['reconcile'] }, NOW);
  assert.match(waiting, /Ready: +false \(waiting for every source to sync\)/);
  assert.match(waiting, /Last Pass: +<none yet>/);
});

test('yaml output round-trips', () => {
  assert.deepEqual(yaml.load(toYaml([vip()])), [vip()]);
});
