import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VipTable, type Task } from '../model/index.js';
import { appPorts, discoveryName, networkMode, taskHealth, taskState, tasksFromApp, type MarathonContext } from './marathon-app.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/marathon/', import.meta.url));
const CTX: MarathonContext = { source: 'marathon', framework: 'marathon' };

const running = (id: string, over: Record<string, unknown> = {}) => ({
  id, appId: '/x', host: '10.0.0.5', state: 'TASK_RUNNING', ports: [31000, 31001], ipAddresses: [{ ipAddress: '9.0.0.5', protocol: 'IPv4' }], ...over,
});

function one(app: Record<string, unknown>, ctx: MarathonContext = CTX): Task {
  const r = tasksFromApp(app, ctx);
  assert.deepEqual(r.problems, []);
  assert.equal(r.tasks.length, 1);
  return r.tasks[0] as Task;
}

const ports = (t: Task) => t.ports.map((p) => ({ ...p, vips: p.vips.map((v) => `${v.key}=${v.value}`) }));

describe('Marathon app -> tasks: host networking', () => {
  it('the reference app: portDefinitions label on the task host port, as my-service.marathon', () => {
    const app = {
      id: '/my-service', cmd: 'sleep 10', cpus: 1,
      portDefinitions: [{ protocol: 'tcp', port: 5555, labels: { VIP_0: '/my-service:5555' }, name: 'my-vip' }],
      tasks: [running('my-service.1')],
    };
    const t = one(app);
    assert.deepEqual(ports(t), [{ name: 'my-vip', protocol: 'tcp', hostPort: 31000, vips: ['VIP_0=/my-service:5555'] }]);
    assert.equal(t.agentIp, '10.0.0.5');
    assert.equal(t.name, 'my-service');
    assert.equal(t.framework, 'marathon');
    const table = new VipTable();
    table.replaceSource('marathon', [t]);
    const v = table.vips()[0];
    assert.equal(v?.names[0], 'my-service.marathon.l4lb.thisdcos.directory');
    assert.equal(v?.address, '11.134.216.93');
    assert.equal(v?.port, 5555);
    assert.deepEqual(v?.backends.map((b) => `${b.ip}:${b.port}`), ['10.0.0.5:31000']);
  });

  it('takes networks [{mode: host}] and no networks alike; ignores a user network-scope label', () => {
    const defs = [{ port: 0, protocol: 'tcp', labels: { VIP_0: 'a:80', 'network-scope': 'container' } }];
    for (const extra of [{}, { networks: [{ mode: 'host' }] }, { container: { type: 'DOCKER', docker: { network: 'HOST' } } }]) {
      const t = one({ id: '/a', portDefinitions: defs, tasks: [running('a.1')], ...extra });
      assert.deepEqual(t.ports.map((p) => [p.hostPort, p.port]), [[31000, undefined]]);
    }
  });

  it('maps the i-th port definition to the i-th host port; `udp,tcp` gives both protocols', () => {
    const t = one({
      id: '/dns', portDefinitions: [{ port: 0, name: 'admin' }, { port: 0, protocol: 'udp,tcp', name: 'dns', labels: { VIP_0: '/dns:53' } }],
      tasks: [running('dns.1')],
    });
    assert.deepEqual(ports(t), [
      { name: 'admin', protocol: 'tcp', hostPort: 31000, vips: [] },
      { name: 'dns', protocol: 'tcp', hostPort: 31001, vips: ['VIP_0=/dns:53'] },
      { name: 'dns', protocol: 'udp', hostPort: 31001, vips: ['VIP_0=/dns:53'] },
    ]);
  });

  it('reads the legacy `ports` list when there are no portDefinitions', () => {
    const t = one({ id: '/old', ports: [10013, 10015], tasks: [running('old.1')] });
    assert.deepEqual(t.ports.map((p) => p.hostPort), [31000, 31001]);
  });

  it('skips ports of a task that has no host ports yet (staging)', () => {
    const t = one({ id: '/a', portDefinitions: [{ port: 0, labels: { VIP_0: 'a:80' } }], tasks: [running('a.1', { state: 'TASK_STAGING', ports: [] })] });
    assert.deepEqual(t.ports, []);
    assert.equal(t.state, 'preparing');
  });
});

describe('Marathon app -> tasks: container networking', () => {
  it('the app.json example (docker BRIDGE): hostPort 0 is host scope on the task host port', () => {
    const app = JSON.parse(readFileSync(`${FIXTURES}app.json`, 'utf8')) as Record<string, unknown>;
    assert.equal(networkMode(app), 'container/bridge');
    const t = one({ ...app, tasks: [running('foo.1', { ports: [31776] })] });
    assert.deepEqual(ports(t), [{ name: 'http', protocol: 'tcp', hostPort: 31776, vips: ['vip=192.168.0.1:80'] }]);
    assert.equal(t.runtime, 'docker');
    assert.equal(t.healthy, false, 'one health check, no result yet');
  });

  it('container mode: a mapping without hostPort is container scope on each task IP', () => {
    const app = {
      id: '/svc', networks: [{ name: 'dcos', mode: 'container' }],
      container: { type: 'MESOS', portMappings: [{ containerPort: 8080, servicePort: 8080, protocol: 'tcp', labels: { VIP_0: 'service:8080' } }] },
      tasks: [running('svc.1', { ports: [], ipAddresses: [{ ipAddress: '9.0.2.3' }, { ipAddress: 'fd01:b::2:3' }] })],
    };
    const t = one(app);
    assert.deepEqual(ports(t), [{ protocol: 'tcp', port: 8080, vips: ['VIP_0=service:8080'] }]);
    assert.deepEqual(t.taskIps, ['9.0.2.3', 'fd01:b::2:3']);
    assert.equal(t.runtime, 'mesos');
  });

  it('counts host ports only over the mappings that have one', () => {
    const app = {
      id: '/mixed', networks: [{ mode: 'container', name: 'dcos' }],
      container: { portMappings: [
        { containerPort: 80, labels: { VIP_0: 'a:80' } },
        { containerPort: 81, hostPort: 0, labels: { VIP_0: 'b:81' } },
        { containerPort: 82, hostPort: 10082, labels: { VIP_0: 'c:82' } },
      ] },
      tasks: [running('m.1', { ports: [31555, 10082] })],
    };
    assert.deepEqual(appPorts(app).map((p) => [p.scope, p.hostPortIndex, p.containerPort]),
      [['container', undefined, 80], ['host', 0, undefined], ['host', 1, undefined]]);
    assert.deepEqual(one(app).ports.map((p) => [p.port, p.hostPort]), [[80, undefined], [undefined, 31555], [undefined, 10082]]);
  });

  it('prefers container.portMappings over the deprecated docker.portMappings', () => {
    const app = {
      id: '/d', networks: [{ mode: 'container/bridge' }],
      container: { type: 'DOCKER', portMappings: [{ containerPort: 80, hostPort: 0, labels: { VIP_0: 'new:80' } }],
        docker: { portMappings: [{ containerPort: 80, hostPort: 0, labels: { VIP_0: 'old:80' } }] } },
      tasks: [running('d.1')],
    };
    assert.deepEqual(one(app).ports[0]?.vips, [{ key: 'VIP_0', value: 'new:80' }]);
  });

  it('reads the legacy ipAddress.discovery.ports (IP per task)', () => {
    const app = { id: '/ipt', ipAddress: { discovery: { ports: [{ number: 8080, name: 'rest', protocol: 'tcp', labels: { VIP_0: 'rest:80' } }] } }, tasks: [running('ipt.1')] };
    assert.equal(networkMode(app), 'container');
    assert.deepEqual(ports(one(app)), [{ name: 'rest', protocol: 'tcp', port: 8080, vips: ['VIP_0=rest:80'] }]);
  });
});

describe('Marathon app -> tasks: labels, health, states', () => {
  it('VIP keys start with VIP or vip (not Vip); non-string values are ignored', () => {
    const app = { id: '/k', portDefinitions: [{ port: 0, labels: { VIP_0: 'a:1', vip_x: 'b:2', Vip_0: 'c:3', VIP_9: 5, other: 'd:4' } }], tasks: [running('k.1')] };
    assert.deepEqual(one(app).ports[0]?.vips.map((v) => v.key), ['VIP_0', 'vip_x']);
  });

  it('rejects the VIP labels of a port with an unknown protocol, one by one', () => {
    const t = one({ id: '/p', portDefinitions: [{ port: 0, protocol: 'sctp', labels: { VIP_0: 'a:1', VIP_1: 'b:2' } }], tasks: [running('p.1')] });
    assert.deepEqual(t.ports, []);
    assert.deepEqual(t.rejected?.map((r) => [r.key, r.code, r.taskId, r.source]), [
      ['VIP_0', 'VIP_UNKNOWN_PROTOCOL', 'p.1', 'marathon'], ['VIP_1', 'VIP_UNKNOWN_PROTOCOL', 'p.1', 'marathon'],
    ]);
  });

  it('reads legacy app labels VIP_PORT<n> on the n-th host port in ascending order', () => {
    const app = { id: '/l', labels: { VIP_PORT1: 'tcp://legacy:80', vip_port0: 'udp://dns:53', VIP_PORT7: 'tcp://x:1', VIP_PORTX: 'tcp://y:1', VIP_PORT2: 'http://z:1', owner: 'me' }, portDefinitions: [], tasks: [running('l.1', { ports: [31009, 31002] })] };
    const t = one(app);
    assert.deepEqual(ports(t), [
      { protocol: 'tcp', hostPort: 31009, vips: ['VIP_PORT1=legacy:80'] },
      { protocol: 'udp', hostPort: 31002, vips: ['vip_port0=dns:53'] },
    ]);
    assert.deepEqual(t.rejected?.map((r) => [r.key, r.code]).sort(), [
      ['VIP_PORT2', 'VIP_LEGACY_BAD_SCHEME'], ['VIP_PORT7', 'VIP_LEGACY_INDEX_OUT_OF_RANGE'], ['VIP_PORTX', 'VIP_LEGACY_BAD_INDEX'],
    ]);
  });

  it('health: none without checks; with checks, every check alive', () => {
    const checks = { healthChecks: [{ protocol: 'HTTP' }, { protocol: 'TCP' }] };
    assert.equal(taskHealth({}, { healthCheckResults: [{ alive: false }] }), undefined);
    assert.equal(taskHealth(checks, { healthCheckResults: [{ alive: true }, { alive: true }] }), true);
    assert.equal(taskHealth(checks, { healthCheckResults: [{ alive: true }, { alive: false }] }), false);
    assert.equal(taskHealth(checks, { healthCheckResults: [{ alive: true }] }), false, 'a check has not reported');
    assert.equal(taskHealth(checks, {}), false, 'no result yet');
  });

  it('states: Mesos names, and startedAt for Marathon versions without `state`', () => {
    assert.equal(taskState({ state: 'TASK_RUNNING' }), 'running');
    assert.equal(taskState({ state: 'TASK_KILLING' }), 'killing');
    assert.equal(taskState({ state: 'TASK_STAGING' }), 'preparing');
    assert.equal(taskState({ state: 'TASK_KILLED' }), 'terminal');
    assert.equal(taskState({ startedAt: '2015-08-26T20:23:44.678Z' }), 'running');
    assert.equal(taskState({ stagedAt: '2015-08-26T20:23:39.463Z' }), 'preparing');
  });

  it('agent IP: resolved host, else an IPv4 literal host, else none', () => {
    const app = (host: string) => ({ id: '/h', tasks: [running('h.1', { host })] });
    assert.equal(one(app('srv4.example.com'), { ...CTX, resolveHost: (h) => (h === 'srv4.example.com' ? '10.4.4.4' : undefined) }).agentIp, '10.4.4.4');
    assert.equal(one(app('10.0.0.7')).agentIp, '10.0.0.7');
    assert.equal(one(app('srv4.example.com')).agentIp, undefined);
  });

  it('uses the configured framework name (a second Marathon)', () => {
    assert.equal(one({ id: '/a', tasks: [running('a.1')] }, { ...CTX, framework: 'marathon-user' }).framework, 'marathon-user');
  });

  it('names: /group/app -> app.group', () => {
    assert.equal(discoveryName('/g/app'), 'app.g');
    assert.equal(discoveryName('/a/b/c'), 'c.b.a');
    assert.equal(discoveryName('web'), 'web');
  });

  it('survives wrong types anywhere, reporting what it cannot use', () => {
    for (const app of [null, 7, 'x', [], {}, { id: 5 }]) assert.deepEqual(tasksFromApp(app, CTX).tasks, []);
    assert.deepEqual(tasksFromApp({ id: '/x' }, CTX).problems, []);
    const r = tasksFromApp({ id: '/w', portDefinitions: 'x', container: { portMappings: 7 }, labels: [1], tasks: [{ id: 3 }, 'x', running('w.1', { ports: ['a'], ipAddresses: 'x', healthCheckResults: 1 })] }, CTX);
    assert.deepEqual(r.problems, ['app /w: a task without a string "id"', 'app /w: a task without a string "id"']);
    assert.equal(r.tasks.length, 1);
    assert.deepEqual(r.tasks[0]?.ports, []);
    assert.deepEqual(tasksFromApp({}, CTX).problems, ['an app without a string "id"']);
  });
});

describe('Marathon app -> tasks: the l4lb.scheduler label', () => {
  const app = (extra: Record<string, unknown> = {}, portLabels: Record<string, unknown> = {}) => ({
    id: '/web',
    portDefinitions: [
      { port: 0, name: 'http', labels: { VIP_0: '/web:80', ...portLabels } },
      { port: 0, name: 'admin', labels: { VIP_0: '/admin:81' } },
    ],
    tasks: [running('web.1'), running('web.2', { host: '10.0.0.6' })],
    ...extra,
  });
  const schedulers = (tasks: readonly Task[]): Record<string, string | undefined> => {
    const t = new VipTable();
    t.replaceSource('marathon', [...tasks]);
    return Object.fromEntries(t.vips().map((v) => [v.names[0]?.split('.')[0], v.scheduler]));
  };

  it('a port label is that port\'s scheduler, not a VIP label', () => {
    const r = tasksFromApp(app({}, { 'l4lb.scheduler': 'rr' }), CTX);
    assert.deepEqual(r.tasks[0]?.ports.map((p) => [p.name, p.scheduler, p.vips.map((v) => v.key)]), [['http', 'rr', ['VIP_0']], ['admin', undefined, ['VIP_0']]]);
    assert.deepEqual(schedulers(r.tasks), { web: 'rr', admin: undefined });
  });

  it('an app label (TaskInfo.labels) applies to every VIP of the task; the port label wins over it', () => {
    const r = tasksFromApp(app({ labels: { 'l4lb.scheduler': 'sh' } }, { 'l4lb.scheduler': 'rr' }), CTX);
    assert.deepEqual(r.tasks.map((t) => t.scheduler), ['sh', 'sh']);
    assert.deepEqual(schedulers(r.tasks), { web: 'rr', admin: 'sh' });
    assert.deepEqual(schedulers(tasksFromApp(app({ labels: { 'l4lb.scheduler': 'sh' } }), CTX).tasks), { web: 'sh', admin: 'sh' });
  });

  it('bad values: each task reports VIP_BAD_SCHEDULER, the VIPs keep the default; a non-string is no label', () => {
    const r = tasksFromApp(app({ labels: { 'l4lb.scheduler': 'RR' } }, { 'l4lb.scheduler': 'fastest' }), CTX);
    assert.deepEqual(r.tasks.flatMap((t) => (t.rejected ?? []).map((x) => [x.taskId, x.key, x.value, x.code])), [
      ['web.1', 'l4lb.scheduler', 'fastest', 'VIP_BAD_SCHEDULER'],
      ['web.1', 'l4lb.scheduler', 'RR', 'VIP_BAD_SCHEDULER'],
      ['web.2', 'l4lb.scheduler', 'fastest', 'VIP_BAD_SCHEDULER'],
      ['web.2', 'l4lb.scheduler', 'RR', 'VIP_BAD_SCHEDULER'],
    ]);
    assert.deepEqual(schedulers(r.tasks), { web: undefined, admin: undefined });
    const n = tasksFromApp(app({ labels: { 'l4lb.scheduler': 7 } }), CTX);
    assert.equal(n.tasks[0]?.rejected, undefined);
    assert.equal(n.tasks[0]?.scheduler, undefined);
  });

  it('container networking: a port mapping label too', () => {
    const t = one({
      id: '/c', networks: [{ mode: 'container', name: 'dcos' }],
      container: { portMappings: [{ containerPort: 80, labels: { VIP_0: '/c:80', 'l4lb.scheduler': 'mh' } }] },
      tasks: [running('c.1')],
    });
    assert.deepEqual(t.ports.map((p) => [p.port, p.scheduler]), [[80, 'mh']]);
  });
});
