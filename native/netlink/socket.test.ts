// NetlinkSocket against a scripted fake kernel (injected Syscalls; no real socket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetlinkSocket, SocketStateError, type Syscalls } from './socket.js';
import { MessageWriter } from './writer.js';
import {
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_OVERRUN,
  NLMSGERR_ATTR_MSG,
  SOL_NETLINK,
} from './constants.js';
import * as libc from '../ffi/libc.js';
import { DumpInterruptedError, NetlinkError, NetlinkTimeoutError, OverrunError, SyscallError, TruncatedError } from '../errors.js';

const PORT = 4242;
const TYPE = 0x20;

/** A reply datagram, or a syscall failure (negative errno), or a truncated datagram of the given real size. */
type Step = Buffer | { errno: number } | { truncatedSize: number };

class FakeKernel implements Syscalls {
  sockopts: Array<[number, number, number]> = [];
  sent: Buffer[] = [];
  recvFlags: number[] = [];
  queue: Step[] = [];
  closed = 0;
  forcePermitted = true;
  /** Called on each send with the bytes; may push replies. */
  onSend: (bytes: Buffer) => void = () => {};

  socket(): number {
    return 7;
  }
  bind(): number {
    return 0;
  }
  getsockname(_fd: number, addr: Uint8Array): number {
    Buffer.from(addr.buffer, addr.byteOffset, addr.length).writeUInt32LE(PORT, 4);
    return 12;
  }
  setsockoptInt(_fd: number, level: number, name: number, value: number): number {
    this.sockopts.push([level, name, value]);
    if (!this.forcePermitted && (name === libc.SO_RCVBUFFORCE || name === libc.SO_SNDBUFFORCE)) return -libc.EPERM;
    return 0;
  }
  setsockoptTimeval(_fd: number, level: number, name: number, ms: number): number {
    this.sockopts.push([level, name, ms]);
    return 0;
  }
  getsockoptInt(_fd: number, _level: number, name: number): number {
    return name === libc.SO_RCVBUF ? 16 << 20 : 2 << 20;
  }
  sendto(_fd: number, buf: Uint8Array): number {
    const copy = Buffer.from(buf);
    this.sent.push(copy);
    this.onSend(copy);
    return buf.length;
  }
  recv(_fd: number, buf: Uint8Array, len: number, flags: number): number {
    this.recvFlags.push(flags);
    const step = this.queue.shift();
    if (step === undefined) return -libc.EAGAIN; // SO_RCVTIMEO expired
    if (Buffer.isBuffer(step)) {
      const n = Math.min(len, step.length);
      buf.set(step.subarray(0, n));
      return flags & libc.MSG_TRUNC ? step.length : n;
    }
    if ('errno' in step) return -step.errno;
    return step.truncatedSize;
  }
  close(): number {
    this.closed++;
    return 0;
  }
}

/** One netlink message. */
function msg(type: number, flags: number, seq: number, payload: Buffer = Buffer.alloc(0), pid = PORT): Buffer {
  const padded = (payload.length + 3) & ~3;
  const b = Buffer.alloc(16 + padded);
  b.writeUInt32LE(16 + payload.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(pid, 12);
  payload.copy(b, 16);
  return b;
}
/** NLMSG_ERROR (capped, optionally with an ext-ACK message). */
function errMsg(seq: number, errno: number, text?: string, pid = PORT): Buffer {
  const hdr = Buffer.alloc(4 + 16);
  hdr.writeInt32LE(-errno, 0);
  hdr.writeUInt32LE(16, 4);
  hdr.writeUInt16LE(TYPE, 8);
  hdr.writeUInt32LE(seq, 12);
  hdr.writeUInt32LE(pid, 16);
  let flags = NLM_F_CAPPED;
  let tlv = Buffer.alloc(0);
  if (text !== undefined) {
    const s = Buffer.from(text + '\0');
    tlv = Buffer.alloc(4 + ((s.length + 3) & ~3));
    tlv.writeUInt16LE(4 + s.length, 0);
    tlv.writeUInt16LE(NLMSGERR_ATTR_MSG, 2);
    s.copy(tlv, 4);
    flags |= NLM_F_ACK_TLVS;
  }
  return msg(NLMSG_ERROR, flags, seq, Buffer.concat([hdr, tlv]), pid);
}
const ack = (seq: number) => errMsg(seq, 0);
const done = (seq: number, flags = NLM_F_MULTI, err = 0) => {
  const p = Buffer.alloc(4);
  p.writeInt32LE(err, 0);
  return msg(NLMSG_DONE, flags, seq, p);
};
const data = (seq: number, v: number, flags = 0) => {
  const p = Buffer.alloc(4);
  p.writeUInt32LE(v, 0);
  return msg(TYPE, flags, seq, p);
};

function open(k = new FakeKernel(), timeoutMs = 250): { k: FakeKernel; s: NetlinkSocket } {
  return { k, s: NetlinkSocket.open(16, { timeoutMs }, k) };
}
function req(s: NetlinkSocket, flags = NLM_F_REQUEST | NLM_F_ACK): { w: MessageWriter; seq: number } {
  const w = new MessageWriter(64);
  const seq = s.nextSeq();
  w.endMessage(w.beginMessage(TYPE, flags, seq));
  return { w, seq };
}
const values = (out: number[]) => (buf: Buffer, m: { start: number }) => {
  out.push(buf.readUInt32LE(m.start));
};

test('open: timeouts, forced buffers, EXT_ACK and CAP_ACK, port id from getsockname', () => {
  const { k, s } = open(new FakeKernel(), 1500);
  assert.equal(s.portId, PORT);
  assert.equal(s.protocol, 16);
  assert.deepEqual(k.sockopts, [
    [libc.SOL_SOCKET, libc.SO_RCVTIMEO, 1500],
    [libc.SOL_SOCKET, libc.SO_SNDTIMEO, 1500],
    [libc.SOL_SOCKET, libc.SO_RCVBUFFORCE, 8 << 20],
    [libc.SOL_SOCKET, libc.SO_SNDBUFFORCE, 1 << 20],
    [SOL_NETLINK, NETLINK_EXT_ACK, 1],
    [SOL_NETLINK, NETLINK_CAP_ACK, 1],
  ]);
  assert.equal(s.extAck, true);
  assert.equal(s.rcvBufBytes, 16 << 20);
});

test('open: falls back to SO_RCVBUF/SO_SNDBUF without CAP_NET_ADMIN', () => {
  const k = new FakeKernel();
  k.forcePermitted = false;
  open(k);
  const names = k.sockopts.map(([, n]) => n);
  assert.ok(names.includes(libc.SO_RCVBUF) && names.includes(libc.SO_SNDBUF));
});

test('nextSeq increments, wraps and skips 0', () => {
  const { s } = open();
  const a = s.nextSeq();
  assert.equal(s.nextSeq(), a + 1);
  (s as unknown as { seq: number }).seq = 0xfffffffe;
  assert.equal(s.nextSeq(), 0xffffffff);
  assert.equal(s.nextSeq(), 1);
});

test('request: skips stale seqs and foreign port ids, delivers data, returns at the ACK', () => {
  const { k, s } = open();
  const { w, seq } = req(s);
  k.queue.push(Buffer.concat([data(seq - 1, 99), ack(seq - 1)]), data(seq, 98, 0).fill(0, 12, 16).fill(1, 12, 13), Buffer.concat([data(seq, 1), data(seq, 2)]), ack(seq));
  const got: number[] = [];
  s.request(w, seq, 'get thing', 'x', values(got));
  assert.deepEqual(got, [1, 2]);
  assert.equal(k.queue.length, 0);
  assert.equal(k.sent.length, 1);
  assert.ok(k.recvFlags.every((f) => f === libc.MSG_TRUNC));
});

test('request: NLMSG_ERROR becomes NetlinkError with op, object, errno name and ext-ACK text', () => {
  const { k, s } = open();
  const { w, seq } = req(s);
  k.queue.push(errMsg(seq, 17, 'ipv4: Address already assigned'));
  assert.throws(
    () => s.request(w, seq, 'add address', '198.51.100.10/32 dev minuteman'),
    (e: unknown) =>
      e instanceof NetlinkError &&
      e.errnoName === 'EEXIST' &&
      e.extAck === 'ipv4: Address already assigned' &&
      e.message.startsWith('add address 198.51.100.10/32 dev minuteman: EEXIST'),
  );
});

test('request without NLM_F_ACK returns after the first non-multi reply', () => {
  const { k, s } = open();
  const { w, seq } = req(s, NLM_F_REQUEST);
  k.queue.push(data(seq, 5));
  const got: number[] = [];
  s.request(w, seq, 'get', '', values(got));
  assert.deepEqual(got, [5]);
});

test('request: EAGAIN (SO_RCVTIMEO) is NetlinkTimeoutError, never retried', () => {
  const { k, s } = open();
  const { w, seq } = req(s);
  assert.throws(() => s.request(w, seq, 'get info', ''), NetlinkTimeoutError);
  assert.equal(k.recvFlags.length, 1);
  // The late ACK of the timed-out request is skipped by the next one.
  const r2 = req(s);
  k.queue.push(ack(seq), ack(r2.seq));
  s.request(r2.w, r2.seq, 'get info', '');
  assert.equal(k.queue.length, 0);
});

test('request: EINTR is retried (bounded), ENOBUFS and NLMSG_OVERRUN are OverrunError, other errnos SyscallError', () => {
  const { k, s } = open();
  let r = req(s);
  k.queue.push({ errno: libc.EINTR }, { errno: libc.EINTR }, ack(r.seq));
  s.request(r.w, r.seq, 'x', '');

  r = req(s);
  k.queue.push(...Array.from({ length: 20 }, () => ({ errno: libc.EINTR })));
  assert.throws(() => s.request(r.w, r.seq, 'x', ''), SyscallError);
  k.queue = [];

  r = req(s);
  k.queue.push({ errno: libc.ENOBUFS });
  assert.throws(() => s.request(r.w, r.seq, 'x', ''), OverrunError);

  r = req(s);
  k.queue.push(msg(NLMSG_OVERRUN, 0, r.seq));
  assert.throws(() => s.request(r.w, r.seq, 'x', ''), OverrunError);

  r = req(s);
  k.queue.push({ errno: libc.EBADF });
  assert.throws(() => s.request(r.w, r.seq, 'x', ''), (e: unknown) => e instanceof SyscallError && e.errnoName === 'EBADF');
});

test('after ENOBUFS the queue is emptied without waiting (the kernel drops silently until it is), then the socket works', () => {
  const { k, s } = open();
  const r = req(s);
  k.queue.push(errMsg(r.seq - 1, 19), { errno: libc.ENOBUFS }, errMsg(r.seq - 1, 19), errMsg(r.seq - 1, 19), ack(r.seq));
  assert.throws(() => s.request(r.w, r.seq, 'add', ''), OverrunError);
  assert.equal(k.queue.length, 0);
  assert.deepEqual(k.recvFlags.slice(2), [libc.MSG_TRUNC | libc.MSG_DONTWAIT, libc.MSG_TRUNC | libc.MSG_DONTWAIT, libc.MSG_TRUNC | libc.MSG_DONTWAIT, libc.MSG_TRUNC | libc.MSG_DONTWAIT]);
  const r2 = req(s);
  k.queue.push(ack(r2.seq));
  s.request(r2.w, r2.seq, 'x', '');
});

test('MSG_TRUNC: a datagram larger than the buffer is TruncatedError, then the buffer grows', () => {
  const { k, s } = open();
  assert.equal(s.recvBufBytes, 64 * 1024);
  const r = req(s);
  k.queue.push({ truncatedSize: 100_000 });
  assert.throws(
    () => s.request(r.w, r.seq, 'get big', ''),
    (e: unknown) => e instanceof TruncatedError && e.size === 100_000 && e.bufferSize === 65536,
  );
  assert.ok(s.recvBufBytes >= 100_000);
  const r2 = req(s);
  const big = data(r2.seq, 7);
  k.queue.push(Buffer.concat([big, Buffer.alloc(0)]), ack(r2.seq));
  const got: number[] = [];
  s.request(r2.w, r2.seq, 'get big', '', values(got));
  assert.deepEqual(got, [7]);
});

test('dump: data until DONE, stale messages skipped', () => {
  const { k, s } = open();
  for (let i = 0; i < 5; i++) s.nextSeq();
  const { w, seq } = req(s, NLM_F_REQUEST | NLM_F_DUMP);
  k.queue.push(data(seq - 3, 9, NLM_F_MULTI), Buffer.concat([data(seq, 1, NLM_F_MULTI), data(seq, 2, NLM_F_MULTI)]), Buffer.concat([data(seq, 3, NLM_F_MULTI), done(seq)]));
  const got: number[] = [];
  s.dump(w, seq, 'list', '', values(got));
  assert.deepEqual(got, [1, 2, 3]);
});

test('dump: NLM_F_DUMP_INTR drains to DONE, then DumpInterruptedError', () => {
  const { k, s } = open();
  const { w, seq } = req(s, NLM_F_REQUEST | NLM_F_DUMP);
  k.queue.push(data(seq, 1, NLM_F_MULTI), data(seq, 2, NLM_F_MULTI | NLM_F_DUMP_INTR), Buffer.concat([data(seq, 3, NLM_F_MULTI), done(seq, NLM_F_MULTI | NLM_F_DUMP_INTR)]));
  const got: number[] = [];
  assert.throws(() => s.dump(w, seq, 'list services', '', values(got)), DumpInterruptedError);
  assert.deepEqual(got, [1, 2, 3]);
  assert.equal(k.queue.length, 0);
});

test('dump: an error in NLMSG_DONE or an NLMSG_ERROR is NetlinkError', () => {
  const { k, s } = open();
  let r = req(s, NLM_F_REQUEST | NLM_F_DUMP);
  k.queue.push(data(r.seq, 1, NLM_F_MULTI), done(r.seq, NLM_F_MULTI, -90));
  assert.throws(() => s.dump(r.w, r.seq, 'list', '', () => {}), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EMSGSIZE');
  r = req(s, NLM_F_REQUEST | NLM_F_DUMP);
  k.queue.push(errMsg(r.seq, 16, 'busy'));
  assert.throws(() => s.dump(r.w, r.seq, 'list', '', () => {}), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EBUSY');
});

test('dump: a throwing callback still drains to DONE, then its error is rethrown', () => {
  const { k, s } = open();
  const { w, seq } = req(s, NLM_F_REQUEST | NLM_F_DUMP);
  k.queue.push(data(seq, 1, NLM_F_MULTI), data(seq, 2, NLM_F_MULTI), done(seq));
  const boom = new Error('decode failed');
  let calls = 0;
  assert.throws(
    () =>
      s.dump(w, seq, 'list', '', () => {
        calls++;
        throw boom;
      }),
    (e: unknown) => e === boom,
  );
  assert.equal(calls, 1);
  assert.equal(k.queue.length, 0);
});

test('dump: after a timeout the next call first reads the old dump to its DONE', () => {
  const { k, s } = open();
  const d = req(s, NLM_F_REQUEST | NLM_F_DUMP);
  k.queue.push(data(d.seq, 1, NLM_F_MULTI));
  assert.throws(() => s.dump(d.w, d.seq, 'list', '', () => {}), NetlinkTimeoutError);
  const r = req(s);
  k.onSend = () => {
    // The old dump must have been drained before this request went out.
    assert.equal(k.queue.length, 0);
    k.queue.push(ack(r.seq));
  };
  k.queue.push(data(d.seq, 2, NLM_F_MULTI), done(d.seq));
  s.request(r.w, r.seq, 'x', '');
});

test('writer must hold exactly the one message with the given seq', () => {
  const { s } = open();
  const { w, seq } = req(s);
  assert.throws(() => s.request(w, seq + 1, 'x', ''), RangeError);
  w.endMessage(w.beginMessage(TYPE, NLM_F_REQUEST, seq));
  assert.throws(() => s.request(w, seq, 'x', ''), RangeError);
});

test('close is idempotent; use after close and re-entrant use throw SocketStateError', () => {
  const { k, s } = open();
  const r = req(s);
  k.queue.push(data(r.seq, 1), ack(r.seq));
  assert.throws(
    () => s.request(r.w, r.seq, 'x', '', () => s.send(Buffer.alloc(16), 'inner')),
    (e: unknown) => e instanceof SocketStateError && e.code === 'ERR_NETLINK_SOCKET_BUSY',
  );
  s.close();
  s.close();
  assert.equal(k.closed, 1);
  assert.throws(() => s.request(r.w, r.seq, 'x', ''), (e: unknown) => e instanceof SocketStateError && e.code === 'ERR_NETLINK_SOCKET_CLOSED');
});

test('open closes the fd when a required setsockopt fails', () => {
  const k = new FakeKernel();
  k.setsockoptTimeval = () => -22;
  assert.throws(() => NetlinkSocket.open(16, {}, k), SyscallError);
  assert.equal(k.closed, 1);
});
