import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalVips, isKernelLinkLocal, planAddressSync, type OnLinkAddr } from './vip-addresses.js';
import { DataplaneError } from './errors.js';

const v4 = (address: string, prefixLen = 32, flags = 0): OnLinkAddr => ({ family: 2, address, prefixLen, flags, scope: 0 });
const v6 = (address: string, prefixLen = 128, flags = 0x02, scope = 0): OnLinkAddr => ({ family: 10, address, prefixLen, flags, scope });

test('canonicalVips: canonical text, deduplicated, bad entries named before any I/O', () => {
  assert.deepEqual(canonicalVips(['198.51.100.1', '2001:DB8:0:0::1', '2001:db8::1', '198.51.100.1']), ['198.51.100.1', '2001:db8::1']);
  assert.throws(
    () => canonicalVips(['198.51.100.1', '198.51.100.300', '10.0.0.0/8', 'x']),
    (e: unknown) =>
      e instanceof DataplaneError && e.code === 'DP_BAD_ADDRESS' && e.message === 'not an IPv4/IPv6 address: "198.51.100.300", "10.0.0.0/8", "x"',
  );
});

test('planAddressSync: empty link gets everything; in-sync link gets nothing', () => {
  assert.deepEqual(planAddressSync(['198.51.100.1', '2001:db8::1'], []), { add: ['198.51.100.1', '2001:db8::1'], remove: [], unchanged: [] });
  assert.deepEqual(planAddressSync(['198.51.100.1', '2001:db8::1'], [v4('198.51.100.1'), v6('2001:db8::1')]), {
    add: [],
    remove: [],
    unchanged: ['198.51.100.1', '2001:db8::1'],
  });
});

test('planAddressSync: diff adds missing, removes stale, keeps the rest', () => {
  const p = planAddressSync(['198.51.100.2', '198.51.100.3', '2001:db8::2'], [v4('198.51.100.1'), v4('198.51.100.2'), v6('2001:db8::1')]);
  assert.deepEqual(p.add, ['198.51.100.3', '2001:db8::2']);
  assert.deepEqual(p.remove.map((a) => a.address), ['198.51.100.1', '2001:db8::1']);
  assert.deepEqual(p.unchanged, ['198.51.100.2']);
  // Desired empty: everything l4lb owns goes.
  assert.deepEqual(planAddressSync([], [v4('198.51.100.1'), v6('2001:db8::1')]).remove.length, 2);
});

test('planAddressSync: a VIP under another prefix or with failed DAD is replaced; the kernel link-local is never touched', () => {
  const ll = v6('fe80::1c2b:3dff:fe4e:5f60', 64, 0x80, 253);
  assert.ok(isKernelLinkLocal(ll));
  const p = planAddressSync(['198.51.100.1', '2001:db8::1'], [v4('198.51.100.1', 24), v6('2001:db8::1', 128, 0x08), ll]);
  assert.deepEqual(p.add, ['198.51.100.1', '2001:db8::1']);
  assert.deepEqual(p.remove.map((a) => `${a.address}/${a.prefixLen}`), ['198.51.100.1/24', '2001:db8::1/128']);
  assert.deepEqual(planAddressSync([], [ll]), { add: [], remove: [], unchanged: [] });
});

test('planAddressSync: an address listed twice (a dump racing a change) is kept, never deleted', () => {
  const p = planAddressSync(['198.51.100.1'], [v4('198.51.100.1'), v4('198.51.100.1')]);
  assert.deepEqual([p.add, p.unchanged, p.remove.length], [[], ['198.51.100.1'], 0]);
});

test('planAddressSync at 10,000 VIPs is linear enough to run every resync', () => {
  const desired: string[] = [];
  const existing: OnLinkAddr[] = [];
  for (let i = 0; i < 10_000; i++) {
    const a = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    desired.push(a);
    if (i % 10 !== 0) existing.push(v4(a));
  }
  const t0 = performance.now();
  const p = planAddressSync(desired, existing);
  const ms = performance.now() - t0;
  assert.equal(p.add.length, 1000);
  assert.equal(p.unchanged.length, 9000);
  assert.ok(ms < 200, `${ms} ms`);
});
