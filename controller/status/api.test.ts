// The status API over a real unix socket in a temp dir: routes, methods,
// bad input, ETags, socket permissions, stale and live sockets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createApiHandler } from './api.js';
import { StatusServer, isLoopback } from './server.js';
import type { StatusProvider } from './recorder.js';
import type { StatusView, VipDetail } from './types.js';
import { silentLogger } from '../log.js';

const dir = mkdtempSync(join(tmpdir(), 'l4lb-status-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const socket = join(dir, 'sub', 'l4lb.sock');

let ready = false;
let throwOnStatus = false;
const provider: StatusProvider = {
  dcosVips: () => [{ vip: 'myapp.marathon.l4lb.thisdcos.directory:80', protocol: 'tcp', backend: [{ ip: '203.0.113.2', port: 8080 }] }],
  vipSummaries: () => [],
  vipDetails: (ref) => (ref === 'tcp/198.51.100.7:80' ? [{ key: ref } as VipDetail] : []),
  status: () => {
    if (throwOnStatus) throw new Error('boom');
    return { ready } as StatusView;
  },
  health: () => ({ ok: true, message: 'ok' }),
  ready: () => ready,
  metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'l4lb_x 1\n' }),
};
const server = new StatusServer({ socket, handler: createApiHandler(provider, silentLogger()) });

before(() => server.start());
after(() => server.stop());

function call(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the socket is created with its directory, mode 0660', () => {
  assert.equal(statSync(socket).mode & 0o777, 0o660);
  assert.ok(statSync(socket).isSocket());
});

test('GET /v1/vips: the dcos-net shape, JSON, with an ETag that answers 304 when unchanged', async () => {
  const r = await call('GET', '/v1/vips');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(r.body), [{ vip: 'myapp.marathon.l4lb.thisdcos.directory:80', protocol: 'tcp', backend: [{ ip: '203.0.113.2', port: 8080 }] }]);
  const etag = String(r.headers.etag);
  assert.match(etag, /^".+"$/);
  const again = await call('GET', '/v1/vips', { 'If-None-Match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body, '');
  assert.equal((await call('GET', '/v1/vips', { 'If-None-Match': '"other"' })).status, 200);
});

test('/readyz answers 503 until the provider is ready, then 200; /healthz 200', async () => {
  ready = false;
  assert.equal((await call('GET', '/readyz')).status, 503);
  ready = true;
  assert.equal((await call('GET', '/readyz')).status, 200);
  assert.equal((await call('GET', '/healthz')).status, 200);
});

test('/metrics is served with the registry content type', async () => {
  const r = await call('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.equal(r.body, 'l4lb_x 1\n');
});

test('details take a percent-encoded reference; an unknown one is a JSON 404', async () => {
  const ok = await call('GET', `/v1/l4lb/vips/${encodeURIComponent('tcp/198.51.100.7:80')}`);
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), { items: [{ key: 'tcp/198.51.100.7:80' }] });
  const missing = await call('GET', '/v1/l4lb/vips/nope');
  assert.equal(missing.status, 404);
  assert.equal(JSON.parse(missing.body).error, 'not_found');
  assert.equal((await call('GET', '/v1/l4lb/vips/%E0%A4%A')).status, 400);
});

test('unknown paths are a JSON 404; wrong methods a 405 with Allow; HEAD has no body', async () => {
  for (const p of ['/', '/v1', '/v1/vipsx', '/v2/vips', '/metrics/extra', '/../etc/passwd', '/v1/l4lb/vips/a/b']) {
    const r = await call('GET', p);
    assert.equal(r.status, 404, p);
    assert.equal(JSON.parse(r.body).error, 'not_found', p);
  }
  for (const m of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const r = await call(m, '/v1/vips');
    assert.equal(r.status, 405, m);
    assert.equal(r.headers.allow, 'GET, HEAD');
  }
  const head = await call('HEAD', '/v1/status');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  // Query strings and a trailing slash do not change the route.
  assert.equal((await call('GET', '/v1/status/?x=1')).status, 200);
});

test('a handler that throws answers 500 and the server goes on', async () => {
  throwOnStatus = true;
  const r = await call('GET', '/v1/status');
  assert.equal(r.status, 500);
  assert.equal(JSON.parse(r.body).error, 'internal');
  throwOnStatus = false;
  assert.equal((await call('GET', '/v1/status')).status, 200);
});

test('garbage on the socket gets a 400 and the server goes on', async () => {
  const reply = await new Promise<string>((resolve) => {
    const c = connect(socket, () => c.write('\x00\x01 not http at all\r\n\r\n'));
    let out = '';
    c.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.on('close', () => resolve(out));
    c.on('error', () => resolve(out));
  });
  assert.match(reply, /^HTTP\/1\.1 400/);
  assert.equal((await call('GET', '/healthz')).status, 200);
});

test('a stale socket file (nobody listening) is replaced; a live one is an error; a regular file is an error', async () => {
  const stale = join(dir, 'stale.sock');
  // What a crash leaves: a process that bound the socket and died by SIGKILL (no unlink).
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  assert.ok(statSync(stale).isSocket());
  const a = new StatusServer({ socket: stale, handler: createApiHandler(provider, silentLogger()) });
  await a.start();
  const live = new StatusServer({ socket: stale, handler: createApiHandler(provider, silentLogger()) });
  await assert.rejects(live.start(), /in use: another l4lb is running/);
  await a.stop();
  assert.equal(existsSync(stale), false);

  const file = join(dir, 'plain');
  writeFileSync(file, 'x');
  await assert.rejects(new StatusServer({ socket: file, handler: () => undefined }).start(), /is not a socket/);
});

test('TCP: loopback only unless allowed', async () => {
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('127.8.9.10'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('0.0.0.0'), false);
  assert.equal(isLoopback('203.0.113.1'), false);
  await assert.rejects(new StatusServer({ listen: ['0.0.0.0:0'], handler: () => undefined }).start(), /not a loopback address/);
  await assert.rejects(new StatusServer({ listen: ['localhost:80'], handler: () => undefined }).start(), /invalid status.listen/);
  const tcp = new StatusServer({ listen: ['127.0.0.1:0'], handler: createApiHandler(provider, silentLogger()) });
  await tcp.start();
  const addr = tcp.addresses()[0]!;
  assert.match(addr, /^127\.0\.0\.1:\d+$/);
  const body = await new Promise<string>((resolve, reject) => {
    const [host, port] = addr.split(':');
    request({ host, port: Number(port), path: '/readyz' }, (res) => {
      let b = '';
      res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(`${res.statusCode} ${b}`));
    }).on('error', reject).end();
  });
  assert.match(body, /^(200|503) /);
  await tcp.stop();
});
