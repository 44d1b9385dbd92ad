// Address request encodings (byte-exact, from linux/if_addr.h) and reply decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeAddr, encodeAddrAdd, encodeAddrDel, encodeAddrDump } from './addr.js';
import { MessageWriter } from '../netlink/writer.js';
import { InvalidAddressError } from '../netlink/inet.js';
import type { MessageView } from '../netlink/reader.js';

const hex = (s: string) => s.replace(/\|[^\n]*/g, '').replace(/\s+/g, '');
const enc = (f: (w: MessageWriter) => void) => {
  const w = new MessageWriter(16);
  f(w);
  return w.view().toString('hex');
};

test('RTM_NEWADDR `ip addr add 198.51.100.10/32 dev 5` is byte-exact', () => {
  assert.equal(
    enc((w) => encodeAddrAdd(w, 9, { index: 5, address: '198.51.100.10' })),
    hex(`
      28000000 1400 0506 09000000 00000000     | len 40, RTM_NEWADDR 20, REQUEST|ACK|EXCL|CREATE, seq 9
      02 20 00 00 05000000                     | ifaddrmsg: AF_INET, /32, flags 0, scope universe, index 5
      0800 0200 c633640a                       | IFA_LOCAL 198.51.100.10
      0800 0100 c633640a                       | IFA_ADDRESS 198.51.100.10
    `),
  );
});

test('RTM_NEWADDR `ip addr add 2001:db8::10/128 dev 5 nodad` is byte-exact (ifa_flags and IFA_FLAGS)', () => {
  assert.equal(
    enc((w) => encodeAddrAdd(w, 10, { index: 5, address: '2001:db8::10' })),
    hex(`
      48000000 1400 0506 0a000000 00000000     | len 72
      0a 80 02 00 05000000                     | AF_INET6, /128, IFA_F_NODAD, universe, index 5
      1400 0200 20010db8000000000000000000000010 | IFA_LOCAL
      1400 0100 20010db8000000000000000000000010 | IFA_ADDRESS
      0800 0800 02000000                       | IFA_FLAGS IFA_F_NODAD
    `),
  );
});

test('flags above 8 bits go to IFA_FLAGS only in full; a batch add has no ACK', () => {
  const h = enc((w) => encodeAddrAdd(w, 1, { index: 2, address: '10.0.0.1', prefixLen: 24, flags: 0x202 }, false));
  assert.equal(
    h,
    hex(`
      30000000 1400 0106 01000000 00000000     | REQUEST|EXCL|CREATE
      02 18 02 00 02000000                     | /24, ifa_flags 0x02 (low byte)
      0800 0200 0a000001
      0800 0100 0a000001
      0800 0800 02020000                       | IFA_FLAGS NODAD|NOPREFIXROUTE
    `),
  );
});

test('RTM_DELADDR and RTM_GETADDR dump', () => {
  assert.equal(
    enc((w) => encodeAddrDel(w, 3, { index: 5, address: '198.51.100.10' })),
    hex(`
      28000000 1500 0500 03000000 00000000     | RTM_DELADDR 21, REQUEST|ACK
      02 20 00 00 05000000
      0800 0200 c633640a
      0800 0100 c633640a
    `),
  );
  assert.equal(
    enc((w) => encodeAddrDump(w, 4, 10)),
    hex(`
      18000000 1600 0103 04000000 00000000     | RTM_GETADDR 22, REQUEST|DUMP
      0a 00 00 00 00000000                     | AF_INET6
    `),
  );
});

test('bad addresses and prefix lengths are refused before encoding', () => {
  const w = new MessageWriter(16);
  assert.throws(() => encodeAddrAdd(w, 1, { index: 1, address: '300.1.1.1' }), InvalidAddressError);
  assert.throws(() => encodeAddrAdd(w, 1, { index: 1, address: '10.0.0.1', prefixLen: 33 }), RangeError);
  assert.equal(w.length, 0);
});

test('decodeAddr: IPv4 from IFA_LOCAL with label, IPv6 from IFA_ADDRESS with IFA_FLAGS', () => {
  const v4 = Buffer.from(
    hex(`
      02 20 80 00 05000000
      0800 0100 c633640a
      0800 0200 c633640a
      0e00 0300 6d696e7574656d616e00 0000      | IFA_LABEL
    `),
    'hex',
  );
  const v6 = Buffer.from(
    hex(`
      0a 80 02 00 05000000
      1400 0100 20010db8000000000000000000000010
      0800 0800 82000000                       | IFA_FLAGS PERMANENT|NODAD
    `),
    'hex',
  );
  const dec = (b: Buffer) => {
    const buf = Buffer.concat([Buffer.alloc(16), b]);
    const m: MessageView = { type: 20, flags: 0, seq: 0, pid: 0, start: 16, end: buf.length };
    return decodeAddr(buf, m);
  };
  assert.deepEqual(dec(v4), { family: 2, address: '198.51.100.10', prefixLen: 32, index: 5, flags: 0x80, scope: 0, label: 'minuteman' });
  assert.deepEqual(dec(v6), { family: 10, address: '2001:db8::10', prefixLen: 128, index: 5, flags: 0x82, scope: 0, label: '' });
});
