// Link request encodings (byte-exact, from linux/rtnetlink.h + if_link.h) and reply decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeLink, encodeLinkAdd, encodeLinkDel, encodeLinkDump, encodeLinkSetUp } from './link.js';
import { MessageWriter } from '../netlink/writer.js';
import type { MessageView } from '../netlink/reader.js';

const hex = (s: string) => s.replace(/\|[^\n]*/g, '').replace(/\s+/g, '');
const enc = (f: (w: MessageWriter) => void) => {
  const w = new MessageWriter(16);
  f(w);
  return w.view().toString('hex');
};

test('RTM_NEWLINK `ip link add minuteman type dummy` is byte-exact', () => {
  assert.equal(
    enc((w) => encodeLinkAdd(w, 7, 'minuteman', 'dummy')),
    hex(`
      40000000 1000 0506 07000000 00000000     | nlmsghdr: len 64, RTM_NEWLINK 16, REQUEST|ACK|EXCL|CREATE 0x605, seq 7
      00 00 0000 00000000 00000000 00000000    | ifinfomsg: AF_UNSPEC, pad, type 0, index 0, flags 0, change 0
      0e00 0300 6d696e7574656d616e00 0000      | IFLA_IFNAME "minuteman\\0" (14) + 2 pad
      1000 1200                                | IFLA_LINKINFO nest, 16 bytes
      0a00 0100 64756d6d7900 0000              |   IFLA_INFO_KIND "dummy\\0" (10) + 2 pad
    `),
  );
});

test('RTM_NEWLINK without ACK for batches', () => {
  const h = enc((w) => encodeLinkAdd(w, 7, 'minuteman', 'dummy', false));
  assert.equal(h.slice(12, 16), '0106'); // REQUEST|EXCL|CREATE
});

test('RTM_NEWLINK `ip link set dev 5 up` / `ip link set minuteman down` change only IFF_UP', () => {
  assert.equal(
    enc((w) => encodeLinkSetUp(w, 2, 5, true)),
    hex(`
      20000000 1000 0500 02000000 00000000
      00 00 0000 05000000 01000000 01000000    | index 5, flags IFF_UP, change IFF_UP
    `),
  );
  assert.equal(
    enc((w) => encodeLinkSetUp(w, 3, 'minuteman', false)),
    hex(`
      30000000 1000 0500 03000000 00000000
      00 00 0000 00000000 00000000 01000000    | by name: index 0, flags 0, change IFF_UP
      0e00 0300 6d696e7574656d616e00 0000
    `),
  );
});

test('RTM_DELLINK by name and RTM_GETLINK dump', () => {
  assert.equal(
    enc((w) => encodeLinkDel(w, 4, 'd0')),
    hex(`
      28000000 1100 0500 04000000 00000000     | RTM_DELLINK 17
      00 00 0000 00000000 00000000 00000000
      0700 0300 643000 00                      | IFLA_IFNAME "d0\\0"
    `),
  );
  assert.equal(
    enc((w) => encodeLinkDump(w, 5)),
    hex(`
      28000000 1200 0103 05000000 00000000     | RTM_GETLINK 18, REQUEST|DUMP 0x301
      00 00 0000 00000000 00000000 00000000
      0800 1d00 08000000                       | IFLA_EXT_MASK RTEXT_FILTER_SKIP_STATS
    `),
  );
});

test('decodeLink reads ifinfomsg and IFLA_IFNAME/MTU/ADDRESS/OPERSTATE/LINKINFO', () => {
  const b = Buffer.from(
    hex(`
      01 00 0100 07000000 c3000100 00000000    | ether, index 7, flags UP|BROADCAST|RUNNING|NOARP|LOWER_UP
      0e00 0300 6d696e7574656d616e00 0000      | IFLA_IFNAME
      0800 0400 dc050000                       | IFLA_MTU 1500
      0a00 0100 020000aabb01 0000              | IFLA_ADDRESS 02:00:00:aa:bb:01
      0500 1000 06 000000                      | IFLA_OPERSTATE 6 (up)
      1000 1200 0a00 0100 64756d6d7900 0000    | IFLA_LINKINFO { KIND "dummy" }
    `),
    'hex',
  );
  const buf = Buffer.concat([Buffer.alloc(16), b]);
  const m: MessageView = { type: 16, flags: 0, seq: 0, pid: 0, start: 16, end: buf.length };
  assert.deepEqual(decodeLink(buf, m), {
    index: 7,
    name: 'minuteman',
    kind: 'dummy',
    type: 1,
    flags: 0x100c3,
    up: true,
    lowerUp: true,
    mtu: 1500,
    address: '02:00:00:aa:bb:01',
    operState: 6,
  });
});
