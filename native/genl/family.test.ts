// CTRL_CMD_GETFAMILY encoding (byte-exact, from linux/netlink.h + genetlink.h) and reply decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFamily, encodeGetFamily } from './family.js';
import { MessageWriter } from '../netlink/writer.js';
import type { MessageView } from '../netlink/reader.js';

const hex = (s: string) => s.replace(/\|[^\n]*/g, '').replace(/\s+/g, '');

test('CTRL_CMD_GETFAMILY "IPVS" is byte-exact', () => {
  const w = new MessageWriter(16);
  encodeGetFamily(w, 1, 'IPVS');
  assert.equal(
    w.view().toString('hex'),
    hex(`
      20000000 1000 0500 01000000 00000000   | nlmsghdr: len 32, type GENL_ID_CTRL 0x10, REQUEST|ACK, seq 1, pid 0
      03 01 0000                             | genlmsghdr: CTRL_CMD_GETFAMILY, version 1
      0900 0200 49505653 00 000000           | CTRL_ATTR_FAMILY_NAME "IPVS\\0" + 3 pad
    `),
  );
});

test('CTRL_CMD_NEWFAMILY reply decodes id, name, version, hdrsize, maxattr; unknown attributes ignored', () => {
  const payload = Buffer.from(
    hex(`
      01 02 0000                   | genlmsghdr: CTRL_CMD_NEWFAMILY, version 2
      0600 0100 2300 0000          | FAMILY_ID u16 0x23
      0900 0200 49505653 00 000000 | FAMILY_NAME "IPVS"
      0800 0300 01000000           | VERSION 1
      0800 0400 00000000           | HDRSIZE 0
      0800 0500 08000000           | MAXATTR 8
      0800 0600 00000000           | OPS (nested; ignored)
    `),
    'hex',
  );
  const buf = Buffer.concat([Buffer.alloc(16), payload]);
  const m: MessageView = { type: 0x10, flags: 0, seq: 1, pid: 0, start: 16, end: buf.length };
  assert.deepEqual({ ...decodeFamily(buf, m) }, { id: 0x23, name: 'IPVS', version: 1, hdrSize: 0, maxAttr: 8 });
});
