// Pool routes, pure parts: covering a pool with CIDRs, membership, and the
// route plan.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coverPool, planPoolRoutes, PrefixSet, type Prefix } from './pool-routes.js';
import { DataplaneError } from './errors.js';
import type { Route } from '../../native/rtnl/index.js';

const show = (ps: Prefix[]) => ps.map((p) => `${p.address}/${p.len}`);

test('the default pools are one prefix each: 11.0.0.0/8 and fd01:c::/64', () => {
  assert.deepEqual(show(coverPool({ min: '11.0.0.0', max: '11.255.255.255' })), ['11.0.0.0/8']);
  assert.deepEqual(show(coverPool({ min: 'fd01:c::', max: 'fd01:c::ffff:ffff:ffff:ffff' })), ['fd01:c::/64']);
  assert.deepEqual(show(coverPool({ min: '0.0.0.0', max: '255.255.255.255' })), ['0.0.0.0/0']);
  assert.deepEqual(show(coverPool({ min: '10.0.0.7', max: '10.0.0.7' })), ['10.0.0.7/32']);
});

test('an unaligned pool is covered exactly by the fewest prefixes', () => {
  // dcos-net's code default ends at .254: every address but the last.
  assert.deepEqual(show(coverPool({ min: '11.0.0.0', max: '11.255.255.254' })), [
    '11.0.0.0/9', '11.128.0.0/10', '11.192.0.0/11', '11.224.0.0/12', '11.240.0.0/13', '11.248.0.0/14', '11.252.0.0/15',
    '11.254.0.0/16', '11.255.0.0/17', '11.255.128.0/18', '11.255.192.0/19', '11.255.224.0/20', '11.255.240.0/21',
    '11.255.248.0/22', '11.255.252.0/23', '11.255.254.0/24', '11.255.255.0/25', '11.255.255.128/26', '11.255.255.192/27',
    '11.255.255.224/28', '11.255.255.240/29', '11.255.255.248/30', '11.255.255.252/31', '11.255.255.254/32',
  ]);
  assert.deepEqual(show(coverPool({ min: '10.0.0.1', max: '10.0.0.6' })), ['10.0.0.1/32', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6/32']);
  assert.deepEqual(show(coverPool({ min: 'fd01:c::1', max: 'fd01:c::2' })), ['fd01:c::1/128', 'fd01:c::2/128']);
});

test('every small range: the cover contains exactly the range, prefixes are aligned and disjoint, and none could merge', () => {
  const n = (a: string) => a.split('.').reduce((v, o) => v * 256 + Number(o), 0);
  const ip = (v: number) => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
  for (let lo = 0; lo < 70; lo++) {
    for (let hi = lo; hi < 70; hi++) {
      const base = n('10.1.2.0');
      const cover = coverPool({ min: ip(base + lo), max: ip(base + hi) });
      const set = new PrefixSet(cover);
      for (let x = -3; x < 75; x++) assert.equal(set.has(ip(base + x)), x >= lo && x <= hi, `${lo}-${hi}: ${x}`);
      for (const p of cover) assert.equal((n(p.address) - base) % 2 ** (32 - p.len), 0, `${p.address}/${p.len} aligned`);
      // Minimal: no two neighbours are the halves of one bigger aligned block.
      for (let i = 1; i < cover.length; i++) {
        const a = cover[i - 1]!;
        const b = cover[i]!;
        const mergeable = a.len === b.len && (n(a.address) - base) % 2 ** (33 - a.len) === 0;
        assert.equal(mergeable, false, `${lo}-${hi}: ${a.address}/${a.len} + ${b.address}/${b.len} should be one prefix`);
      }
    }
  }
});

test('PrefixSet: IPv4 and IPv6 membership at the edges', () => {
  const set = new PrefixSet([...coverPool({ min: '198.18.0.0', max: '198.19.255.255' }), ...coverPool({ min: 'fd01:c::', max: 'fd01:c::ffff:ffff:ffff:ffff' })]);
  assert.deepEqual(show([...set.prefixes]), ['198.18.0.0/15', 'fd01:c::/64']);
  for (const [a, want] of [
    ['198.17.255.255', false], ['198.18.0.0', true], ['198.19.255.255', true], ['198.20.0.0', false], ['11.1.2.3', false],
    ['fd01:c::', true], ['fd01:c::ffff:ffff:ffff:ffff', true], ['fd01:c:0:1::', false], ['fd01:b:ffff:ffff:ffff:ffff:ffff:ffff', false], ['::', false],
  ] as const) {
    assert.equal(set.has(a), want, a);
  }
  assert.equal(new PrefixSet([]).has('198.18.0.1'), false);
});

test('a pool that is not one family, or ends before it starts, is refused', () => {
  assert.throws(() => coverPool({ min: '11.0.0.0', max: 'fd01:c::' }), (e: unknown) => e instanceof DataplaneError && e.code === 'DP_BAD_POOL');
  assert.throws(() => coverPool({ min: '11.0.0.9', max: '11.0.0.1' }), /ends before it starts/);
  assert.throws(() => coverPool({ min: 'eleven', max: '11.0.0.1' }), /not a range of one address family/);
});

test('planPoolRoutes: keeps what is right, replaces routes on another link or of another type, removes the unwanted', () => {
  const route = (dst: string, dstLen: number, oif: number, type = 2): Route => ({ family: dst.includes(':') ? 10 : 2, dst, dstLen, table: 255, protocol: 76, scope: 254, type, oif, prefsrc: '', priority: 0 });
  const want = [...coverPool({ min: '11.0.0.0', max: '11.255.255.255' }), ...coverPool({ min: 'fd01:c::', max: 'fd01:c::ffff:ffff:ffff:ffff' })];
  const inSync = planPoolRoutes(want, [route('11.0.0.0', 8, 3), route('fd01:c::', 64, 3)], 3);
  assert.deepEqual({ add: inSync.add.length, remove: inSync.remove.length, unchanged: show(inSync.unchanged) }, { add: 0, remove: 0, unchanged: ['11.0.0.0/8', 'fd01:c::/64'] });

  const drift = planPoolRoutes(want, [route('11.0.0.0', 8, 9), route('10.0.0.0', 8, 3), route('fd01:c::', 64, 3, 1), route('fd01:c::', 64, 3), route('fd01:c::', 64, 3)], 3);
  assert.deepEqual(show(drift.add), ['11.0.0.0/8']);
  assert.deepEqual(drift.remove.map((r) => `${r.dst}/${r.dstLen} oif ${r.oif} type ${r.type}`), [
    '11.0.0.0/8 oif 9 type 2', // on another device: replaced by one on ours
    '10.0.0.0/8 oif 3 type 2', // a former pool
    'fd01:c::/64 oif 3 type 1', // not a local route
    'fd01:c::/64 oif 3 type 2', // a second copy
  ]);
  assert.deepEqual(show(drift.unchanged), ['fd01:c::/64']);
  assert.deepEqual(planPoolRoutes([], [route('11.0.0.0', 8, 3)], 3).remove.length, 1);
});
