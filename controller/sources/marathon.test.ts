import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MarathonEmulator, type Json } from '../../test/emulators/marathon.js';
import { makeTestPki } from '../../test/emulators/tls.js';
import { FakeTimers } from './fake-timers.js';
import { appsOfEvent, MarathonSource, type MarathonSourceOptions } from './marathon.js';
import { staticResolver } from './resolver.js';
import { captureLogger, RecordingSink, settle, waitFor } from './test-helpers.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/marathon/', import.meta.url));

const hostApp = (id: string, instances = 1): Json => ({
  id, instances, cmd: 'sleep 1000',
  portDefinitions: [{ port: 0, protocol: 'tcp', name: 'http', labels: { VIP_0: `${id}:80` } }],
});
const overlayApp = (id: string): Json => ({
  id, instances: 1, networks: [{ mode: 'container', name: 'dcos' }],
  container: { type: 'MESOS', portMappings: [{ containerPort: 8080, protocol: 'tcp', labels: { VIP_0: `${id}:8080` } }] },
});

const open: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const x of open.splice(0).reverse()) await x.stop();
});

async function marathon(opts: Parameters<typeof MarathonEmulator.start>[0] = {}): Promise<MarathonEmulator> {
  const m = await MarathonEmulator.start({ agents: [{ id: 'agent-1', host: 'agent-1.example', ip: '10.0.1.1' }], ...opts });
  open.push(m);
  return m;
}

function watch(m: MarathonEmulator, over: Partial<MarathonSourceOptions> = {}) {
  const { logger, lines } = captureLogger();
  const source = new MarathonSource({
    urls: [m.url], resolver: staticResolver({ 'agent-1.example': '10.0.1.1' }), backoff: { initialMs: 1, maxMs: 20 }, debounceMs: 5, ...over,
  }, logger);
  open.push(source);
  const sink = new RecordingSink();
  source.start(sink);
  return { source, sink, lines };
}

const synced = (sink: RecordingSink) => waitFor(() => sink.state === 'synced', 'synced');
const taskIds = (m: MarathonEmulator, app: string) => [...(m.apps.get(app)?.tasks.keys() ?? [])];

describe('Marathon source: snapshot and events', () => {
  it('opens the event stream with event_type filters, then replaces the view with every app\'s tasks', async () => {
    const m = await marathon();
    m.deployApp(hostApp('/web', 2));
    m.deployApp(overlayApp('/api'));
    const { source, sink } = watch(m);
    await synced(sink);
    const events = m.requests.find((r) => r.url.startsWith('/v2/events'));
    assert.equal(events?.headers.accept, 'text/event-stream');
    assert.deepEqual(new URL(`http://x${events?.url}`).searchParams.getAll('event_type').sort(),
      ['api_post_event', 'app_terminated_event', 'deployment_failed', 'deployment_success', 'event_stream_attached',
        'health_status_changed_event', 'instance_changed_event', 'status_update_event']);
    assert.ok(m.requests.findIndex((r) => r.url.startsWith('/v2/events')) < m.requests.findIndex((r) => r.url === '/v2/apps?embed=apps.tasks'),
      'the stream opens before the snapshot is read');
    assert.equal(sink.count('replace'), 1);
    assert.equal(sink.tasks.size, 3);
    const web = sink.tasks.get(taskIds(m, '/web')[0] as string);
    assert.equal(web?.agentIp, '10.0.1.1');
    assert.equal(web?.ports[0]?.hostPort, 31000);
    assert.equal(web?.framework, 'marathon');
    const api = sink.tasks.get(taskIds(m, '/api')[0] as string);
    assert.equal(api?.ports[0]?.port, 8080);
    assert.match(api?.taskIps[0] ?? '', /^9\.0\./);
    assert.equal(source.status().tasks, 3);
    assert.equal(source.status().endpoint, m.url + '/');
  });

  it('re-reads a deployed app and upserts its new tasks', async () => {
    const m = await marathon();
    const { sink, source } = watch(m);
    await synced(sink);
    m.deployApp(hostApp('/web', 2));
    await waitFor(() => sink.tasks.size === 2, 'two tasks');
    assert.equal(sink.count('upsert'), 2, 'each task once: unchanged tasks are not re-sent');
    assert.ok(source.counters.appReads >= 1);
    assert.ok(m.count('/v2/apps/web') >= 1);
  });

  it('kill, drain, health and removal become upserts and removes', async () => {
    const m = await marathon();
    m.deployApp({ ...hostApp('/web', 3), healthChecks: [{ protocol: 'HTTP', path: '/' }] }, { healthy: true });
    const { sink } = watch(m);
    await synced(sink);
    const [a, b, c] = taskIds(m, '/web') as [string, string, string];
    assert.equal(sink.tasks.get(a)?.healthy, true);
    m.setHealth(a, false);
    await waitFor(() => sink.tasks.get(a)?.healthy === false, 'unhealthy');
    m.killTask(b, { keepKilling: true });
    await waitFor(() => sink.tasks.get(b)?.state === 'killing', 'draining');
    m.killTask(c);
    await waitFor(() => !sink.tasks.has(c), 'killed');
    m.removeApp('/web');
    await waitFor(() => sink.tasks.size === 0, 'app removed');
  });

  it('does not apply event payloads: a false TASK_KILLED is checked against the app and ignored', async () => {
    const m = await marathon();
    m.deployApp(hostApp('/web'));
    const { sink, source } = watch(m);
    await synced(sink);
    const id = taskIds(m, '/web')[0] as string;
    const reads = source.counters.appReads;
    m.emit('status_update_event', { appId: '/web', taskId: id, taskStatus: 'TASK_KILLED', host: 'agent-1.example' });
    await waitFor(() => source.counters.appReads > reads, 're-read');
    assert.ok(sink.tasks.has(id));
    assert.equal(sink.count('remove'), 0);
  });

  it('coalesces an event storm on one app into one re-read, and on many apps into one snapshot', async () => {
    const m = await marathon();
    for (let i = 0; i < 50; i++) m.deployApp(hostApp(`/app${i}`));
    const clock = new FakeTimers();
    const { sink, source } = watch(m, { timers: clock, debounceMs: 100 });
    await synced(sink);
    const id = taskIds(m, '/app0')[0] as string;
    let events = source.counters.events;
    m.batch(() => {
      for (let i = 0; i < 500; i++) m.emit('status_update_event', { appId: '/app0', taskId: id, taskStatus: 'TASK_RUNNING' });
    });
    await waitFor(() => source.counters.events >= events + 500, '500 events received');
    clock.advance(100);
    await waitFor(() => source.counters.appReads === 1, 'one re-read');
    assert.equal(m.count('/v2/apps/app0'), 1);
    events = source.counters.events;
    const snapshots = m.count('/v2/apps');
    m.batch(() => {
      for (let i = 0; i < 50; i++) m.emit('instance_changed_event', { runSpecId: `/app${i}`, condition: 'Running' });
    });
    await waitFor(() => source.counters.events >= events + 50, '50 events received');
    clock.advance(100);
    await waitFor(() => m.count('/v2/apps') === snapshots + 1, 'one snapshot');
    await settle();
    assert.equal(source.counters.appReads, 1, 'no per-app reads for the big storm');
    assert.equal(sink.tasks.size, 50);
  });

  it('re-reads everything when an event names no app, with a warning', async () => {
    const m = await marathon();
    m.deployApp(hostApp('/web'));
    const { sink, source, lines } = watch(m);
    await synced(sink);
    m.emit('status_update_event', { taskId: 'x', taskStatus: 'TASK_RUNNING' });
    await waitFor(() => source.counters.snapshots === 2, 'a second snapshot');
    assert.ok(lines.some((l) => l['message'] === 'an event names no app; re-reading every app'));
    assert.equal(source.status().reconnects, 0);
  });

  it('reads the events.txt capture and re-reads the apps it names', async () => {
    const m = await marathon();
    const { sink, source } = watch(m);
    await synced(sink);
    m.sendRaw(readFileSync(`${FIXTURES}events.txt`, 'utf8'));
    await waitFor(() => m.count('/v2/apps/foo') === 1 && m.count('/v2/apps/test-app') === 1, 're-reads of /foo and /test-app');
    assert.equal(source.status().reconnects, 0);
    assert.equal(sink.tasks.size, 0, 'both apps are gone (404): nothing to add');
  });

  it('serves the app.json example (docker BRIDGE, IP VIP label) as one host-scope task', async () => {
    const m = await marathon();
    const app = JSON.parse(readFileSync(`${FIXTURES}app.json`, 'utf8')) as Json;
    m.deployApp({ ...app, instances: 1 }, { healthy: true });
    const { sink } = watch(m);
    await synced(sink);
    const t = [...sink.tasks.values()][0];
    assert.deepEqual(t?.ports.map((p) => [p.protocol, p.hostPort, p.vips.map((v) => v.value)]), [['tcp', 31000, ['192.168.0.1:80']]]);
    assert.equal(t?.healthy, true);
    assert.equal(t?.runtime, 'docker');
  });
});

describe('Marathon source: losing Marathon', () => {
  const faults: Array<[string, (m: MarathonEmulator) => void, string]> = [
    ['an event whose data is not JSON', (m) => m.sendBadEvent(), 'SRC_BAD_RECORD'],
    ['a clean end of the event stream', (m) => m.endStreams(), 'SRC_STREAM_ENDED'],
    ['a reset event stream', (m) => m.dropStreams(), 'SRC_CONNECT'],
    ['an HTTP 500 on a re-read', (m) => {
      m.failNext(1, 500, 'boom', '/v2/apps/web');
      m.emit('status_update_event', { appId: '/web' });
    }, 'SRC_HTTP_STATUS'],
    ['a re-read that is not JSON', (m) => {
      m.failNext(1, 200, '<html>', '/v2/apps/web');
      m.emit('status_update_event', { appId: '/web' });
    }, 'SRC_BAD_RECORD'],
  ];
  for (const [what, inject, code] of faults) {
    it(`survives ${what}: logs ${code}, keeps the tasks, reconnects and re-snapshots in one replace`, async () => {
      const m = await marathon();
      m.deployApp(hostApp('/web', 2));
      const { sink, source, lines } = watch(m);
      await synced(sink);
      const from = sink.calls.length;
      inject(m);
      await waitFor(() => source.status().reconnects >= 1 && sink.state === 'synced', 'resynced');
      assert.deepEqual(sink.trace(from).filter((c) => !c.startsWith('upsert')), ['status(stale)', `replace(${taskIds(m, '/web').sort().join(',')})`, 'status(synced)']);
      assert.equal(sink.count('remove'), 0);
      assert.ok(lines.some((l) => l['code'] === code && l['level'] === 'warn'), `a warning with ${code}`);
    });
  }

  it('retries when the event stream or the snapshot answers 500', async () => {
    const m = await marathon();
    m.deployApp(hostApp('/web'));
    m.failNext(1, 500, 'no leader', '/v2/events');
    m.failNext(1, 503, 'busy', '/v2/apps');
    const { sink, source } = watch(m);
    await synced(sink);
    assert.equal(source.status().reconnects, 2);
    assert.ok(sink.calls.some((c) => c.op === 'status' && c.lastError?.includes('HTTP 500: "no leader"')));
    assert.ok(sink.calls.some((c) => c.op === 'status' && c.lastError?.includes('HTTP 503: "busy"')));
  });

  it('reconnects after a silent event stream (no keep-alives), keeping the view', async () => {
    const m = await marathon();
    m.deployApp(hostApp('/web'));
    m.setSilent(true);
    const clock = new FakeTimers();
    const { sink, source } = watch(m, { timers: clock, idleTimeoutMs: 30_000, backoff: { initialMs: 100, random: () => 0 } });
    await synced(sink);
    clock.advance(29_999);
    await settle();
    assert.equal(sink.state, 'synced');
    const bytes = source.counters.bytes;
    m.sendRaw('\r\n'); // a Jetty keep-alive resets the watchdog
    await waitFor(() => source.counters.bytes === bytes + 2, 'keep-alive received');
    clock.advance(29_999);
    await settle();
    assert.equal(sink.state, 'synced');
    clock.advance(1);
    await waitFor(() => sink.state === 'stale', 'stale');
    assert.equal(sink.tasks.size, 1);
    clock.advance(100);
    await synced(sink);
    assert.equal(source.status().reconnects, 1);
  });

  it('sends the token, and connects over TLS with a CA file', async (t) => {
    const pki = makeTestPki();
    if (pki === undefined) {
      t.skip('openssl not found: cannot make a throwaway CA');
      return;
    }
    t.after(() => pki.cleanup());
    const m = await marathon({ tls: { key: pki.key, cert: pki.cert }, requireAuthorization: 'token=abc' });
    m.deployApp(hostApp('/web'));
    const { sink } = watch(m, { caFile: pki.caFile, auth: { token: 'abc' } });
    await synced(sink);
    assert.ok(m.requests.every((r) => r.headers.authorization === 'token=abc'));
  });
});

describe('Marathon events -> apps', () => {
  it('names the app of each event type, and undefined when an event should name one and does not', () => {
    assert.deepEqual(appsOfEvent('status_update_event', { appId: '/a' }), ['/a']);
    assert.deepEqual(appsOfEvent('instance_changed_event', { runSpecId: '/b' }), ['/b']);
    assert.deepEqual(appsOfEvent('health_status_changed_event', { appId: '/c' }), ['/c']);
    assert.deepEqual(appsOfEvent('app_terminated_event', { appId: '/d' }), ['/d']);
    assert.deepEqual(appsOfEvent('api_post_event', { appDefinition: { id: '/e' } }), ['/e']);
    assert.deepEqual(appsOfEvent('deployment_success', { plan: { steps: [{ actions: [{ app: '/f' }, { app: '/g' }] }], original: { apps: [{ id: '/h' }] } } })?.sort(), ['/f', '/g', '/h']);
    assert.deepEqual(appsOfEvent('event_stream_attached', {}), []);
    assert.deepEqual(appsOfEvent('some_new_event', {}), []);
    assert.equal(appsOfEvent('status_update_event', {}), undefined);
    assert.equal(appsOfEvent('deployment_success', { plan: {} }), undefined);
  });
});
