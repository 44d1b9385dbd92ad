// rtnetlink links and addresses against a real kernel (fresh netns per file),
// cross-checked with iproute2's own view (`ip -j`).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { ip, requireKernel, run } from './lib.js';
import { RtnlHandle, encodeAddrAdd, IFF_BROADCAST, IFF_NOARP, type AddrSpec } from '../../native/rtnl/index.js';
import { AF_INET, AF_INET6 } from '../../native/netlink/constants.js';
import { NetlinkError } from '../../native/errors.js';

requireKernel();

const h = RtnlHandle.open();
after(() => h.close());

interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  linkinfo?: { info_kind?: string };
}
interface IpAddr {
  family: string;
  local: string;
  prefixlen: number;
  nodad?: boolean;
}

async function ipLink(name: string): Promise<IpLink> {
  const [l] = JSON.parse((await ip('-j', '-d', 'link', 'show', 'dev', name)).stdout) as IpLink[];
  return l!;
}
async function ipAddrs(name: string): Promise<IpAddr[]> {
  const [l] = JSON.parse((await ip('-j', 'addr', 'show', 'dev', name)).stdout) as Array<{ addr_info: IpAddr[] }>;
  return l!.addr_info;
}

test('a dummy link we create is what `ip -j -d link show` shows: index, kind, flags, mtu, address', async () => {
  h.linkAddDummy('minuteman');
  const ours = h.linkGet('minuteman');
  let theirs = await ipLink('minuteman');
  assert.equal(ours.index, theirs.ifindex);
  assert.equal(ours.kind, 'dummy');
  assert.equal(theirs.linkinfo?.info_kind, 'dummy');
  assert.equal(ours.mtu, theirs.mtu);
  assert.equal(ours.address, theirs.address);
  assert.equal(ours.up, false);
  assert.ok(!theirs.flags.includes('UP'));
  assert.equal((ours.flags & IFF_NOARP) !== 0, theirs.flags.includes('NOARP'));
  assert.equal((ours.flags & IFF_BROADCAST) !== 0, theirs.flags.includes('BROADCAST'));

  h.linkSetUp('minuteman');
  theirs = await ipLink('minuteman');
  const up = h.linkGet(ours.index);
  assert.ok(up.up && theirs.flags.includes('UP'));
  assert.equal(up.lowerUp, theirs.flags.includes('LOWER_UP'));
  h.linkSetDown(ours.index);
  assert.ok(!(await ipLink('minuteman')).flags.includes('UP'));
  h.linkSetUp('minuteman');
});

test('linkList agrees with `ip -j link show`; links `ip` created show their kind', async () => {
  await ip('link', 'add', 'iplink0', 'type', 'dummy');
  const ours = h.linkList();
  const theirs = JSON.parse((await ip('-j', 'link', 'show')).stdout) as IpLink[];
  assert.deepEqual(
    ours.map((l) => [l.index, l.name]).sort(),
    theirs.map((l) => [l.ifindex, l.ifname]).sort(),
  );
  assert.equal(ours.find((l) => l.name === 'iplink0')?.kind, 'dummy');
  assert.equal(ours.find((l) => l.name === 'lo')?.kind, '');
  await ip('link', 'del', 'iplink0');
  assert.equal(h.linkFind('iplink0'), undefined);
});

test('duplicate link is EEXIST naming it; deleting or getting a missing link is ENODEV', () => {
  assert.throws(
    () => h.linkAddDummy('minuteman'),
    (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EEXIST' && e.message.startsWith('add link minuteman type dummy: EEXIST'),
  );
  assert.throws(() => h.linkDel('nosuchlink'), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV' && /delete link nosuchlink/.test(e.message));
  assert.throws(() => h.linkGet('nosuchlink'), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV');
  h.linkAddDummy('tmp0');
  h.linkDel('tmp0');
  assert.equal(h.linkFind('tmp0'), undefined);
});

test('addresses we add (v4 /32, v6 /128 nodad) appear in `ip -j addr show`', async () => {
  h.addrAdd({ link: 'minuteman', address: '198.51.100.10' });
  h.addrAdd({ link: 'minuteman', address: '2001:db8::10' });
  h.addrAdd({ link: 'minuteman', address: '198.51.100.64', prefixLen: 26 });
  const theirs = await ipAddrs('minuteman');
  const v4 = theirs.find((a) => a.local === '198.51.100.10');
  assert.deepEqual([v4?.family, v4?.prefixlen], ['inet', 32]);
  const v6 = theirs.find((a) => a.local === '2001:db8::10');
  assert.deepEqual([v6?.family, v6?.prefixlen, v6?.nodad], ['inet6', 128, true]);
  assert.equal(theirs.find((a) => a.local === '198.51.100.64')?.prefixlen, 26);
});

test('addresses `ip addr add` created appear in our list, filtered by link and family', async () => {
  await ip('addr', 'add', '198.51.100.11/32', 'dev', 'minuteman');
  await ip('addr', 'add', '2001:db8::11/128', 'dev', 'minuteman', 'nodad');
  await ip('addr', 'add', '192.0.2.1/32', 'dev', 'lo');
  const v4 = h.addrList({ link: 'minuteman', family: AF_INET }).map((a) => `${a.address}/${a.prefixLen}`);
  assert.deepEqual(v4.sort(), ['198.51.100.10/32', '198.51.100.11/32', '198.51.100.64/26']);
  const v6 = h.addrList({ link: 'minuteman', family: AF_INET6 });
  const ip11 = v6.find((a) => a.address === '2001:db8::11');
  assert.ok(ip11, `2001:db8::11 missing from ${JSON.stringify(v6)}`);
  assert.equal(ip11.prefixLen, 128);
  assert.ok(ip11.flags & 0x02, 'IFA_F_NODAD');
  assert.ok(v6.every((a) => a.family === AF_INET6 && a.index === h.linkGet('minuteman').index));
  const all = h.addrList();
  assert.ok(all.some((a) => a.address === '192.0.2.1' && a.index === 1));
  assert.ok(!h.addrList({ link: 'minuteman' }).some((a) => a.address === '192.0.2.1'));
  // What `ip` lists for the link, we list too.
  const theirs = (await ipAddrs('minuteman')).map((a) => `${a.local}/${a.prefixlen}`).sort();
  const ours = h.addrList({ link: 'minuteman' }).map((a) => `${a.address}/${a.prefixLen}`).sort();
  assert.deepEqual(ours, theirs);
});

test('duplicate address is EEXIST naming the object; deleting a missing one is EADDRNOTAVAIL', async () => {
  assert.throws(
    () => h.addrAdd({ link: 'minuteman', address: '198.51.100.10' }),
    (e: unknown) =>
      e instanceof NetlinkError &&
      e.errnoName === 'EEXIST' &&
      e.op === 'add address' &&
      e.object === '198.51.100.10/32 dev minuteman' &&
      e.message.startsWith('add address 198.51.100.10/32 dev minuteman: EEXIST'),
  );
  assert.throws(
    () => h.addrAdd({ link: 'minuteman', address: '2001:db8::10' }),
    (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EEXIST' && e.message.startsWith('add address 2001:db8::10/128 dev minuteman'),
  );
  for (const address of ['198.51.100.200', '2001:db8::200']) {
    assert.throws(
      () => h.addrDel({ link: 'minuteman', address }),
      (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EADDRNOTAVAIL' && e.message.startsWith(`delete address ${address}/`),
    );
  }
  h.addrDel({ link: 'minuteman', address: '198.51.100.11' });
  h.addrDel({ link: 'minuteman', address: '2001:db8::11' });
  const left = (await ipAddrs('minuteman')).map((a) => a.local);
  assert.ok(!left.includes('198.51.100.11') && !left.includes('2001:db8::11'));
  assert.throws(() => h.addrAdd({ link: 'nosuchlink', address: '198.51.100.1' }), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'ENODEV');
});

test('a batch of 1,000 address adds with 3 bad ones reports exactly those 3 by seq and applies the rest', async (t) => {
  await ip('link', 'add', 'batch0', 'type', 'dummy');
  const index = h.linkGet('batch0').index;
  const specs: AddrSpec[] = [];
  for (let i = 0; i < 1000; i++) specs.push({ index, address: `10.1.${i >> 8}.${i & 255}` });
  // Three bad ones in the middle: two duplicates of an earlier item, one on a link that does not exist.
  specs[400] = { index, address: '10.1.0.5' };
  specs[401] = { index, address: '10.1.0.6' };
  specs[700] = { index: 999_999, address: '10.2.0.1' };
  const b = h.batch<AddrSpec>('add addresses');
  const t0 = performance.now();
  for (const s of specs) b.push(s, (w, seq, x) => encodeAddrAdd(w, seq, x, false));
  const results = b.finish();
  const batchMs = performance.now() - t0;
  assert.equal(results.length, 1000);
  const bad = results.flatMap((r, i) => (r.errno ? [[i, r.errno, r.extAck]] : []));
  assert.deepEqual(
    results.flatMap((r, i) => (r.errno ? [i] : [])),
    [400, 401, 700],
    JSON.stringify(bad),
  );
  assert.deepEqual(
    [results[400]!.errno, results[401]!.errno, results[700]!.errno],
    [17 /* EEXIST */, 17, 19 /* ENODEV */],
  );
  // Seqs are the ones the requests carried: consecutive on this socket.
  for (let i = 1; i < 1000; i++) assert.equal(results[i]!.seq, results[i - 1]!.seq + 1);
  const theirs = new Set((await ipAddrs('batch0')).map((a) => a.local));
  assert.equal(theirs.size, 997);
  for (let i = 0; i < 1000; i++) if (i !== 400 && i !== 401 && i !== 700) assert.ok(theirs.has(specs[i]!.address), specs[i]!.address);

  // The same 997 adds, one request + ACK each, for comparison.
  await ip('link', 'add', 'single0', 'type', 'dummy');
  const single = h.linkGet('single0').index;
  const t1 = performance.now();
  for (let i = 0; i < 1000; i++) if (i !== 400 && i !== 401 && i !== 700) h.addrAdd({ link: single, address: specs[i]!.address });
  const singleMs = performance.now() - t1;
  t.diagnostic(`997 address adds: batch ${batchMs.toFixed(1)} ms, one request+ACK each ${singleMs.toFixed(1)} ms (${(singleMs / batchMs).toFixed(1)}x)`);
  await run('ip', ['link', 'del', 'single0']);
});
