// The zone as a real client sees it: `dig` over UDP and TCP, plus raw
// malformed packets and TCP framing edge cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import dnsPacket from 'dns-packet';

import { DnsServer, DnsListenError } from './server.js';
import { Zone } from './zone.js';
import { silentLogger } from '../log.js';

/** dns-packet decodes rcode and record data, but its types do not say so. */
type Decoded = { id?: number; rcode: string; answers?: Array<{ data: unknown }> };
const decode = (b: Buffer): Decoded => dnsPacket.decode(b) as unknown as Decoded;

const srvPorts = Array.from({ length: 40 }, (_, i) => ({ portName: `p${i}`, protocol: 'tcp' as const, port: 10000 + i }));
const zone = new Zone([
  { name: 'myapp.marathon', ipv4: '11.215.13.222', ipv6: 'fd01:c::621e:db48:bbc5:ef03', srv: [{ portName: 'http', protocol: 'tcp', port: 80 }] },
  { name: 'broker.kafka', ipv4: '11.175.100.139' },
  { name: 'big.marathon', ipv4: '11.1.1.1', srv: srvPorts.map((p) => ({ ...p, portName: 'many' })) },
]);

const server = new DnsServer({ listen: ['127.0.0.1:0'], logger: silentLogger() });
let port = 0;
let haveDig = true;

before(async () => {
  await server.start();
  server.setZone(zone);
  port = Number(server.addresses()[0]!.split(':')[1]);
  haveDig = await new Promise((r) => execFile('dig', ['-v'], (e) => r(!e)));
  if (!haveDig && process.env.CI === 'true') throw new Error('dig is missing (Debian package dnsutils): the install script should have installed it');
});
after(() => server.stop());

function dig(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...args], (e, out) => (e && !out ? reject(e) : resolve(out))),
  );
}

/** `dig +noall +answer` lines as "name ttl class type data". */
async function answer(...args: string[]): Promise<string[]> {
  return (await dig('+noall', '+answer', ...args)).trim().split('\n').filter(Boolean).map((l) => l.split(/\s+/).join(' '));
}

function status(out: string): string {
  return /status: (\w+)/.exec(out)?.[1] ?? 'none';
}

test('A and AAAA with TTL 5, authoritative, DC/OS addresses', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  assert.deepEqual(await answer('myapp.marathon.l4lb.thisdcos.directory', 'A'), ['myapp.marathon.l4lb.thisdcos.directory. 5 IN A 11.215.13.222']);
  assert.deepEqual(await answer('myapp.marathon.l4lb.thisdcos.directory', 'AAAA'), ['myapp.marathon.l4lb.thisdcos.directory. 5 IN AAAA fd01:c::621e:db48:bbc5:ef03']);
  const full = await dig('broker.kafka.l4lb.thisdcos.directory');
  assert.match(full, /flags: qr aa rd;/);
  assert.equal(status(full), 'NOERROR');
});

test('aliases answer with the name that was queried; case does not matter', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  for (const zoneName of ['dclb.thisdcos.directory', 'l4lb.thisdcos.global', 'dclb.thisdcos.global']) {
    assert.deepEqual(await answer(`myapp.marathon.${zoneName}`), [`myapp.marathon.${zoneName}. 5 IN A 11.215.13.222`]);
  }
  assert.deepEqual(await answer('MyApp.Marathon.L4LB.thisdcos.directory'), ['MyApp.Marathon.L4LB.thisdcos.directory. 5 IN A 11.215.13.222']);
});

test('unknown names are NXDOMAIN with the SOA dcos-net serves; known names of another type are NODATA', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  const nx = await dig('nope.marathon.l4lb.thisdcos.directory');
  assert.equal(status(nx), 'NXDOMAIN');
  assert.match(nx, /l4lb\.thisdcos\.directory\.\s+5\s+IN\s+SOA\s+ns\.spartan\. support\.mesosphere\.com\. 1 60 180 86400 1/);
  const nodata = await dig('broker.kafka.l4lb.thisdcos.directory', 'AAAA');
  assert.equal(status(nodata), 'NOERROR');
  assert.match(nodata, /ANSWER: 0,/);
  // An empty non-terminal (`marathon` has names below it) exists.
  assert.equal(status(await dig('marathon.l4lb.thisdcos.directory')), 'NOERROR');
});

test('apex SOA and NS', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  assert.deepEqual(await answer('l4lb.thisdcos.directory', 'NS'), ['l4lb.thisdcos.directory. 3600 IN NS ns.spartan.']);
  assert.deepEqual(await answer('l4lb.thisdcos.directory', 'SOA'), ['l4lb.thisdcos.directory. 5 IN SOA ns.spartan. support.mesosphere.com. 1 60 180 86400 1']);
});

test('SRV _<port-name>._<proto>.<name> gives the VIP port, with the address as additional data', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  const out = await dig('_http._tcp.myapp.marathon.l4lb.thisdcos.directory', 'SRV');
  assert.match(out, /_http\._tcp\.myapp\.marathon\.l4lb\.thisdcos\.directory\.\s+5\s+IN\s+SRV\s+0 0 80 myapp\.marathon\.l4lb\.thisdcos\.directory\./);
  assert.match(out, /ADDITIONAL SECTION:\nmyapp\.marathon\.l4lb\.thisdcos\.directory\.\s+5\s+IN\s+A\s+11\.215\.13\.222/);
  assert.equal(status(await dig('_http._udp.myapp.marathon.l4lb.thisdcos.directory', 'SRV')), 'NXDOMAIN');
});

test('over TCP the same answers', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  assert.deepEqual(await answer('+tcp', 'myapp.marathon.l4lb.thisdcos.directory'), ['myapp.marathon.l4lb.thisdcos.directory. 5 IN A 11.215.13.222']);
});

test('a response too large for UDP is truncated (TC); dig then gets it whole over TCP', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  const udpOnly = await dig('+noedns', '+ignore', '_many._tcp.big.marathon.l4lb.thisdcos.directory', 'SRV');
  assert.match(udpOnly, /flags: qr aa tc rd;/);
  assert.match(udpOnly, /ANSWER: 0,/);
  const retried = await answer('+noedns', '_many._tcp.big.marathon.l4lb.thisdcos.directory', 'SRV');
  assert.equal(retried.length, 40);
});

test('names outside l4lb zones are REFUSED (no recursion)', async (t) => {
  if (!haveDig) return t.skip('dig not installed');
  assert.equal(status(await dig('example.com')), 'REFUSED');
  assert.equal(status(await dig('thisdcos.directory')), 'REFUSED');
});

function udpExchange(payload: Buffer, timeoutMs = 500): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(payload, port, '127.0.0.1');
  });
}

test('malformed queries: garbage after a header gets FORMERR, a runt is dropped, a response is never answered', async () => {
  const garbage = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0]), Buffer.from([0xff, 0xff, 0xff])]);
  const r = await udpExchange(garbage);
  assert.ok(r, 'an answer to a decodable header');
  assert.equal(r.readUInt16BE(0), 0x1234);
  assert.equal(r.readUInt16BE(2) & 0xf, 1, 'FORMERR');
  assert.equal(await udpExchange(Buffer.from([1, 2, 3])), undefined);
  const asResponse = dnsPacket.encode({ type: 'response', id: 7, flags: 0, questions: [{ type: 'A', name: 'myapp.marathon.l4lb.thisdcos.directory' }] });
  assert.equal(await udpExchange(asResponse), undefined);
  const twoQuestions = dnsPacket.encode({ type: 'query', id: 8, questions: [{ type: 'A', name: 'a.l4lb.thisdcos.directory' }, { type: 'A', name: 'b.l4lb.thisdcos.directory' }] });
  assert.equal(decode((await udpExchange(twoQuestions))!).rcode, 'FORMERR');
  // And the server still answers normally.
  const ok = await udpExchange(dnsPacket.encode({ type: 'query', id: 9, questions: [{ type: 'A', name: 'broker.kafka.l4lb.thisdcos.directory' }] }));
  assert.deepEqual(decode(ok!).answers?.map((a) => a.data), ['11.175.100.139']);
});

test('TCP: two queries in one write, one query split across writes, both answered in order', async () => {
  const q = (id: number, name: string) => dnsPacket.streamEncode({ type: 'query', id, questions: [{ type: 'A', name }] });
  const a = q(1, 'myapp.marathon.l4lb.thisdcos.directory');
  const b = q(2, 'broker.kafka.l4lb.thisdcos.directory');
  const c = q(3, 'nope.l4lb.thisdcos.directory');
  const replies: Array<{ id: number; rcode: string; data: unknown[] }> = await new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const got: Array<{ id: number; rcode: string; data: unknown[] }> = [];
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const p = decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        got.push({ id: p.id ?? 0, rcode: p.rcode, data: (p.answers ?? []).map((x) => x.data) });
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (got.length === 3) {
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(Buffer.concat([a, b]));
    s.write(c.subarray(0, 5));
    setTimeout(() => s.write(c.subarray(5)), 20);
  });
  assert.deepEqual(replies, [
    { id: 1, rcode: 'NOERROR', data: ['11.215.13.222'] },
    { id: 2, rcode: 'NOERROR', data: ['11.175.100.139'] },
    { id: 3, rcode: 'NXDOMAIN', data: [] },
  ]);
});

test('a second server on a busy address fails with an explanation', async () => {
  const other = new DnsServer({ listen: [`127.0.0.1:${port}`], logger: silentLogger() });
  await assert.rejects(other.start(), (e: unknown) => e instanceof DnsListenError && /DNS cannot listen on 127\.0\.0\.1:\d+: the address is already in use/.test(e.message));
  await assert.rejects(new DnsServer({ listen: ['localhost:53'], logger: silentLogger() }).start(), /invalid DNS listen address "localhost:53"/);
});

test('replacing the zone takes effect for the next query', async () => {
  server.setZone(new Zone([{ name: 'other.marathon', ipv4: '11.2.3.4' }]));
  try {
    const r = decode((await udpExchange(dnsPacket.encode({ type: 'query', id: 10, questions: [{ type: 'A', name: 'myapp.marathon.l4lb.thisdcos.directory' }] })))!);
    assert.equal(r.rcode, 'NXDOMAIN');
  } finally {
    server.setZone(zone);
  }
});
