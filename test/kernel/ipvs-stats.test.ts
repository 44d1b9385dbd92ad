// Counters under real traffic: what l4lb reads (64-bit stats, rates,
// active/inactive connections) is what `ipvsadm --exact` prints; zeroing one
// service or all resets what ipvsadm sees. And without CAP_NET_ADMIN the
// error says what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

import { requireKernel, cleanupAfter, addDummy, createBackend, startHttpServer, httpGet, ipvsadm, run, type Backend } from './lib.js';
import { IpvsHandle, NO_STATS, makeDestination, makeService, type ServiceWithDestinations } from '../../native/ipvs/index.js';

requireKernel();
const cleanup = cleanupAfter();
const l4lb = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'l4lb');

const VIP_A = '198.51.100.20';
const VIP_B = '198.51.100.21';

/** `ipvsadm -Ln --stats|--rate --exact` as "ADDR:PORT n1 n2 n3 n4 n5" per service and destination line. */
function parseExact(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const svc = /^(?:TCP|UDP|SCTP)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    const dst = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    const m = svc ?? dst;
    if (m) out.push(`${svc ? 'svc' : 'dst'} ${m.slice(1).join(' ')}`);
  }
  return out.sort();
}

function ours(table: ServiceWithDestinations[], kind: 'stats' | 'rate'): string[] {
  const out: string[] = [];
  const f = (s: ServiceWithDestinations['stats']) =>
    kind === 'stats'
      ? [s.connections, s.packetsIn, s.packetsOut, s.bytesIn, s.bytesOut]
      : [s.cps, s.packetsInPerSec, s.packetsOutPerSec, s.bytesInPerSec, s.bytesOutPerSec];
  for (const s of table) {
    out.push(`svc ${s.address}:${s.port} ${f(s.stats).join(' ')}`);
    for (const d of s.destinations) out.push(`dst ${d.address}:${d.port} ${f(d.stats).join(' ')}`);
  }
  return out.sort();
}

/** Counters are folded in by the kernel's 2 s estimator: wait until they show `n` connections. */
async function waitForConnections(h: IpvsHandle, address: string, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = h.dump().find((x) => x.address === address);
    if (s && s.stats.connections >= n) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the kernel never reported ${n} connections on ${address}`);
}

let backends: Backend[] = [];

test('setup: two VIPs over two real HTTP backends, traffic on both', async () => {
  await addDummy('vip0', [VIP_A, VIP_B], cleanup);
  backends = [await createBackend(0, cleanup), await createBackend(1, cleanup)];
  for (const b of backends) await startHttpServer(b, { body: b.name }, cleanup);
  const h = IpvsHandle.open();
  try {
    for (const vip of [VIP_A, VIP_B]) {
      const service = makeService({ address: vip, port: 80, scheduler: 'rr' });
      h.addService(service);
      for (const b of backends) h.addDestination(service, makeDestination({ address: b.addr, port: 80 }));
    }
  } finally {
    h.close();
  }
  for (let i = 0; i < 20; i++) assert.equal((await httpGet(`http://${VIP_A}/`)).status, 200);
  for (let i = 0; i < 6; i++) assert.equal((await httpGet(`http://${VIP_B}/`)).status, 200);
});

test('64-bit counters equal `ipvsadm -Ln --stats --exact`, per service and destination', async () => {
  const h = IpvsHandle.open();
  try {
    await waitForConnections(h, VIP_A, 20);
    await waitForConnections(h, VIP_B, 6);
    const mine = ours(h.dump(), 'stats');
    const theirs = parseExact((await ipvsadm('-Ln', '--stats', '--exact')).stdout);
    assert.equal(theirs.length, 6);
    assert.deepEqual(mine, theirs);
    const a = h.dump().find((s) => s.address === VIP_A)!;
    assert.equal(a.stats.connections, 20);
    assert.deepEqual(a.destinations.map((d) => d.stats.connections), [10, 10]);
    assert.ok(a.stats.bytesIn > 0 && a.stats.bytesOut > 0 && a.stats.packetsIn >= 20 * 3);
  } finally {
    h.close();
  }
});

test('reads without counters share one frozen zero object; connection counts stay; the next read decodes counters again', async () => {
  const h = IpvsHandle.open();
  try {
    const lean = h.dump({ stats: false });
    const full = h.dump();
    assert.equal(lean.length, full.length);
    for (const [i, s] of lean.entries()) {
      assert.equal(s.stats, NO_STATS);
      assert.ok(Object.isFrozen(s.stats));
      assert.deepEqual(
        s.destinations.map((d) => [d.address, d.weight, d.activeConnections, d.inactiveConnections, d.stats === NO_STATS]),
        full[i]!.destinations.map((d) => [d.address, d.weight, d.activeConnections, d.inactiveConnections, true]),
      );
    }
    assert.equal(h.service(makeService({ address: VIP_A, port: 80 }))!.stats.connections, 20, 'service() after a lean dump decodes counters');
    assert.ok(full.find((s) => s.address === VIP_A)!.stats.connections === 20);
  } finally {
    h.close();
  }
});

test('rates equal `ipvsadm -Ln --rate --exact` (read between two of ours: the estimator moves every 2 s)', async () => {
  const h = IpvsHandle.open();
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = ours(h.dump(), 'rate');
      const theirs = parseExact((await ipvsadm('-Ln', '--rate', '--exact')).stdout);
      const after = ours(h.dump(), 'rate');
      if (JSON.stringify(before) === JSON.stringify(after)) {
        assert.deepEqual(theirs, before);
        return;
      }
    }
    assert.fail('rates kept changing between reads');
  } finally {
    h.close();
  }
});

test('active and inactive connection counts equal ipvsadm -Ln', async () => {
  const h = IpvsHandle.open();
  try {
    const mine = h
      .dump()
      .flatMap((s) => s.destinations.map((d) => `${s.address}:${s.port} ${d.address}:${d.port} ${d.weight} ${d.activeConnections} ${d.inactiveConnections}`))
      .sort();
    const theirs: string[] = [];
    let svc = '';
    for (const line of (await ipvsadm('-Ln')).stdout.split('\n')) {
      const s = /^TCP\s+(\S+)/.exec(line);
      if (s) svc = s[1]!;
      const d = /^\s+->\s+(\S+)\s+Masq\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
      if (d) theirs.push(`${svc} ${d[1]} ${d[2]} ${d[3]} ${d[4]}`);
    }
    assert.equal(theirs.length, 4);
    assert.deepEqual(mine, theirs.sort());
  } finally {
    h.close();
  }
});

test('zero one service: its counters reset for ipvsadm too, the other keeps its own; then zero all', async () => {
  const h = IpvsHandle.open();
  try {
    h.zero(makeService({ address: VIP_A, port: 80 }));
    let text = (await ipvsadm('-Ln', '--stats', '--exact')).stdout;
    const byVip = (t: string, vip: string) => parseExact(t).find((l) => l.startsWith(`svc ${vip}:80 `))!.split(' ')[2];
    assert.equal(byVip(text, VIP_A), '0');
    assert.equal(byVip(text, VIP_B), '6');
    assert.equal(h.dump().find((s) => s.address === VIP_A)!.stats.connections, 0);
    h.zero();
    text = (await ipvsadm('-Ln', '--stats', '--exact')).stdout;
    assert.equal(byVip(text, VIP_B), '0');
    assert.ok(h.dump().every((s) => s.stats.connections === 0 && s.destinations.every((d) => d.stats.connections === 0)));
  } finally {
    h.close();
  }
});

test('without CAP_NET_ADMIN the error says so (EPERM), one line, exit 1', async () => {
  // Drop CAP_NET_ADMIN from the bounding set: the exec'd l4lb does not get it, even as root.
  const r = await run('setpriv', ['--bounding-set=-net_admin', '--', l4lb, 'ipvs', 'list']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /^l4lb: .*EPERM \(operation not permitted\); l4lb needs CAP_NET_ADMIN for this \(run as root, or grant the capability\)\n$/);
});
