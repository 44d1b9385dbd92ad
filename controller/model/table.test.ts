import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMesosTask } from './mesos-task.js';
import { sameJson, VipTable } from './table.js';
import { port, task } from './test-helpers.js';
import type { Task, Vip } from './types.js';

const WEB = '11.225.36.193'; // web.marathon (reference vector)
const only = (t: VipTable): Vip => {
  const v = t.vips();
  assert.equal(v.length, 1, JSON.stringify(v.map((x) => x.key)));
  return v[0] as Vip;
};

describe('VipTable: add, update, remove', () => {
  it('builds a named VIP at its DC/OS address with a container-scope backend', () => {
    const t = new VipTable();
    const s = t.upsertTask(task('fw/web.1', { taskIps: ['9.0.0.5'], ports: [port(['/web:80'])] }));
    assert.deepEqual(s, { generation: 1, changed: [`tcp/${WEB}:80`], recomputed: 1, rejectedChanged: false });
    assert.deepEqual(only(t), {
      key: `tcp/${WEB}:80`, protocol: 'tcp', address: WEB, family: 4, port: 80, kind: 'named',
      names: ['web.marathon.l4lb.thisdcos.directory'], labels: ['/web:80'], sources: ['mesos'], portNames: ['http'],
      backends: [{
        ip: '9.0.0.5', port: 8080, weight: 1, taskId: 'fw/web.1', framework: 'marathon',
        source: 'mesos', state: 'running', health: 'unknown',
      }],
    });
    assert.deepEqual(t.names(), [{ name: 'web.marathon', fqdn: 'web.marathon.l4lb.thisdcos.directory', ipv4: WEB }]);
  });

  it('totals() follows every change without walking the table', () => {
    const t = new VipTable();
    const walk = () => ({ vips: t.vips().length, backends: t.vips().reduce((n, v) => n + v.backends.length, 0) });
    // A fixed pseudo-random walk of adds, moves between VIPs, re-IPs and removals.
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    for (let step = 0; step < 400; step++) {
      const id = `t${rnd(30)}`;
      if (rnd(4) === 0) t.removeTask({ source: 'mesos', id });
      else {
        const ips = Array.from({ length: 1 + rnd(3) }, (_, j) => `9.0.${rnd(4)}.${j + 1}`);
        t.upsertTask(task(id, { taskIps: ips, ports: [port([`/app${rnd(6)}:80`]), port([`/app${rnd(6)}:81`], { port: 8081 })] }));
      }
      assert.deepEqual(t.totals(), walk(), `after step ${step}`);
    }
    assert.ok(walk().vips > 0);
  });

  it('updates backends in place and removes the VIP with its last task', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { taskIps: ['9.0.0.5'], ports: [port(['/web:80'])] }));
    t.upsertTask(task('b', { taskIps: ['9.0.0.6'], ports: [port(['web:80'])] }));
    assert.deepEqual(only(t).backends.map((b) => b.ip), ['9.0.0.5', '9.0.0.6']);
    assert.deepEqual(only(t).labels, ['/web:80', 'web:80']);
    const s = t.upsertTask(task('a', { taskIps: ['9.0.0.7'], ports: [port(['/web:80'])] }));
    assert.equal(s.generation, 3);
    assert.deepEqual(only(t).backends.map((b) => b.ip), ['9.0.0.6', '9.0.0.7']);
    t.removeTask({ source: 'mesos', id: 'b' });
    assert.deepEqual(only(t).labels, ['/web:80']);
    const last = t.removeTask({ source: 'mesos', id: 'a' });
    assert.deepEqual(last.changed, [`tcp/${WEB}:80`]);
    assert.deepEqual(t.vips(), []);
    assert.deepEqual(t.names(), []);
    assert.equal(t.taskCount, 0);
  });

  it('names() is cached until an address moves; dnsGeneration moves with what DNS serves, not with backends', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { taskIps: ['9.0.0.5'], ports: [port(['/web:80'])] }));
    const first = t.names();
    assert.equal(t.names(), first, 'same array while nothing changed');
    const gen = t.dnsGeneration;
    t.upsertTask(task('a', { taskIps: ['9.0.0.5', '9.0.0.9'], ports: [port(['/web:80'])] }));
    t.upsertTask(task('a', { taskIps: ['9.0.0.5'], ports: [port(['/web:80'])], healthy: false }));
    assert.equal(t.dnsGeneration, gen, 'backend and health changes leave DNS alone');
    assert.equal(t.names(), first, 'and the cached names');
    t.upsertTask(task('a', { taskIps: ['9.0.0.5'], ports: [port(['/web:80'], { name: 'web' })] }));
    assert.ok(t.dnsGeneration > gen, 'a port name (SRV) change moves it');
    const gen2 = t.dnsGeneration;
    t.upsertTask(task('a', { taskIps: ['9.0.0.5'], ports: [port(['/web:80', '/www:80'], { name: 'web' })] }));
    assert.ok(t.dnsGeneration > gen2, 'a new name moves it');
    t.upsertTask(task('b', { taskIps: ['9.0.0.6'], ports: [port(['/api:80'])] }));
    assert.deepEqual(t.names().map((n) => n.name), ['api.marathon', 'web.marathon', 'www.marathon']);
    t.removeTask({ source: 'mesos', id: 'a' });
    assert.deepEqual(t.names().map((n) => n.name), ['api.marathon']);
    t.replaceSource('mesos', []);
    assert.deepEqual(t.names(), []);
  });

  it('ignores an identical upsert and removal of an unknown task', () => {
    const t = new VipTable();
    const web = task('a', { ports: [port(['/web:80'])] });
    t.upsertTask(web);
    const none = { generation: 1, changed: [], recomputed: 0, rejectedChanged: false };
    assert.deepEqual(t.upsertTask({ ...web }), none);
    assert.deepEqual(t.removeTask({ source: 'mesos', id: 'nope' }), none);
  });

  it('hands out frozen VIPs and rejects a malformed batch before changing anything', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { ports: [port(['/web:80'])] }));
    const v = only(t);
    assert.throws(() => (v.backends as unknown as number[]).push(1), TypeError);
    assert.throws(() => { (v.backends[0] as { weight: number }).weight = 0; }, TypeError);
    const bad = { ...task('c'), ports: undefined } as unknown as Task;
    assert.throws(() => t.apply({ upsert: [task('b', { ports: [port(['/other:80'])] }), bad] }), { code: 'MODEL_BAD_TASK' });
    assert.equal(t.taskCount, 1);
    assert.equal(t.generation, 1);
  });

  it('a terminal upsert removes the task; preparing tasks are not backends', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { ports: [port(['/web:80'])] }));
    t.upsertTask(task('a', { state: 'terminal', ports: [port(['/web:80'])] }));
    assert.equal(t.taskCount, 0);
    t.upsertTask(task('a', { state: 'preparing', ports: [port(['/web:80'])] }));
    assert.deepEqual(t.vips(), []);
    assert.equal(t.taskCount, 1);
  });
});

describe('VipTable: weights and health', () => {
  const weights = (over: Partial<Task>) => {
    const t = new VipTable();
    t.upsertTask(task('a', { ports: [port(['/web:80'])], ...over }));
    const b = only(t).backends[0];
    return [b?.weight, b?.state, b?.health];
  };
  it('running and healthy or unchecked -> 1', () => {
    assert.deepEqual(weights({}), [1, 'running', 'unknown']);
    assert.deepEqual(weights({ healthy: true }), [1, 'running', 'healthy']);
  });
  it('running and unhealthy -> 0', () => assert.deepEqual(weights({ healthy: false }), [0, 'running', 'unhealthy']));
  it('killing -> 0, so existing connections finish', () => {
    assert.deepEqual(weights({ state: 'killing' }), [0, 'killing', 'unknown']);
    assert.deepEqual(weights({ state: 'killing', healthy: true }), [0, 'killing', 'healthy']);
  });
  it('a health check with no result in the newest status -> 0', () => {
    const r = parseMesosTask({
      task_id: { value: 't' }, framework_id: { value: 'f' }, state: 'TASK_RUNNING', health_check: { type: 'TCP' },
      statuses: [
        { state: 'TASK_RUNNING', timestamp: 1, healthy: true, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '9.0.0.1' }] }] } },
        { state: 'TASK_RUNNING', timestamp: 2, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '9.0.0.1' }] }] } },
      ],
      discovery: { ports: { ports: [{ number: 80, protocol: 'tcp', labels: { labels: [{ key: 'VIP_0', value: '/web:80' }] } }] } },
    }, { source: 'mesos', frameworkName: 'marathon', agentIp: '10.0.0.1' });
    assert.ok(r.ok);
    const t = new VipTable();
    t.upsertTask(r.task);
    assert.deepEqual(only(t).backends.map((b) => [b.weight, b.health]), [[0, 'unhealthy']]);
  });
});

describe('VipTable: backend addresses', () => {
  it('host scope -> agent IP : host port; container scope -> every task IP : port', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { agentIp: '10.0.0.9', taskIps: ['172.31.254.10'], ports: [port(['/web:80'], { port: 10080, hostPort: 16424 })] }));
    t.upsertTask(task('b', { taskIps: ['9.0.0.2', '9.0.0.3'], ports: [port(['/web:80'], { port: 4044 })] }));
    assert.deepEqual(only(t).backends.map((b) => `${b.ip}:${b.port}`), ['9.0.0.2:4044', '9.0.0.3:4044', '10.0.0.9:16424']);
  });

  it('udp,tcp gives one VIP per protocol on the same address', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { ports: [port(['/dns:53'], { protocol: 'udp' }), port(['/dns:53'], { protocol: 'tcp' })] }));
    const vips = t.vips();
    assert.deepEqual(vips.map((v) => v.key), vips.map((v) => `${v.protocol}/${vips[0]?.address}:53`));
    assert.deepEqual(vips.map((v) => v.protocol), ['tcp', 'udp']);
  });

  it('a named VIP gets an address per family that has backends', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { taskIps: ['172.19.0.2', 'fd01:b::2:8000:0:2'], ports: [port(['/myapp:80'])] }));
    assert.deepEqual(t.vips().map((v) => [v.key, v.backends.map((b) => b.ip)]), [
      ['tcp/11.215.13.222:80', ['172.19.0.2']],
      ['tcp/[fd01:c::621e:db48:bbc5:ef03]:80', ['fd01:b::2:8000:0:2']],
    ]);
    assert.deepEqual(t.names(), [{
      name: 'myapp.marathon', fqdn: 'myapp.marathon.l4lb.thisdcos.directory',
      ipv4: '11.215.13.222', ipv6: 'fd01:c::621e:db48:bbc5:ef03',
    }]);
  });

  it('with IPv6 disabled, IPv6 task IPs are not backends and IPv6 IP VIPs are rejected', () => {
    const t = new VipTable({ ipv6Enabled: false });
    t.upsertTask(task('a', { taskIps: ['172.19.0.2', 'fd01:b::2'], ports: [port(['/myapp:80', '[fd00::9]:80'])] }));
    assert.deepEqual(t.vips().map((v) => v.key), ['tcp/11.215.13.222:80']);
    assert.deepEqual(t.rejected().map((r) => r.code), ['VIP_IPV6_DISABLED']);
    t.upsertTask(task('b', { taskIps: ['fd01:b::3'], ports: [port(['/v6only:80'])] }));
    assert.deepEqual(t.rejected().map((r) => [r.taskId, r.code]), [['a', 'VIP_IPV6_DISABLED'], ['b', 'VIP_NO_BACKEND_ADDRESS']]);
  });

  it('IP VIPs of both families take only backends of their family', () => {
    const t = new VipTable();
    t.upsertTask(task('a', { taskIps: ['9.0.0.1', 'fd02::1'], ports: [port(['10.1.2.3:53', 'fd00::53:53'])] }));
    assert.deepEqual(t.vips().map((v) => [v.key, v.kind, v.names, v.backends.map((b) => b.ip)]), [
      ['tcp/10.1.2.3:53', 'ip', [], ['9.0.0.1']],
      ['tcp/[fd00::53]:53', 'ip', [], ['fd02::1']],
    ]);
    t.upsertTask(task('b', { taskIps: ['9.0.0.2'], ports: [port(['fd00::54:53'])] }));
    assert.deepEqual(t.rejected().map((r) => [r.taskId, r.code]), [['b', 'VIP_NO_BACKEND_ADDRESS']]);
  });

  it('legacy VIP_PORT<n> task labels give agent IP : n-th port resource', () => {
    const r = parseMesosTask({
      task_id: { value: 't' }, framework_id: { value: 'f' }, state: 'TASK_RUNNING',
      statuses: [{ timestamp: 1, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '9.0.0.1' }] }] } }],
      labels: { labels: [{ key: 'VIP_PORT1', value: 'tcp://legacy:8080' }] },
      resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31009 }] } }],
    }, { source: 'mesos', frameworkName: 'marathon', agentIp: '10.0.0.1' });
    assert.ok(r.ok);
    const t = new VipTable();
    t.upsertTask(r.task);
    assert.deepEqual(t.vips().map((v) => [v.names[0], v.port, v.backends.map((b) => `${b.ip}:${b.port}`)]), [
      ['legacy.marathon.l4lb.thisdcos.directory', 8080, ['10.0.0.1:31001']],
    ]);
  });

  it('one (ip, port) claimed twice (two sources): the serving one, then the lower source wins', () => {
    const t = new VipTable();
    t.upsertTask(task('x', { source: 'mesos', state: 'killing', ports: [port(['/web:80'])] }));
    t.upsertTask(task('x', { source: 'marathon', ports: [port(['/web:80'])] }));
    const v = only(t);
    assert.deepEqual(v.backends.map((b) => [b.source, b.weight]), [['marathon', 1]]);
    assert.deepEqual(v.sources, ['marathon', 'mesos']);
  });
});

describe('VipTable: rejected labels', () => {
  it('skips each bad label with a reason and keeps the good ones; never throws', () => {
    const t = new VipTable();
    t.upsertTask(task('a', {
      ports: [port(['/ok:80', 'noport', ':80', '/x:0', '/x:65536', '/x:http', '/x:-1', '%%%:80', '/a.%%.b:80'])],
    }));
    t.upsertTask(task('b', { framework: '$$$', ports: [port(['/x:80'])] }));
    t.upsertTask(task('c', { agentIp: undefined, ports: [port(['/x:80'], { hostPort: 31000 })] }));
    t.upsertTask(task('d', { taskIps: [], ports: [port(['/x:80'])] }));
    assert.deepEqual(t.vips().map((v) => v.names[0]), ['ok.marathon.l4lb.thisdcos.directory']);
    assert.deepEqual(t.rejected().map((r) => [r.taskId, r.key, r.value, r.code]), [
      ['a', 'VIP_1', 'noport', 'VIP_MISSING_COLON'],
      ['a', 'VIP_2', ':80', 'VIP_EMPTY_NAME'],
      ['a', 'VIP_3', '/x:0', 'VIP_PORT_ZERO'],
      ['a', 'VIP_4', '/x:65536', 'VIP_PORT_TOO_LARGE'],
      ['a', 'VIP_5', '/x:http', 'VIP_PORT_NOT_INTEGER'],
      ['a', 'VIP_6', '/x:-1', 'VIP_PORT_ZERO'],
      ['a', 'VIP_7', '%%%:80', 'VIP_INVALID_NAME'],
      ['a', 'VIP_8', '/a.%%.b:80', 'VIP_INVALID_NAME'],
      ['b', 'VIP_0', '/x:80', 'VIP_EMPTY_FRAMEWORK'],
      ['c', 'VIP_0', '/x:80', 'VIP_NO_AGENT_IP'],
      ['d', 'VIP_0', '/x:80', 'VIP_NO_BACKEND_ADDRESS'],
    ]);
    for (const r of t.rejected()) assert.ok(r.message.length > 0 && r.source === 'mesos');
    assert.equal(t.removeTask({ source: 'mesos', id: 'a' }).rejectedChanged, true);
    assert.equal(t.rejected().length, 3);
  });

  it('passes through problems the source found', () => {
    const t = new VipTable();
    const rejected = [{ source: 'mesos', taskId: 'a', key: 'VIP_PORT9', value: 'tcp://x:1', code: 'VIP_LEGACY_INDEX_OUT_OF_RANGE' as const, message: 'm' }];
    t.upsertTask(task('a', { rejected }));
    assert.deepEqual(t.rejected(), rejected);
  });

  it('validates options with a coded error', () => {
    assert.throws(() => new VipTable({ ipv4Min: '11.0.0.10', ipv4Max: '11.0.0.1' }), { code: 'MODEL_BAD_OPTIONS' });
    assert.throws(() => new VipTable({ ipv6Min: 'nope' }), { code: 'MODEL_BAD_OPTIONS' });
  });
});

describe('sameJson', () => {
  it('agrees with comparing canonical JSON texts, on random pairs', () => {
    let seed = 3;
    const rnd = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const gen = (d: number): unknown => {
      const k = rnd(d > 2 ? 3 : 5);
      if (k === 0) return [0, 1, '1', '', null, true, false, undefined][rnd(8)];
      if (k === 1) return ['a', 'b'][rnd(2)];
      if (k === 2) return rnd(2);
      if (k === 3) return Array.from({ length: rnd(3) }, () => gen(d + 1));
      const o: Record<string, unknown> = {};
      for (const key of ['x', 'y', 'z']) if (rnd(2)) o[key] = gen(d + 1);
      return o;
    };
    const canon = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) =>
      x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x);
    let equal = 0;
    for (let n = 0; n < 3000; n++) {
      const a = gen(0);
      const b = rnd(3) === 0 ? JSON.parse(JSON.stringify({ v: a }) as string).v as unknown : gen(0);
      if (a === undefined || b === undefined) continue;
      const want = canon(a) === canon(b);
      if (want) equal++;
      assert.equal(sameJson(a, b), want, `${canon(a)} vs ${canon(b)}`);
    }
    assert.ok(equal > 500, `${equal} equal pairs`);
    assert.equal(sameJson({ a: 1, b: undefined }, { a: 1 }), true);
    assert.equal(sameJson({ b: 2, a: 1 }, { a: 1, b: 2 }), true);
    assert.equal(sameJson([1], { 0: 1 }), false);
  });
});
