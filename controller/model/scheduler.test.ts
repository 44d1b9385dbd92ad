import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMesosTask } from './mesos-task.js';
import { IPVS_SCHEDULERS, electScheduler, parseScheduler, schedulerFromLabels } from './scheduler.js';
import { VipTable } from './table.js';
import { port, shuffle, task } from './test-helpers.js';
import type { Task, Vip } from './types.js';

describe('scheduler names', () => {
  it('accepts every IPVS scheduler exactly as ipvsadm -s takes it', () => {
    for (const s of IPVS_SCHEDULERS) assert.deepEqual(parseScheduler(s), { ok: true, scheduler: s });
  });

  it('rejects anything else with VIP_BAD_SCHEDULER, naming the value', () => {
    for (const bad of ['', 'RR', ' rr', 'rr ', 'round-robin', 'wlc,rr', 'nosuch']) {
      const p = parseScheduler(bad);
      assert.ok(!p.ok, bad);
      assert.equal(p.code, 'VIP_BAD_SCHEDULER');
      assert.equal(p.value, bad);
      assert.match(p.message, /is not an IPVS scheduler \(one of rr, wrr, .*\); the VIP uses the default scheduler/);
    }
  });

  it('a label list: absent, once, repeated with the same value, repeated with two values, or bad', () => {
    assert.equal(schedulerFromLabels([{ key: 'VIP_0', value: '/a:80' }]), undefined);
    assert.deepEqual(schedulerFromLabels([{ key: 'l4lb.scheduler', value: 'sh' }]), { ok: true, scheduler: 'sh' });
    assert.deepEqual(schedulerFromLabels([{ key: 'l4lb.scheduler', value: 'sh' }, { key: 'l4lb.scheduler', value: 'sh' }]), { ok: true, scheduler: 'sh' });
    const twice = schedulerFromLabels([{ key: 'l4lb.scheduler', value: 'sh' }, { key: 'l4lb.scheduler', value: 'rr' }]);
    assert.ok(twice !== undefined && !twice.ok);
    assert.equal(twice.value, 'sh,rr');
    assert.match(twice.message, /given twice \(sh, rr\)/);
    const bad = schedulerFromLabels([{ key: 'l4lb.scheduler', value: 'sh' }, { key: 'l4lb.scheduler', value: 'fastest' }]);
    assert.ok(bad !== undefined && !bad.ok && bad.value === 'fastest');
    // Only the exact key: no case folding, no VIP-label lookalikes.
    assert.equal(schedulerFromLabels([{ key: 'L4LB.SCHEDULER', value: 'sh' }, { key: 'VIP_scheduler', value: 'sh' }]), undefined);
  });
});

describe('the scheduler vote', () => {
  it('no votes: no scheduler (the default applies), no disagreement', () => {
    assert.deepEqual(electScheduler([]), {});
    assert.deepEqual(electScheduler([undefined, undefined]), {});
  });

  it('one name: it wins, no disagreement; backends naming none do not vote', () => {
    assert.deepEqual(electScheduler(['sh']), { scheduler: 'sh' });
    assert.deepEqual(electScheduler([undefined, 'sh', undefined, undefined]), { scheduler: 'sh' });
  });

  it('the most backends win, whatever the order; votes are listed winner first', () => {
    const votes = ['rr', 'sh', 'sh', 'wlc', 'sh', 'rr', undefined];
    for (let i = 0; i < 20; i++) {
      const order = shuffle(votes);
      assert.deepEqual(electScheduler(order), {
        scheduler: 'sh',
        votes: [{ scheduler: 'sh', backends: 3 }, { scheduler: 'rr', backends: 2 }, { scheduler: 'wlc', backends: 1 }],
      }, JSON.stringify(order));
    }
  });

  it('a tie goes to the alphabetically first name, whatever the order', () => {
    for (const order of [['sh', 'rr'], ['rr', 'sh'], ['wlc', 'sh', 'rr', 'rr', 'wlc', 'sh']]) {
      const e = electScheduler(order);
      assert.equal(e.scheduler, 'rr', JSON.stringify(order));
      assert.equal(e.votes?.[0]?.scheduler, 'rr');
    }
    assert.deepEqual(electScheduler(['wlc', 'lc', 'wlc', 'lc', undefined]).votes, [{ scheduler: 'lc', backends: 2 }, { scheduler: 'wlc', backends: 2 }]);
  });
});

const sched = (t: VipTable): Array<[string, string | undefined]> => t.vips().map((v) => [v.key, v.scheduler]);
const only = (t: VipTable): Vip => {
  assert.equal(t.vips().length, 1);
  return t.vips()[0] as Vip;
};

describe('VipTable: a VIP\'s scheduler', () => {
  it('is absent (not undefined-valued) when no task names one', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { ports: [port(['/web:80'])] }));
    assert.equal('scheduler' in only(t), false);
    assert.equal('schedulerVotes' in only(t), false);
  });

  it('a port\'s scheduler wins over the task\'s, for that port\'s VIPs only', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { scheduler: 'rr', ports: [port(['/web:80'], { scheduler: 'sh' }), port(['/admin:81'], { name: 'admin', port: 8081 })] }));
    const byName = Object.fromEntries(t.vips().map((v) => [v.names[0], v.scheduler]));
    assert.deepEqual(byName, { 'web.marathon.l4lb.thisdcos.directory': 'sh', 'admin.marathon.l4lb.thisdcos.directory': 'rr' });
  });

  it('one task, two ports of one VIP naming different schedulers: the alphabetically first', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { ports: [port(['/web:80'], { scheduler: 'wlc' }), port(['/web:80'], { name: 'b', port: 8081, scheduler: 'sh' })] }));
    assert.equal(only(t).scheduler, 'sh');
  });

  it('rolling deploy: the name with the most backends wins; the disagreement is on the VIP; order does not matter', () => {
    const tasks: Task[] = [
      task('old.1', { taskIps: ['9.0.0.1'], ports: [port(['/web:80'], { scheduler: 'rr' })] }),
      task('old.2', { taskIps: ['9.0.0.2'], ports: [port(['/web:80'], { scheduler: 'rr' })] }),
      task('new.1', { taskIps: ['9.0.0.3'], scheduler: 'sh', ports: [port(['/web:80'])] }),
      task('new.2', { taskIps: ['9.0.0.4'], ports: [port(['/web:80'], { scheduler: 'sh' })] }),
      task('new.3', { taskIps: ['9.0.0.5'], ports: [port(['/web:80'], { scheduler: 'sh' })] }),
      task('none.1', { taskIps: ['9.0.0.6'], ports: [port(['/web:80'])] }),
      task('none.2', { taskIps: ['9.0.0.7'], ports: [port(['/web:80'])] }),
      task('none.3', { taskIps: ['9.0.0.8'], ports: [port(['/web:80'])] }),
    ];
    let first: Vip | undefined;
    for (let i = 0; i < 10; i++) {
      const order = shuffle(tasks);
      const t = new VipTable();
      for (const x of order) t.upsertTask(x);
      const v = only(t);
      assert.equal(v.scheduler, 'sh', order.map((x) => x.id).join(' '));
      assert.deepEqual(v.schedulerVotes, [{ scheduler: 'sh', backends: 3 }, { scheduler: 'rr', backends: 2 }]);
      if (first === undefined) first = v;
      else assert.deepEqual(v, first, 'same VIP whatever the event order');
    }
  });

  it('follows the deploy as tasks come and go: tie -> alphabetical, then the last name standing, then none', () => {
    const t = new VipTable();
    const a = (id: string, ip: string, scheduler?: string): Task =>
      task(id, { taskIps: [ip], ports: [port(['/web:80'], scheduler === undefined ? {} : { scheduler })] });
    t.upsertTask(a('old.1', '9.0.0.1', 'wlc'));
    t.upsertTask(a('old.2', '9.0.0.2', 'wlc'));
    assert.deepEqual(sched(t).map((x) => x[1]), ['wlc']);
    t.upsertTask(a('new.1', '9.0.0.3', 'sh'));
    assert.equal(only(t).scheduler, 'wlc');
    const s = t.upsertTask(a('new.2', '9.0.0.4', 'sh'));
    assert.equal(s.changed.length, 1);
    assert.equal(only(t).scheduler, 'sh', '2:2, sh < wlc');
    t.removeTask({ source: 'mesos', id: 'old.1' });
    t.removeTask({ source: 'mesos', id: 'old.2' });
    assert.equal(only(t).scheduler, 'sh');
    assert.equal(only(t).schedulerVotes, undefined, 'agreement again: no votes shown');
    t.upsertTask(a('new.1', '9.0.0.3'));
    t.upsertTask(a('new.2', '9.0.0.4'));
    assert.equal('scheduler' in only(t), false, 'nobody names one any more: the default');
  });

  it('a backend claimed by two tasks votes once, with the winning task\'s scheduler', () => {
    const t = new VipTable();
    // Same endpoint from two sources: the serving one wins, then the lower source.
    t.upsertTask(task('x', { source: 'mesos', taskIps: ['9.0.0.1'], ports: [port(['/web:80'], { scheduler: 'sh' })] }));
    t.upsertTask(task('x', { source: 'marathon', taskIps: ['9.0.0.1'], ports: [port(['/web:80'], { scheduler: 'rr' })] }));
    assert.equal(only(t).backends.length, 1);
    assert.equal(only(t).scheduler, 'rr');
    assert.equal(only(t).schedulerVotes, undefined);
    t.upsertTask(task('x', { source: 'marathon', taskIps: ['9.0.0.1'], ports: [port(['/web:80'])] }));
    assert.equal('scheduler' in only(t), false, 'the winner names none: no vote, even though the loser does');
  });

  it('each family\'s VIP votes with its own backends', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { taskIps: ['9.0.0.1', 'fd00::1'], ports: [port(['/web:80'], { scheduler: 'rr' })] }));
    t.upsertTask(task('b', { taskIps: ['fd00::2'], ports: [port(['/web:80'], { scheduler: 'sh' })] }));
    t.upsertTask(task('c', { taskIps: ['fd00::3'], ports: [port(['/web:80'], { scheduler: 'sh' })] }));
    assert.deepEqual(t.vips().map((v) => [v.family, v.scheduler]), [[4, 'rr'], [6, 'sh']]);
  });

  it('a scheduler change alone changes the VIP (a new generation: the reconciler edits it)', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { ports: [port(['/web:80'], { scheduler: 'rr' })] }));
    const s = t.upsertTask(task('a', { ports: [port(['/web:80'], { scheduler: 'sh' })] }));
    assert.equal(s.changed.length, 1);
    assert.equal(only(t).scheduler, 'sh');
  });
});

describe('parseMesosTask: l4lb.scheduler', () => {
  const ctx = { source: 'mesos', frameworkName: 'marathon', agentIp: '10.0.0.1' };
  const base = {
    task_id: { value: 't1' }, framework_id: { value: 'fw' }, name: 'web', state: 'TASK_RUNNING',
    statuses: [{ state: 'TASK_RUNNING', timestamp: 2, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '9.0.0.5' }] }] } }],
  };
  const dport = (number: number, name: string, labels: Array<{ key: string; value: string }>) => ({ number, protocol: 'tcp', name, labels: { labels } });
  const parse = (ports: unknown[], taskLabels: Array<{ key: string; value: string }> = []): Task => {
    const r = parseMesosTask({ ...base, labels: { labels: taskLabels }, discovery: { name: 'web', ports: { ports } } }, ctx);
    assert.ok(r.ok);
    return r.task;
  };

  it('a discovery-port label sets that port\'s scheduler; it is not a VIP label', () => {
    const t = parse([dport(8080, 'http', [{ key: 'VIP_0', value: '/web:80' }, { key: 'l4lb.scheduler', value: 'rr' }]), dport(8081, 'admin', [{ key: 'VIP_0', value: '/admin:81' }])]);
    assert.deepEqual(t.ports.map((p) => [p.name, p.scheduler, p.vips.map((v) => v.key)]), [['http', 'rr', ['VIP_0']], ['admin', undefined, ['VIP_0']]]);
    assert.equal('scheduler' in (t.ports[1] as object), false);
    assert.equal(t.scheduler, undefined);
    assert.equal(t.rejected, undefined);
  });

  it('a task label (Marathon app labels) sets the task\'s; the port label wins in the table', () => {
    const t = parse([dport(8080, 'http', [{ key: 'VIP_0', value: '/web:80' }, { key: 'l4lb.scheduler', value: 'sh' }]), dport(8081, 'admin', [{ key: 'VIP_0', value: '/admin:81' }])],
      [{ key: 'l4lb.scheduler', value: 'mh' }]);
    assert.equal(t.scheduler, 'mh');
    const table = new VipTable();
    table.upsertTask(t);
    assert.deepEqual(Object.fromEntries(table.vips().map((v) => [v.names[0]?.split('.')[0], v.scheduler])), { web: 'sh', admin: 'mh' });
  });

  it('bad values are rejected (port and task level) and the VIPs keep the default', () => {
    const t = parse([dport(8080, 'http', [{ key: 'VIP_0', value: '/web:80' }, { key: 'l4lb.scheduler', value: 'fastest' }])],
      [{ key: 'l4lb.scheduler', value: 'rr' }, { key: 'l4lb.scheduler', value: 'sh' }]);
    assert.deepEqual(t.rejected?.map((r) => [r.taskId, r.key, r.value, r.code]), [
      ['fw/t1', 'l4lb.scheduler', 'fastest', 'VIP_BAD_SCHEDULER'],
      ['fw/t1', 'l4lb.scheduler', 'rr,sh', 'VIP_BAD_SCHEDULER'],
    ]);
    assert.equal(t.scheduler, undefined);
    assert.equal(t.ports[0]?.scheduler, undefined);
    const table = new VipTable();
    table.upsertTask(t);
    assert.equal(table.vips().length, 1, 'the VIP still serves');
    assert.equal(table.vips()[0]?.scheduler, undefined);
    assert.deepEqual(table.rejected().map((r) => r.code), ['VIP_BAD_SCHEDULER', 'VIP_BAD_SCHEDULER']);
  });

  it('udp,tcp: both protocols\' ports get the port\'s scheduler', () => {
    const t = parse([{ number: 53, protocol: 'udp,tcp', name: 'dns', labels: { labels: [{ key: 'VIP_0', value: '/dns:53' }, { key: 'l4lb.scheduler', value: 'sh' }] } }]);
    assert.deepEqual(t.ports.map((p) => [p.protocol, p.scheduler]), [['tcp', 'sh'], ['udp', 'sh']]);
  });
});
