import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { MesosMasterEmulator, type TaskSpec } from '../../test/emulators/mesos-master.js';
import { makeTestPki } from '../../test/emulators/tls.js';
import { FakeTimers } from './fake-timers.js';
import { MesosSource, masterApiUrl, type MesosSourceOptions } from './mesos.js';
import { staticResolver, type AgentResolver } from './resolver.js';
import { captureLogger, RecordingSink, settle, waitFor } from './test-helpers.js';

const web = (n: number, over: Partial<TaskSpec> = {}): TaskSpec => ({
  id: `web.${n}`, frameworkId: 'F0', agentId: 'S0', ips: [`9.0.0.${n}`],
  ports: [{ number: 80, name: 'http', vips: ['/web:80'] }], ...over,
});

const open: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const x of open.splice(0).reverse()) await x.stop();
});

async function master(opts: Parameters<typeof MesosMasterEmulator.start>[0] = {}, tasks = [web(1), web(2)]): Promise<MesosMasterEmulator> {
  const m = await MesosMasterEmulator.start(opts);
  open.push(m);
  m.addAgent({ id: 'S0', hostname: '10.0.0.1' });
  m.addFramework({ id: 'F0', name: 'marathon' });
  for (const t of tasks) m.addTask(t);
  return m;
}

function watch(masters: string[], over: Partial<MesosSourceOptions> = {}) {
  const { logger, lines } = captureLogger();
  const source = new MesosSource({ masters, resolver: staticResolver(), backoff: { initialMs: 1, maxMs: 20 }, ...over }, logger);
  open.push(source);
  const sink = new RecordingSink();
  source.start(sink);
  return { source, sink, lines };
}

const synced = (sink: RecordingSink) => waitFor(() => sink.state === 'synced', 'synced');
const ids = (sink: RecordingSink) => [...sink.tasks.keys()].sort();

/** Advance a fake clock, then let I/O callbacks run. */
async function tick(clock: FakeTimers, ms: number): Promise<void> {
  clock.advance(ms);
  await settle();
}

describe('Mesos source: sync and events', () => {
  it('replaces the view with every task of the first SUBSCRIBED, then reports synced', async () => {
    const m = await master();
    const { source, sink } = watch([m.url]);
    await synced(sink);
    assert.deepEqual(sink.trace().filter((c) => !c.startsWith('status')), ['replace(F0/web.1,F0/web.2)']);
    const t = sink.tasks.get('F0/web.1');
    assert.equal(t?.framework, 'marathon');
    assert.equal(t?.agentIp, '10.0.0.1');
    assert.deepEqual(t?.taskIps, ['9.0.0.1']);
    assert.deepEqual(t?.ports.map((p) => p.vips.map((v) => v.value)), [['/web:80']]);
    const st = source.status();
    assert.equal(st.endpoint, `${m.url}/api/v1`);
    assert.equal(st.tasks, 2);
    assert.equal(st.kind, 'mesos');
    assert.equal(m.requests[0]?.body, '{"type":"SUBSCRIBE"}');
    assert.equal(m.requests[0]?.headers['content-type'], 'application/json');
  });

  it('events in the same chunk as SUBSCRIBED land in the one replace, with no settle wait', async () => {
    const m = await master({}, [web(1)]);
    const subscribed = JSON.stringify(m.cluster.subscribed(15));
    const added = JSON.stringify(m.cluster.addTask(web(2)));
    const agent = JSON.stringify(m.cluster.addAgent({ id: 'S1', hostname: '10.0.0.2' }));
    const onS1 = JSON.stringify(m.cluster.addTask(web(3, { agentId: 'S1' })));
    m.replay([subscribed, added, agent, onS1], { chunkBytes: 1 << 20 });
    const clock = new FakeTimers();
    const { sink } = watch([m.url], { timers: clock });
    await synced(sink);
    assert.deepEqual(sink.trace().filter((c) => !c.startsWith('status')), ['replace(F0/web.1,F0/web.2,F0/web.3)']);
  });

  it('turns TASK_ADDED, TASK_UPDATED and a terminal update into upsert, upsert, remove', async () => {
    const m = await master();
    const { sink } = watch([m.url]);
    await synced(sink);
    const from = sink.calls.length;
    m.addTask(web(3, { state: 'TASK_STAGING' }));
    m.updateTask('F0', 'web.3', { state: 'TASK_RUNNING' });
    m.updateTask('F0', 'web.1', { state: 'TASK_KILLING' });
    m.updateTask('F0', 'web.1', { state: 'TASK_KILLED' });
    await waitFor(() => sink.calls.length >= from + 4, 'four changes');
    assert.deepEqual(sink.trace(from), ['upsert(F0/web.3)', 'upsert(F0/web.3)', 'upsert(F0/web.1)', 'remove(F0/web.1)']);
    assert.equal(sink.tasks.get('F0/web.3')?.state, 'running');
    assert.deepEqual(ids(sink), ['F0/web.2', 'F0/web.3']);
  });

  it('holds a task until its agent and its framework are known', async () => {
    const m = await master({}, []);
    const { source, sink } = watch([m.url]);
    await synced(sink);
    m.addTask(web(1, { agentId: 'S9', frameworkId: 'F9' }));
    m.addFramework({ id: 'F9', name: 'kafka' });
    await waitFor(() => source.counters.events >= 3, 'events folded');
    assert.equal(sink.count('upsert'), 0, 'no agent yet');
    m.addAgent({ id: 'S9', hostname: '10.0.0.9' });
    await waitFor(() => sink.tasks.has('F9/web.1'), 'task released');
    assert.equal(sink.tasks.get('F9/web.1')?.framework, 'kafka');
    assert.equal(sink.tasks.get('F9/web.1')?.agentIp, '10.0.0.9');
  });

  it('resolves agent hostnames before parsing their tasks, keeping event order', async () => {
    const m = await MesosMasterEmulator.start();
    open.push(m);
    m.addFramework({ id: 'F0', name: 'marathon' });
    let release: (() => void) | undefined;
    const lookups: string[] = [];
    const resolver: AgentResolver = {
      peek: (h) => (h === 'agent-1.example' && release === undefined && lookups.length > 0 ? '10.1.1.1' : undefined),
      resolve: (h) => {
        lookups.push(h);
        return new Promise((r) => (release = () => { release = undefined; r('10.1.1.1'); }));
      },
    };
    const { sink } = watch([m.url], { resolver });
    await synced(sink);
    m.addAgent({ id: 'S1', hostname: 'agent-1.example' });
    m.addTask(web(1, { agentId: 'S1', ports: [{ number: 31000, vips: ['/web:80'], labels: { 'network-scope': 'host' } }] }));
    await waitFor(() => release !== undefined, 'lookup started');
    await settle();
    assert.equal(sink.count('upsert'), 0, 'the task waits for the lookup');
    release?.();
    await waitFor(() => sink.tasks.has('F0/web.1'), 'task after lookup');
    assert.equal(sink.tasks.get('F0/web.1')?.agentIp, '10.1.1.1');
    assert.deepEqual(lookups, ['agent-1.example']);
  });
});

describe('Mesos source: big records, parsed task by task', () => {
  const subscribed = (tasks: string, extra = ''): string =>
    `{"type":"SUBSCRIBED","subscribed":{"heartbeat_interval_seconds":15,"get_state":{` +
    `"get_agents":{"agents":[{"agent_info":{"id":{"value":"S0"},"hostname":"10.0.0.1"}}]},` +
    `"get_frameworks":{"frameworks":[{"framework_info":{"id":{"value":"F0"},"name":"marathon"}}]},` +
    `"get_tasks":{"tasks":[${tasks}]${extra}}}}}`;
  const task = (n: number, state = 'TASK_RUNNING') => JSON.stringify({
    task_id: { value: `web.${n}` }, framework_id: { value: 'F0' }, agent_id: { value: 'S0' }, name: 'web', state,
    statuses: [{ state, container_status: { network_infos: [{ ip_addresses: [{ ip_address: `9.0.0.${n}` }] }] }, timestamp: 1 }],
    discovery: { visibility: 'FRAMEWORK', ports: { ports: [{ number: 80, protocol: 'tcp', labels: { labels: [{ key: 'VIP_0', value: '/web:80' }] } }] } },
  });

  it('gives the same view as one JSON.parse, with terminal tasks dropped and unread lists skipped', async () => {
    const m = await master();
    const record = subscribed([task(1), task(2), task(3, 'TASK_FINISHED')].join(' ,\n'), `,"completed_tasks":[${task(4, 'TASK_FINISHED')}]`);
    m.replay([record]);
    const views: unknown[][] = [];
    for (const splitRecordBytes of [0, 1 << 30]) {
      const { source, sink } = watch([m.url], { splitRecordBytes });
      await synced(sink);
      assert.deepEqual(ids(sink), ['F0/web.1', 'F0/web.2']);
      views.push([...sink.tasks.values()].sort((a, b) => a.id.localeCompare(b.id)));
      await source.stop();
    }
    assert.deepEqual(views[0], views[1]);
  });

  it('a task that is not JSON fails the record with SRC_BAD_RECORD naming the task, and the source reconnects', async () => {
    const m = await master();
    m.replay([subscribed(`${task(1)},{"task_id":{"value":"web.2"},,}`)]);
    const { source, lines } = watch([m.url], { splitRecordBytes: 0 });
    await waitFor(() => lines.some((l) => l['code'] === 'SRC_BAD_RECORD'), 'SRC_BAD_RECORD');
    const line = lines.find((l) => l['code'] === 'SRC_BAD_RECORD')!;
    assert.match(String(line['reason']), /record 1 from .*: not JSON \(subscribed\.get_state\.get_tasks\.tasks\[1\] at byte \d+: /);
    assert.equal(source.status().state, 'connecting');
    await source.stop();
  });

  it('an unbalanced record fails with the byte offset', async () => {
    const m = await master();
    m.replay([subscribed(task(1)).replace(/\}\}\}\}$/, ']}}}')]);
    const { source, lines } = watch([m.url], { splitRecordBytes: 0 });
    await waitFor(() => lines.some((l) => l['code'] === 'SRC_BAD_RECORD'), 'SRC_BAD_RECORD');
    assert.match(String(lines.find((l) => l['code'] === 'SRC_BAD_RECORD')!['reason']), /not JSON \(expected "," or "\}", found "\]" at byte \d+\)/);
    await source.stop();
  });
});

describe('Mesos source: masters and leaders', () => {
  it('follows a standby master\'s 307 to the leader', async () => {
    const leader = await master();
    const standby = await MesosMasterEmulator.start();
    open.push(standby);
    standby.standby(leader.url);
    const { source, sink } = watch([standby.url]);
    await synced(sink);
    assert.equal(source.status().endpoint, `${leader.url}/api/v1`);
    assert.equal(standby.requests[0]?.outcome, '307');
    assert.equal(ids(sink).length, 2);
  });

  it('tries the masters in turn when the first is down', async () => {
    const down = await closedPortUrl();
    const m = await master();
    const { source, sink } = watch([down, m.url]);
    await synced(sink);
    assert.equal(source.status().endpoint, `${m.url}/api/v1`);
    assert.equal(source.status().reconnects, 0, 'one attempt went through both masters');
  });

  it('keeps retrying while no leader is elected (503), then syncs', async () => {
    const m = await master();
    m.standby(undefined);
    const { sink } = watch([m.url]);
    await waitFor(() => sink.last?.lastError?.includes('503') === true, 'error reported');
    assert.equal(sink.state, 'connecting');
    m.lead();
    await synced(sink);
  });

  it('adds /api/v1 to a bare master URL and rejects other schemes', () => {
    assert.equal(masterApiUrl('http://m1:5050').toString(), 'http://m1:5050/api/v1');
    assert.equal(masterApiUrl('https://m1:5050/mesos/api/v1').toString(), 'https://m1:5050/mesos/api/v1');
    assert.throws(() => masterApiUrl('ftp://m1'), { code: 'SRC_BAD_OPTIONS' });
    assert.throws(() => masterApiUrl('m1:5050:x'), { code: 'SRC_BAD_OPTIONS' });
  });
});

describe('Mesos source: losing the master', () => {
  it('after 3 silent heartbeat intervals goes stale, keeps its tasks, and replaces them in one step on reconnect', async () => {
    const m = await master({ heartbeatIntervalSeconds: 10 });
    const clock = new FakeTimers();
    const { source, sink, lines } = watch([m.url], { timers: clock, backoff: { initialMs: 500, maxMs: 30_000, random: () => 0 } });
    await synced(sink);
    m.setSilent(true);
    await tick(clock, 29_000);
    assert.equal(sink.state, 'synced', 'not yet: 29 s < 3 x 10 s');
    const from = sink.calls.length;
    await tick(clock, 1_000);
    assert.equal(sink.state, 'stale');
    await waitFor(() => m.subscribers === 0, 'the source hung up');
    // The cluster changes while the source is cut off.
    m.updateTask('F0', 'web.1', { state: 'TASK_KILLED' });
    m.addTask(web(3));
    assert.deepEqual(ids(sink), ['F0/web.1', 'F0/web.2'], 'the last view is kept');
    m.setSilent(false);
    await tick(clock, 500);
    await synced(sink);
    assert.deepEqual(sink.trace(from), ['status(stale)', 'replace(F0/web.2,F0/web.3)', 'status(synced)']);
    assert.equal(source.status().reconnects, 1);
    const lost = lines.find((l) => l['message'] === 'connection lost, keeping the last view');
    assert.ok(lost, 'one line for the loss');
    assert.equal(lost['source'], 'mesos');
    assert.ok(String(lost['endpoint']).startsWith(m.url));
    assert.equal(lost['code'], 'SRC_TIMEOUT');
    assert.match(String(lost['reason']), /no bytes from .* for 30000 ms \(heartbeat interval 10 s\)/);
  });

  it('counts only silence: a heartbeat resets the watchdog', async () => {
    const m = await master({ heartbeatIntervalSeconds: 10 });
    const clock = new FakeTimers();
    const { source, sink } = watch([m.url], { timers: clock });
    await synced(sink);
    for (let i = 0; i < 5; i++) {
      const before = source.counters.records;
      await tick(clock, 20_000);
      m.send({ type: 'HEARTBEAT' });
      await waitFor(() => source.counters.records > before, 'heartbeat received');
    }
    assert.equal(sink.state, 'synced');
    assert.equal(source.status().reconnects, 0);
  });

  const malformed: Array<[string, (m: MesosMasterEmulator) => void, string]> = [
    ['a bad RecordIO length', (m) => m.sendBadLength(), 'SRC_RECORDIO_BAD_LENGTH'],
    ['a record truncated by the end of the stream', (m) => m.sendTruncated(), 'SRC_RECORDIO_TRUNCATED'],
    ['a record that is not JSON', (m) => m.sendNonJson(), 'SRC_BAD_RECORD'],
    ['a TASK_ADDED whose task is a string', (m) => void m.send({ type: 'TASK_ADDED', task_added: { task: 'web.9' } }), 'SRC_BAD_RECORD'],
    ['a TASK_UPDATED whose state is a number', (m) => void m.send({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'F0' }, state: 7, status: { task_id: { value: 'web.1' } } } }), 'SRC_BAD_RECORD'],
    ['an AGENT_ADDED without an agent id', (m) => void m.send({ type: 'AGENT_ADDED', agent_added: { agent: { agent_info: { hostname: 'x' } } } }), 'SRC_BAD_RECORD'],
    ['a record that is a JSON array', (m) => m.sendRaw('2\n[]'), 'SRC_BAD_RECORD'],
    ['a clean end of the stream', (m) => m.endStreams(), 'SRC_STREAM_ENDED'],
    ['a reset connection', (m) => m.dropStreams(), 'SRC_CONNECT'],
  ];
  for (const [what, inject, code] of malformed) {
    it(`survives ${what}: logs ${code} with context, keeps the tasks, reconnects and resyncs`, async () => {
      const m = await master();
      const { source, sink, lines } = watch([m.url]);
      await synced(sink);
      const from = sink.calls.length;
      inject(m);
      await waitFor(() => source.status().reconnects >= 1 && sink.state === 'synced', 'resynced');
      const trace = sink.trace(from);
      assert.deepEqual(trace, ['status(stale)', 'replace(F0/web.1,F0/web.2)', 'status(synced)']);
      const line = lines.find((l) => l['code'] === code);
      assert.ok(line, `a log line with ${code}: ${JSON.stringify(lines.filter((l) => l['level'] === 'warn'))}`);
      assert.equal(line['level'], 'warn');
      assert.ok(typeof line['reason'] === 'string' && line['reason'] !== '');
    });
  }

  it('skips an unknown event type with one warning, without reconnecting', async () => {
    const m = await master();
    const { source, sink, lines } = watch([m.url]);
    await synced(sink);
    m.send({ type: 'TASK_TELEPORTED', task_teleported: {} });
    m.send({ type: 'TASK_TELEPORTED', task_teleported: {} });
    m.addTask(web(3));
    await waitFor(() => sink.tasks.has('F0/web.3'), 'later events still folded');
    assert.equal(source.status().reconnects, 0);
    assert.equal(lines.filter((l) => l['message'] === 'ignoring an unknown event type').length, 1);
  });

  it('rejects a stream that does not start with SUBSCRIBED', async () => {
    const m = await master();
    m.replay(['{"type":"HEARTBEAT"}']);
    const { sink, lines } = watch([m.url]);
    await waitFor(() => lines.some((l) => String(l['reason']).includes('not SUBSCRIBED')), 'reported');
    assert.equal(sink.state, 'connecting');
    m.replay(undefined);
    await synced(sink);
  });

  it('retries after an HTTP 500, reporting it', async () => {
    const m = await master();
    m.failNext(2, 500, 'boom');
    const { source, sink } = watch([m.url]);
    await synced(sink);
    assert.equal(source.status().reconnects, 2);
    assert.ok(sink.calls.some((c) => c.op === 'status' && c.lastError?.includes('HTTP 500: "boom"')));
  });

  it('gives up on a master that never answers (connect deadline) and retries', async () => {
    const m = await master();
    m.stallNext(1);
    const clock = new FakeTimers();
    const { sink } = watch([m.url], { timers: clock, connectTimeoutMs: 5_000, backoff: { initialMs: 100, random: () => 0 } });
    await waitFor(() => m.requests.length === 1, 'request sent');
    await tick(clock, 5_000);
    assert.match(sink.last?.lastError ?? '', /no response within 5000 ms/);
    await tick(clock, 100);
    await synced(sink);
  });

  it('stop() closes the stream and reports stopped', async () => {
    const m = await master();
    const { source, sink } = watch([m.url]);
    await synced(sink);
    assert.equal(m.subscribers, 1);
    await source.stop();
    await waitFor(() => m.subscribers === 0, 'stream closed');
    assert.equal(sink.state, 'stopped');
    m.addTask(web(3));
    await settle();
    assert.equal(sink.tasks.has('F0/web.3'), false);
  });
});

describe('Mesos source: failover recovery', () => {
  it('waits for recovered agents to re-register (and settle) before replacing the view', async () => {
    const m = await master({}, [web(1)]);
    m.addRecoveredAgent({ id: 'S1', hostname: '10.0.0.2' });
    const clock = new FakeTimers();
    const { source, sink } = watch([m.url], { timers: clock, recovery: { maxWaitMs: 60_000, settleMs: 2_000 } });
    await waitFor(() => source.counters.events >= 1, 'SUBSCRIBED folded');
    m.addAgent({ id: 'S1', hostname: '10.0.0.2' });
    m.addTask(web(2, { agentId: 'S1' }));
    await waitFor(() => source.counters.events >= 3, 'events folded');
    assert.equal(sink.count('replace'), 0, 'nothing published while agents recover');
    await tick(clock, 1_999);
    assert.equal(sink.count('replace'), 0, 'still settling');
    await tick(clock, 1);
    assert.deepEqual(sink.trace().filter((c) => c.startsWith('replace')), ['replace(F0/web.1,F0/web.2)']);
    assert.equal(sink.state, 'synced');
  });

  it('publishes without agents that do not come back within maxWaitMs', async () => {
    const m = await master({}, [web(1)]);
    m.addRecoveredAgent({ id: 'S1', hostname: '10.0.0.2' });
    const clock = new FakeTimers();
    const { source, sink, lines } = watch([m.url], { timers: clock, missedHeartbeats: 100, recovery: { maxWaitMs: 60_000, settleMs: 2_000 } });
    await waitFor(() => source.counters.events >= 1, 'SUBSCRIBED folded');
    await tick(clock, 60_000);
    assert.deepEqual(ids(sink), ['F0/web.1']);
    assert.ok(lines.some((l) => l['message'] === 'recovered agents did not re-register in time; publishing without them'));
  });
});

describe('Mesos source: authentication and TLS', () => {
  it('sends a DC/OS token as `Authorization: token=...`', async () => {
    const m = await master({ requireAuthorization: 'token=s3cret' });
    const { sink } = watch([m.url], { auth: { token: 's3cret' } });
    await synced(sink);
    assert.equal(m.requests[0]?.headers.authorization, 'token=s3cret');
  });

  it('sends HTTP basic credentials', async () => {
    const m = await master({ requireAuthorization: `Basic ${Buffer.from('ops:pa:ss').toString('base64')}` });
    const { sink } = watch([m.url], { auth: { basic: { username: 'ops', password: 'pa:ss' } } });
    await synced(sink);
  });

  it('reports a 401 when the credentials are missing', async () => {
    const m = await master({ requireAuthorization: 'token=s3cret' });
    const { sink } = watch([m.url]);
    await waitFor(() => sink.last?.lastError?.includes('HTTP 401') === true, '401 reported');
    assert.equal(sink.state, 'connecting');
  });

  it('connects over TLS with a CA file, and refuses a server the CA did not sign', async (t) => {
    const pki = makeTestPki();
    if (pki === undefined) {
      t.skip('openssl not found: cannot make a throwaway CA');
      return;
    }
    t.after(() => pki.cleanup());
    const m = await master({ tls: { key: pki.key, cert: pki.cert } });
    assert.ok(m.url.startsWith('https://'));
    const ok = watch([m.url], { caFile: pki.caFile });
    await synced(ok.sink);
    const bad = watch([m.url]);
    await waitFor(() => /certificate/i.test(bad.sink.last?.lastError ?? ''), 'certificate error');
    assert.equal(bad.sink.state, 'connecting');
  });

  it('refuses to start with an unreadable CA file', () => {
    const { logger } = captureLogger();
    assert.throws(() => new MesosSource({ masters: ['https://127.0.0.1:1'], caFile: '/nonexistent/ca.pem' }, logger), { code: 'SRC_BAD_OPTIONS' });
  });
});

async function closedPortUrl(): Promise<string> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
