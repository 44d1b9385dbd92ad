import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { applyMesosEvent, emptySnapshot, rawTask, snapshotFromState, snapshotTask, snapshotTasks, type MesosSnapshot } from './mesos-state.js';
import { VipTable } from './table.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/dcos-net/', import.meta.url));
const OPTS = { source: 'mesos' };

function load(file: string): MesosSnapshot {
  const lines = readFileSync(`${FIXTURES}${file}`, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 1) return snapshotFromState(JSON.parse(lines[0] as string));
  const snap = emptySnapshot();
  for (const l of lines) applyMesosEvent(snap, JSON.parse(l));
  return snap;
}

const subscribed = {
  type: 'SUBSCRIBED',
  subscribed: {
    heartbeat_interval_seconds: 15,
    get_state: {
      get_agents: { agents: [{ agent_info: { id: { value: 'S0' }, hostname: '10.0.0.1' } }], recovered_agents: [{ id: { value: 'S1' }, hostname: '10.0.0.2' }] },
      get_frameworks: { frameworks: [{ framework_info: { id: { value: 'F0' }, name: 'marathon' } }] },
      get_tasks: { tasks: [] },
    },
  },
};
const added = (id: string, agent: string, fw = 'F0') => ({
  type: 'TASK_ADDED',
  task_added: { task: {
    task_id: { value: id }, framework_id: { value: fw }, agent_id: { value: agent }, name: id, state: 'TASK_STAGING',
    discovery: { name: id, ports: { ports: [{ number: 80, protocol: 'tcp', labels: { labels: [{ key: 'VIP_0', value: `/${id}:80` }] } }] } },
  } },
});
const updated = (id: string, state: string, statusState = state, ts = 1, fw = 'F0') => ({
  type: 'TASK_UPDATED',
  task_updated: { framework_id: { value: fw }, state, status: {
    task_id: { value: id }, state: statusState, timestamp: ts,
    container_status: { network_infos: [{ ip_addresses: [{ ip_address: '9.0.0.7' }] }] },
  } },
});

describe('applyMesosEvent', () => {
  it('SUBSCRIBED resets; TASK_ADDED/UPDATED name the tasks to re-parse', () => {
    const snap = emptySnapshot();
    assert.deepEqual(applyMesosEvent(snap, subscribed), { kind: 'reset' });
    assert.deepEqual(applyMesosEvent(snap, added('web', 'S0')), { kind: 'tasks', taskIds: ['F0/web'] });
    assert.deepEqual(applyMesosEvent(snap, updated('web', 'TASK_RUNNING')), { kind: 'tasks', taskIds: ['F0/web'] });
    assert.deepEqual(applyMesosEvent(snap, { type: 'HEARTBEAT' }), { kind: 'none' });
    const r = snapshotTask(snap, 'F0/web', OPTS);
    assert.ok(r?.ok);
    assert.equal(r.task.state, 'running');
    assert.deepEqual(r.task.taskIps, ['9.0.0.7']);
  });

  it('keeps only the newest status: 1,000 updates (out of order) do not grow the task', () => {
    const snap = emptySnapshot();
    applyMesosEvent(snap, subscribed);
    applyMesosEvent(snap, added('web', 'S0'));
    for (let i = 1; i <= 1000; i++) {
      // Timestamps arrive shuffled; the newest (1000) must win whenever it came.
      const ts = i === 500 ? 1000 : i === 1000 ? 500 : i;
      applyMesosEvent(snap, updated('web', 'TASK_RUNNING', 'TASK_RUNNING', ts));
    }
    const raw = rawTask(snap, 'F0/web')!;
    assert.equal((raw['statuses'] as unknown[]).length, 1);
    assert.equal(((raw['statuses'] as Array<Record<string, unknown>>)[0]!)['timestamp'], 1000);
    const r = snapshotTask(snap, 'F0/web', OPTS);
    assert.ok(r?.ok);
    assert.equal(r.task.state, 'running');
  });

  it('uses the event state, which can be ahead of status.state', () => {
    const snap = emptySnapshot();
    applyMesosEvent(snap, subscribed);
    applyMesosEvent(snap, added('web', 'S0'));
    applyMesosEvent(snap, updated('web', 'TASK_KILLING', 'TASK_RUNNING', 2));
    const r = snapshotTask(snap, 'F0/web', OPTS);
    assert.equal(r?.ok && r.task.state, 'killing');
  });

  it('drops terminal tasks but still names them, so the table removes them', () => {
    const snap = emptySnapshot();
    applyMesosEvent(snap, subscribed);
    applyMesosEvent(snap, added('web', 'S0'));
    assert.deepEqual(applyMesosEvent(snap, updated('web', 'TASK_KILLED')), { kind: 'tasks', taskIds: ['F0/web'] });
    assert.equal(snapshotTask(snap, 'F0/web', OPTS), undefined);
    assert.equal(snap.tasks.size, 0);
  });

  it('holds tasks until their agent and framework are known (recovered agents are not agents)', () => {
    const snap = emptySnapshot();
    applyMesosEvent(snap, subscribed);
    applyMesosEvent(snap, added('a', 'S1'));
    applyMesosEvent(snap, added('b', 'S0', 'F9'));
    assert.deepEqual(snapshotTasks(snap, OPTS).held.map((h) => [h.id, h.reason]), [['F0/a', 'unknown_agent'], ['F9/b', 'unknown_framework']]);
    assert.deepEqual(applyMesosEvent(snap, { type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { id: { value: 'S1' }, hostname: 'agent-1.example' } } } }),
      { kind: 'tasks', taskIds: ['F0/a'] });
    assert.equal(snapshotTask(snap, 'F0/a', OPTS)?.ok, false);
    const resolved = snapshotTask(snap, 'F0/a', { ...OPTS, resolveAgent: (h) => (h === 'agent-1.example' ? '10.0.0.2' : undefined) });
    assert.equal(resolved?.ok && resolved.task.agentIp, '10.0.0.2');
    assert.deepEqual(applyMesosEvent(snap, { type: 'FRAMEWORK_ADDED', framework_added: { framework: { framework_info: { id: { value: 'F9' }, name: 'kafka' } } } }),
      { kind: 'tasks', taskIds: ['F9/b'] });
    const b = snapshotTask(snap, 'F9/b', OPTS);
    assert.equal(b?.ok && b.task.framework, 'kafka');
  });

  it('ignores malformed events instead of throwing', () => {
    const snap = emptySnapshot();
    for (const e of [null, 42, {}, { type: 'TASK_ADDED' }, { type: 'TASK_UPDATED', task_updated: {} }, { type: 'AGENT_ADDED', agent_added: {} }]) {
      assert.deepEqual(applyMesosEvent(snap, e), { kind: 'none' });
    }
  });
});

describe('captures end to end: Mesos JSON -> Task -> VIP table', () => {
  const table = (file: string) => {
    const t = new VipTable();
    t.replaceSource('mesos', snapshotTasks(load(file), OPTS).tasks);
    return t.vips().map((v) => [v.protocol, v.names[0], v.port, v.backends.map((b) => `${b.ip}:${b.port}/${b.weight}`)]);
  };
  const fq = (n: string) => `${n}.l4lb.thisdcos.directory`;

  it('recovered-agents.json: host-scope port -> agent IP : host port', () => {
    assert.deepEqual(table('recovered-agents.json'), [['tcp', fq('web.marathon'), 10080, ['172.17.0.4:16424/1']]]);
  });

  it('vip-labels.json: discovery and legacy labels on a host-networked task', () => {
    const got = table('vip-labels.json');
    assert.deepEqual(got.map((r) => [r[1], r[2], r[3]]).sort(), [
      [fq('abc.marathon'), 80, ['172.17.0.3:9999/1']],
      [fq('cbd.marathon'), 80, ['172.17.0.3:9999/1']],
      [fq('def.marathon'), 80, ['172.17.0.3:9999/1']],
      [fq('jkl.marathon'), 80, ['172.17.0.3:10000/1']],
      [fq('xyz.marathon'), 443, ['172.17.0.3:10001/1']],
    ]);
  });

  it('tcp-and-udp.json: one VIP per protocol', () => {
    assert.deepEqual(table('tcp-and-udp.json'), [
      ['tcp', fq('app.marathon'), 80, ['172.17.0.3:6416/1']],
      ['udp', fq('app.marathon'), 80, ['172.17.0.3:6416/1']],
    ]);
  });

  it('unhealthy.json: weight 0', () => {
    assert.deepEqual(table('unhealthy.json'), [['tcp', fq('foobar.marathon'), 80, ['9.0.1.6:80/0']]]);
  });

  it('hello-overlay.json: SDK VIPs, overlay and host networks', () => {
    assert.deepEqual(table('hello-overlay.json').map((r) => [r[1], r[3]]).sort(), [
      [fq('api.hello-world.marathon'), ['10.0.0.49:19630/1']],
      [fq('host-vip.hello-world'), ['10.0.0.49:4044/1']],
      [fq('overlay-vip.hello-world'), ['9.0.2.3:4044/1']],
    ]);
  });

  it('pod-tasks.json: no VIPs', () => assert.deepEqual(table('pod-tasks.json'), []));
});
