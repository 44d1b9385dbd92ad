// The node dataplane (controller/dataplane) against a real kernel: the VIP
// link and its addresses as iproute2 sees them, sysctls read back from
// /proc/sys, and the hairpin rule proven with real traffic: a backend that
// reaches its own VIP and is scheduled to itself fails without the rule and
// works with it. Fresh netns per file (the harness), so every write stays here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  cleanupAfter, createBackend, getFrom, ip, iptables, ipvsadm, requireKernel, run, startHttpServer, sysctl, type Backend,
} from './lib.js';
import { Dataplane, DataplaneError, AddressError, HAIRPIN_COMMENT, VipAddresses } from '../../controller/dataplane/index.js';
import { RtnlHandle } from '../../native/rtnl/index.js';
import { silentLogger } from '../../controller/log.js';

const kernel = requireKernel();
const cleanup = cleanupAfter();
const IPT = process.env.L4LB_IPTABLES ?? 'iptables';
const LINK = 'minuteman';

interface IpAddr {
  family: string;
  local: string;
  prefixlen: number;
  nodad?: boolean;
  scope: string;
}
interface IpLink {
  ifname: string;
  flags: string[];
  linkinfo?: { info_kind?: string };
  addr_info?: IpAddr[];
}

async function linkInfo(name: string): Promise<IpLink | undefined> {
  const r = await run('ip', ['-j', '-d', 'link', 'show', 'dev', name]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as IpLink[])[0];
}

/** Global-scope addresses on a link as `ip -j addr show dev` lists them: `addr/len[ nodad]`, sorted. */
async function addrsOn(name: string): Promise<string[]> {
  const [l] = JSON.parse((await ip('-j', 'addr', 'show', 'dev', name)).stdout) as IpLink[];
  return (l?.addr_info ?? [])
    .filter((a) => a.scope !== 'link')
    .map((a) => `${a.local}/${a.prefixlen}${a.nodad ? ' nodad' : ''}`)
    .sort();
}

/** Our rules in nat POSTROUTING, as `iptables -S` prints them. */
async function ownedRules(bin = IPT): Promise<string[]> {
  const { stdout } = await run(bin, ['-w', '5', '-t', 'nat', '-S', 'POSTROUTING']);
  return stdout.split('\n').filter((l) => l.includes(`"${HAIRPIN_COMMENT}"`));
}

const dp = new Dataplane({ logger: silentLogger(), iptables: IPT, ipv6: true });
after(() => dp.stop());

test(`start() sets and verifies the sysctls, adds the hairpin rule, creates the link up (${kernel.mode}: ${kernel.kernel})`, async () => {
  // UML is 6.1: conn_reuse_mode 1 (>= 5.9); a host kernel before 5.9 wants 0.
  const release = (await sysctl('kernel.osrelease'));
  const [maj, min] = release.split('.').map(Number) as [number, number];
  const wanted: Record<string, string> = {
    'net.ipv4.vs.conntrack': '1',
    'net.ipv4.vs.expire_nodest_conn': '1',
    'net.ipv4.vs.expire_quiescent_template': '1',
    'net.ipv4.ip_forward': '1',
    // ipv6: true (IPv6 VIPs): the replies to IPv6 clients in other namespaces are forwarded too,
    // and interfaces that accept router advertisements (1: set below) keep doing so (2).
    'net.ipv6.conf.default.accept_ra': '2',
    'net.ipv6.conf.lo.accept_ra': '2',
    'net.ipv6.conf.all.forwarding': '1',
    'net.ipv4.vs.conn_reuse_mode': maj > 5 || (maj === 5 && min >= 9) ? '1' : '0',
  };
  // Make every write observable: start from the opposite values.
  await ipvsadm('-Ln'); // net.ipv4.vs.* exist once ip_vs is in use
  for (const [k, v] of Object.entries(wanted)) await sysctl(k, v === '1' ? '0' : '1');
  assert.equal(await linkInfo(LINK), undefined);

  const report = await dp.start();
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  assert.equal(report.kernelRelease, release);
  assert.deepEqual(Object.fromEntries(report.sysctls.map((s) => [s.key, s.after])), wanted);
  assert.ok(report.sysctls.every((s) => s.changed && s.ok && s.before !== s.after));
  for (const [k, v] of Object.entries(wanted)) assert.equal(await sysctl(k), v, `${k} read back from /proc/sys`);

  const link = await linkInfo(LINK);
  assert.equal(link?.linkinfo?.info_kind, 'dummy');
  assert.ok(link?.flags.includes('UP'), `flags ${link?.flags.join(',')}`);
  assert.deepEqual([report.link.created, report.link.broughtUp], [true, true]);

  assert.deepEqual(report.hairpin.map((h) => [h.family, h.wasPresent, h.actions.length]), [['ipv4', false, 1], ['ipv6', false, 1]]);
  assert.deepEqual(await ownedRules(), [
    `-A POSTROUTING -m ipvs --vdir ORIGINAL --vmethod MASQ -m comment --comment "${HAIRPIN_COMMENT}" -j MASQUERADE`,
  ]);
  assert.equal((await ownedRules(IPT.replace(/^iptables/, 'ip6tables'))).length, 1);
});

test('syncAddresses: /32 and /128 nodad as `ip -j addr show` lists them; a diff sync adds and removes only the difference', async () => {
  const first = dp.syncAddresses(['198.51.100.1', '198.51.100.2', '2001:db8::1']);
  assert.deepEqual(first, { added: ['198.51.100.1', '198.51.100.2', '2001:db8::1'], removed: [], unchanged: [] });
  assert.deepEqual(await addrsOn(LINK), ['198.51.100.1/32', '198.51.100.2/32', '2001:db8::1/128 nodad']);

  // Same set again: nothing to write.
  assert.deepEqual(dp.syncAddresses(['2001:DB8::1', '198.51.100.2', '198.51.100.1']), {
    added: [],
    removed: [],
    unchanged: ['2001:db8::1', '198.51.100.2', '198.51.100.1'],
  });

  const diff = dp.syncAddresses(['198.51.100.2', '198.51.100.3', '2001:db8::2']);
  assert.deepEqual(diff.added.sort(), ['198.51.100.3', '2001:db8::2']);
  assert.deepEqual(diff.removed.sort(), ['198.51.100.1', '2001:db8::1']);
  assert.deepEqual(diff.unchanged, ['198.51.100.2']);
  assert.deepEqual(await addrsOn(LINK), ['198.51.100.2/32', '198.51.100.3/32', '2001:db8::2/128 nodad']);
  // The kernel's own IPv6 link-local on the link is left alone.
  const [l] = JSON.parse((await ip('-j', 'addr', 'show', 'dev', LINK)).stdout) as IpLink[];
  const linkLocal = (l!.addr_info ?? []).filter((a) => a.scope === 'link');
  assert.ok(linkLocal.every((a) => a.local.startsWith('fe80:')));
});

test('addresses on other links are never touched; anything else on our link is ours and goes', async () => {
  await ip('link', 'add', 'other0', 'type', 'dummy');
  cleanup.add(() => run('ip', ['link', 'del', 'other0']));
  await ip('addr', 'add', '198.51.100.9/32', 'dev', 'other0');
  await ip('addr', 'add', '198.51.100.2/32', 'dev', 'other0'); // same address as a VIP, on another link
  await ip('addr', 'add', '192.0.2.77/32', 'dev', 'lo');
  cleanup.add(() => run('ip', ['addr', 'del', '192.0.2.77/32', 'dev', 'lo']));
  await ip('addr', 'add', '198.51.100.200/24', 'dev', LINK); // someone else's entry on OUR link
  const c = dp.syncAddresses(['198.51.100.3']);
  assert.deepEqual(c.removed.sort(), ['198.51.100.2', '198.51.100.200/24', '2001:db8::2']);
  assert.deepEqual(await addrsOn(LINK), ['198.51.100.3/32']);
  assert.deepEqual(await addrsOn('other0'), ['198.51.100.2/32', '198.51.100.9/32']);
  assert.ok((await addrsOn('lo')).includes('192.0.2.77/32'));
});

test('addAddresses/removeAddresses: the per-VIP path; repeats are unchanged, not errors', async () => {
  assert.deepEqual(dp.addAddresses(['198.51.100.4', '2001:db8::4']), { added: ['198.51.100.4', '2001:db8::4'], removed: [], unchanged: [] });
  assert.deepEqual(dp.addAddresses(['198.51.100.4']), { added: [], removed: [], unchanged: ['198.51.100.4'] });
  assert.deepEqual(await addrsOn(LINK), ['198.51.100.3/32', '198.51.100.4/32', '2001:db8::4/128 nodad']);
  assert.deepEqual(dp.removeAddresses(['198.51.100.4', '198.51.100.5']), { added: [], removed: ['198.51.100.4'], unchanged: ['198.51.100.5'] });
  assert.deepEqual(await addrsOn(LINK), ['198.51.100.3/32', '2001:db8::4/128 nodad']);
  // A bad address is refused before any write, naming it.
  assert.throws(() => dp.addAddresses(['198.51.100.6', 'not-an-ip']), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_BAD_ADDRESS' && /"not-an-ip"/.test(e.message));
  assert.deepEqual(await addrsOn(LINK), ['198.51.100.3/32', '2001:db8::4/128 nodad']);
  // The link deleted behind our back: the per-VIP add recreates it and retries.
  await ip('link', 'del', LINK);
  assert.deepEqual(dp.addAddresses(['198.51.100.7']).added, ['198.51.100.7']);
  assert.deepEqual(await addrsOn(LINK), ['198.51.100.7/32']);
  dp.syncAddresses(['198.51.100.3', '198.51.100.7', '2001:db8::4']);
});

test('check() repairs drift: a deleted address, a downed link, a deleted link, a reset sysctl', async (t) => {
  const want = ['198.51.100.3/32', '198.51.100.7/32', '2001:db8::4/128 nodad'];
  assert.deepEqual(await addrsOn(LINK), want);
  let r = await dp.check();
  assert.deepEqual([r.ok, r.repaired], [true, []], 'in sync: nothing repaired');
  t.diagnostic(`in-sync check(): ${r.ms} ms (6 sysctls, iptables -S and -C for v4 and v6, link, address dump)`);

  await ip('addr', 'del', '198.51.100.7/32', 'dev', LINK);
  await ip('addr', 'del', '2001:db8::4/128', 'dev', LINK);
  r = await dp.check();
  assert.deepEqual(r.repaired.sort(), [`address 198.51.100.7 re-added on ${LINK}`, `address 2001:db8::4 re-added on ${LINK}`]);
  assert.deepEqual(await addrsOn(LINK), want);

  // A downed link loses its IPv6 addresses (the kernel flushes them unless
  // keep_addr_on_down): check() sets it up and puts them back.
  await ip('link', 'set', LINK, 'down');
  r = await dp.check();
  assert.deepEqual(r.repaired, [`link ${LINK} set up`, `address 2001:db8::4 re-added on ${LINK}`]);
  assert.deepEqual(await addrsOn(LINK), want);
  assert.ok((await linkInfo(LINK))?.flags.includes('UP'));

  await ip('link', 'del', LINK);
  r = await dp.check();
  assert.equal(r.repaired[0], `link ${LINK} recreated`);
  assert.equal(r.repaired.length, 4);
  assert.deepEqual(await addrsOn(LINK), want);
  assert.ok((await linkInfo(LINK))?.flags.includes('UP'));

  await sysctl('net.ipv4.vs.conntrack', '0');
  await sysctl('net.ipv4.ip_forward', '0');
  r = await dp.check();
  assert.deepEqual(r.repaired, ['sysctl net.ipv4.vs.conntrack 0 -> 1', 'sysctl net.ipv4.ip_forward 0 -> 1']);
  assert.equal(await sysctl('net.ipv4.vs.conntrack'), '1');
  assert.equal(await sysctl('net.ipv4.ip_forward'), '1');
});

test('a link of that name that is not a dummy is refused, naming it', async () => {
  await ip('link', 'add', 'vipveth0', 'type', 'veth', 'peer', 'name', 'vipveth1');
  cleanup.add(() => run('ip', ['link', 'del', 'vipveth0']));
  const other = new Dataplane({ logger: silentLogger(), link: 'vipveth0', hairpin: false });
  try {
    await assert.rejects(other.start(), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_LINK' && /^link vipveth0 exists and is a veth link, not a dummy/.test(e.message));
  } finally {
    other.stop();
  }
});

// ---- hairpin with real traffic ----

const VIP = '198.51.100.30';
let backends: Backend[] = [];

function count(results: readonly string[]): Record<string, number> {
  const c: Record<string, number> = {};
  for (const r of results) c[r] = (c[r] ?? 0) + 1;
  return c;
}

test('hairpin WITHOUT the rule: a backend scheduled to itself through its VIP fails (the test can fail)', async (t) => {
  backends = [await createBackend(0, cleanup), await createBackend(1, cleanup)];
  for (const b of backends) await startHttpServer(b, { body: b.name }, cleanup);
  await ipvsadm('-A', '-t', `${VIP}:80`, '-s', 'rr');
  cleanup.add(() => run('ipvsadm', ['-D', '-t', `${VIP}:80`]));
  for (const b of backends) await ipvsadm('-a', '-t', `${VIP}:80`, '-r', `${b.addr}:80`, '-m');
  // Order as the reconciler does it: IPVS first, then the address.
  dp.addAddresses([VIP]);
  // Someone flushed the nat table: our rule is gone.
  await iptables('-w', '5', '-t', 'nat', '-F', 'POSTROUTING');
  assert.deepEqual(await ownedRules(), []);

  const results = await getFrom(backends[0]!, VIP, 6, 3000);
  const c = count(results);
  t.diagnostic(`without the rule, from be0 through ${VIP}: ${JSON.stringify(c)}`);
  // rr alternates: about half the connections go back to be0 itself, and
  // those never complete (the packet arrives from be0's own address: martian).
  assert.equal(c.be0, undefined, `be0 must not be reachable from itself without SNAT: ${JSON.stringify(results)}`);
  assert.ok((c.be1 ?? 0) >= 2, `the other backend still works: ${JSON.stringify(results)}`);
  assert.ok((c.TIMEOUT ?? 0) + Object.keys(c).filter((k) => k.startsWith('ERR')).length >= 2, `self-scheduled connections fail: ${JSON.stringify(results)}`);
});

test('check() re-adds the rule after `iptables -t nat -F`; then the backend reaches itself through its VIP', async (t) => {
  const r = await dp.check();
  assert.ok(r.repaired.some((x) => x.startsWith('hairpin ipv4:') && x.includes(' -I POSTROUTING 1 ')), JSON.stringify(r.repaired));
  assert.equal((await ownedRules()).length, 1);

  const results = await getFrom(backends[0]!, VIP, 10, 5000);
  const c = count(results);
  t.diagnostic(`landings from be0 through ${VIP}: ${JSON.stringify(c)}`);
  assert.deepEqual(Object.keys(c).sort(), ['be0', 'be1'], JSON.stringify(results));
  assert.ok(c.be0! >= 1 && c.be1! >= 1, 'scheduled to itself at least once, and to the other backend');
  assert.equal(c.be0! + c.be1!, 10);
  // The other backend and a root-namespace client work too.
  const fromBe1 = count(await getFrom(backends[1]!, VIP, 4, 5000));
  assert.deepEqual(Object.keys(fromBe1).sort(), ['be0', 'be1']);
});

test('the rule is never duplicated: repeated start()/check(), and a copy someone added is removed', async () => {
  for (let i = 0; i < 3; i++) {
    await dp.start();
    await dp.check();
  }
  assert.equal((await ownedRules()).length, 1);
  assert.equal((await ownedRules(IPT.replace(/^iptables/, 'ip6tables'))).length, 1);
  await iptables('-w', '5', '-t', 'nat', '-A', 'POSTROUTING', '-m', 'ipvs', '--vdir', 'ORIGINAL', '--vmethod', 'MASQ', '-m', 'comment', '--comment', HAIRPIN_COMMENT, '-j', 'MASQUERADE');
  assert.equal((await ownedRules()).length, 2);
  const r = await dp.check();
  assert.equal(r.repaired.filter((x) => x.includes(' -D POSTROUTING ')).length, 1);
  assert.equal((await ownedRules()).length, 1);
});

test('restart adoption: a new Dataplane over the right state writes nothing; stop() leaves everything in place', async () => {
  const before = await addrsOn(LINK);
  dp.stop();
  const again = new Dataplane({ logger: silentLogger(), iptables: IPT, ipv6: true });
  try {
    const report = await again.start();
    assert.ok(report.ok, report.problems.join('\n'));
    assert.deepEqual(report.sysctls.filter((s) => s.changed), []);
    assert.deepEqual(report.hairpin.flatMap((h) => h.actions), []);
    assert.deepEqual([report.link.created, report.link.broughtUp], [false, false]);
    // Before the first syncAddresses, check() does not touch addresses (a restart keeps forwarding).
    assert.deepEqual((await again.check()).repaired, []);
    assert.deepEqual(await addrsOn(LINK), before);
    const c = again.syncAddresses(['198.51.100.3', '198.51.100.7', '2001:db8::4', VIP]);
    assert.deepEqual([c.added, c.removed], [[], []]);
    // Traffic still flows through the VIP after the old object stopped.
    assert.ok(count(await getFrom(backends[1]!, VIP, 2, 5000)).TIMEOUT === undefined);
  } finally {
    again.stop();
  }
  assert.ok((await linkInfo(LINK))?.flags.includes('UP'));
  assert.equal((await ownedRules()).length, 1);
});

test('AddressError names the address and the link when the kernel refuses', async () => {
  // An IPv6 address on a link with IPv6 disabled is refused by the kernel.
  await sysctl(`net.ipv6.conf.${LINK}.disable_ipv6`, '1');
  cleanup.add(() => sysctl(`net.ipv6.conf.${LINK}.disable_ipv6`, '0'));
  const d = new Dataplane({ logger: silentLogger(), hairpin: false });
  try {
    assert.throws(
      () => d.addAddresses(['198.51.100.8', '2001:db8::8']),
      (e: unknown) =>
        e instanceof AddressError &&
        e.code === 'DP_ADDRESS' &&
        e.failures.length === 1 &&
        e.failures[0]!.address === '2001:db8::8' &&
        e.failures[0]!.message.startsWith(`add address 2001:db8::8/128 dev ${LINK}: `) &&
        e.applied.added.includes('198.51.100.8'),
    );
  } finally {
    d.stop();
  }
});

test('scale: 2,000 VIPs (v4 + v6) in one batched sync; a no-op sync writes nothing; a 20-address diff', async (t) => {
  const rtnl = RtnlHandle.open();
  const va = new VipAddresses({ rtnl, link: 'scale0' });
  cleanup.add(() => run('ip', ['link', 'del', 'scale0']));
  try {
    const want: string[] = [];
    for (let i = 0; i < 1000; i++) want.push(`10.20.${i >> 8}.${i & 255}`, `fd01:c::${i.toString(16)}`);
    let t0 = performance.now();
    const cold = va.sync(want);
    const coldMs = performance.now() - t0;
    assert.equal(cold.added.length, 2000);
    const listed = await addrsOn('scale0');
    assert.equal(listed.length, 2000);
    assert.ok(listed.filter((a) => a.includes(':')).every((a) => a.endsWith('/128 nodad')));
    t0 = performance.now();
    const noop = va.sync(want);
    const noopMs = performance.now() - t0;
    assert.deepEqual([noop.added.length, noop.removed.length, noop.unchanged.length], [0, 0, 2000]);
    const next = want.slice(10).concat(Array.from({ length: 10 }, (_, i) => `10.21.0.${i}`));
    t0 = performance.now();
    const diff = va.sync(next);
    const diffMs = performance.now() - t0;
    assert.deepEqual([diff.added.length, diff.removed.length], [10, 10]);
    t.diagnostic(`2,000 VIP addresses: cold sync ${coldMs.toFixed(1)} ms, no-op sync ${noopMs.toFixed(1)} ms, 20-address diff ${diffMs.toFixed(1)} ms (${kernel.mode})`);
  } finally {
    rtnl.close();
  }
});
