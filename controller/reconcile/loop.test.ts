import { test } from 'node:test';
import assert from 'node:assert/strict';

import { makeDestination, makeService, type IpvsOp } from '../../native/ipvs/index.js';
import { VipTable, type Backend, type Vip } from '../model/index.js';
import { port, task } from '../model/test-helpers.js';
import { nextChunkKeys, Reconciler, type PassResult, type ReconcileHooks, type ReconcilerOptions } from './loop.js';
import { MemoryOwnershipStore, Ownership } from './ownership.js';
import { FakeKernel, FakeTimers, MapTable as Table } from './testing.js';

// ---- fixtures -------------------------------------------------------------

function be(ip: string, weight: 0 | 1 = 1): Backend {
  return { ip, port: 8080, weight, taskId: `t-${ip}`, framework: 'marathon', source: 'mesos', state: 'running', health: 'healthy' };
}

function vip(address: string, backends: Backend[], protocol: 'tcp' | 'udp' = 'tcp', portNo = 80): Vip {
  return { key: `${protocol}/${address}:${portNo}`, protocol, address, family: 4, port: portNo, kind: 'ip', names: [], labels: [], sources: ['mesos'], backends };
}


const svcOf = (address: string, protocol: 'tcp' | 'udp' = 'tcp', p = 80) => makeService({ address, port: p, protocol });
const destOf = (ip: string, p = 8080) => makeDestination({ address: ip, port: p });

function nVips(n: number, backends = 2): Vip[] {
  return Array.from({ length: n }, (_, i) =>
    vip(`11.0.${i >> 8}.${i & 255}`, Array.from({ length: backends }, (_, j) => be(`10.1.${j >> 8}.${(j & 255) + 1}`))),
  );
}

interface Setup {
  r: Reconciler;
  kernel: FakeKernel;
  table: Table;
  store: MemoryOwnershipStore;
  timers: FakeTimers;
  passes: PassResult[];
  /** Advance the clock by ms, then run every pass that becomes due at once. */
  tick(ms?: number): Promise<PassResult[]>;
}

function setup(o: { vips?: Vip[]; kernel?: FakeKernel; store?: MemoryOwnershipStore; timers?: FakeTimers; hooks?: ReconcileHooks; opts?: Partial<ReconcilerOptions>; start?: boolean } = {}): Setup {
  const timers = o.timers ?? new FakeTimers();
  const kernel = o.kernel ?? new FakeKernel();
  const table = new Table(o.vips);
  const store = o.store ?? new MemoryOwnershipStore();
  const passes: PassResult[] = [];
  const r = new Reconciler({
    kernel,
    desired: table,
    ownership: Ownership.load(store),
    timers,
    hooks: o.hooks ?? {},
    onPass: (p) => passes.push(p),
    ...o.opts,
  });
  const tick = async (ms = 0): Promise<PassResult[]> => {
    const before = passes.length;
    timers.advance(ms);
    await r.whenIdle();
    while (timers.nextIn() === 0) {
      timers.advance(0);
      await r.whenIdle();
    }
    return passes.slice(before);
  };
  if (o.start !== false) r.start();
  return { r, kernel, table, store, timers, passes, tick };
}

const kinds = (ops: readonly IpvsOp[]) => ops.map((o) => o.kind);

// ---- tests ----------------------------------------------------------------

test('loop: cold start programs the table in ONE batch; a second reconciler over the same kernel + record writes NOTHING (TestDoNothing)', async () => {
  const s = setup({ vips: nVips(300, 3) });
  const [first] = await s.tick();
  assert.equal(first!.trigger, 'startup');
  assert.equal(s.kernel.applyCalls, 1);
  assert.equal(first!.opsTotal, 300 * 4);
  assert.deepEqual(first!.ops, { 'add-service': 300, 'edit-service': 0, 'delete-service': 0, 'add-destination': 900, 'edit-destination': 0, 'delete-destination': 0 });
  assert.deepEqual(first!.errors, []);
  assert.equal(s.store.saves, 1, 'one record write for the whole cold start');
  assert.equal(s.kernel.size, 300);
  await s.r.stop();

  // "Restart": a new reconciler, new ownership loaded from the same record.
  const writesBefore = s.kernel.writes.length;
  const savesBefore = s.store.saves;
  const t = setup({ vips: nVips(300, 3), kernel: s.kernel, store: s.store });
  const [again] = await t.tick();
  assert.equal(again!.opsTotal, 0);
  assert.equal(s.kernel.writes.length, writesBefore, 'no IPVS write');
  assert.equal(s.kernel.applyCalls, 1, 'apply() not even called');
  assert.equal(s.store.saves, savesBefore, 'no record write');
  // ...and a periodic resync in sync writes nothing either.
  const [resync] = await t.tick(30_000);
  assert.equal(resync!.trigger, 'resync');
  assert.equal(resync!.opsTotal, 0);
  assert.equal(s.kernel.writes.length, writesBefore);
  await t.r.stop();
});

test('loop: each change kind is the minimal op, read per key (no dump)', async () => {
  const s = setup({ vips: [vip('11.0.0.1', [be('10.0.0.1')]), vip('11.0.0.2', [be('10.0.0.1')])] });
  await s.tick();
  const dumps = s.kernel.reads.services;
  const step = async (change: () => void, key: string): Promise<PassResult> => {
    change();
    s.r.mark(key);
    const ps = await s.tick(100);
    assert.equal(ps.length, 1);
    return ps[0]!;
  };
  let p = await step(() => s.table.set(vip('11.0.0.1', [be('10.0.0.1'), be('10.0.0.2')])), 'tcp/11.0.0.1:80');
  assert.deepEqual(kinds(s.kernel.writes.slice(-p.opsTotal)), ['add-destination']);
  assert.equal(p.keys, 1);
  p = await step(() => s.table.set(vip('11.0.0.1', [be('10.0.0.1'), be('10.0.0.2', 0)])), 'tcp/11.0.0.1:80');
  assert.deepEqual(kinds(s.kernel.writes.slice(-p.opsTotal)), ['edit-destination']);
  p = await step(() => s.table.set(vip('11.0.0.3', [])), 'tcp/11.0.0.3:80');
  assert.deepEqual(kinds(s.kernel.writes.slice(-p.opsTotal)), ['add-service']);
  p = await step(() => s.table.delete('tcp/11.0.0.2:80'), 'tcp/11.0.0.2:80');
  assert.deepEqual(kinds(s.kernel.writes.slice(-p.opsTotal)), ['delete-service']);
  assert.ok(!s.store.saved!.includes('tcp/11.0.0.2:80'), 'pruned from the record after the delete');
  p = await step(() => undefined, 'tcp/11.0.0.1:80');
  assert.equal(p.opsTotal, 0, 'a mark without a change writes nothing');
  assert.equal(s.kernel.reads.services, dumps, 'per-key passes never list every service');
  await s.r.stop();
});

test('loop: 1,000 marks in a burst are ONE pass', async () => {
  const s = setup({ vips: nVips(1000, 1) });
  await s.tick();
  const before = s.r.passes;
  for (let i = 0; i < 1000; i++) s.table.set(vip(`11.0.${i >> 8}.${i & 255}`, [be('10.1.0.1'), be('10.9.9.9')]));
  for (let i = 0; i < 1000; i++) s.r.mark(`tcp/11.0.${i >> 8}.${i & 255}:80`);
  for (let i = 0; i < 1000; i++) s.r.mark(`tcp/11.0.${i >> 8}.${i & 255}:80`); // duplicates
  const ps = await s.tick(100);
  assert.equal(s.r.passes - before, 1);
  assert.equal(ps[0]!.keys, 1000);
  assert.equal(ps[0]!.ops['add-destination'], 1000);
  await s.r.stop();
});

test('loop: drain lifecycle: weight 0, polled, deleted when idle', async () => {
  const K = svcOf('11.0.0.1');
  const s = setup({ vips: [vip('11.0.0.1', [be('10.0.0.1'), be('10.0.0.2')])], opts: { drainPollMs: 5000 } });
  await s.tick();
  s.kernel.setConnections(K, destOf('10.0.0.2'), 3, 1);
  s.table.set(vip('11.0.0.1', [be('10.0.0.1')]));
  s.r.mark('tcp/11.0.0.1:80');
  let [p] = await s.tick(100);
  assert.deepEqual(p!.events.map((e) => e.kind), ['drained']);
  assert.equal(s.kernel.dest(K, destOf('10.0.0.2'))!.weight, 0);
  assert.equal(p!.draining, 1);
  [p] = await s.tick(5000);
  assert.equal(p!.trigger, 'drain');
  assert.equal(p!.opsTotal, 0, 'still busy: nothing written');
  s.kernel.setConnections(K, destOf('10.0.0.2'), 0, 0);
  [p] = await s.tick(5000);
  assert.deepEqual(p!.events.map((e) => [e.kind, 'reason' in e ? e.reason : '']), [['deleted', 'idle']]);
  assert.equal(s.kernel.dest(K, destOf('10.0.0.2')), undefined);
  assert.equal(s.r.drains.size, 0);
  await s.r.stop();
});

test('loop: drain timeout deletes a destination that stays busy', async () => {
  const K = svcOf('11.0.0.1');
  const s = setup({ vips: [vip('11.0.0.1', [be('10.0.0.2')])], opts: { drainPollMs: 5000, config: { drainTimeoutMs: 12_000 } } });
  await s.tick();
  s.kernel.setConnections(K, destOf('10.0.0.2'), 9);
  s.table.set(vip('11.0.0.1', []));
  s.r.mark('tcp/11.0.0.1:80');
  await s.tick(100);
  const deleted: string[] = [];
  for (let i = 0; i < 5 && s.kernel.dest(K, destOf('10.0.0.2')); i++) {
    for (const p of await s.tick(5000)) for (const e of p.events) if (e.kind === 'deleted') deleted.push(e.reason);
  }
  assert.deepEqual(deleted, ['timeout']);
  assert.ok(s.timers.now() - 1_000_000 >= 12_000);
  await s.r.stop();
});

test('loop: a backend that comes back during drain gets its weight back (no delete, no re-add)', async () => {
  const K = svcOf('11.0.0.1');
  const s = setup({ vips: [vip('11.0.0.1', [be('10.0.0.2')])] });
  await s.tick();
  s.kernel.setConnections(K, destOf('10.0.0.2'), 1);
  s.table.set(vip('11.0.0.1', []));
  s.r.mark('tcp/11.0.0.1:80');
  await s.tick(100);
  assert.equal(s.kernel.dest(K, destOf('10.0.0.2'))!.weight, 0);
  s.table.set(vip('11.0.0.1', [be('10.0.0.2')]));
  s.r.mark('tcp/11.0.0.1:80');
  const [p] = await s.tick(100);
  assert.deepEqual(p!.events.map((e) => e.kind), ['weight-restored']);
  assert.deepEqual(kinds(s.kernel.writes.slice(-1)), ['edit-destination']);
  assert.equal(s.kernel.dest(K, destOf('10.0.0.2'))!.weight, 1);
  assert.equal(s.r.drains.size, 0);
  await s.r.stop();
});

test('loop: UDP destinations are deleted at once', async () => {
  const K = svcOf('11.0.0.1', 'udp', 53);
  const s = setup({ vips: [vip('11.0.0.1', [{ ...be('10.0.0.1'), port: 53 }, { ...be('10.0.0.2'), port: 53 }], 'udp', 53)] });
  await s.tick();
  s.kernel.setConnections(K, destOf('10.0.0.2', 53), 0, 40);
  s.table.set(vip('11.0.0.1', [{ ...be('10.0.0.1'), port: 53 }], 'udp', 53));
  s.r.mark('udp/11.0.0.1:53');
  await s.tick(100);
  assert.equal(s.kernel.dest(K, destOf('10.0.0.2', 53)), undefined);
  assert.deepEqual(kinds(s.kernel.writes.slice(-1)), ['delete-destination']);
  await s.r.stop();
});

test('loop: foreign services (even in 11.0.0.0/8) survive every pass untouched; a desired one is adopted', async () => {
  const kernel = new FakeKernel();
  const foreign = makeService({ address: '11.0.0.7', port: 80, scheduler: 'rr' });
  kernel.ipvsadm({ kind: 'add-service', service: foreign });
  kernel.ipvsadm({ kind: 'add-destination', service: foreign, destination: makeDestination({ address: '10.9.0.1', port: 80, weight: 3 }) });
  const other = makeService({ address: '11.0.0.8', port: 80, scheduler: 'sh' });
  kernel.ipvsadm({ kind: 'add-service', service: other });
  const s = setup({ kernel, vips: [vip('11.0.0.1', [be('10.0.0.1')])] });
  const saved = () => kernel.save().filter((l) => l.includes('11.0.0.7') || l.includes('11.0.0.8'));
  const original = saved();
  let [p] = await s.tick();
  assert.equal(p!.foreign, 2);
  await s.tick(30_000);
  await s.tick(30_000);
  assert.deepEqual(saved(), original);
  assert.ok(s.kernel.writes.every((op) => !('address' in op.service) || !['11.0.0.7', '11.0.0.8'].includes(op.service.address)));

  // 11.0.0.8 becomes desired: adopted with its backends, logged as such.
  s.table.set(vip('11.0.0.8', [be('10.0.0.5')]));
  s.r.mark('tcp/11.0.0.8:80');
  [p] = await s.tick(100);
  assert.deepEqual(p!.events.map((e) => e.kind), ['adopted', 'service-edited', 'added']);
  assert.ok(s.store.saved!.includes('tcp/11.0.0.8:80'));
  // ...and from then on it is l4lb's: removing it from the table deletes it.
  s.table.delete('tcp/11.0.0.8:80');
  s.r.mark('tcp/11.0.0.8:80');
  await s.tick(100);
  assert.equal(kernel.has(other), false);
  assert.deepEqual(saved(), original.filter((l) => !l.includes('11.0.0.8')));
  await s.r.stop();
});

test('loop: the record survives a restart and lets l4lb delete what it created while it was down', async () => {
  const s = setup({ vips: [vip('11.0.0.1', [be('10.0.0.1')]), vip('11.0.0.2', [be('10.0.0.1')])] });
  await s.tick();
  await s.r.stop();
  // While l4lb is down, 11.0.0.2 leaves the desired table and someone adds a foreign service.
  s.kernel.ipvsadm({ kind: 'add-service', service: makeService({ address: '11.0.0.9', port: 80 }) });
  const t = setup({ kernel: s.kernel, store: s.store, vips: [vip('11.0.0.1', [be('10.0.0.1')])] });
  const [p] = await t.tick();
  assert.deepEqual(kinds(s.kernel.writes.slice(-p!.opsTotal)), ['delete-service']);
  assert.equal(s.kernel.has(svcOf('11.0.0.2')), false);
  assert.equal(s.kernel.has(svcOf('11.0.0.9')), true, 'the foreign one stays');
  assert.deepEqual(s.store.saved, ['tcp/11.0.0.1:80']);
  await t.r.stop();
});

test('loop: corrupt record: reported, nothing undesired deleted, desired services adopted, record rewritten', async () => {
  const s = setup({ vips: [vip('11.0.0.1', [be('10.0.0.1')]), vip('11.0.0.2', [be('10.0.0.1')])] });
  await s.tick();
  await s.r.stop();
  s.store.failLoad = true;
  const t = setup({ kernel: s.kernel, store: s.store, vips: [vip('11.0.0.1', [be('10.0.0.1')])] });
  s.store.failLoad = false;
  const [p] = await t.tick();
  assert.deepEqual(p!.errors.map((e) => e.code), ['ERR_OWNERSHIP_RECORD']);
  assert.equal(p!.opsTotal, 0, 'the undesired 11.0.0.2 cannot be proven ours: kept');
  assert.ok(s.kernel.has(svcOf('11.0.0.2')));
  assert.deepEqual(p!.events.map((e) => e.kind), ['adopted']);
  assert.deepEqual(s.store.saved, ['tcp/11.0.0.1:80']);
  const [q] = await t.tick(30_000);
  assert.deepEqual(q!.errors, [], 'the error stops once the record is good again');
  await t.r.stop();
});

test('loop: one failing VIP is reported and backs off; the others are programmed and not blocked', async () => {
  const vips = nVips(5, 1).map((v) => (v.address === '11.0.0.2' ? { ...v, scheduler: 'nosuch' } : v));
  const s = setup({ vips });
  const [p] = await s.tick();
  assert.deepEqual(p!.failedVips, ['tcp/11.0.0.2:80']);
  assert.deepEqual(p!.errors.map((e) => [e.vip, e.code, e.op]), [
    ['tcp/11.0.0.2:80', 'ERR_NETLINK', 'add service TCP 11.0.0.2:80'],
    ['tcp/11.0.0.2:80', 'ERR_NETLINK', 'add destination 10.1.0.1:8080 to TCP 11.0.0.2:80'],
  ]);
  assert.match(p!.errors[0]!.message, /scheduler "nosuch" is not available/);
  assert.equal(s.kernel.size, 4);
  // Retries at 1 s, then 2 s, then 4 s (never in between), each only for that VIP.
  const retries: number[] = [];
  const t0 = s.timers.now();
  for (let i = 0; i < 7; i++) {
    for (const q of await s.tick(1000)) {
      assert.equal(q.trigger, 'retry');
      assert.equal(q.keys, 1);
      retries.push(s.timers.now() - t0);
    }
  }
  assert.deepEqual(retries, [1000, 3000, 7000]);
  // The module appears: the next retry succeeds and the key is forgotten.
  s.kernel.schedulers.add('nosuch');
  const [ok] = await s.tick(8000);
  assert.deepEqual(ok!.errors, []);
  assert.equal(s.kernel.size, 5);
  assert.equal(s.r.queued, 0);
  await s.r.stop();
});

test('loop: drift (ipvsadm -D, -d, -e) is repaired by one resync', async () => {
  const s = setup({ vips: nVips(10, 2) });
  await s.tick();
  const good = s.kernel.save();
  s.kernel.ipvsadm({ kind: 'delete-service', service: svcOf('11.0.0.3') });
  s.kernel.ipvsadm({ kind: 'delete-destination', service: svcOf('11.0.0.4'), destination: destOf('10.1.0.2') });
  s.kernel.ipvsadm({ kind: 'edit-destination', service: svcOf('11.0.0.5'), destination: { ...destOf('10.1.0.1'), weight: 0 } });
  s.kernel.ipvsadm({ kind: 'edit-service', service: { ...svcOf('11.0.0.6'), scheduler: 'rr' } });
  const [p] = await s.tick(30_000);
  assert.equal(p!.trigger, 'resync');
  assert.deepEqual(p!.ops, { 'add-service': 1, 'edit-service': 1, 'delete-service': 0, 'add-destination': 3, 'edit-destination': 1, 'delete-destination': 0 });
  assert.deepEqual(s.kernel.save(), good);
  await s.r.stop();
});

test('loop: order: beforeRemove runs before IPVS forgets the VIP, afterAdd after it forwards; a failing beforeRemove keeps it', async () => {
  const log: string[] = [];
  let failRemove = false;
  let kernel: FakeKernel | undefined;
  const hooks: ReconcileHooks = {
    beforeRemove(vips) {
      log.push(`remove ${vips.join(',')} (in kernel: ${vips.map((v) => kernel!.has(svcOf(v.slice(4, -3)))).join(',')})`);
      if (failRemove) throw new Error('address removal failed');
    },
    async afterAdd(vips) {
      await Promise.resolve();
      log.push(`add ${vips.join(',')} (in kernel: ${vips.map((v) => kernel!.has(svcOf(v.slice(4, -3)))).join(',')})`);
    },
  };
  kernel = new FakeKernel();
  const s = setup({ kernel, hooks, vips: [vip('11.0.0.1', [])] });
  await s.tick();
  s.table.set(vip('11.0.0.2', []));
  s.r.mark('tcp/11.0.0.2:80');
  await s.tick(100);
  failRemove = true;
  s.table.delete('tcp/11.0.0.1:80');
  s.r.mark('tcp/11.0.0.1:80');
  const [bad] = await s.tick(100);
  assert.deepEqual(bad!.errors.map((e) => [e.vip, e.code]), [['tcp/11.0.0.1:80', 'ERR_RECONCILE_HOOK']]);
  assert.ok(kernel.has(svcOf('11.0.0.1')), 'kept while its address could not be withdrawn');
  failRemove = false;
  await s.tick(1000);
  assert.ok(!kernel.has(svcOf('11.0.0.1')));
  assert.deepEqual(log, [
    'add tcp/11.0.0.1:80 (in kernel: true)',
    'add tcp/11.0.0.2:80 (in kernel: true)',
    'remove tcp/11.0.0.1:80 (in kernel: true)',
    'remove tcp/11.0.0.1:80 (in kernel: true)',
  ]);
  await s.r.stop();
});

test('loop: on startup over a programmed kernel, afterAdd announces every desired VIP (zero IPVS writes)', async () => {
  const s = setup({ vips: nVips(3, 1) });
  await s.tick();
  await s.r.stop();
  const announced: string[][] = [];
  const t = setup({ kernel: s.kernel, store: s.store, vips: nVips(3, 1), hooks: { afterAdd: (v) => void announced.push([...v]) } });
  const [p] = await t.tick();
  assert.equal(p!.opsTotal, 0);
  assert.deepEqual(announced, [['tcp/11.0.0.0:80', 'tcp/11.0.0.1:80', 'tcp/11.0.0.2:80']]);
  await t.r.stop();
});

test('loop: a batch whose outcome is unknown (apply throws) fails every VIP in it and forces a resync', async () => {
  const s = setup({ vips: nVips(3, 1) });
  s.kernel.failApply = Object.assign(new Error('netlink receive buffer overflowed (ENOBUFS)'), { code: 'ERR_NETLINK_OVERRUN' });
  const [p] = await s.tick();
  assert.deepEqual(p!.errors.map((e) => e.code), ['ERR_NETLINK_OVERRUN']);
  assert.equal(p!.failedVips.length, 3);
  s.kernel.failApply = undefined;
  const ps = await s.tick(1000);
  assert.ok(ps.some((q) => q.full), 'a full resync follows');
  assert.deepEqual(ps.flatMap((q) => q.errors), []);
  assert.equal(s.kernel.size, 3);
  await s.r.stop();
});

test('loop: a kernel read failure is reported and the resync retried with backoff', async () => {
  const s = setup({ vips: nVips(2, 1) });
  s.kernel.failReads = Object.assign(new Error('list IPVS services: no answer from the kernel within 5000 ms'), { code: 'ERR_NETLINK_TIMEOUT' });
  const [p] = await s.tick();
  assert.deepEqual(p!.errors.map((e) => e.code), ['ERR_NETLINK_TIMEOUT']);
  assert.equal(s.kernel.writes.length, 0);
  s.kernel.failReads = undefined;
  const [q] = await s.tick(1000);
  assert.equal(q!.trigger, 'startup');
  assert.equal(s.kernel.size, 2);
  await s.r.stop();
});

test('loop: stop() leaves the kernel as it is and no pass runs afterwards', async () => {
  const s = setup({ vips: nVips(2, 1) });
  await s.tick();
  const save = s.kernel.save();
  await s.r.stop();
  s.table.delete('tcp/11.0.0.0:80');
  s.r.mark('tcp/11.0.0.0:80');
  await s.tick(120_000);
  assert.deepEqual(s.kernel.save(), save);
  assert.equal(s.timers.nextIn(), undefined, 'no timer left');
});

test('loop: works with the real VipTable (keys match the kernel side)', async () => {
  const table = new VipTable();
  table.upsertTask(task('a', { taskIps: ['9.0.0.1'], ports: [port(['11.0.0.1:80', '/app:80'])] }));
  const timers = new FakeTimers();
  const kernel = new FakeKernel();
  const passes: PassResult[] = [];
  const r = new Reconciler({ kernel, desired: table, ownership: Ownership.load(new MemoryOwnershipStore()), timers, onPass: (p) => passes.push(p) });
  const settle = async (x: Reconciler) => {
    do {
      timers.advance(0);
      await x.whenIdle();
    } while (timers.nextIn() === 0);
  };
  r.start();
  await settle(r);
  assert.equal(kernel.size, table.vips().length);
  assert.ok(table.vips().length >= 2);
  await r.stop();
  const r2 = new Reconciler({ kernel, desired: table, ownership: Ownership.load(new MemoryOwnershipStore(table.vips().map((v) => v.key))), timers, onPass: (p) => passes.push(p) });
  r2.start();
  await settle(r2);
  assert.equal(passes.at(-1)!.opsTotal, 0);
  await r2.stop();
});

test('loop: ONE structured log line per pass (trigger, duration, ops by kind, totals, errors)', async () => {
  const { Writable } = await import('node:stream');
  const { createLogger } = await import('../log.js');
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _e, cb) { for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>); cb(); } });
  const s = setup({ vips: nVips(3, 2), opts: { logger: createLogger({ format: 'json', stream }) } });
  await s.tick();
  await s.tick(30_000);
  await s.r.stop();
  await new Promise((r) => setImmediate(r));
  assert.equal(lines.length, 2);
  assert.deepEqual(lines.map((l) => [l.message, l.component, l.trigger, l.opsTotal, l.vips, l.backends, l.errors]), [
    ['reconcile pass', 'reconcile', 'startup', 9, 3, 6, 0],
    ['reconcile pass', 'reconcile', 'resync', 0, 3, 6, 0],
  ]);
  assert.deepEqual(lines[0]!.ops, { 'add-service': 3, 'edit-service': 0, 'delete-service': 0, 'add-destination': 6, 'edit-destination': 0, 'delete-destination': 0 });
  assert.equal(typeof lines[0]!.durationMs, 'number');
});

test('loop: a corrupt record is rewritten by the first full pass even when nothing is claimed', async () => {
  const store = new MemoryOwnershipStore();
  store.failLoad = true;
  const s = setup({ store });
  store.failLoad = false;
  const [p] = await s.tick();
  assert.deepEqual(p!.errors.map((e) => e.code), ['ERR_OWNERSHIP_RECORD']);
  assert.deepEqual(store.saved, []);
  const [q] = await s.tick(30_000);
  assert.deepEqual(q!.errors, []);
  await s.r.stop();
});

// ---- sweeps: full resyncs and big bursts in chunks ------------------------

/** Runs exactly one loop step (one pass or one sweep chunk) after `ms`. */
async function oneStep(s: Setup, ms = 0): Promise<void> {
  s.timers.advance(ms);
  await s.r.whenIdle();
}

test('loop: a full resync works in chunks and reports ONE pass; a change due meanwhile is applied between chunks, before the sweep ends', async () => {
  const s = setup({ vips: nVips(1000, 2), opts: { chunkKeys: 300 } });
  const [cold] = await s.tick();
  assert.equal(cold!.chunks, 4, 'cold start: 1000 keys in chunks of 300');
  assert.equal(s.kernel.applyCalls, 4, 'one batch per chunk');
  assert.equal(s.kernel.size, 1000);
  const passesBefore = s.passes.length;

  // The resync starts: one service list, then (one step each) its scope and the first chunk.
  const lists = s.kernel.reads.services;
  const destsBefore = s.kernel.reads.destinations;
  await oneStep(s, 30_000);
  assert.ok(s.r.sweeping, 'the sweep is under way after its service list');
  assert.equal(s.kernel.reads.destinations, destsBefore, 'the list step reads no destinations');
  await oneStep(s);
  assert.equal(s.kernel.reads.destinations, destsBefore, 'nor does the scope step');
  await oneStep(s);
  assert.equal(s.kernel.reads.services, lists + 1);
  assert.equal(s.kernel.reads.destinations - 0 >= 300, true);
  assert.equal(s.passes.length, passesBefore, 'nothing reported mid-sweep');

  // A change arrives for a key late in the sweep's order.
  const late = 'tcp/11.0.3.200:80';
  s.table.set(vip('11.0.3.200', [be('10.1.0.1'), be('10.1.0.2'), be('10.7.7.7')]));
  s.r.mark(late);
  const destReads = s.kernel.reads.destinations;
  await oneStep(s); // the change pass runs before the next chunk
  assert.equal(s.passes.length, passesBefore + 1);
  const change = s.passes.at(-1)!;
  assert.equal(change.trigger, 'change');
  assert.equal(change.keys, 1);
  assert.deepEqual(change.ops['add-destination'], 1);
  assert.equal(s.kernel.reads.destinations, destReads + 1, 'the change read only its own key');
  assert.ok(s.r.sweeping, 'the sweep is still under way');

  const rest = await s.tick();
  assert.equal(rest.length, 1);
  const sweep = rest[0]!;
  assert.equal(sweep.trigger, 'resync');
  assert.equal(sweep.full, true);
  assert.equal(sweep.chunks, 4);
  assert.equal(sweep.keys, 999, 'the key the change pass handled is not done twice');
  assert.equal(sweep.opsTotal, 0);
  await s.r.stop();
});

test('loop: drift anywhere in a chunked resync is repaired, and undesired owned services are deleted', async () => {
  const s = setup({ vips: nVips(700, 1), opts: { chunkKeys: 128 } });
  await s.tick();
  s.kernel.ipvsadm({ kind: 'delete-service', service: svcOf('11.0.2.100') });
  s.kernel.ipvsadm({ kind: 'delete-destination', service: svcOf('11.0.0.5'), destination: destOf('10.1.0.1') });
  s.table.delete('tcp/11.0.1.1:80'); // undesired, not marked: only a resync finds it
  const [p] = await s.tick(30_000);
  assert.equal(p!.chunks, Math.ceil(700 / 128));
  assert.deepEqual(p!.ops, { 'add-service': 1, 'edit-service': 0, 'delete-service': 1, 'add-destination': 2, 'edit-destination': 0, 'delete-destination': 0 });
  assert.equal(s.kernel.size, 699);
  await s.r.stop();
});

test('loop: the end of a sweep does not restart the coalescing interval of a change waiting behind it', async () => {
  const s = setup({ vips: nVips(600, 1), opts: { chunkKeys: 200, resyncMs: 1000 } });
  await s.tick();
  // A change pass ends at t=950: the next change may run from t=1050.
  s.table.set(vip('11.0.0.1', [be('10.1.0.1'), be('10.7.7.7')]));
  s.r.mark('tcp/11.0.0.1:80');
  await s.tick(950);
  assert.equal(s.passes.at(-1)!.trigger, 'change');
  // The resync (due at t=1000) runs its whole sweep at t=1000; a change marked in between waits.
  await oneStep(s, 50); // t=1000: service list
  s.table.set(vip('11.0.0.2', [be('10.1.0.1'), be('10.7.7.7')]));
  s.r.mark('tcp/11.0.0.2:80');
  const sweep = await s.tick();
  assert.deepEqual(sweep.map((p) => p.trigger), ['resync']);
  // Due at t=1050 (its own interval), not t=1100 (the sweep's end plus the interval).
  const [change] = await s.tick(50);
  assert.equal(change?.trigger, 'change');
  assert.equal(change.startedAt - sweep[0]!.startedAt, 50);
  await s.r.stop();
});

test('loop: chunk sizing: the budget at the measured cost per key, at most double the last chunk, within 32..8192', () => {
  assert.equal(nextChunkKeys(20, undefined, 0), 512, 'nothing measured yet');
  // The startup sweep measured 0.08 ms per key at 5x the budget; a resync chunk takes its own budget's worth.
  assert.equal(nextChunkKeys(100, 0.08, 1250), 1250);
  assert.equal(nextChunkKeys(20, 0.08, 1250), 250);
  assert.equal(nextChunkKeys(20, 0.001, 300), 600, 'a fast chunk at most doubles the next');
  assert.equal(nextChunkKeys(20, 10, 300), 32);
  assert.equal(nextChunkKeys(1e6, 0.001, 1e6), 8192);
});

test('loop: a burst of marks during a sweep joins it and reads those services fresh', async () => {
  const s = setup({ vips: nVips(1000, 1), opts: { chunkKeys: 200, dumpThreshold: 256 } });
  await s.tick();
  await oneStep(s, 30_000); // resync under way: service list
  await oneStep(s); // scope
  await oneStep(s); // first chunk
  assert.ok(s.r.sweeping);
  // 300 VIPs gain a backend behind the sweep's back: a burst above the threshold.
  for (let i = 700; i < 1000; i++) s.table.set(vip(`11.0.${i >> 8}.${i & 255}`, [be('10.1.0.1'), be('10.8.8.8')]));
  const svcReads = s.kernel.reads.service;
  for (let i = 700; i < 1000; i++) s.r.mark(`tcp/11.0.${i >> 8}.${i & 255}:80`);
  const [p] = await s.tick();
  assert.equal(p!.trigger, 'resync', 'one pass: the burst joined the resync');
  assert.equal(p!.ops['add-destination'], 300);
  assert.equal(s.kernel.reads.service - svcReads, 300, 'each joined key was read fresh');
  await s.r.stop();
});

test('loop: a burst at or above the threshold (no sweep under way) is a sweep of its own keys; below it, per-key reads', async () => {
  const s = setup({ vips: nVips(600, 1), opts: { chunkKeys: 100, dumpThreshold: 256 } });
  await s.tick();
  for (let i = 0; i < 300; i++) s.table.set(vip(`11.0.${i >> 8}.${i & 255}`, [be('10.1.0.1'), be('10.8.8.8')]));
  const lists = s.kernel.reads.services;
  for (let i = 0; i < 300; i++) s.r.mark(`tcp/11.0.${i >> 8}.${i & 255}:80`);
  const [p] = await s.tick(100);
  assert.equal(p!.trigger, 'change');
  assert.equal(p!.full, false);
  assert.equal(p!.chunks, 3);
  assert.equal(p!.keys, 300);
  assert.equal(p!.ops['add-destination'], 300);
  assert.equal(s.kernel.reads.services, lists + 1, 'one service list for the burst');
  await s.r.stop();
});

test('loop: with yieldToIo, sweep chunks run from the yield callback (after pending I/O), and stop() drops a pending one', async () => {
  const yields: Array<() => void> = [];
  const s = setup({ vips: nVips(900, 1), opts: { chunkKeys: 300, yieldToIo: (fn) => void yields.push(fn) }, start: false });
  s.r.start();
  await oneStep(s); // the startup sweep's service list (a timer)
  assert.equal(s.kernel.reads.services, 1);
  assert.equal(yields.length, 1, 'the next step waits for the yield, not a timer');
  assert.equal(s.timers.nextIn(), undefined);
  yields.shift()!(); // scope
  await s.r.whenIdle();
  yields.shift()!(); // first chunk
  await s.r.whenIdle();
  assert.equal(s.kernel.applyCalls, 1);
  yields.shift()!();
  await s.r.whenIdle();
  assert.equal(s.kernel.applyCalls, 2);
  // A change marked while a yield is pending runs first, then the sweep goes on.
  s.table.set(vip('11.0.3.100', [be('10.1.0.1'), be('10.6.6.6')]));
  s.r.mark('tcp/11.0.3.100:80');
  yields.shift()!();
  await s.r.whenIdle();
  assert.equal(s.passes.at(-1)!.trigger, 'change');
  yields.shift()!();
  await s.r.whenIdle();
  assert.equal(s.passes.at(-1)!.trigger, 'startup', 'the sweep ends after its last chunk');
  assert.equal(s.kernel.size, 900);
  // stop() with a yield pending: the callback does nothing.
  await oneStep(s, 30_000); // service list
  yields.shift()!(); // scope
  await s.r.whenIdle();
  assert.equal(yields.length, 1);
  const applies = s.kernel.applyCalls;
  const reads = s.kernel.reads.destinations;
  await s.r.stop();
  yields.shift()!();
  await s.r.whenIdle();
  assert.equal(s.kernel.reads.destinations, reads);
  assert.equal(s.kernel.applyCalls, applies);
});

test('loop: a change handled between the sweep\'s service list and its scope is not redone from the (older) list', async () => {
  const s = setup({ vips: nVips(600, 1), opts: { chunkKeys: 200 } });
  await s.tick();
  await oneStep(s, 30_000); // service list read: 11.0.0.9 is in it
  // 11.0.0.9 leaves the desired table; its change pass deletes it from the kernel.
  s.table.delete('tcp/11.0.0.9:80');
  s.r.mark('tcp/11.0.0.9:80');
  await oneStep(s, 100);
  assert.equal(s.passes.at(-1)!.trigger, 'change');
  assert.ok(!s.kernel.has(svcOf('11.0.0.9')));
  const [sweep] = await s.tick();
  assert.equal(sweep!.trigger, 'resync');
  assert.equal(sweep!.keys, 599, 'the handled key is not part of the sweep');
  assert.deepEqual(sweep!.errors, [], 'no stale delete from the old list (it would fail with ESRCH or worse)');
  assert.equal(sweep!.opsTotal, 0);
  await s.r.stop();
});
