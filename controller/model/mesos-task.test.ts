import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  applyMesosEvent, emptySnapshot, snapshotFromState, snapshotTasks, type MesosSnapshot,
} from './mesos-state.js';
import { parseMesosTask } from './mesos-task.js';
import { asDcosNet } from './test-helpers.js';
import type { Task } from './types.js';

// dist/controller/model/ -> repository root
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIXTURE_DIRS = [`${ROOT}test/fixtures/dcos-net`, '/work/shared/fixtures/dcos-net'];

function loadSnapshot(path: string): MesosSnapshot {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 1) return snapshotFromState(JSON.parse(lines[0] as string));
  const snap = emptySnapshot();
  for (const line of lines) applyMesosEvent(snap, JSON.parse(line));
  return snap;
}


for (const dir of FIXTURE_DIRS) {
  describe(`dcos-net conformance: ${dir}`, () => {
    if (!existsSync(`${dir}/expected.json`)) {
      it('fixtures present', { skip: `${dir}/expected.json not found` }, () => {});
      return;
    }
    const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as Record<string, unknown>;
    const files = Object.keys(expected).filter((k) => !k.startsWith('_'));

    it('covers every capture file', () => {
      assert.ok(files.length >= 6, `only ${files.length} captures listed`);
    });

    for (const file of files) {
      it(`${file} parses exactly as dcos-net's tests expect`, () => {
        const { tasks, held } = snapshotTasks(loadSnapshot(`${dir}/${file}`), { source: 'mesos' });
        assert.deepEqual(held, []);
        const got = Object.fromEntries(tasks.map((t) => [t.id, asDcosNet(t)]));
        assert.deepEqual(got, expected[file]);
        for (const t of tasks) assert.equal(t.rejected, undefined, `${t.id} rejected labels`);
      });
    }
  });
}

describe('parseMesosTask', () => {
  const ctx = { source: 'mesos', frameworkName: 'marathon', agentIp: '10.0.0.1' };
  const base = {
    task_id: { value: 't1' }, framework_id: { value: 'fw' }, agent_id: { value: 'a1' },
    name: 'web', state: 'TASK_RUNNING',
    statuses: [{ state: 'TASK_RUNNING', timestamp: 2, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '9.0.0.5' }] }] } }],
  };
  const parse = (over: Record<string, unknown>): Task => {
    const r = parseMesosTask({ ...base, ...over }, ctx);
    assert.ok(r.ok);
    return r.task;
  };
  const port = (labels: Array<{ key: string; value: string }>, extra: Record<string, unknown> = {}) => ({
    discovery: { name: 'web', ports: { ports: [{ number: 8080, protocol: 'tcp', name: 'http', labels: { labels }, ...extra }] } },
  });

  it('rejects non-objects and tasks without ids', () => {
    assert.equal(parseMesosTask(null, ctx).ok, false);
    assert.equal(parseMesosTask({ task_id: { value: 'x' } }, ctx).ok, false);
  });

  it('maps Mesos states', () => {
    assert.equal(parse({ state: 'TASK_KILLING' }).state, 'killing');
    assert.equal(parse({ state: 'TASK_STAGING' }).state, 'preparing');
    assert.equal(parse({ state: 'TASK_GONE_BY_OPERATOR' }).state, 'terminal');
    assert.equal(parse({ state: undefined }).state, 'preparing');
  });

  it('reads health from the newest status by timestamp; health_check without result is unhealthy', () => {
    const statuses = [
      { state: 'TASK_RUNNING', timestamp: 5, healthy: false },
      { state: 'TASK_RUNNING', timestamp: 9, healthy: true },
      { state: 'TASK_STARTING', timestamp: 1, healthy: false },
    ];
    assert.equal(parse({ statuses }).healthy, true);
    assert.equal(parse({ health_check: { type: 'HTTP' } }).healthy, false);
    assert.equal(parse({}).healthy, undefined);
  });

  it('takes task IPs (both families, canonical) from the newest status only', () => {
    const t = parse({
      statuses: [
        { timestamp: 1, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '1.1.1.1' }] }] } },
        { timestamp: 3, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '172.19.0.2' }, { ip_address: 'FD01:B:0:0:2:8000:0:2' }, { ip_address: 'bogus' }] }] } },
      ],
    });
    assert.deepEqual(t.taskIps, ['172.19.0.2', 'fd01:b::2:8000:0:2']);
  });

  it('network-scope host makes the discovery port a host port', () => {
    const t = parse(port([{ key: 'VIP_0', value: '/web:80' }, { key: 'network-scope', value: 'host' }]));
    assert.deepEqual(t.ports, [{ name: 'http', protocol: 'tcp', hostPort: 8080, vips: [{ key: 'VIP_0', value: '/web:80' }] }]);
  });

  it('expands udp,tcp into one port per protocol', () => {
    const t = parse(port([{ key: 'VIP_0', value: '/dns:53' }], { protocol: 'UDP,tcp' }));
    assert.deepEqual(t.ports.map((p) => p.protocol), ['tcp', 'udp']);
  });

  it('skips bad ports label by label, with reasons', () => {
    const t = parse({
      discovery: { ports: { ports: [
        { number: 1, protocol: 'sctp', labels: { labels: [{ key: 'VIP_0', value: 'a:1' }] } },
        { number: 2, protocol: 'tcp', labels: { labels: [{ key: 'VIP_0', value: 'b:1' }, { key: 'network-scope', value: 'bridge' }] } },
        { number: 0, protocol: 'tcp', labels: { labels: [{ key: 'vip_x', value: 'c:1' }] } },
        { number: 3, protocol: 'tcp', labels: { labels: [{ key: 'Vip_0', value: 'ignored:1' }] } },
      ] } },
      labels: { labels: [
        { key: 'VIP_PORT7', value: 'tcp://d:1' },
        { key: 'VIP_PORTx', value: 'tcp://e:1' },
        { key: 'vip_port0', value: 'http://f:1' },
      ] },
      resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] } }],
    });
    assert.deepEqual((t.rejected ?? []).map((r) => [r.key, r.code]), [
      ['VIP_PORT7', 'VIP_LEGACY_INDEX_OUT_OF_RANGE'],
      ['VIP_PORTx', 'VIP_LEGACY_BAD_INDEX'],
      ['vip_port0', 'VIP_LEGACY_BAD_SCHEME'],
      ['VIP_0', 'VIP_UNKNOWN_PROTOCOL'],
      ['VIP_0', 'VIP_BAD_NETWORK_SCOPE'],
      ['vip_x', 'VIP_DISCOVERY_PORT_ZERO'],
    ]);
    // `Vip_0` is not a VIP key (dcos-net matches `VIP`/`vip` only): a plain port.
    assert.deepEqual(t.ports, [{ name: 'default', protocol: 'tcp', port: 3, vips: [] }]);
  });

  it('legacy VIP_PORT<n> labels index the expanded port resources', () => {
    const t = parse({
      labels: { labels: [{ key: 'VIP_PORT1', value: 'udp://legacy:53' }] },
      resources: [{ name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 31001 }] } }],
    });
    assert.deepEqual(t.ports, [{ protocol: 'udp', hostPort: 31001, vips: [{ key: 'VIP_PORT1', value: 'legacy:53' }] }]);
  });

  it('folds host ports into ports for host-networked running tasks', () => {
    const statuses = [{ timestamp: 1, container_status: { network_infos: [{ ip_addresses: [{ ip_address: '10.0.0.1' }] }] } }];
    const t = parse({ statuses, ...port([{ key: 'VIP_0', value: 'h:80' }, { key: 'network-scope', value: 'host' }]) });
    assert.deepEqual(t.ports, [{ name: 'http', protocol: 'tcp', port: 8080, vips: [{ key: 'VIP_0', value: 'h:80' }] }]);
  });

  it('merges Docker port mappings with container-scope discovery ports', () => {
    const t = parse({
      container: { type: 'DOCKER', docker: { port_mappings: [{ container_port: 8080, host_port: 20560, protocol: 'tcp' }] } },
      ...port([{ key: 'VIP_0', value: '/web:80' }]),
    });
    assert.deepEqual(t.ports, [{ name: 'http', protocol: 'tcp', port: 8080, hostPort: 20560, vips: [{ key: 'VIP_0', value: '/web:80' }] }]);
    assert.equal(t.runtime, 'docker');
  });
});
