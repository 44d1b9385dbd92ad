import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { authorizationHeader, HttpClient, showUrl } from './http.js';
import { realTimers } from './timers.js';

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
const servers: http.Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function serve(handler: Handler): Promise<string> {
  const s = http.createServer(handler);
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

const client = (opts = {}) => new HttpClient(opts, realTimers);

describe('HttpClient', () => {
  it('follows a protocol-relative 307 (as Mesos sends) and keeps method, body and auth', async () => {
    const seen: string[] = [];
    const leader = await serve((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${body} ${req.headers.authorization}`);
        res.end('ok');
      });
    });
    const standby = await serve((_req, res) => res.writeHead(307, { Location: `//${new URL(leader).host}/api/v1` }).end());
    const res = await client({ auth: { token: 't' } }).open(new URL(`${standby}/api/v1`), { method: 'POST', body: '{"type":"SUBSCRIBE"}' });
    assert.equal(res.status, 200);
    assert.equal(res.url.toString(), `${leader}/api/v1`);
    res.close();
    assert.deepEqual(seen, ['POST /api/v1 {"type":"SUBSCRIBE"} token=t']);
  });

  it('stops after too many redirects and on a redirect without Location', async () => {
    let base = '';
    base = await serve((req, res) => {
      if (req.url === '/nowhere') return void res.writeHead(307).end();
      res.writeHead(302, { Location: `${base}/loop` }).end();
    });
    await assert.rejects(client({ maxRedirects: 3 }).open(new URL(`${base}/loop`)), { code: 'SRC_REDIRECT', message: /more than 3 redirects/ });
    await assert.rejects(client().open(new URL(`${base}/nowhere`)), { code: 'SRC_REDIRECT', message: /without a Location/ });
  });

  it('getJson: a status error carries the start of the body; bad JSON is SRC_BAD_RECORD; 404 can be accepted', async () => {
    const base = await serve((req, res) => {
      if (req.url === '/500') return void res.writeHead(500).end('database on fire');
      if (req.url === '/html') return void res.end('<html>');
      if (req.url === '/404') return void res.writeHead(404).end('{"message":"App \'/x\' does not exist"}');
      res.end('{"a":1}');
    });
    const c = client();
    assert.deepEqual((await c.getJson(new URL(`${base}/ok`))).value, { a: 1 });
    await assert.rejects(c.getJson(new URL(`${base}/500`)), { code: 'SRC_HTTP_STATUS', message: /answered HTTP 500: "database on fire"$/ });
    await assert.rejects(c.getJson(new URL(`${base}/html`)), { code: 'SRC_BAD_RECORD' });
    assert.equal((await c.getJson(new URL(`${base}/404`), { accept404: true })).status, 404);
    await assert.rejects(c.getJson(new URL(`${base}/404`)), { code: 'SRC_HTTP_STATUS' });
  });

  it('getJson: a body over the size limit is refused', async () => {
    const base = await serve((_req, res) => res.end(JSON.stringify({ x: 'y'.repeat(10_000) })));
    await assert.rejects(client().getJson(new URL(base), { maxBytes: 1000 }), { code: 'SRC_BAD_RECORD', message: /larger than 1000 bytes/ });
  });

  it('sends basic credentials from the URL, and never shows them', async () => {
    let authz = '';
    const base = await serve((req, res) => {
      authz = String(req.headers.authorization);
      res.end('{}');
    });
    const url = new URL(base);
    url.username = 'ops';
    url.password = 's3cret';
    await client().getJson(url);
    assert.equal(authz, `Basic ${Buffer.from('ops:s3cret').toString('base64')}`);
    assert.ok(!showUrl(url).includes('s3cret'));
  });

  it('refuses schemes other than http and https, and a connection refused is SRC_CONNECT', async () => {
    await assert.rejects(client().open(new URL('ftp://127.0.0.1/')), { code: 'SRC_BAD_OPTIONS' });
    const s = http.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    await assert.rejects(client().open(new URL(`http://127.0.0.1:${port}/`)), (e: Error & { code?: string; context?: Record<string, unknown> }) => {
      assert.equal(e.code, 'SRC_CONNECT');
      assert.equal(e.context?.['errno'], 'ECONNREFUSED');
      return true;
    });
  });

  it('readHead returns at most the first bytes of a body and closes it', async () => {
    const base = await serve((_req, res) => res.writeHead(500).end('x'.repeat(100_000)));
    const c = client();
    const res = await c.open(new URL(base));
    assert.equal((await c.readHead(res, 100)).length, 100);
  });

  it('authorization header: token, basic, none', () => {
    assert.equal(authorizationHeader({ token: 'abc' }), 'token=abc');
    assert.equal(authorizationHeader({ basic: { username: 'u', password: 'p' } }), `Basic ${Buffer.from('u:p').toString('base64')}`);
    assert.equal(authorizationHeader(undefined), undefined);
  });
});
