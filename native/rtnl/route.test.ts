// Route request encodings, byte-exact against what iproute2 sends (captured
// with `strace -e sendmsg -xx ip route add ...`), and reply decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRoute, describeRoute, encodeRouteAdd, encodeRouteDel, encodeRouteDump } from './route.js';
import { RT_TABLE_LOCAL, RTN_LOCAL } from './constants.js';
import { MessageWriter } from '../netlink/writer.js';
import { InvalidAddressError } from '../netlink/inet.js';
import type { MessageView } from '../netlink/reader.js';

const hex = (s: string) => s.replace(/\|[^\n]*/g, '').replace(/\s+/g, '');
const enc = (f: (w: MessageWriter) => void) => {
  const w = new MessageWriter(16);
  f(w);
  return w.view().toString('hex');
};
const LOCAL = { table: RT_TABLE_LOCAL, type: RTN_LOCAL, protocol: 76 };

test('RTM_NEWROUTE `ip route add local 198.18.0.0/16 dev 1 table local proto 76` is byte-exact', () => {
  assert.equal(
    enc((w) => encodeRouteAdd(w, 7, { dst: '198.18.0.0', dstLen: 16, oif: 1, ...LOCAL })),
    hex(`
      2c000000 1800 0506 07000000 00000000     | len 44, RTM_NEWROUTE 24, REQUEST|ACK|EXCL|CREATE, seq 7
      02 10 00 00 ff 4c fe 02 00000000         | AF_INET, /16, src 0, tos 0, table local, proto 76, scope host, RTN_LOCAL
      0800 0100 c6120000                       | RTA_DST 198.18.0.0
      0800 0400 01000000                       | RTA_OIF 1
    `),
  );
});

test('RTM_NEWROUTE `ip -6 route add local fd01:c::/64 ...` keeps scope universe, as iproute2 does', () => {
  assert.equal(
    enc((w) => encodeRouteAdd(w, 8, { dst: 'fd01:c::', dstLen: 64, oif: 1, ...LOCAL })),
    hex(`
      38000000 1800 0506 08000000 00000000     | len 56
      0a 40 00 00 ff 4c 00 02 00000000         | AF_INET6, /64, table local, proto 76, scope universe, RTN_LOCAL
      1400 0100 fd01000c000000000000000000000000 | RTA_DST
      0800 0400 01000000                       | RTA_OIF
    `),
  );
});

test('RTM_DELROUTE without ACK for batches; a table above 255 goes in RTA_TABLE; RTM_GETROUTE dump', () => {
  assert.equal(
    enc((w) => encodeRouteDel(w, 3, { dst: '10.0.0.0', dstLen: 8, oif: 2, table: 1000 }, false)),
    hex(`
      34000000 1900 0100 03000000 00000000     | RTM_DELROUTE 25, REQUEST only
      02 08 00 00 fc 03 00 01 00000000         | table RT_TABLE_COMPAT, proto boot, scope universe, unicast
      0800 0100 0a000000
      0800 0400 02000000
      0800 0f00 e8030000                       | RTA_TABLE 1000
    `),
  );
  assert.equal(
    enc((w) => encodeRouteDump(w, 4, 10)),
    hex(`
      1c000000 1a00 0103 04000000 00000000     | RTM_GETROUTE 26, REQUEST|DUMP
      0a 00 00 00 00 00 00 00 00000000         | AF_INET6
    `),
  );
});

test('bad destinations and prefix lengths are refused before encoding', () => {
  const w = new MessageWriter(16);
  assert.throws(() => encodeRouteAdd(w, 1, { dst: '198.18.0', dstLen: 16, oif: 1 }), InvalidAddressError);
  assert.throws(() => encodeRouteAdd(w, 1, { dst: 'fd01:c::', dstLen: 129, oif: 1 }), RangeError);
  assert.equal(w.length, 0);
  assert.equal(describeRoute({ dst: '198.18.0.0', dstLen: 16, oif: 3, ...LOCAL }), 'local 198.18.0.0/16 table 255 proto 76 dev 3');
});

test('decodeRoute: rtmsg fields, RTA_TABLE over rtm_table, a default route without RTA_DST', () => {
  const dec = (b: string) => {
    const buf = Buffer.concat([Buffer.alloc(16), Buffer.from(hex(b), 'hex')]);
    const m: MessageView = { type: 24, flags: 0, seq: 0, pid: 0, start: 16, end: buf.length };
    return decodeRoute(buf, m);
  };
  assert.deepEqual(
    dec(`
      02 10 00 00 ff 4c fe 02 00000000
      0800 0f00 ff000000                       | RTA_TABLE 255
      0800 0100 c6120000
      0800 0400 03000000
    `),
    { family: 2, dst: '198.18.0.0', dstLen: 16, table: 255, protocol: 76, scope: 254, type: 2, oif: 3, prefsrc: '', priority: 0 },
  );
  assert.deepEqual(
    dec(`
      0a 00 00 00 fc 03 00 01 00000000
      0800 0f00 e8030000                       | RTA_TABLE 1000 (rtm_table says COMPAT)
      0800 0400 02000000
      0800 0600 00040000                       | RTA_PRIORITY 1024
      1400 0700 fd000000000000000000000000000001 | RTA_PREFSRC
    `),
    { family: 10, dst: '::', dstLen: 0, table: 1000, protocol: 3, scope: 0, type: 1, oif: 2, prefsrc: 'fd00::1', priority: 1024 },
  );
});
