// The CLI against a real status API server on a temp unix socket (data from a
// fake provider): formats, --socket/--server, not found, a missing or stale
// socket, --watch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yaml from 'js-yaml';

import { run } from './program.js';
import { createApiHandler, StatusServer, type StatusProvider, type VipDetail, type VipSummary, type StatusView } from '../status/index.js';
import { silentLogger } from '../log.js';

const dir = mkdtempSync(join(tmpdir(), 'l4lb-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const socket = join(dir, 'l4lb.sock');
const NOW = Date.parse('2024-05-01T12:00:00Z');

const summary = (over: Partial<VipSummary> = {}): VipSummary => ({
  key: 'tcp/198.51.100.7:80', names: ['myapp.marathon.l4lb.thisdcos.directory'], address: '198.51.100.7', family: 4, protocol: 'tcp', port: 80,
  kind: 'named', labels: ['/myapp:80'], portNames: ['http'], sources: ['marathon'], scheduler: 'wlc', forwarding: true, failing: false,
  since: new Date(NOW - 60_000).toISOString(), backends: { ready: 1, total: 1 },
  backendList: [{ ip: '203.0.113.2', port: 31000, weight: 1, state: 'active', taskId: 'myapp.1', framework: 'marathon', source: 'marathon' }],
  ...over,
});

let vips: VipSummary[] = [summary()];
const provider: StatusProvider = {
  dcosVips: () => [],
  vipSummaries: () => vips,
  vipDetails: (ref) => (ref === 'myapp.marathon' ? vips.map((v) => ({ ...v, events: [] }) as VipDetail) : []),
  status: () => ({ version: '0.1.0', pid: 1, startedAt: new Date(NOW).toISOString(), synced: true, ready: true, sources: [], reconcile: { passes: 3, driftRepairs: 0, errors: 0, recentErrors: [], failingVips: [] }, vips: 1, backends: 1, draining: 0, rejected: [], rejectedTotal: 0 }) as StatusView,
  health: () => ({ ok: true, message: 'ok' }),
  ready: () => true,
  metrics: async () => ({ contentType: 'text/plain', body: '' }),
};
const server = new StatusServer({ socket, listen: ['127.0.0.1:0'], handler: createApiHandler(provider, silentLogger()) });
before(() => server.start());
after(() => server.stop());

async function cli(args: string[], sleep?: (ms: number) => Promise<void>): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { out: (s) => void (out += s), err: (s) => void (err += s), now: () => NOW, ...(sleep ? { sleep } : {}) });
  return { code, out, err };
}

test('get vips: table, json, yaml, name through --socket', async () => {
  const t = await cli(['get', 'vips', '--socket', socket]);
  assert.equal(t.code, 0, t.err);
  assert.equal(t.out.split('\n')[1], 'myapp.marathon   198.51.100.7   TCP        80     1/1        wlc         60s');
  const j = await cli(['get', 'vips', '-o', 'json', '--socket', socket]);
  assert.deepEqual(JSON.parse(j.out), vips);
  const y = await cli(['get', 'vips', '-o', 'yaml', '--socket', socket]);
  assert.deepEqual(yaml.load(y.out), vips);
  assert.equal((await cli(['get', 'vips', '-o', 'name', '--socket', socket])).out, 'tcp/198.51.100.7:80\n');
});

test('--server reaches the TCP listener; L4LB_STATUS_SOCKET is the default socket', async () => {
  const tcp = server.addresses().find((a) => a.startsWith('127.'))!;
  const r = await cli(['status', '--server', `http://${tcp}`]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^Daemon: +l4lb 0\.1\.0/);
  process.env.L4LB_STATUS_SOCKET = socket;
  try {
    assert.equal((await cli(['get', 'backends'])).code, 0);
  } finally {
    delete process.env.L4LB_STATUS_SOCKET;
  }
});

test('describe and endpoints of a known name; an unknown VIP is one line on stderr and exit 1', async () => {
  const d = await cli(['describe', 'vip', 'myapp.marathon', '--socket', socket]);
  assert.equal(d.code, 0, d.err);
  assert.match(d.out, /^Name: +myapp\.marathon\.l4lb\.thisdcos\.directory\n/);
  const e = await cli(['endpoints', 'myapp.marathon', '--socket', socket]);
  assert.deepEqual(JSON.parse(e.out), { address: ['203.0.113.2:31000'], dns: ['myapp.marathon.l4lb.thisdcos.directory:80'], vip: 'myapp.marathon.l4lb.thisdcos.directory:80' });
  const missing = await cli(['describe', 'vip', 'nope', '--socket', socket]);
  assert.equal(missing.code, 1);
  assert.equal(missing.out, '');
  assert.equal(missing.err, 'l4lb: vip "nope" not found (see l4lb get vips)\n');
});

test('no daemon: a missing socket, a stale socket, a refused port: one line each, exit 3', async () => {
  const none = await cli(['get', 'vips', '--socket', join(dir, 'absent.sock')]);
  assert.equal(none.code, 3);
  assert.equal(none.err, `l4lb: cannot reach the l4lb daemon at ${join(dir, 'absent.sock')}: no such socket (is l4lb run running?)\n`);
  const stale = join(dir, 'stale.sock');
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  const s = await cli(['status', '--socket', stale]);
  assert.equal(s.code, 3);
  assert.match(s.err, /^l4lb: cannot reach the l4lb daemon at .*stale\.sock: nobody is listening on the socket \(l4lb run stopped or crashed\?\)\n$/);
  const refused = await cli(['describe', 'vip', 'x', '--server', 'http://127.0.0.1:1']);
  assert.equal(refused.code, 3);
  assert.equal(refused.err.split('\n').length, 2, 'exactly one line');
  const bad = await cli(['get', 'vips', '--server', 'ftp://x']);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^l4lb: --server must be an http:\/\/ URL/);
});

test('get vips --watch: the list, then a row per change; ends with the daemon', async () => {
  vips = [summary()];
  let step = 0;
  const sleep = async () => {
    step++;
    if (step === 1) vips = [summary({ backends: { ready: 2, total: 2 } })];
    if (step === 2) vips = [summary({ backends: { ready: 2, total: 2 } })]; // unchanged: 304, nothing printed
    if (step === 3) vips = [];
    if (step === 4) await server.stop();
  };
  const r = await cli(['get', 'vips', '--watch', '--socket', socket], sleep);
  await server.start();
  vips = [summary()];
  assert.equal(r.code, 3, r.err);
  const lines = r.out.trimEnd().split('\n');
  assert.equal(lines.length, 4, r.out);
  assert.match(lines[0]!, /^EVENT +NAME +ADDRESS/);
  assert.match(lines[1]!, /^ADDED +myapp\.marathon .* 1\/1 /);
  assert.match(lines[2]!, /^MODIFIED +myapp\.marathon .* 2\/2 /);
  assert.match(lines[3]!, /^DELETED +myapp\.marathon /);
  assert.match(r.err, /^l4lb: cannot reach the l4lb daemon/);
});
