// The netlink transport against a real kernel (run by test/harness in a fresh
// netns): generic netlink family resolution, deadlines (SO_RCVTIMEO), stale
// reply skipping, truncation, receive-queue overrun, and batching with the
// NLMSG_NOOP barrier on generic netlink.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireKernel } from './lib.js';
import { NetlinkSocket } from '../../native/netlink/socket.js';
import { NetlinkBatch } from '../../native/netlink/batch.js';
import { MessageWriter } from '../../native/netlink/writer.js';
import {
  CTRL_ATTR_FAMILY_NAME,
  CTRL_CMD_GETFAMILY,
  GENL_ID_CTRL,
  NETLINK_GENERIC,
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_REQUEST,
} from '../../native/netlink/constants.js';
import { encodeGetFamily, resolveFamily } from '../../native/genl/family.js';
import { encodeAddrAdd } from '../../native/rtnl/addr.js';
import { encodeLinkDump, encodeLinkGet } from '../../native/rtnl/link.js';
import { FamilyNotFoundError, NetlinkTimeoutError, OverrunError, TruncatedError } from '../../native/errors.js';

requireKernel();

/** CTRL_CMD_GETFAMILY without NLM_F_ACK, for batches. */
function getFamilyNoAck(w: MessageWriter, seq: number, name: string): void {
  const start = w.beginMessage(GENL_ID_CTRL, NLM_F_REQUEST, seq);
  w.genlHeader(CTRL_CMD_GETFAMILY, 1);
  w.attrString(CTRL_ATTR_FAMILY_NAME, name);
  w.endMessage(start);
}

test('resolveFamily: IPVS is found (and cached per socket); NOPE is FamilyNotFoundError', () => {
  const s = NetlinkSocket.open(NETLINK_GENERIC);
  try {
    const ipvs = resolveFamily(s, 'IPVS');
    assert.equal(ipvs.name, 'IPVS');
    assert.ok(ipvs.id >= 0x10 && ipvs.id <= 1023, `family id ${ipvs.id}`);
    assert.equal(ipvs.hdrSize, 0);
    assert.ok(ipvs.maxAttr >= 3);
    assert.equal(resolveFamily(s, 'IPVS'), ipvs);
    assert.equal(resolveFamily(s, 'nlctrl').id, GENL_ID_CTRL);
    assert.throws(
      () => resolveFamily(s, 'NOPE'),
      (e: unknown) => e instanceof FamilyNotFoundError && e.code === 'ERR_GENL_FAMILY_NOT_FOUND' && e.family === 'NOPE',
    );
  } finally {
    s.close();
  }
});

test('genl round trips (CTRL_CMD_GETFAMILY request + reply + ACK)', (t) => {
  const s = NetlinkSocket.open(NETLINK_GENERIC);
  try {
    const w = new MessageWriter(64);
    const n = 2000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const seq = s.nextSeq();
      w.reset();
      encodeGetFamily(w, seq, 'IPVS');
      let replies = 0;
      s.request(w, seq, 'resolve', 'IPVS', () => replies++);
      assert.equal(replies, 1);
    }
    const ms = performance.now() - t0;
    t.diagnostic(`genl request+reply+ACK: ${Math.round((n / ms) * 1000)} round trips/s (${((ms * 1000) / n).toFixed(1)} us each)`);
  } finally {
    s.close();
  }
});

test('SO_RCVTIMEO: a receive on an idle socket is NetlinkTimeoutError, not a hang', () => {
  const s = NetlinkSocket.open(NETLINK_ROUTE, { timeoutMs: 300 });
  try {
    // No assertion on elapsed time (tests never do): a hang is caught by the harness's per-file timeout.
    assert.throws(
      () => s.receive('wait for nothing', () => true),
      (e: unknown) => e instanceof NetlinkTimeoutError && e.code === 'ERR_NETLINK_TIMEOUT' && e.timeoutMs === 300,
    );
  } finally {
    s.close();
  }
});

test('SO_RCVTIMEO: a request the kernel never answers (no ACK asked, nothing to reply) times out', () => {
  const s = NetlinkSocket.open(NETLINK_ROUTE, { timeoutMs: 300 });
  try {
    const w = new MessageWriter(128);
    const seq = s.nextSeq();
    encodeAddrAdd(w, seq, { index: 1, address: '192.0.2.77' }, false); // succeeds silently
    // A hang here would be caught by the harness's per-file timeout.
    assert.throws(() => s.request(w, seq, 'add address', '192.0.2.77/32 dev lo'), NetlinkTimeoutError);
  } finally {
    s.close();
  }
});

test('replies to an earlier request (another seq) are skipped', () => {
  const s = NetlinkSocket.open(NETLINK_ROUTE);
  try {
    const w = new MessageWriter(128);
    // An unread request+ACK left in the queue, as after a timeout.
    const stale = s.nextSeq();
    encodeLinkGet(w, stale, 'lo');
    s.send(w.view(), 'stale');
    w.reset();
    const seq = s.nextSeq();
    encodeLinkGet(w, seq, 1);
    const seqs: number[] = [];
    s.request(w, seq, 'get link', 'lo', (_buf, m) => seqs.push(m.seq));
    assert.deepEqual(seqs, [seq]);
  } finally {
    s.close();
  }
});

test('a reply larger than the receive buffer is TruncatedError; the buffer grows and a retry works', () => {
  const s = NetlinkSocket.open(NETLINK_ROUTE, { recvBufBytes: 512 });
  try {
    const w = new MessageWriter(128);
    let seq = s.nextSeq();
    encodeLinkGet(w, seq, 'lo');
    assert.throws(() => s.request(w, seq, 'get link', 'lo'), (e: unknown) => e instanceof TruncatedError && e.bufferSize === 512 && e.size > 512);
    assert.ok(s.recvBufBytes > 512);
    w.reset();
    seq = s.nextSeq();
    encodeLinkGet(w, seq, 'lo');
    let name = '';
    s.request(w, seq, 'get link', 'lo', () => (name = 'lo'));
    assert.equal(name, 'lo');
    // A dump on the same socket still works (the truncated request left only a stale ACK).
    w.reset();
    seq = s.nextSeq();
    encodeLinkDump(w, seq);
    let links = 0;
    s.dump(w, seq, 'list links', '', () => links++);
    assert.equal(links, 1);
  } finally {
    s.close();
  }
});

test('batch on generic netlink: 300 requests, 3 failing, NLMSG_NOOP barrier; exactly those 3 by seq', () => {
  const s = NetlinkSocket.open(NETLINK_GENERIC);
  try {
    const b = new NetlinkBatch<string>(s, { op: 'resolve families', maxBytes: 4096 });
    const names = Array.from({ length: 300 }, (_, i) => (i === 10 || i === 150 || i === 299 ? `NOPE${i}` : 'IPVS'));
    for (const n of names) b.push(n, getFamilyNoAck);
    const r = b.finish();
    assert.equal(r.length, 300);
    assert.deepEqual(
      r.filter((x) => x.errno !== 0).map((x) => [x.item, x.errno]),
      [
        ['NOPE10', 2],
        ['NOPE150', 2],
        ['NOPE299', 2],
      ],
    );
    for (let i = 1; i < r.length; i++) assert.ok(r[i]!.seq !== r[i - 1]!.seq);
    // The socket is clean afterwards: a normal request works.
    assert.equal(resolveFamily(s, 'IPVS').name, 'IPVS');
  } finally {
    s.close();
  }
});

test('a receive queue too small for the errors of a batch is OverrunError (ENOBUFS), not a silent loss', () => {
  // 4 KiB asked -> the kernel's minimum (SOCK_MIN_RCVBUF, doubled): a few error skbs fill it.
  // (rtnetlink, not genl: an unknown genl family name makes the kernel run modprobe, slow in UML.)
  const s = NetlinkSocket.open(NETLINK_ROUTE, { rcvBufBytes: 4096 });
  try {
    const b = new NetlinkBatch<number>(s, { op: 'add addresses', maxMessages: 5000, maxBytes: 1 << 20 });
    for (let i = 0; i < 500; i++) b.push(i, (w, seq) => encodeAddrAdd(w, seq, { index: 999_999, address: '192.0.2.1' }, false)); // ENODEV
    assert.throws(() => b.finish(), (e: unknown) => e instanceof OverrunError && /unknown/.test(e.message));
    // The socket is still usable: stale errors and the barrier ACK are skipped by seq.
    const w = new MessageWriter(64);
    const seq = s.nextSeq();
    encodeLinkGet(w, seq, 1);
    s.request(w, seq, 'get link', 'lo');
  } finally {
    s.close();
  }
});

test('the NLMSG_NOOP barrier is acknowledged by rtnetlink and generic netlink', () => {
  for (const proto of [NETLINK_ROUTE, NETLINK_GENERIC]) {
    const s = NetlinkSocket.open(proto);
    try {
      const w = new MessageWriter(32);
      const seq = s.nextSeq();
      w.endMessage(w.beginMessage(1 /* NLMSG_NOOP */, NLM_F_REQUEST | NLM_F_ACK, seq));
      s.request(w, seq, 'noop', `protocol ${proto}`); // returns at the ACK
    } finally {
      s.close();
    }
  }
});
