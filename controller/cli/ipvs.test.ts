import { test } from 'node:test';
import assert from 'node:assert/strict';

import { renderIpvsTable, serviceFlags, sortServices, type IpvsSnapshot } from './ipvs.js';
import { emptyStats, makeDestination, makeService, flags as F, type ServiceWithDestinations } from '../../native/ipvs/index.js';
import { formatBytes, formatCount, renderTable } from './output/table.js';

function entry(s: Parameters<typeof makeService>[0], dests: Parameters<typeof makeDestination>[0][] = []): ServiceWithDestinations {
  return {
    ...makeService(s),
    stats: emptyStats(),
    destinations: dests.map((d) => ({ ...makeDestination(d), activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: emptyStats() })),
  };
}

const snap = (services: ServiceWithDestinations[]): IpvsSnapshot => ({
  info: { version: '1.2.1', connectionTableSize: 4096 },
  timeouts: { tcp: 900, tcpFin: 120, udp: 300 },
  services,
});

test('services sort by family, kind, protocol, numeric address and port; destinations by address and port', () => {
  const sorted = sortServices([
    entry({ address: '2001:db8::1', port: 80 }),
    entry({ address: '0.0.0.0', port: 0, fwmark: 3 }),
    entry({ address: '198.51.100.10', port: 80, protocol: 'udp' }),
    entry({ address: '198.51.100.9', port: 443 }, [{ address: '198.18.0.10', port: 80 }, { address: '198.18.0.9', port: 81 }, { address: '198.18.0.9', port: 80 }]),
    entry({ address: '198.51.100.10', port: 80 }),
  ]);
  assert.deepEqual(
    sorted.map((s) => `${s.protocol} ${s.address}:${s.port} fwm${s.fwmark}`),
    ['tcp 198.51.100.9:443 fwm0', 'tcp 198.51.100.10:80 fwm0', 'udp 198.51.100.10:80 fwm0', 'tcp 0.0.0.0:0 fwm3', 'tcp 2001:db8::1:80 fwm0'],
  );
  assert.deepEqual(sorted[0]!.destinations.map((d) => `${d.address}:${d.port}`), ['198.18.0.9:80', '198.18.0.9:81', '198.18.0.10:80']);
});

test('flags read like ipvsadm: persistence with a non-default mask, pe, one-packet, scheduler flags', () => {
  assert.equal(serviceFlags(entry({ address: '198.51.100.1', port: 80 })), '-');
  assert.equal(
    serviceFlags(entry({ address: '198.51.100.1', port: 80, protocol: 'udp', flags: F.IP_VS_SVC_F_PERSISTENT | F.IP_VS_SVC_F_ONEPACKET, timeout: 360, netmask: 0xffffff00, pe: 'sip' })),
    'persistent 360s,mask 255.255.255.0,pe sip,ops',
  );
  assert.equal(serviceFlags(entry({ address: '198.51.100.1', port: 80, scheduler: 'sh', flags: F.IP_VS_SVC_F_SCHED1 | F.IP_VS_SVC_F_SCHED2 })), 'sh-fallback,sh-port');
  assert.equal(serviceFlags(entry({ address: '198.51.100.1', port: 80, scheduler: 'rr', flags: F.IP_VS_SVC_F_SCHED3 })), 'flag-3');
  assert.equal(serviceFlags(entry({ address: '2001:db8::1', port: 80, flags: F.IP_VS_SVC_F_PERSISTENT, timeout: 60, netmask: 128 })), 'persistent 60s');
});

test('the table has one row per service and per destination, with the header counts', () => {
  const out = renderIpvsTable(
    snap([
      entry({ address: '198.51.100.10', port: 80 }, [
        { address: '203.0.113.2', port: 8080, weight: 0 },
        { address: '203.0.113.6', port: 8080, forward: 'tunnel', tunnelType: 'gue', tunnelPort: 6080, upperThreshold: 100, lowerThreshold: 10 },
      ]),
    ]),
  );
  const lines = out.trimEnd().split('\n');
  assert.equal(lines[0], 'IPVS 1.2.1 (connection table 4096 buckets); timeouts tcp 900s, tcpfin 120s, udp 300s; 1 service, 2 destinations');
  assert.match(lines[1]!, /^SERVICE\s+SCHED\/FWD\s+WEIGHT\s+FLAGS\s+ACTIVE\s+INACTIVE\s+CONNS\s+CPS\s+IN\s+OUT$/);
  assert.match(lines[2]!, /^TCP 198\.51\.100\.10:80\s+wlc\s+-\s+0\s+0\s+0\s+0\s+0B\s+0B$/);
  assert.match(lines[3]!, /^ {2}-> 203\.0\.113\.2:8080\s+masq\s+0\s+-/);
  assert.match(lines[4]!, /^ {2}-> 203\.0\.113\.6:8080\s+tunnel\/gue:6080\s+1\s+thresholds 10-100/);
  assert.equal(lines.length, 5);
  assert.match(renderIpvsTable(snap([])), /No IPVS services\.\n$/);
});

test('table cells align and numbers shorten for narrow columns', () => {
  assert.equal(renderTable(['A', 'LONGER'], [['xxxx', 'y'], ['z', '']]), 'A      LONGER\nxxxx   y\nz\n');
  assert.equal(formatBytes(512), '512B');
  assert.equal(formatBytes(1536), '1.5KiB');
  assert.equal(formatBytes(50 * 1024 * 1024), '50MiB');
  assert.equal(formatCount(9999), '9999');
  assert.equal(formatCount(12345), '12.3k');
  assert.equal(formatCount(2_500_000), '2.5M');
});
