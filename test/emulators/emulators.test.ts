// The emulators at the wire, read with bare node:http: what a client of the
// real Mesos master or Marathon would see.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { RecordIoDecoder } from '../../controller/sources/recordio.js';
import { SseParser } from '../../controller/sources/sse.js';
import { MarathonEmulator } from './marathon.js';
import { MesosMasterEmulator } from './mesos-master.js';

const open: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const x of open) await x.stop();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Opens a stream, returns the response and a function that collects what has arrived. */
function stream(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ res: http.IncomingMessage; raw: Buffer[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      const raw: Buffer[] = [];
      res.on('data', (c: Buffer) => raw.push(c));
      resolve({ res, raw, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), 'condition not met');
};

const SUBSCRIBE = { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body: '{"type":"SUBSCRIBE"}' };

describe('Mesos master emulator', () => {
  it('SUBSCRIBE: 200 chunked RecordIO, SUBSCRIBED with get_state, a HEARTBEAT, then events', async () => {
    const m = await MesosMasterEmulator.start();
    open.push(m);
    m.addAgent({ id: 'S0', hostname: '10.0.0.1' });
    m.addRecoveredAgent({ id: 'S1', hostname: '10.0.0.2' });
    m.addFramework({ id: 'F0', name: 'marathon' });
    const s = await stream(m.apiUrl, SUBSCRIBE);
    assert.equal(s.res.statusCode, 200);
    assert.equal(s.res.headers['transfer-encoding'], 'chunked');
    assert.equal(s.res.headers['content-type'], 'application/json');
    assert.equal(s.res.headers['mesos-stream-id'], undefined);
    m.addTask({ id: 't1', frameworkId: 'F0', agentId: 'S0', ips: ['9.0.0.1'] });
    m.updateTask('F0', 't1', { state: 'TASK_KILLED' });
    m.removeAgent('S0');
    await until(() => new RecordIoDecoder().push(Buffer.concat(s.raw)).length >= 5);
    const bytes = Buffer.concat(s.raw);
    assert.match(bytes.toString('latin1', 0, 40), /^\d+\n\{"type":"SUBSCRIBED"/);
    const records = new RecordIoDecoder().push(bytes).map((r) => JSON.parse(r.toString('utf8')) as Record<string, unknown>);
    assert.deepEqual(records.map((r) => r['type']), ['SUBSCRIBED', 'HEARTBEAT', 'TASK_ADDED', 'TASK_UPDATED', 'AGENT_REMOVED']);
    const sub = records[0] as { subscribed: { heartbeat_interval_seconds: number; get_state: { get_agents: { agents: unknown[]; recovered_agents: Array<{ id: { value: string } }> } } } };
    assert.equal(sub.subscribed.heartbeat_interval_seconds, 15);
    assert.equal(sub.subscribed.get_state.get_agents.agents.length, 1);
    assert.deepEqual(sub.subscribed.get_state.get_agents.recovered_agents.map((a) => a.id.value), ['S1']);
    const upd = records[3] as { task_updated: { state: string; framework_id: { value: string }; status: { timestamp: number; container_status: unknown } } };
    assert.equal(upd.task_updated.state, 'TASK_KILLED');
    assert.ok(upd.task_updated.status.container_status, 'the executor repeats the container status');
    s.close();
  });

  it('a standby answers 307 with a protocol-relative Location; no leader is 503', async () => {
    const m = await MesosMasterEmulator.start();
    open.push(m);
    m.standby('http://127.0.0.1:5050');
    const r = await request(m.apiUrl, SUBSCRIBE);
    assert.equal(r.status, 307);
    assert.equal(r.headers.location, '//127.0.0.1:5050/api/v1');
    m.standby(undefined);
    assert.equal((await request(m.apiUrl, SUBSCRIBE)).status, 503);
  });

  it('GET_STATE answers one JSON reply; a wrong content type is 415; other paths 404', async () => {
    const m = await MesosMasterEmulator.start();
    open.push(m);
    m.addFramework({ id: 'F0', name: 'marathon' });
    const r = await request(m.apiUrl, { ...SUBSCRIBE, body: '{"type":"GET_STATE"}' });
    assert.equal((JSON.parse(r.body) as { type: string }).type, 'GET_STATE');
    assert.equal((await request(m.apiUrl, { method: 'POST', body: '{"type":"SUBSCRIBE"}' })).status, 415);
    assert.equal((await request(`${m.url}/state`)).status, 404);
  });

  it('prerender(): the same SUBSCRIBED bytes, dropped by the next change', async () => {
    const m = await MesosMasterEmulator.start();
    open.push(m);
    m.addAgent({ id: 'S0', hostname: '10.0.0.1' });
    m.addFramework({ id: 'F0', name: 'marathon' });
    m.addTask({ id: 't1', frameworkId: 'F0', agentId: 'S0', ips: ['9.0.0.1'] });
    const first = async (): Promise<string> => {
      const s = await stream(m.apiUrl, SUBSCRIBE);
      await until(() => new RecordIoDecoder().push(Buffer.concat(s.raw)).length >= 1);
      s.close();
      return new RecordIoDecoder().push(Buffer.concat(s.raw))[0]!.toString('utf8');
    };
    const plain = await first();
    m.prerender();
    assert.equal(await first(), plain);
    m.addTask({ id: 't2', frameworkId: 'F0', agentId: 'S0', ips: ['9.0.0.2'] });
    const ids = (JSON.parse(await first()) as { subscribed: { get_state: { get_tasks: { tasks: Array<{ task_id: { value: string } }> } } } })
      .subscribed.get_state.get_tasks.tasks.map((t) => t.task_id.value);
    assert.deepEqual(ids, ['t1', 't2']);
    m.prerender();
    m.heartbeatIntervalSeconds = 7;
    assert.equal((JSON.parse(await first()) as { subscribed: { heartbeat_interval_seconds: number } }).subscribed.heartbeat_interval_seconds, 7);
  });

  it('sends a HEARTBEAT every interval', async () => {
    const m = await MesosMasterEmulator.start({ heartbeatIntervalSeconds: 0.02 });
    open.push(m);
    const s = await stream(m.apiUrl, SUBSCRIBE);
    await until(() => new RecordIoDecoder().push(Buffer.concat(s.raw)).length >= 4);
    s.close();
  });
});

describe('Marathon emulator', () => {
  it('/v2/events: 406 without Accept; event_type filters; event_stream_attached first; CRLF keep-alives', async () => {
    const m = await MarathonEmulator.start({ heartbeatIntervalSeconds: 0.02 });
    open.push(m);
    assert.equal((await request(`${m.url}/v2/events`)).status, 406);
    const s = await stream(`${m.url}/v2/events?event_type=event_stream_attached&event_type=status_update_event`, { headers: { Accept: 'text/event-stream' } });
    assert.equal(s.res.headers['content-type'], 'text/event-stream');
    m.deployApp({ id: '/web', instances: 1, portDefinitions: [{ port: 0 }] });
    await until(() => Buffer.concat(s.raw).toString().includes('\r\n'));
    const events = new SseParser().push(Buffer.concat(s.raw));
    assert.deepEqual(events.map((e) => e.type), ['event_stream_attached', 'status_update_event', 'status_update_event']);
    const running = JSON.parse(events[2]?.data ?? '') as Record<string, unknown>;
    assert.deepEqual(Object.keys(running).sort(), ['appId', 'eventType', 'host', 'ipAddresses', 'message', 'ports', 'slaveId', 'taskId', 'taskStatus', 'timestamp', 'version']);
    assert.equal(running['taskStatus'], 'TASK_RUNNING');
    s.close();
  });

  it('REST: apps with embedded tasks, one app, its tasks, all tasks, and 404 for unknown apps', async () => {
    const m = await MarathonEmulator.start();
    open.push(m);
    m.deployApp({ id: '/g/web', instances: 2, portDefinitions: [{ port: 0 }], healthChecks: [{ protocol: 'HTTP' }] }, { healthy: true });
    const apps = JSON.parse((await request(`${m.url}/v2/apps?embed=apps.tasks`)).body) as { apps: Array<{ id: string; tasks: unknown[]; tasksHealthy: number }> };
    assert.deepEqual(apps.apps.map((a) => [a.id, a.tasks.length, a.tasksHealthy]), [['/g/web', 2, 2]]);
    const bare = JSON.parse((await request(`${m.url}/v2/apps`)).body) as { apps: Array<{ tasks?: unknown }> };
    assert.equal(bare.apps[0]?.tasks, undefined);
    const one = JSON.parse((await request(`${m.url}/v2/apps/g/web?embed=app.tasks`)).body) as { app: { tasks: Array<Record<string, unknown>> } };
    const task = one.app.tasks[0] as Record<string, unknown>;
    for (const k of ['appId', 'healthCheckResults', 'host', 'id', 'ipAddresses', 'ports', 'servicePorts', 'slaveId', 'state', 'stagedAt', 'startedAt', 'version']) assert.ok(k in task, k);
    assert.equal((JSON.parse((await request(`${m.url}/v2/apps/g/web/tasks`)).body) as { tasks: unknown[] }).tasks.length, 2);
    assert.equal((JSON.parse((await request(`${m.url}/v2/tasks?status=running`)).body) as { tasks: unknown[] }).tasks.length, 2);
    const missing = await request(`${m.url}/v2/apps/nope`);
    assert.equal(missing.status, 404);
    assert.equal(missing.body, '{"message":"App \'/nope\' does not exist"}');
  });

  it('task addresses: the agent IP on host networking; an agent\'s containerIps in turn on a container network (IPv6 marked IPv6)', async () => {
    const m = await MarathonEmulator.start({ agents: [
      { id: 'a0', host: '10.0.0.1', ip: '10.0.0.1', containerIps: ['fd00::a', 'fd00::b'] },
      { id: 'a1', host: '10.0.0.2', ip: '10.0.0.2' },
    ] });
    open.push(m);
    const ips = (tasks: Array<Record<string, unknown>>) => tasks.map((t) => [t['host'], t['ipAddresses']]);
    const overlay = m.deployApp({ id: '/v6', instances: 4, networks: [{ mode: 'container', name: 'dcos6' }] });
    assert.deepEqual(ips(overlay), [
      ['10.0.0.1', [{ ipAddress: 'fd00::a', protocol: 'IPv6' }]],
      ['10.0.0.2', [{ ipAddress: '9.0.0.2', protocol: 'IPv4' }]],
      ['10.0.0.1', [{ ipAddress: 'fd00::b', protocol: 'IPv6' }]],
      ['10.0.0.2', [{ ipAddress: '9.0.0.3', protocol: 'IPv4' }]],
    ]);
    assert.deepEqual(ips(m.deployApp({ id: '/h', instances: 1, portDefinitions: [{ port: 0 }] })), [['10.0.0.1', [{ ipAddress: '10.0.0.1', protocol: 'IPv4' }]]]);
  });

  it('counts requests by path (for coalescing assertions)', async () => {
    const m = await MarathonEmulator.start();
    open.push(m);
    await request(`${m.url}/v2/apps`);
    await request(`${m.url}/v2/apps?embed=apps.tasks`);
    assert.equal(m.count('/v2/apps'), 2);
    assert.equal(m.count('/v2/apps', 'POST'), 0);
  });
});
