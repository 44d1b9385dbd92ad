// The operator surface end to end in a real kernel: `l4lb run` (a real
// process) against the Marathon emulator with real HTTP backends in their own
// namespaces; the real CLI (`bin/l4lb get|describe|endpoints|status`) and raw
// HTTP against its status API; what they say is checked against the kernel
// (`ipvsadm -Sn`), and `describe` counters against real traffic. SRV via dig.
//
// Named VIPs come from 198.51.100.0/24 (documentation range, inside this
// kernel): no test traffic ever leaves the test kernel or loopback.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, cleanupAfter, createBackend, ipvsadm, ipvsTable as kernelTable, run, type Backend } from './lib.js';
import { MarathonEmulator } from '../emulators/marathon.js';
import { Daemon, countLandings, deployHttpApp, dig, e2eDaemonFlags, l4lb, until } from './e2e-lib.js';
import type { DcosVip, StatusView, VipDetail, VipSummary } from '../../controller/status/types.js';

requireKernel();
const cleanup = cleanupAfter();
const DNS_PORT = 5353;
const API_PORT = 9190;
const MYAPP = 'myapp.marathon.l4lb.thisdcos.directory';
const dir = mkdtempSync(join(tmpdir(), 'l4lb-operator-'));
const stateDir = join(dir, 'state');
const socket = join(dir, 'run', 'l4lb.sock');

let backends: Backend[] = [];
let marathon: MarathonEmulator | undefined;
let marathonPort = 0;
let daemon: Daemon;

const cli = (...args: string[]) => run(process.execPath, [l4lb, ...args, '--socket', socket], { timeoutMs: 60_000 });

/** A raw HTTP request on the status socket (or the TCP listener with `tcp`). */
function api(method: string, path: string, opts: { tcp?: boolean; raw?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const where = opts.tcp ? { host: '127.0.0.1', port: API_PORT } : { socketPath: socket };
    const req = request({ ...where, method, path, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const getJson = async <T>(path: string): Promise<T> => {
  const r = await api('GET', path);
  assert.equal(r.status, 200, `${path}: ${r.body}`);
  return JSON.parse(r.body) as T;
};

/** Prometheus text -> sample name with labels -> value; throws on a line that is not exposition format. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})?) (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(line);
    assert.ok(m, `not Prometheus text: ${JSON.stringify(line)}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

const sum = (m: Map<string, number>, prefix: string) => [...m].filter(([k]) => k.startsWith(prefix)).reduce((a, [, v]) => a + v, 0);

async function startMarathon(): Promise<void> {
  marathon = await MarathonEmulator.start({ port: marathonPort, agents: backends.map((b, i) => ({ id: `agent-${i}`, host: b.addr, ip: b.addr })) });
  cleanup.add(() => marathon?.stop());
  await deployHttpApp(marathon, backends, { id: '/myapp', instances: 3, vip: '/myapp:80' }, cleanup);
  await deployHttpApp(marathon, backends, { id: '/web', instances: 1, vip: '/web:8080', portName: 'Web_UI' }, cleanup);
}

before(async () => {
  backends = [await createBackend(0, cleanup), await createBackend(1, cleanup), await createBackend(2, cleanup)];
  // Reserve a port for Marathon, then leave it closed: the daemon starts before Marathon answers.
  const probe = await MarathonEmulator.start();
  marathonPort = Number(new URL(probe.url).port);
  await probe.stop();
});

after(async () => {
  await daemon?.kill('SIGKILL');
});

test('with no daemon running, every API command prints one line and exits 3', async () => {
  for (const args of [['get', 'vips'], ['status'], ['describe', 'vip', 'myapp.marathon'], ['endpoints', 'myapp.marathon'], ['get', 'backends']]) {
    const r = await cli(...args);
    assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, `l4lb: cannot reach the l4lb daemon at ${socket}: no such socket (is l4lb run running?)\n`);
  }
});

test('/readyz is 503 until the first pass after every source synced, then 200; /healthz is 200 throughout', async () => {
  daemon = new Daemon([
    '--marathon', `http://127.0.0.1:${marathonPort}`,
    '--dns-listen', `127.0.0.1:${DNS_PORT}`,
    '--status-socket', socket,
    '--status-listen', `127.0.0.1:${API_PORT}`,
    ...e2eDaemonFlags(stateDir),
  ]);
  cleanup.add(() => daemon.kill('SIGKILL'));
  await until('the status socket', async () => (existsSync(socket) ? true : undefined));
  assert.equal((await run('stat', ['-c', '%a %F', socket])).stdout.trim(), '660 socket');
  const notReady = await api('GET', '/readyz');
  assert.equal(notReady.status, 503, notReady.body);
  assert.equal((await api('GET', '/healthz')).status, 200);
  const st = await getJson<StatusView>('/v1/status');
  assert.equal(st.ready, false);
  assert.equal(st.synced, false);
  assert.notEqual(st.sources[0]!.state, 'synced');
  assert.equal((await cli('get', 'vips')).stdout, 'No VIPs found.\n');

  await startMarathon();
  await until('/readyz 200', async () => ((await api('GET', '/readyz')).status === 200 ? true : undefined), 60_000);
  const ready = await getJson<StatusView>('/v1/status');
  assert.equal(ready.ready, true);
  assert.equal(ready.sources[0]!.state, 'synced');
  assert.ok(ready.reconcile.passes >= 1);
});

test('get vips (table and JSON) says what the kernel has', async () => {
  // Both VIPs forward: services with every backend in the kernel.
  const vips = await until('both VIPs forwarding', async () => {
    const list = JSON.parse((await cli('get', 'vips', '-o', 'json')).stdout) as VipSummary[];
    return list.length === 2 && list.every((v) => v.forwarding && v.backends.total > 0) ? list : undefined;
  });
  const kernel = await kernelTable();
  for (const v of vips) {
    const k = kernel.get(v.key);
    assert.ok(k, `${v.key} is not in the kernel: ${[...kernel.keys()].join(', ')}`);
    assert.equal(k.scheduler, v.scheduler);
    assert.deepEqual([...k.dests.keys()].sort(), v.backendList.map((b) => `${b.ip}:${b.port}`).sort());
    for (const b of v.backendList) assert.equal(k.dests.get(`${b.ip}:${b.port}`), b.weight);
  }
  const myapp = vips.find((v) => v.names.includes(MYAPP))!;
  assert.deepEqual(myapp.backends, { ready: 3, total: 3 });
  assert.deepEqual(myapp.portNames, ['http']);

  const table = (await cli('get', 'vips')).stdout.trimEnd().split('\n');
  assert.deepEqual(table[0]!.split(/ {3,}/), ['NAME', 'ADDRESS', 'PROTOCOL', 'PORT', 'BACKENDS', 'SCHEDULER', 'AGE']);
  const rows = table.slice(1).map((l) => l.split(/ {3,}/));
  assert.deepEqual(rows.map((r) => r.slice(0, 6)).sort(), vips.map((v) => [v.names[0]!.replace('.l4lb.thisdcos.directory', ''), v.address, 'TCP', String(v.port), `${v.backends.ready}/${v.backends.total}`, 'wlc']).sort());
  // Columns are aligned: every row's ADDRESS starts where the header's does.
  const col = table[0]!.indexOf('ADDRESS');
  for (const l of table.slice(1)) assert.match(l.slice(col), /^198\.51\.100\.\d+ /);
  const wide = (await cli('get', 'vips', '-o', 'wide')).stdout;
  assert.match(wide.split('\n')[0]!, /SOURCES/);
  assert.match(wide, /Forwarding +marathon +http/);
  assert.equal((await cli('get', 'vips', '-o', 'name')).stdout.trim().split('\n').sort().join(','), vips.map((v) => v.key).sort().join(','));
});

test('GET /v1/vips has dcos-net\'s shape and the kernel\'s backends, on the socket and the loopback TCP port', async () => {
  const viaTcp = await api('GET', '/v1/vips', { tcp: true });
  assert.equal(viaTcp.status, 200);
  const list = JSON.parse(viaTcp.body) as DcosVip[];
  const viaSocket = await getJson<DcosVip[]>('/v1/vips');
  assert.deepEqual(viaSocket, list);
  assert.deepEqual(list.map((e) => e.vip).sort(), [`${MYAPP}:80`, 'web.marathon.l4lb.thisdcos.directory:8080']);
  const kernel = await kernelTable();
  const summaries = await getJson<VipSummary[]>('/v1/l4lb/vips');
  for (const e of list) {
    assert.deepEqual(Object.keys(e).sort(), ['backend', 'protocol', 'vip']);
    assert.equal(e.protocol, 'tcp');
    for (const b of e.backend) assert.deepEqual(Object.keys(b).sort(), ['ip', 'port']);
    const key = summaries.find((s) => `${s.names[0]}:${s.port}` === e.vip)!.key;
    assert.deepEqual(e.backend.map((b) => `${b.ip}:${b.port}`).sort(), [...kernel.get(key)!.dests.keys()].sort());
  }
  assert.match(String(viaTcp.headers['etag']), /^".+"$/);
});

test('describe: live kernel counters move when traffic flows through the VIP', async () => {
  const before = (JSON.parse((await cli('describe', 'vip', 'myapp.marathon', '-o', 'json')).stdout) as VipDetail[])[0]!;
  assert.ok(before.kernel, 'the kernel side is there');
  const conns0 = before.kernel.stats.connections;
  const bytes0 = before.kernel.stats.bytesOut;
  const counts = await countLandings(`http://${before.address}:80/`, 9);
  assert.deepEqual(Object.values(counts).sort(), [3, 3, 3], JSON.stringify(counts));
  const after = await until('counters to move', async () => {
    const d = (JSON.parse((await cli('describe', 'vip', `${before.address}:80`, '-o', 'json')).stdout) as VipDetail[])[0]!;
    return d.kernel && d.kernel.stats.connections >= conns0 + 9 && d.kernel.stats.bytesOut > bytes0 ? d : undefined;
  });
  // Every backend took its three connections.
  for (const b of after.backendList) {
    const was = before.backendList.find((x) => x.ip === b.ip && x.port === b.port)!.kernel!.connections;
    assert.equal(b.kernel!.connections - was, 3, `${b.ip}:${b.port}`);
    assert.equal(b.state, 'active');
    assert.match(b.taskId ?? '', /^myapp\./);
  }
  const text = (await cli('describe', 'vip', 'myapp.marathon')).stdout;
  assert.match(text, new RegExp(`^Name: +${MYAPP.replace(/\./g, '\\.')}\\n`));
  assert.match(text, new RegExp(`\\n {2}Connections: +${after.kernel!.stats.connections}\\n`));
  assert.match(text, /\nBackends:\n {2}ADDRESS +WEIGHT +STATE +ACTIVE +INACTIVE +CONNS/);
  assert.match(text, /\nEvents:\n {2}REASON +AGE +MESSAGE\n(.*\n)* {2}Added +\S+ +IPVS service created \(scheduler wlc\)/);
  // get backends VIP: the kernel's connection counts per backend.
  const gb = (await cli('get', 'backends', 'myapp.marathon')).stdout.trimEnd().split('\n');
  assert.equal(gb.length, 4);
  assert.match(gb[1]!, /^myapp\.marathon:80\/tcp +203\.0\.113\.\d+:\d+ +1 +active +\d+ +\d+ +\d+ +myapp\./);
});

test('endpoints: the DC/OS shape with the kernel\'s backends', async () => {
  const r = await cli('endpoints', 'myapp.marathon');
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout) as { address: string[]; dns: string[]; vip: string };
  assert.deepEqual(Object.keys(e), ['address', 'dns', 'vip']);
  assert.equal(e.vip, `${MYAPP}:80`);
  assert.deepEqual(e.dns, [`${MYAPP}:80`]);
  const key = (await getJson<VipSummary[]>('/v1/l4lb/vips')).find((v) => v.names.includes(MYAPP))!.key;
  assert.deepEqual([...e.address].sort(), [...(await kernelTable()).get(key)!.dests.keys()].sort());
  const missing = await cli('describe', 'vip', 'nope.marathon');
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'l4lb: vip "nope.marathon" not found (see l4lb get vips)\n');
});

test('the API refuses what it should: unknown paths 404, other methods 405 with Allow, garbage 400; the daemon goes on', async () => {
  for (const p of ['/', '/v1', '/v1/vip', '/v2/vips', '/v1/status/x', '/%ff', '/v1/l4lb/vips/%E0%A4%A']) {
    const r = await api('GET', p);
    assert.ok(r.status === 404 || r.status === 400, `${p}: ${r.status}`);
    assert.doesNotThrow(() => JSON.parse(r.body), p);
  }
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    for (const p of ['/v1/vips', '/metrics', '/readyz']) {
      const r = await api(m, p);
      assert.equal(r.status, 405, `${m} ${p}`);
      assert.equal(r.headers['allow'], 'GET, HEAD');
    }
  }
  const reply = await new Promise<string>((resolve) => {
    const c = connect(socket, () => c.end('GET /v1/vips HTTP/9.9\r\nHost: \x00\x01\r\n\r\n'));
    let out = '';
    c.setEncoding('utf8').on('data', (d: string) => (out += d)).on('close', () => resolve(out)).on('error', () => resolve(out));
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.equal((await api('GET', '/healthz')).status, 200);
  assert.equal(daemon.proc.exitCode, null);
});

test('/metrics is Prometheus text; passes, operations, sources and event-to-kernel latency count up', async () => {
  const m0 = parseMetrics((await api('GET', '/metrics')).body);
  assert.ok(sum(m0, 'l4lb_reconcile_passes_total{') >= 1);
  assert.ok((m0.get('l4lb_ipvs_operations_total{kind="add-service",result="ok"}') ?? 0) >= 2);
  assert.ok((m0.get('l4lb_ipvs_operations_total{kind="add-destination",result="ok"}') ?? 0) >= 4);
  assert.equal(m0.get('l4lb_source_state{source="marathon",state="synced"}'), 1);
  assert.equal(m0.get('l4lb_vips'), 2);
  assert.equal(m0.get('l4lb_backends'), 4);
  assert.equal(m0.get('l4lb_ready'), 1);
  assert.ok((m0.get('l4lb_dns_queries_total{type="A",rcode="NOERROR"}') ?? 0) >= 0);
  assert.ok(m0.has('process_resident_memory_bytes'));
  // A change (scale up) reaches the kernel: one more latency sample, more passes.
  const lat0 = m0.get('l4lb_event_to_kernel_seconds_count') ?? 0;
  marathon!.scaleApp('/myapp', 4);
  const m1 = await until('a latency sample for the change', async () => {
    const m = parseMetrics((await api('GET', '/metrics', { tcp: true })).body);
    return (m.get('l4lb_event_to_kernel_seconds_count') ?? 0) > lat0 ? m : undefined;
  });
  assert.ok(sum(m1, 'l4lb_reconcile_passes_total{') > sum(m0, 'l4lb_reconcile_passes_total{'));
  assert.ok((m1.get('l4lb_reconcile_pass_duration_seconds_count{trigger="change"}') ?? 0) >= 1);
  marathon!.scaleApp('/myapp', 3);
});

test('a drift repair shows in status, metrics and the VIP\'s events', async () => {
  const vip = (await getJson<VipSummary[]>('/v1/l4lb/vips')).find((v) => v.names.includes(MYAPP))!;
  const repairs0 = (await getJson<StatusView>('/v1/status')).reconcile.driftRepairs;
  await until('the scaled-down task drained out', async () => ((await kernelTable()).get(vip.key)?.dests.size === 3 ? true : undefined), 30_000);
  await ipvsadm('-D', '-t', `${vip.address}:80`);
  const st = await until('a drift repair', async () => {
    const s = await getJson<StatusView>('/v1/status');
    return s.reconcile.driftRepairs > repairs0 ? s : undefined;
  }).catch(async (e: Error) => {
    const events = (await getJson<{ items: VipDetail[] }>(`/v1/l4lb/vips/${encodeURIComponent(vip.key)}`)).items[0]?.events;
    const passes = daemon.lines.filter((l) => l.message === 'reconcile pass').slice(-6);
    throw new Error(`${e.message}: events ${JSON.stringify(events)}; passes ${JSON.stringify(passes)}`);
  });
  assert.ok((await kernelTable()).has(vip.key));
  assert.ok(st.reconcile.driftRepairs >= repairs0 + 4, 'the service and its three backends');
  const m = parseMetrics((await api('GET', '/metrics')).body);
  assert.equal(m.get('l4lb_drift_repairs_total'), st.reconcile.driftRepairs);
  const d = (await getJson<{ items: VipDetail[] }>(`/v1/l4lb/vips/${encodeURIComponent(vip.key)}`)).items[0]!;
  assert.ok(d.events.some((e) => e.reason === 'Repaired' && /IPVS service created/.test(e.message)), JSON.stringify(d.events));
  const text = (await cli('status')).stdout;
  assert.match(text, /\nReady: +true\n/);
  assert.match(text, new RegExp(`\\nDrift Repairs: +${st.reconcile.driftRepairs}\\n`));
  assert.match(text, /\nSources:\n {2}SOURCE .*\n {2}marathon +synced /);
});

test('SRV records for named ports, via dig', async () => {
  const srv = (name: string) =>
    new Promise<string>((resolve) =>
      execFile('dig', ['@127.0.0.1', '-p', String(DNS_PORT), '+short', '+time=2', '+tries=1', 'SRV', name], (_e, out) => resolve(String(out).trim())),
    );
  assert.equal(await srv(`_http._tcp.${MYAPP}`), `0 0 80 ${MYAPP}.`);
  assert.equal(await srv('_web-ui._tcp.web.marathon.l4lb.thisdcos.directory'), '0 0 8080 web.marathon.l4lb.thisdcos.directory.');
  assert.equal(await srv('_http._tcp.myapp.marathon.dclb.thisdcos.directory'), '0 0 80 myapp.marathon.dclb.thisdcos.directory.');
  assert.equal(await srv(`_http._udp.${MYAPP}`), '');
  assert.equal(await srv(`_nope._tcp.${MYAPP}`), '');
  // The SRV target resolves to the VIP the kernel forwards.
  const addr = await dig(DNS_PORT, MYAPP);
  assert.ok((await kernelTable()).has(`tcp/${addr}:80`));
  const m = parseMetrics((await api('GET', '/metrics')).body);
  assert.ok((m.get('l4lb_dns_queries_total{type="SRV",rcode="NOERROR"}') ?? 0) >= 3);
  assert.ok((m.get('l4lb_dns_queries_total{type="SRV",rcode="NXDOMAIN"}') ?? 0) >= 2);
});

test('a second daemon on the same socket refuses to start and touches nothing; SIGTERM removes the socket', async () => {
  const second = await run(process.execPath, [l4lb, 'run', '--marathon', `http://127.0.0.1:${marathonPort}`, '--status-socket', socket, '--dns-listen', '127.0.0.1:5354', '--state-dir', join(dir, 'state2'), '--log-format', 'json'], { timeoutMs: 30_000 });
  assert.equal(second.code, 1, second.stderr);
  assert.match(second.stderr, /status socket .* is in use: another l4lb is running/);
  assert.equal((await api('GET', '/readyz')).status, 200, 'the first daemon still serves');
  await daemon.kill('SIGTERM');
  assert.equal(daemon.proc.exitCode, 0);
  assert.equal(existsSync(socket), false);
  const r = await cli('status');
  assert.equal(r.code, 3);
  assert.equal(r.stderr.split('\n').length, 2, r.stderr);
});
