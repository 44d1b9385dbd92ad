import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

import { MessageWriter, align4 } from './writer.js';
import { Attrs, forEachMessage, parseErrorPayload, MalformedMessageError, type MessageView } from './reader.js';
import { canonicalInet, inetBytes, inetFamily, readInet, InvalidAddressError } from './inet.js';
import {
  AF_INET,
  AF_INET6,
  NLMSG_ERROR,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  NLM_F_REQUEST,
  NLM_F_ACK,
} from './constants.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const hex = (b: Buffer) => b.toString('hex');
const unhex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('IPv6 text matches glibc inet_ntop for every vector', () => {
  const { vectors } = JSON.parse(readFileSync(join(root, 'test/fixtures/inet6-glibc.json'), 'utf8')) as {
    vectors: [string, string][];
  };
  assert.ok(vectors.length >= 40);
  for (const [bytes, text] of vectors) {
    assert.equal(readInet(unhex(bytes), 0, AF_INET6), text, `format ${bytes}`);
    assert.equal(hex(inetBytes(AF_INET6, text)), bytes, `parse ${text}`);
  }
});

test('addresses parse to bytes and back; canonical form folds spellings', () => {
  assert.equal(hex(inetBytes(AF_INET, '198.51.100.10')), 'c633640a');
  assert.equal(readInet(unhex('c633640a'), 0, AF_INET), '198.51.100.10');
  assert.equal(canonicalInet('2001:DB8:0:0::1'), '2001:db8::1');
  assert.equal(canonicalInet('::ffff:198.51.100.1'), '::ffff:198.51.100.1');
  assert.equal(inetFamily('10.0.0.1'), AF_INET);
  assert.equal(inetFamily('fd01:c::1'), AF_INET6);
  assert.equal(inetFamily('myapp'), 0);
});

test('malformed addresses are refused, never guessed', () => {
  const bad4 = ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '1..3.4', '1.2.3.-4', 'a.b.c.d'];
  for (const s of bad4) assert.throws(() => inetBytes(AF_INET, s), InvalidAddressError, s);
  const bad6 = ['', ':', ':::', '1::2::3', 'g::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', '::ffff:1.2.3.256', '1:', ':1', '[::1]'];
  for (const s of bad6) assert.throws(() => inetBytes(AF_INET6, s), InvalidAddressError, s);
  for (const s of [...bad4, ...bad6]) assert.equal(inetFamily(s), 0, s);
});

test('writer: message header, genl header and padded attributes are byte-exact', () => {
  const w = new MessageWriter(16); // small on purpose: growth must keep earlier bytes
  const start = w.beginMessage(0x1a, NLM_F_REQUEST | NLM_F_ACK, 1);
  w.genlHeader(1, 1);
  const nest = w.beginNest(1);
  w.attrU16(1, AF_INET);
  w.attrU16(2, 6);
  w.attrInet(3, AF_INET, '198.51.100.10', 16);
  w.attrBe16(4, 80);
  w.attrString(6, 'wlc');
  const f = w.beginNest(7);
  w.u32(0);
  w.u32(0xffffffff);
  w.endNest(f);
  w.attrU32(8, 0);
  w.attrBe32(9, 0xffffffff);
  w.endNest(nest);
  w.endMessage(start);
  // IPVS_CMD_NEW_SERVICE for TCP 198.51.100.10:80 wlc, worked out from linux/ip_vs.h by hand.
  const expected = unhex(`
    68000000 1a00 0500 01000000 00000000
    01 01 0000
    5400 0100
      0600 0100 0200 0000
      0600 0200 0600 0000
      1400 0300 c633640a 00000000 00000000 00000000
      0600 0400 0050 0000
      0800 0600 776c6300
      0c00 0700 00000000 ffffffff
      0800 0800 00000000
      0800 0900 ffffffff`);
  assert.equal(hex(w.view()), hex(expected));
});

test('writer: strings, u8 and u64 are NUL-terminated/padded; truncate undoes a message', () => {
  const w = new MessageWriter();
  w.attrString(1, 'abcd'); // 4 + 5 = 9 -> padded to 12
  w.attrU8(2, 0xab);
  w.attrU64(3, 0x0102030405060708n);
  w.attrFlag(4);
  assert.equal(hex(w.view()), hex(unhex('0900 0100 61626364 00000000  0500 0200 ab000000  0c00 0300 0807060504030201  0400 0400')));
  const mark = w.length;
  w.attrU32(5, 1);
  w.truncate(mark);
  assert.equal(w.length, mark);
  assert.throws(() => w.truncate(mark + 1), RangeError);
  assert.equal(align4(9), 12);
  assert.equal(align4(12), 12);
});

test('reader: attributes by type, nested tables, defaults and unknown types', () => {
  const w = new MessageWriter();
  w.attrU16(1, 0x1234);
  w.attrBe16(2, 8080);
  w.attrU32(3, 7);
  const n = w.beginNest(4);
  w.attrString(1, 'inner');
  w.endNest(n);
  w.attrU32(99, 1); // newer kernel attribute beyond our max: ignored
  w.attrU64(5, 2 ** 40 + 3);
  const buf = Buffer.from(w.view());
  const a = new Attrs(5).parse(buf, 0, buf.length);
  assert.equal(a.u16(1), 0x1234);
  assert.equal(a.be16(2), 8080);
  assert.equal(a.u32(3), 7);
  assert.equal(a.u64(5), 2 ** 40 + 3);
  assert.equal(a.has(0), false);
  assert.equal(a.u32(0, 42), 42);
  const inner = new Attrs(2);
  assert.equal(a.nested(4, inner), true);
  assert.equal(inner.str(1), 'inner');
  // A second parse forgets the first one's attributes.
  a.parse(buf, 0, 8);
  assert.equal(a.has(1), true);
  assert.equal(a.has(3), false);
});

test('reader: an attribute running past its container is malformed, not read', () => {
  const buf = unhex('0800 0100 01000000 0c00 0200 0000');
  assert.throws(() => new Attrs(4).parse(buf, 0, buf.length), MalformedMessageError);
  const short = unhex('0600 0100 0100 0000');
  const a = new Attrs(2).parse(short, 0, short.length);
  assert.throws(() => a.u32(1), MalformedMessageError);
});

test('reader: messages in a datagram, and a length that lies', () => {
  const w = new MessageWriter();
  const m1 = w.beginMessage(0x10, 0, 5);
  w.attrU32(1, 1);
  w.endMessage(m1);
  const m2 = w.beginMessage(0x11, 2, 6, 77);
  w.endMessage(m2);
  const buf = Buffer.from(w.view());
  const seen: Array<Omit<MessageView, 'start' | 'end'> & { len: number }> = [];
  forEachMessage(buf, buf.length, (m) => {
    seen.push({ type: m.type, flags: m.flags, seq: m.seq, pid: m.pid, len: m.end - m.start });
  });
  assert.deepEqual(seen, [
    { type: 0x10, flags: 0, seq: 5, pid: 0, len: 8 },
    { type: 0x11, flags: 2, seq: 6, pid: 77, len: 0 },
  ]);
  buf.writeUInt32LE(200, 0);
  assert.throws(() => forEachMessage(buf, buf.length, () => {}), MalformedMessageError);
});

test('NLMSG_ERROR: errno, request seq and extended ACK text', () => {
  const w = new MessageWriter();
  const s = w.beginMessage(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 9, 1234);
  w.i32(-17);
  // The capped original header: len, type, flags, seq, pid.
  w.u32(64);
  w.u16(0x1a);
  w.u16(5);
  w.u32(9);
  w.u32(0);
  w.attrString(NLMSGERR_ATTR_MSG, 'Service already exists');
  w.attrU32(NLMSGERR_ATTR_OFFS, 24);
  w.endMessage(s);
  const buf = Buffer.from(w.view());
  let got;
  forEachMessage(buf, buf.length, (m) => {
    got = parseErrorPayload(buf, m);
  });
  assert.deepEqual(got, {
    errno: 17,
    requestType: 0x1a,
    requestSeq: 9,
    extAck: 'Service already exists',
    extAckOffset: 24,
  });
});

test('NLMSG_ERROR: a plain ACK is errno 0 without ext-ACK fields', () => {
  const w = new MessageWriter();
  const s = w.beginMessage(NLMSG_ERROR, 0, 3);
  w.i32(0);
  w.u32(16);
  w.u16(0x1a);
  w.u16(5);
  w.u32(3);
  w.u32(0);
  w.endMessage(s);
  const buf = Buffer.from(w.view());
  forEachMessage(buf, buf.length, (m) => {
    assert.deepEqual(parseErrorPayload(buf, m), { errno: 0, requestType: 0x1a, requestSeq: 3 });
  });
});
