// Order independence, collisions, IP VIP reservations, snapshots, and the
// O(change) promise of the table.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { homeOffset } from './hash.js';
import { formatIp, parseIp } from './ip.js';
import { hashName } from './naming.js';
import { VipTable } from './table.js';
import { port, shuffle, task } from './test-helpers.js';
import type { ModelOptions, Task, TaskRef } from './types.js';

// Pools of 8 addresses (11.0.0.0 - 11.0.0.7, fd01:c:: - fd01:c::7; max is never handed out).
const TINY: ModelOptions = { ipv4Min: '11.0.0.0', ipv4Max: '11.0.0.8', ipv6Min: 'fd01:c::', ipv6Max: 'fd01:c::8' };
const ipVipTask = (id: string, addr: string, state: Task['state'] = 'running'): Task =>
  task(id, { state, taskIps: ['9.1.0.1'], ports: [port([`${addr}:80`])] });
const namedTask = (id: string, name: string, ip = '9.0.0.1'): Task =>
  task(id, { taskIps: [ip], ports: [port([`/${name}:80`], { port: 8000 })] });

function view(t: VipTable): string {
  return JSON.stringify({ vips: t.vips(), names: t.names(), unallocated: t.unallocated(), rejected: t.rejected() });
}

// Reach `finalTasks` through a random history: shuffled upserts, noise tasks
// added and removed, tasks removed and re-added, batches and snapshots.
function randomHistory(t: VipTable, finalTasks: Task[]): string[] {
  const log: string[] = [];
  const noise = shuffle(finalTasks).slice(0, 3).map((x, i) => ({ ...x, id: `noise-${i}`, taskIps: [`9.9.9.${i}`] }));
  const pending: TaskRef[] = [];
  for (const x of shuffle([...finalTasks, ...noise])) {
    const r = Math.random();
    if (r < 0.15) {
      t.apply({ upsert: [x], remove: pending.splice(0) });
      log.push(`batch+${x.id}`);
    } else {
      t.upsertTask(x);
      log.push(`+${x.id}`);
    }
    if (x.id.startsWith('noise')) pending.push({ source: x.source, id: x.id });
    if (Math.random() < 0.2 && !x.id.startsWith('noise')) {
      t.removeTask({ source: x.source, id: x.id });
      t.upsertTask(x);
      log.push(`-+${x.id}`);
    }
  }
  for (const ref of pending) t.removeTask(ref);
  if (Math.random() < 0.3) {
    t.replaceSource('mesos', shuffle(finalTasks));
    log.push('replaceSource');
  }
  return log;
}

describe('VipTable: collisions and order independence', () => {
  const names = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf'];
  const tasks = [
    ...names.map((n, i) => namedTask(`t-${n}`, n, `9.0.0.${i + 1}`)),
    ...names.map((n, i) => task(`t6-${n}`, { taskIps: [`fd02::${i + 1}`], ports: [port([`/${n}:80`], { port: 8000 })] })),
    task('t-ip6', { taskIps: ['fd02::99'], ports: [port(['fd01:c::2:80'])] }),
    namedTask('t-alpha-2', 'alpha', '9.0.1.1'),
    ipVipTask('t-ip-3', '11.0.0.3'),
    ipVipTask('t-ip-5', '11.0.0.5', 'preparing'), // reserves its address without backends
  ];

  it('the tiny pool really has collisions', () => {
    const homes = names.map((n) => homeOffset({ family: 4, size: 8n }, hashName(`/${n}`, 'marathon')));
    assert.ok(new Set(homes).size < homes.length, `homes ${homes}`);
  });

  it('gives identical tables for 200 random event orders', () => {
    const reference = new VipTable(TINY);
    reference.apply({ upsert: [...tasks].sort((a, b) => (a.id < b.id ? -1 : 1)) });
    const want = view(reference);
    for (let round = 0; round < 200; round++) {
      const t = new VipTable(TINY);
      const log = randomHistory(t, tasks);
      assert.equal(view(t), want, `order: ${log.join(' ')}`);
    }
  });

  it('places names in name order, skipping IP VIP addresses (7 names, 2 reserved, 8 slots)', () => {
    const t = new VipTable(TINY);
    t.apply({ upsert: tasks });
    // The rule by hand: sorted names, each from its hash slot, +1 past taken slots.
    const taken = new Set([3n, 5n]);
    const want: Array<[string, string | undefined]> = [];
    for (const n of names.map((x) => hashName(`/${x}`, 'marathon')).sort()) {
      let slot = homeOffset({ family: 4, size: 8n }, n);
      let i = 0;
      while (taken.has(slot) && i++ < 8) slot = (slot + 1n) % 8n;
      const free = !taken.has(slot);
      if (free) taken.add(slot);
      want.push([n, free ? `11.0.0.${slot}` : undefined]);
    }
    const got = new Map(t.names().map((n) => [n.name, n.ipv4]));
    assert.deepEqual(want.map(([n]) => [n, got.get(n)]), want);
    const un4 = t.unallocated().filter((u) => u.family === 4);
    assert.deepEqual(un4, want.filter(([, ip]) => ip === undefined).map(([name]) => ({ name, family: 4 })));
    assert.equal(t.names().filter((n) => n.ipv6 !== undefined).length + t.unallocated().length - un4.length, names.length);
    assert.ok(t.names().every((n) => n.ipv6 !== 'fd01:c::2'));
    assert.equal(t.vip('tcp/11.0.0.3:80')?.kind, 'ip');
    assert.equal(t.vip('tcp/11.0.0.5:80'), undefined); // reserved by a preparing task
  });

  it('a named VIP moves off an address when an IP VIP takes it, and back when it goes', () => {
    const t = new VipTable(TINY);
    t.upsertTask(namedTask('n', 'alpha'));
    const home = t.names()[0]?.ipv4 as string;
    const s = t.upsertTask(ipVipTask('ip', home));
    const moved = t.names()[0]?.ipv4 as string;
    assert.notEqual(moved, home);
    assert.deepEqual(s.changed.sort(), [`tcp/${home}:80`, `tcp/${moved}:80`].sort());
    assert.deepEqual(t.vip(`tcp/${home}:80`)?.kind, 'ip');
    t.removeTask({ source: 'mesos', id: 'ip' });
    assert.equal(t.names()[0]?.ipv4, home);
  });

  it('without collisions every name sits at its DC/OS hash address', () => {
    const t = new VipTable();
    t.apply({ upsert: ['myapp', 'acme', 'my-service', 'web'].map((n) => namedTask(n, n)) });
    t.upsertTask(task('kafka-0', { framework: 'kafka', ports: [port(['broker:9092'])] }));
    assert.deepEqual(t.names().map((n) => [n.name, n.ipv4]), [
      ['acme.marathon', '11.9.179.74'],
      ['broker.kafka', '11.175.100.139'],
      ['my-service.marathon', '11.134.216.93'],
      ['myapp.marathon', '11.215.13.222'],
      ['web.marathon', '11.225.36.193'],
    ]);
  });
});

describe('VipTable: replaceSource', () => {
  it('replaces one source\'s tasks in one step and leaves other sources alone', () => {
    const t = new VipTable();
    t.apply({ upsert: [namedTask('a', 'one'), namedTask('b', 'two'), { ...namedTask('m', 'three'), source: 'marathon' }] });
    const gen = t.generation;
    const s = t.replaceSource('mesos', [namedTask('b', 'two', '9.0.0.9'), namedTask('c', 'four')]);
    assert.equal(s.generation, gen + 1);
    assert.deepEqual(t.names().map((n) => n.name), ['four.marathon', 'three.marathon', 'two.marathon']);
    assert.deepEqual(t.vips().find((v) => v.names[0]?.startsWith('two.'))?.backends.map((b) => b.ip), ['9.0.0.9']);
    assert.equal(t.taskCount, 3);
    assert.deepEqual(t.replaceSource('mesos', []).changed.length, 2);
    assert.equal(t.taskCount, 1);
  });

  it('refuses tasks of another source', () => {
    const t = new VipTable();
    assert.throws(() => t.replaceSource('mesos', [{ ...namedTask('a', 'x'), source: 'file' }]), { code: 'MODEL_BAD_TASK' });
  });
});

describe('VipTable: cost of a change', () => {
  const N = 10_000;
  const big = (): VipTable => {
    const t = new VipTable();
    const s = t.replaceSource('mesos', Array.from({ length: N }, (_, i) => namedTask(`t${i}`, `app-${i}`, `9.${i >> 16}.${(i >> 8) & 255}.${i & 255}`)));
    assert.equal(s.recomputed, N);
    assert.equal(t.vips().length, N);
    return t;
  };

  it(`updating, adding or removing one task among ${N} VIPs recomputes O(1) VIPs`, () => {
    const t = big();
    const placements = t.placements;
    let s = t.upsertTask(namedTask('t42', 'app-42', '9.200.0.1'));
    assert.equal(s.recomputed, 1);
    assert.equal(s.changed.length, 1);
    s = t.upsertTask(namedTask('new', 'brand-new'));
    assert.equal(s.recomputed, 1);
    s = t.removeTask({ source: 'mesos', id: 't7' });
    assert.equal(s.recomputed, 1);
    s = t.upsertTask(ipVipTask('ip', t.names()[0]?.ipv4 as string));
    assert.ok(s.recomputed <= 3, `recomputed ${s.recomputed}`);
    assert.ok(t.placements - placements <= 6, `allocator placed ${t.placements - placements}`);
    assert.equal(t.recomputedVips, N + 3 + s.recomputed);
  });

  it('a snapshot that changes one task recomputes one VIP', () => {
    const t = big();
    const tasks = Array.from({ length: N }, (_, i) => namedTask(`t${i}`, `app-${i}`, `9.${i >> 16}.${(i >> 8) & 255}.${i & 255}`));
    tasks[5] = namedTask('t5', 'app-5', '9.250.0.5');
    const s = t.replaceSource('mesos', tasks);
    assert.equal(s.recomputed, 1);
    assert.equal(s.generation, 2);
  });

  it('keeps addresses canonical for the whole pool', () => {
    const t = big();
    for (const n of t.names().slice(0, 50)) {
      const want = formatIp(4, (parseIp('11.0.0.0')?.value as bigint) + homeOffset({ family: 4, size: 0xffffffn }, n.name));
      if (n.ipv4 !== want) assert.ok(t.names().some((m) => m.ipv4 === want), `${n.name} moved off a free home`);
    }
  });
});
