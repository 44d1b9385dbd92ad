// The reconciler against the real kernel's IPVS: cold programming, a restart
// that writes nothing, drift repaired by one resync, a foreign service that
// survives everything byte for byte, and a failing VIP that does not block
// the others. Time is a manual clock (passes run when the test says so); the
// kernel, the netlink path and the ownership file are real.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, ipvsadm } from './lib.js';
import { IpvsHandle, type IpvsOp, type OpResult, type ServiceKey } from '../../native/ipvs/index.js';
import type { Backend, Vip } from '../../controller/model/index.js';
import { FileOwnershipStore, Ownership, Reconciler, type Kernel, type PassResult, type ReconcilerOptions } from '../../controller/reconcile/index.js';
import { FakeTimers, MapTable as Table } from '../../controller/reconcile/testing.js';

requireKernel();

const dir = mkdtempSync(join(tmpdir(), 'l4lb-reconcile-'));
const recordPath = join(dir, 'owned.json');
after(() => rmSync(dir, { recursive: true, force: true }));

/** The real handle, counting what goes through it. */
class CountingKernel implements Kernel {
  writes = 0;
  applyCalls = 0;
  constructor(readonly h: IpvsHandle) {}
  services() {
    return this.h.services();
  }
  service(k: ServiceKey) {
    return this.h.service(k);
  }
  destinations(k: ServiceKey) {
    return this.h.destinations(k);
  }
  apply(ops: readonly IpvsOp[]): OpResult[] {
    this.applyCalls++;
    this.writes += ops.length;
    return this.h.apply(ops);
  }
}

function be(ip: string): Backend {
  return { ip, port: 8080, weight: 1, taskId: `t-${ip}`, framework: 'marathon', source: 'mesos', state: 'running', health: 'healthy' };
}

/** VIP i: 11.0.(i>>8).(i&255):80 with `backends` destinations 198.18.(i%200).(1..n). */
function vipN(i: number, backends = 3): Vip {
  const address = `11.0.${i >> 8}.${i & 255}`;
  return {
    key: `tcp/${address}:80`, protocol: 'tcp', address, family: 4, port: 80, kind: 'ip', names: [], labels: [], sources: ['mesos'],
    backends: Array.from({ length: backends }, (_, j) => be(`198.18.${i % 200}.${j + 1}`)),
  };
}


interface Run {
  r: Reconciler;
  kernel: CountingKernel;
  passes: PassResult[];
  /** Run the passes due now (and any that become due at once). */
  pass(advanceMs?: number): Promise<PassResult>;
  close(): Promise<void>;
}

function reconciler(table: Table, opts: Partial<ReconcilerOptions> = {}): Run {
  const timers = new FakeTimers();
  const kernel = new CountingKernel(IpvsHandle.open());
  const passes: PassResult[] = [];
  const r = new Reconciler({
    kernel, desired: table, ownership: Ownership.load(new FileOwnershipStore({ path: recordPath })), timers,
    onPass: (p) => passes.push(p), ...opts,
  });
  r.start();
  return {
    r, kernel, passes,
    async pass(advanceMs = 0) {
      const n = passes.length;
      timers.advance(advanceMs);
      await r.whenIdle();
      // A sweep goes on chunk by chunk (0 ms timers) until it reports.
      while (timers.nextIn() === 0) {
        timers.advance(0);
        await r.whenIdle();
      }
      assert.ok(passes.length > n, 'a pass ran');
      return passes.at(-1)!;
    },
    async close() {
      await r.stop();
      kernel.h.close();
    },
  };
}

const save = async (): Promise<string[]> => (await ipvsadm('-S', '-n')).stdout.split('\n').filter(Boolean);
const FOREIGN = ['-A -t 11.0.200.1:80 -s rr', '-a -t 11.0.200.1:80 -r 198.18.250.9:80 -m -w 5', '-A -t 198.51.100.77:443 -s sh'].sort();
const foreignLines = async () => (await save()).filter((l) => l.includes('11.0.200.1:80') || l.includes('198.51.100.77')).sort();
const N = 300;

test('setup: foreign services added with ipvsadm (one inside the VIP pool)', async () => {
  await ipvsadm('-A', '-t', '11.0.200.1:80', '-s', 'rr');
  await ipvsadm('-a', '-t', '11.0.200.1:80', '-r', '198.18.250.9:80', '-m', '-w', '5');
  await ipvsadm('-A', '-t', '198.51.100.77:443', '-s', 'sh');
  assert.deepEqual(await foreignLines(), FOREIGN);
});

test(`a desired table of ${N} VIPs x 3 backends is programmed from empty in one batch`, async (t) => {
  const run = reconciler(new Table(Array.from({ length: N }, (_, i) => vipN(i))));
  try {
    const p = await run.pass();
    t.diagnostic(`cold pass: ${p.opsTotal} ops in ${p.durationMs} ms (guest time)`);
    assert.deepEqual(p.errors, []);
    assert.equal(p.trigger, 'startup');
    assert.equal(p.opsTotal, N * 4);
    assert.equal(run.kernel.applyCalls, 1);
    assert.equal(p.foreign, 2);
    const lines = await save();
    assert.equal(lines.filter((l) => l.startsWith('-A ')).length, N + 2);
    assert.equal(lines.filter((l) => l.startsWith('-a ')).length, N * 3 + 1);
    assert.ok(lines.includes('-A -t 11.0.1.43:80 -s wlc'));
    assert.ok(lines.includes('-a -t 11.0.1.43:80 -r 198.18.99.3:8080 -m -w 1'));
    const rec = JSON.parse(readFileSync(recordPath, 'utf8')) as { services: string[] };
    assert.equal(rec.services.length, N);
    assert.ok(!rec.services.includes('tcp/11.0.200.1:80'));
    assert.deepEqual(await foreignLines(), FOREIGN);
  } finally {
    await run.close();
  }
});

test('a second reconciler over the same kernel + record makes ZERO writes (startup and resync)', async (t) => {
  const before = await save();
  const run = reconciler(new Table(Array.from({ length: N }, (_, i) => vipN(i))));
  try {
    const p = await run.pass();
    const q = await run.pass(30_000);
    t.diagnostic(`no-op startup pass: ${p.durationMs} ms, no-op resync: ${q.durationMs} ms for ${N} VIPs (guest time)`);
    assert.equal(p.opsTotal, 0);
    assert.equal(q.opsTotal, 0);
    assert.equal(q.trigger, 'resync');
    assert.equal(run.kernel.writes, 0);
    assert.equal(run.kernel.applyCalls, 0);
    assert.deepEqual(await save(), before);
  } finally {
    await run.close();
  }
});

test('drift: ipvsadm -D of an owned service, -d of a destination, -e of a weight are repaired by ONE resync', async () => {
  const before = await save();
  const run = reconciler(new Table(Array.from({ length: N }, (_, i) => vipN(i))));
  try {
    await run.pass();
    await ipvsadm('-D', '-t', '11.0.0.5:80');
    await ipvsadm('-d', '-t', '11.0.0.6:80', '-r', '198.18.6.2:8080');
    await ipvsadm('-e', '-t', '11.0.0.7:80', '-r', '198.18.7.1:8080', '-m', '-w', '0');
    const p = await run.pass(30_000);
    assert.equal(p.trigger, 'resync');
    assert.deepEqual(p.errors, []);
    assert.deepEqual(p.ops, { 'add-service': 1, 'edit-service': 0, 'delete-service': 0, 'add-destination': 4, 'edit-destination': 1, 'delete-destination': 0 });
    assert.deepEqual(await save(), before);
  } finally {
    await run.close();
  }
});

test('one failing VIP (unknown per-VIP scheduler) is reported on that VIP; the others are programmed', async () => {
  const table = new Table(Array.from({ length: N }, (_, i) => vipN(i)));
  for (let i = N; i < N + 20; i++) table.map.set(vipN(i).key, i === N + 7 ? { ...vipN(i), scheduler: 'nosuch' } : vipN(i));
  const run = reconciler(table);
  try {
    const p = await run.pass();
    const bad = `tcp/11.0.1.${N + 7 - 256}:80`;
    assert.deepEqual(p.failedVips, [bad]);
    assert.equal(p.errors.length, 4); // the service add (ENOENT) and its 3 destinations (ESRCH)
    assert.match(p.errors[0]!.message, /scheduler "nosuch" is not available in this kernel/);
    assert.ok(p.errors.every((e) => e.vip === bad));
    const lines = await save();
    assert.equal(lines.filter((l) => l.startsWith('-A ')).length, N + 20 - 1 + 2);
    assert.ok(!lines.some((l) => l.includes(`11.0.1.${N + 7 - 256}:80`)));
    // Its retry (1 s later) fails alone again; nothing else is touched.
    const q = await run.pass(1000);
    assert.equal(q.trigger, 'retry');
    assert.equal(q.keys, 1);
    assert.deepEqual(q.failedVips, [bad]);
  } finally {
    await run.close();
  }
});

test('VIPs removed from the table are deleted (owned); the foreign services survive untouched', async () => {
  const run = reconciler(new Table(Array.from({ length: 10 }, (_, i) => vipN(i))));
  try {
    const p = await run.pass();
    assert.deepEqual(p.errors, []);
    assert.equal(p.ops['delete-service'], N + 20 - 10 - 1);
    const lines = await save();
    assert.equal(lines.filter((l) => l.startsWith('-A ')).length, 10 + 2);
    assert.deepEqual(await foreignLines(), FOREIGN);
    const rec = JSON.parse(readFileSync(recordPath, 'utf8')) as { services: string[] };
    assert.equal(rec.services.length, 10);
  } finally {
    await run.close();
  }
});

test('1,000 VIPs x 10 backends: cold pass, then a no-op resync (timings reported, not asserted)', async (t) => {
  const table = new Table(Array.from({ length: 1000 }, (_, i) => vipN(i, 10)));
  const run = reconciler(table);
  try {
    const p = await run.pass();
    assert.deepEqual(p.errors, []);
    const q = await run.pass(30_000);
    assert.equal(q.opsTotal, 0);
    const one = vipN(3, 10);
    one.backends[4] = { ...one.backends[4]!, weight: 0 };
    table.map.set(one.key, one);
    run.r.mark(one.key);
    const c = await run.pass(100);
    assert.equal(c.opsTotal, 1);
    t.diagnostic(`1000x10: cold ${p.opsTotal} ops ${p.durationMs} ms; no-op resync ${q.durationMs} ms; one change ${c.durationMs} ms (guest time)`);
    assert.deepEqual(await foreignLines(), FOREIGN);
  } finally {
    await run.close();
  }
});
