// Pool routes against a real kernel: the route codec read back by iproute2
// (and iproute2's routes read by us), the Dataplane keeping one local route
// per pool prefix (owned by protocol 76, repaired, migrated), and real
// traffic through a pool VIP that has no address of its own: IPv4 from the
// node, from a backend to itself (hairpin) and IPv6. Fresh netns per file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cleanupAfter, createBackend, exec, getFrom, httpGet, ip, ipvsadm, requireKernel, run, startHttpServer, type Backend } from './lib.js';
import { Dataplane, L4LB_ROUTE_PROTOCOL } from '../../controller/dataplane/index.js';
import { NetlinkError } from '../../native/errors.js';
import { AF_INET, AF_INET6 } from '../../native/netlink/constants.js';
import { RT_TABLE_LOCAL, RTN_LOCAL, RtnlHandle } from '../../native/rtnl/index.js';
import { silentLogger } from '../../controller/log.js';

const kernel = requireKernel();
const cleanup = cleanupAfter();
const IPT = process.env.L4LB_IPTABLES ?? 'iptables';
const LINK = 'minuteman';
const POOLS = [
  { min: '198.18.0.0', max: '198.18.255.255' },
  { min: 'fd01:c::', max: 'fd01:c::ffff:ffff:ffff:ffff' },
];
const rtnl = RtnlHandle.open();
after(() => rtnl.close());

interface IpRoute { type?: string; dst: string; dev?: string; protocol?: string; scope?: string }

/** Our routes as iproute2 lists them: `local 198.18.0.0/16 dev lo`, sorted. */
async function ourRoutes(): Promise<string[]> {
  const out: string[] = [];
  for (const fam of ['-4', '-6']) {
    const r = JSON.parse((await ip('-j', fam, 'route', 'show', 'table', 'local', 'proto', String(L4LB_ROUTE_PROTOCOL))).stdout || '[]') as IpRoute[];
    for (const x of r) out.push(`${x.type ?? 'unicast'} ${x.dst.includes('/') ? x.dst : `${x.dst}/${x.dst.includes(':') ? 128 : 32}`} dev ${x.dev}`);
  }
  return out.sort();
}

async function addrsOn(name: string): Promise<string[]> {
  const [l] = JSON.parse((await ip('-j', 'addr', 'show', 'dev', name)).stdout) as Array<{ addr_info?: Array<{ local: string; prefixlen: number; scope: string }> }>;
  return (l?.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`).sort();
}

test(`route codec: what we add iproute2 reads; what iproute2 adds we read; errors name the route (${kernel.mode}: ${kernel.kernel})`, async () => {
  await ip('link', 'add', 'rt0', 'type', 'dummy');
  cleanup.add(() => run('ip', ['link', 'del', 'rt0']));
  await ip('link', 'set', 'rt0', 'up');
  const oif = rtnl.linkGet('rt0').index;
  rtnl.routeAdd({ dst: '198.51.100.0', dstLen: 24, table: RT_TABLE_LOCAL, type: RTN_LOCAL, protocol: 77, oif });
  rtnl.routeAdd({ dst: '2001:db8:1::', dstLen: 48, table: RT_TABLE_LOCAL, type: RTN_LOCAL, protocol: 77, oif });
  const v4 = JSON.parse((await ip('-j', 'route', 'show', 'table', 'local', 'proto', '77')).stdout) as IpRoute[];
  assert.deepEqual(v4.map((r) => [r.type, r.dst, r.dev, r.scope]), [['local', '198.51.100.0/24', 'rt0', 'host']]);
  const v6 = JSON.parse((await ip('-j', '-6', 'route', 'show', 'table', 'local', 'proto', '77')).stdout) as IpRoute[];
  assert.deepEqual(v6.map((r) => [r.type, r.dst, r.dev]), [['local', '2001:db8:1::/48', 'rt0']]);

  await ip('route', 'add', 'local', '192.0.2.0/25', 'dev', 'rt0', 'table', 'local', 'proto', '78');
  await ip('-6', 'route', 'add', '2001:db8:2::/64', 'dev', 'rt0', 'proto', '78', 'metric', '7');
  const theirs = [
    ...rtnl.routeList({ family: AF_INET, protocol: 78 }),
    ...rtnl.routeList({ family: AF_INET6, protocol: 78, oif }),
  ].map((r) => ({ dst: `${r.dst}/${r.dstLen}`, table: r.table, type: r.type, scope: r.scope, oif: r.oif, priority: r.priority }));
  assert.deepEqual(theirs, [
    { dst: '192.0.2.0/25', table: 255, type: 2, scope: 254, oif, priority: 0 },
    { dst: '2001:db8:2::/64', table: 254, type: 1, scope: 0, oif, priority: 7 },
  ]);

  assert.throws(
    () => rtnl.routeAdd({ dst: '198.51.100.0', dstLen: 24, table: RT_TABLE_LOCAL, type: RTN_LOCAL, protocol: 77, oif }),
    (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EEXIST' && /add route local 198\.51\.100\.0\/24 .*an equal route is already in the table/.test(e.message),
  );
  rtnl.routeDel({ dst: '198.51.100.0', dstLen: 24, table: RT_TABLE_LOCAL, type: RTN_LOCAL, protocol: 77, oif });
  assert.equal((await ip('route', 'show', 'table', 'local', 'proto', '77')).stdout.trim(), '');
  assert.throws(
    () => rtnl.routeDel({ dst: '198.51.100.0', dstLen: 24, table: RT_TABLE_LOCAL, type: RTN_LOCAL, protocol: 77, oif }),
    (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ESRCH' && /no such route/.test(e.message),
  );
});

const dp = new Dataplane({ logger: silentLogger(), iptables: IPT, ipv6: true, pools: POOLS });
after(() => dp.stop());

test('start(): one local route per pool prefix on the link; a second daemon finds them and writes nothing', async () => {
  const report = await dp.start();
  assert.deepEqual(report.problems, []);
  assert.deepEqual(report.poolRoutes, { added: ['local 198.18.0.0/16', 'local fd01:c::/64'], removed: [], unchanged: [] });
  assert.deepEqual(await ourRoutes(), ['local 198.18.0.0/16 dev lo', 'local fd01:c::/64 dev lo']);

  const again = new Dataplane({ logger: silentLogger(), iptables: IPT, ipv6: true, pools: POOLS });
  try {
    const r = await again.start();
    assert.deepEqual(r.poolRoutes, { added: [], removed: [], unchanged: ['local 198.18.0.0/16', 'local fd01:c::/64'] });
  } finally {
    again.stop();
  }
});

test('pool VIPs get no address; IP VIPs do; a /32 of a pool VIP left on the link (dcos-net style) is removed', async () => {
  await ip('addr', 'add', '198.18.7.7/32', 'dev', LINK); // as an older version would have left it
  const sync = dp.syncAddresses(['198.18.1.1', '203.0.113.200', 'fd01:c::1', '2001:db8::9']);
  assert.deepEqual(sync.added.sort(), ['2001:db8::9', '203.0.113.200']);
  assert.deepEqual(sync.removed, ['198.18.7.7']);
  assert.deepEqual(await addrsOn(LINK), ['2001:db8::9/128', '203.0.113.200/32']);
  // 198.18.7.7 was the link's last IPv4 address when it went (removals come
  // first): the kernel then flushes the link's IPv4 routes. Ours are on lo.
  assert.deepEqual(await ourRoutes(), ['local 198.18.0.0/16 dev lo', 'local fd01:c::/64 dev lo']);
  assert.deepEqual(dp.addAddresses(['198.18.2.2', 'fd01:c::2']), { added: [], removed: [], unchanged: [] });
  assert.deepEqual(await addrsOn(LINK), ['2001:db8::9/128', '203.0.113.200/32']);
});

let backends: Backend[] = [];
const VIP = '198.18.5.5';
const VIP6 = 'fd01:c::5';

test('traffic: a pool VIP without an address forwards from the node to every backend; a pool address without a service is refused at once', async (t) => {
  backends = [await createBackend(0, cleanup), await createBackend(1, cleanup)];
  for (const b of backends) await startHttpServer(b, { body: b.name }, cleanup);
  await ipvsadm('-A', '-t', `${VIP}:80`, '-s', 'rr');
  cleanup.add(() => run('ipvsadm', ['-D', '-t', `${VIP}:80`]));
  for (const b of backends) await ipvsadm('-a', '-t', `${VIP}:80`, '-r', `${b.addr}:80`, '-m');
  const landed: Record<string, number> = {};
  for (let i = 0; i < 10; i++) {
    const r = await httpGet(`http://${VIP}:80/`);
    landed[r.body] = (landed[r.body] ?? 0) + 1;
  }
  t.diagnostic(`landings through ${VIP}: ${JSON.stringify(landed)}`);
  assert.deepEqual(landed, { be0: 5, be1: 5 });
  // Not a VIP (yet): local, so refused by the node rather than sent off it.
  await assert.rejects(httpGet(`http://198.18.9.9:80/`, 5000), /ECONNREFUSED/);
});

test('traffic: a backend reaches its own pool VIP and is scheduled to itself (hairpin through the route)', async () => {
  const landed: Record<string, number> = {};
  for (const r of await getFrom(backends[0]!, VIP, 6, 5000)) landed[r] = (landed[r] ?? 0) + 1;
  assert.deepEqual(landed, { be0: 3, be1: 3 });
});

test('traffic: an IPv6 pool VIP without an address forwards to an IPv6 backend', async () => {
  const b = backends[0]!;
  await ip('addr', 'add', 'fd00:be::1/64', 'dev', b.hostIf, 'nodad');
  await ip('-n', b.name, 'addr', 'add', 'fd00:be::2/64', 'dev', 'eth0', 'nodad');
  await ip('-n', b.name, '-6', 'route', 'add', 'default', 'via', 'fd00:be::1');
  await ipvsadm('-A', '-t', `[${VIP6}]:80`, '-s', 'rr');
  cleanup.add(() => run('ipvsadm', ['-D', '-t', `[${VIP6}]:80`]));
  await ipvsadm('-a', '-t', `[${VIP6}]:80`, '-r', '[fd00:be::2]:80', '-m');
  for (let i = 0; i < 3; i++) assert.equal((await httpGet(`http://[${VIP6}]:80/`)).body, 'be0');
  assert.deepEqual(await addrsOn(LINK), ['2001:db8::9/128', '203.0.113.200/32'], 'still no pool address on the link');
});

test('check() repairs a deleted pool route and a deleted link; a changed pool replaces its route', async () => {
  await ip('route', 'del', 'local', '198.18.0.0/16', 'dev', 'lo', 'table', 'local');
  const r = await dp.check();
  assert.deepEqual(r.problems, []);
  assert.ok(r.repaired.includes('pool route local 198.18.0.0/16 re-added on lo'), JSON.stringify(r.repaired));
  assert.equal((await httpGet(`http://${VIP}:80/`)).status, 200);

  // The link losing its last IPv4 address makes the kernel flush IPv4 routes through it: not ours, they are on lo.
  await ip('link', 'del', LINK);
  const r2 = await dp.check();
  assert.ok(r2.repaired.includes('link minuteman recreated'), JSON.stringify(r2.repaired));
  assert.ok(!r2.repaired.some((x) => x.startsWith('pool route')), JSON.stringify(r2.repaired));
  assert.deepEqual(await ourRoutes(), ['local 198.18.0.0/16 dev lo', 'local fd01:c::/64 dev lo']);
  assert.deepEqual(await addrsOn(LINK), ['2001:db8::9/128', '203.0.113.200/32']);

  // A restart with another IPv4 pool (and IPv6 off): the old routes go.
  const other = new Dataplane({ logger: silentLogger(), iptables: IPT, pools: [{ min: '198.19.0.0', max: '198.19.1.255' }] });
  try {
    const s = await other.start();
    assert.deepEqual(s.poolRoutes.added, ['local 198.19.0.0/23']);
    assert.deepEqual(s.poolRoutes.removed.sort(), ['local 198.18.0.0/16', 'local fd01:c::/64']);
    assert.deepEqual(await ourRoutes(), ['local 198.19.0.0/23 dev lo']);
  } finally {
    other.stop();
  }
  // Nothing else in table local was touched: the kernel's own routes for our addresses are still there.
  assert.match((await exec('ip', ['route', 'show', 'table', 'local', 'dev', LINK])).stdout, /local 203\.0\.113\.200 .*proto kernel/);
});
