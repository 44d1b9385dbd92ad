// NetlinkBatch against a fake transport that plays the kernel's part:
// it runs each sendmsg synchronously, answers failing requests with
// NLMSG_ERROR (their seq), and acknowledges the barrier last.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NetlinkBatch, noopBarrier, type BatchTransport } from './batch.js';
import { forEachMessage, type MessageView } from './reader.js';
import type { MessageWriter } from './writer.js';
import { NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_REQUEST, NLMSG_ERROR, NLMSG_NOOP, NLMSGERR_ATTR_MSG } from './constants.js';
import { NetlinkError, NetlinkTimeoutError, OverrunError } from '../errors.js';

const PORT = 77;
const T_ADD = 0x30;
const T_GETINFO = 0x31;

interface Sent {
  type: number;
  flags: number;
  seq: number;
  value: number;
}

class FakeTransport implements BatchTransport {
  readonly portId = PORT;
  rcvBufBytes = 16 << 20;
  sndBufBytes = 2 << 20;
  seq = 100;
  sends: Sent[][] = [];
  /** Datagrams waiting to be received. */
  queue: Buffer[] = [];
  /** errno for a request value (0 = applied). */
  fail: (value: number) => number = () => 0;
  extAck: string | undefined;
  dropBarrierAck = false;
  overrun = false;
  /** Extra datagrams to deliver before this send's replies (stale replies). */
  before: Buffer[] = [];

  nextSeq(): number {
    return ++this.seq;
  }
  send(bytes: Buffer): void {
    const msgs: Sent[] = [];
    forEachMessage(bytes, bytes.length, (m) => {
      const value = m.end - m.start >= 4 ? bytes.readUInt32LE(m.start) : -1;
      msgs.push({ type: m.type, flags: m.flags, seq: m.seq, value });
    });
    this.sends.push(msgs);
    this.queue.push(...this.before);
    this.before = [];
    for (const s of msgs) {
      if (s.type === NLMSG_NOOP || s.type === T_GETINFO) {
        if (s.type === T_GETINFO) this.queue.push(reply(s.seq));
        if (!this.dropBarrierAck) this.queue.push(errMsg(s.seq, 0));
        continue;
      }
      const errno = this.fail(s.value);
      if (errno || s.flags & NLM_F_ACK) this.queue.push(errMsg(s.seq, errno, errno ? this.extAck : undefined));
    }
  }
  receive(op: string, onMessage: (buf: Buffer, m: MessageView) => boolean): void {
    for (;;) {
      if (this.overrun) throw new OverrunError(op);
      const d = this.queue.shift();
      if (!d) throw new NetlinkTimeoutError(op, 5000);
      let stop = false;
      forEachMessage(d, d.length, (m) => {
        stop = onMessage(d, m);
        return !stop;
      });
      if (stop) return;
    }
  }
}

function errMsg(seq: number, errno: number, text?: string): Buffer {
  const s = text === undefined ? Buffer.alloc(0) : Buffer.from(text + '\0');
  const tlvLen = s.length ? 4 + ((s.length + 3) & ~3) : 0;
  const b = Buffer.alloc(16 + 4 + 16 + tlvLen);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(NLMSG_ERROR, 4);
  b.writeUInt16LE(NLM_F_CAPPED | (s.length ? NLM_F_ACK_TLVS : 0), 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(PORT, 12);
  b.writeInt32LE(-errno, 16);
  b.writeUInt32LE(16, 20);
  b.writeUInt32LE(seq, 28);
  if (s.length) {
    b.writeUInt16LE(4 + s.length, 36);
    b.writeUInt16LE(NLMSGERR_ATTR_MSG, 38);
    s.copy(b, 40);
  }
  return b;
}
function reply(seq: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(24, 0);
  b.writeUInt16LE(T_GETINFO, 4);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(PORT, 12);
  return b;
}

/** A 40-byte request carrying `value`. */
function encodeAdd(w: MessageWriter, seq: number, value: number): void {
  const start = w.beginMessage(T_ADD, NLM_F_REQUEST, seq);
  w.u32(value);
  w.zeros(20);
  w.endMessage(start);
}

test('1,000 requests with 3 failures: exactly those 3 are reported, by seq, in push order', () => {
  const t = new FakeTransport();
  const bad = new Set([250, 251, 777]);
  t.fail = (v) => (bad.has(v) ? 17 : 0);
  t.extAck = 'duplicate';
  const b = new NetlinkBatch<number>(t, { op: 'add things', maxBytes: 8 * 1024 });
  for (let i = 0; i < 1000; i++) b.push(i, encodeAdd);
  const results = b.finish();
  assert.equal(results.length, 1000);
  results.forEach((r, i) => assert.equal(r.item, i));
  const failed = results.filter((r) => r.errno !== 0);
  assert.deepEqual(
    failed.map((r) => [r.item, r.errno, r.extAck]),
    [
      [250, 17, 'duplicate'],
      [251, 17, 'duplicate'],
      [777, 17, 'duplicate'],
    ],
  );
  // The seq in each result is the one its request carried.
  const sentSeq = new Map<number, number>();
  for (const s of t.sends.flat()) if (s.type === T_ADD) sentSeq.set(s.value, s.seq);
  for (const r of results) assert.equal(r.seq, sentSeq.get(r.item));
  // Several sendmsgs, each: requests without NLM_F_ACK, then one NOOP barrier with it.
  assert.ok(t.sends.length > 1);
  for (const msgs of t.sends) {
    const last = msgs[msgs.length - 1]!;
    assert.equal(last.type, NLMSG_NOOP);
    assert.equal(last.flags, NLM_F_REQUEST | NLM_F_ACK);
    for (const m of msgs.slice(0, -1)) assert.equal(m.flags & NLM_F_ACK, 0);
    assert.ok(msgs.length * 40 <= 8 * 1024 + 40 + 16);
  }
  assert.equal(t.queue.length, 0);
});

test('a custom barrier: its reply data is ignored, its ACK ends the read', () => {
  const t = new FakeTransport();
  const b = new NetlinkBatch<number>(t, {
    op: 'x',
    barrier: (w, seq) => w.endMessage(w.beginMessage(T_GETINFO, NLM_F_REQUEST | NLM_F_ACK, seq)),
  });
  t.fail = (v) => (v === 2 ? 22 : 0);
  for (let i = 0; i < 5; i++) b.push(i, encodeAdd);
  const r = b.finish();
  assert.deepEqual(
    r.map((x) => x.errno),
    [0, 0, 22, 0, 0],
  );
  assert.equal(t.sends[0]!.at(-1)!.type, T_GETINFO);
});

test('stale error replies (seqs of earlier requests) are skipped', () => {
  const t = new FakeTransport();
  const b = new NetlinkBatch<number>(t, { op: 'x' });
  t.before = [errMsg(3, 17), errMsg(t.seq, 2)]; // neither belongs to this batch
  b.push(1, encodeAdd);
  assert.deepEqual(
    b.finish().map((r) => r.errno),
    [0],
  );
});

test('maxMessages caps one sendmsg; the default follows the receive buffer', () => {
  const t = new FakeTransport();
  const b = new NetlinkBatch<number>(t, { op: 'x', maxMessages: 10 });
  for (let i = 0; i < 25; i++) b.push(i, encodeAdd);
  b.finish();
  assert.deepEqual(
    t.sends.map((s) => s.length),
    [11, 11, 6],
  );
  const small = new FakeTransport();
  small.rcvBufBytes = 425_984; // unprivileged rmem_max * 2
  const b2 = new NetlinkBatch<number>(small, { op: 'x' });
  for (let i = 0; i < 1000; i++) b2.push(i, encodeAdd);
  b2.finish();
  assert.ok(Math.max(...small.sends.map((s) => s.length)) <= 425_984 / 2048);
});

test('empty finish sends nothing; a batch can be reused', () => {
  const t = new FakeTransport();
  const b = new NetlinkBatch<number>(t, { op: 'x' });
  assert.deepEqual(b.finish(), []);
  assert.equal(t.sends.length, 0);
  b.push(1, encodeAdd);
  assert.equal(b.finish().length, 1);
  b.push(2, encodeAdd);
  b.push(3, encodeAdd);
  assert.deepEqual(
    b.finish().map((r) => r.item),
    [2, 3],
  );
});

test('a missing barrier ACK is NetlinkTimeoutError saying the outcome is unknown', () => {
  const t = new FakeTransport();
  t.dropBarrierAck = true;
  const b = new NetlinkBatch<number>(t, { op: 'add things' });
  for (let i = 0; i < 3; i++) b.push(i, encodeAdd);
  assert.throws(() => b.finish(), (e: unknown) => e instanceof NetlinkTimeoutError && /outcome of 3 of 3 requests unknown/.test(e.message));
  assert.equal(b.size, 0);
});

test('ENOBUFS while reading is OverrunError saying the outcome is unknown', () => {
  const t = new FakeTransport();
  t.overrun = true;
  const b = new NetlinkBatch<number>(t, { op: 'add things' });
  b.push(1, encodeAdd);
  assert.throws(() => b.finish(), (e: unknown) => e instanceof OverrunError && /unknown/.test(e.message));
});

test('a failing barrier is a NetlinkError', () => {
  const t = new FakeTransport();
  const b = new NetlinkBatch<number>(t, {
    op: 'x',
    barrier: (w, seq) => {
      noopBarrier(w, seq);
      t.before = [errMsg(seq, 1)];
      t.dropBarrierAck = true;
    },
  });
  b.push(1, encodeAdd);
  assert.throws(() => b.finish(), (e: unknown) => e instanceof NetlinkError && e.errnoName === 'EPERM' && /barrier/.test(e.message));
});

test('an encode that throws leaves no partial message behind', () => {
  const t = new FakeTransport();
  const b = new NetlinkBatch<number>(t, { op: 'x' });
  b.push(1, encodeAdd);
  assert.throws(
    () =>
      b.push(2, (w, seq) => {
        w.beginMessage(T_ADD, NLM_F_REQUEST, seq);
        w.u32(2);
        throw new Error('invalid address');
      }),
    /invalid address/,
  );
  b.push(3, encodeAdd);
  assert.deepEqual(
    b.finish().map((r) => [r.item, r.errno]),
    [
      [1, 0],
      [3, 0],
    ],
  );
});

test('encode must write one message with the given seq', () => {
  const t = new FakeTransport();
  const b = new NetlinkBatch<number>(t, { op: 'x' });
  assert.throws(() => b.push(1, () => {}), RangeError);
  assert.equal(b.writer.length, 0);
  // A wrong seq (its error could not be mapped back) is caught before the sendmsg.
  b.push(1, (w, seq) => encodeAdd(w, seq + 1, 1));
  assert.throws(() => b.finish(), /not encoded as one message with seq/);
  b.push(1, (w, seq) => {
    encodeAdd(w, seq, 1);
    encodeAdd(w, seq, 2);
  });
  assert.throws(() => b.finish(), /more than one message/);
  assert.equal(t.sends.length, 0);
  assert.equal(b.size, 0);
});

test('the noop barrier is an empty NLMSG_NOOP with NLM_F_REQUEST|NLM_F_ACK', async () => {
  const { MessageWriter } = await import('./writer.js');
  const w = new MessageWriter(32);
  noopBarrier(w, 0x01020304);
  assert.equal(w.view().toString('hex'), '10000000' + '0100' + '0500' + '04030201' + '00000000');
});
