// Many requests per sendmsg, one acknowledgement per sendmsg.
//
// Every other IPVS tool sends one request and waits for one ACK per
// operation. Here requests are encoded back to back into one buffer WITHOUT
// NLM_F_ACK, and each sendmsg ends with a "barrier": a cheap request WITH
// NLM_F_ACK. The kernel runs all messages of one sendmsg synchronously and
// in order (netlink_rcv_skb), and a failing message is answered with an
// NLMSG_ERROR carrying its sequence number even without NLM_F_ACK. So once
// the barrier's ACK is read, every error for the messages before it has been
// read too, and every message without an error was applied.
//
// Sizing: a sendmsg must stay below the socket's send buffer (minus 32), so
// `maxBytes` is clamped to half of it. In the worst case every message fails
// and each error is one skb in the receive queue; the number of messages per
// sendmsg is capped so that even then the errors fit the receive buffer
// (otherwise the kernel drops them: ENOBUFS, OverrunError).
//
// Allocation: the writer buffer, the seq and errno tables are reused; push()
// allocates nothing but the item slot, and finish() builds one result object
// per item.

import { NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_REQUEST, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_NOOP } from './constants.js';
import { parseErrorPayload, type MessageView } from './reader.js';
import { MessageWriter } from './writer.js';
import { NetlinkError, NetlinkTimeoutError, OverrunError } from '../errors.js';

/** What a batch needs from a socket; NetlinkSocket implements it (tests inject fakes). */
export interface BatchTransport {
  readonly portId: number;
  /** Effective kernel receive buffer in bytes (SO_RCVBUF as reported). */
  readonly rcvBufBytes: number;
  /** Effective kernel send buffer in bytes (SO_SNDBUF as reported). */
  readonly sndBufBytes: number;
  nextSeq(): number;
  send(bytes: Buffer, op: string): void;
  receive(op: string, onMessage: (buf: Buffer, m: MessageView) => boolean): void;
}

export interface BatchResult<T> {
  item: T;
  seq: number;
  /** 0: applied; otherwise the positive errno the kernel answered. */
  errno: number;
  /** The kernel's extended-ACK text for a failure, when it gave one. */
  extAck?: string;
}

export interface BatchOptions {
  /** What the batch does, for error messages (`add destinations`). */
  op: string;
  /**
   * Encodes one request WITH NLM_F_ACK that is cheap and always succeeds;
   * its reply data is ignored. Default: `noopBarrier`, an NLMSG_NOOP with
   * NLM_F_REQUEST|NLM_F_ACK, which netlink_rcv_skb acknowledges without
   * calling any family (works for rtnetlink and every genetlink family).
   */
  barrier?: (w: MessageWriter, seq: number) => void;
  /** Flush when the encoded requests grow past this; default 128 KiB. */
  maxBytes?: number;
  /** At most this many requests per sendmsg; default derived from the socket's receive buffer. */
  maxMessages?: number;
}

/** The default barrier: an empty NLMSG_NOOP request the kernel only acknowledges. */
export function noopBarrier(w: MessageWriter, seq: number): void {
  w.endMessage(w.beginMessage(NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, seq));
}

const DEFAULT_MAX_BYTES = 128 * 1024;
/**
 * Receive-queue cost of one error reply (skb truesize): measured ~770 bytes
 * on 6.1 (capped ACK, no ext-ACK text); 2 KiB leaves room for ext-ACK text.
 */
const ERROR_TRUESIZE = 2048;

export class NetlinkBatch<T> {
  /** The shared encoder; `push` callbacks write into it. */
  readonly writer: MessageWriter;
  private readonly op: string;
  private readonly barrier: (w: MessageWriter, seq: number) => void;
  private readonly maxBytes: number;
  private readonly maxMessages: number;

  private items: T[] = [];
  private seqs = new Uint32Array(1024);
  private errnos = new Int32Array(1024);
  private extAcks: Map<number, string> | undefined;
  /** Index of the first item not yet sent. */
  private chunkStart = 0;
  private barrierSeq = 0;
  private readonly onReply: (buf: Buffer, m: MessageView) => boolean;

  constructor(
    private readonly sock: BatchTransport,
    opts: BatchOptions,
  ) {
    this.op = opts.op;
    this.barrier = opts.barrier ?? noopBarrier;
    const sendLimit = Math.floor(sock.sndBufBytes / 2);
    this.maxBytes = Math.max(4096, Math.min(opts.maxBytes ?? DEFAULT_MAX_BYTES, sendLimit));
    this.maxMessages = opts.maxMessages ?? Math.max(16, Math.floor(sock.rcvBufBytes / ERROR_TRUESIZE) - 4);
    if (!(this.maxMessages >= 1)) throw new RangeError(`maxMessages must be >= 1, got ${opts.maxMessages}`);
    this.writer = new MessageWriter(this.maxBytes + 16 * 1024);
    this.onReply = (buf, m) => this.handleReply(buf, m);
  }

  /** Requests pushed since the last finish(). */
  get size(): number {
    return this.items.length;
  }

  /**
   * Queues one request: `encode` writes exactly one message with the given
   * seq and NLM_F_REQUEST (no NLM_F_ACK). If `encode` throws (e.g. an invalid
   * address), its partial message is dropped, nothing is queued, and the
   * error propagates. May send a full sendmsg (and wait for its barrier)
   * before returning; transport failures throw from here.
   */
  push(item: T, encode: (w: MessageWriter, seq: number, item: T) => void): void {
    const w = this.writer;
    const seq = this.sock.nextSeq();
    const before = w.length;
    try {
      encode(w, seq, item);
    } catch (e) {
      w.truncate(before); // drop the partial message; the batch stays usable
      throw e;
    }
    if (w.length - before < NLMSG_HDRLEN) {
      w.truncate(before);
      throw new RangeError(`${this.op}: encode must write one message with seq ${seq}`);
    }
    const i = this.items.length;
    if (i === this.seqs.length) this.grow();
    this.items.push(item);
    this.seqs[i] = seq;
    this.errnos[i] = 0;
    if (w.length >= this.maxBytes || i + 1 - this.chunkStart >= this.maxMessages) this.flush();
  }

  /**
   * Sends what is left (with its barrier), reads every reply and returns one
   * result per pushed item in push order. The batch is empty afterwards and
   * can be reused. Throws only for transport failures (timeout, overrun):
   * then the outcome of the unacknowledged requests is unknown, and the
   * error says so; the batch is emptied.
   */
  finish(): BatchResult<T>[] {
    this.flush();
    const n = this.items.length;
    const out = new Array<BatchResult<T>>(n);
    const ext = this.extAcks;
    for (let i = 0; i < n; i++) {
      const r: BatchResult<T> = { item: this.items[i]!, seq: this.seqs[i]!, errno: this.errnos[i]! };
      if (ext !== undefined) {
        const text = ext.get(i);
        if (text !== undefined) r.extAck = text;
      }
      out[i] = r;
    }
    this.clear();
    return out;
  }

  /** Forgets everything pushed and not yet sent, and every result. */
  clear(): void {
    this.items = [];
    this.extAcks = undefined;
    this.chunkStart = 0;
    this.writer.reset();
  }

  private grow(): void {
    const seqs = new Uint32Array(this.seqs.length * 2);
    seqs.set(this.seqs);
    this.seqs = seqs;
    const errnos = new Int32Array(this.errnos.length * 2);
    errnos.set(this.errnos);
    this.errnos = errnos;
  }

  /** One sendmsg: the pending requests plus a barrier; then read to the barrier's ACK. */
  private flush(): void {
    const count = this.items.length - this.chunkStart;
    if (count === 0) return;
    const w = this.writer;
    this.checkEncoded(w.view(), count);
    this.barrierSeq = this.sock.nextSeq();
    this.barrier(w, this.barrierSeq);
    try {
      this.sock.send(w.view(), this.op);
    } catch (e) {
      this.clear();
      throw e; // nothing of this sendmsg reached the kernel
    }
    w.reset();
    try {
      this.sock.receive(this.op, this.onReply);
    } catch (e) {
      const applied = this.chunkStart;
      const total = this.items.length;
      this.clear();
      const unknown = `${this.op}: outcome of ${count} of ${total} requests unknown (the first ${applied} were acknowledged); re-read the kernel state`;
      if (e instanceof NetlinkTimeoutError) throw new NetlinkTimeoutError(unknown, e.timeoutMs);
      if (e instanceof OverrunError) throw new OverrunError(unknown);
      throw e;
    }
    this.chunkStart = this.items.length;
  }

  /**
   * Every pushed request must be exactly one message carrying its own seq:
   * otherwise its error would be mapped to the wrong item, or to none (and
   * reported as applied). Checked once per sendmsg, not per push.
   */
  private checkEncoded(bytes: Buffer, count: number): void {
    let off = 0;
    for (let i = this.chunkStart; i < this.chunkStart + count; i++) {
      const len = off + NLMSG_HDRLEN <= bytes.length ? bytes.readUInt32LE(off) : 0;
      if (len < NLMSG_HDRLEN || off + len > bytes.length || bytes.readUInt32LE(off + 8) !== this.seqs[i]) {
        this.clear();
        throw new RangeError(`${this.op}: request ${i} was not encoded as one message with seq ${this.seqs[i]} (this sendmsg was not sent; the batch was discarded)`);
      }
      off += (len + 3) & ~3;
    }
    if (off !== bytes.length) {
      this.clear();
      throw new RangeError(`${this.op}: encode wrote more than one message per request (this sendmsg was not sent; the batch was discarded)`);
    }
  }

  private handleReply(buf: Buffer, m: MessageView): boolean {
    if (m.type !== NLMSG_ERROR) return false; // reply data (barrier or echo): ignored
    if (m.pid !== this.sock.portId && m.pid !== 0) return false;
    const err = buf.readInt32LE(m.start);
    if (m.seq === this.barrierSeq) {
      if (err !== 0) {
        const e = parseErrorPayload(buf, m);
        // The kernel did run every request before the barrier, but their
        // errors are what we were reading: the barrier must never fail.
        throw new NetlinkError(e.errno, `${this.op}: batch barrier`, '', e.extAck, 'the batch barrier request failed; it must be a request that always succeeds');
      }
      return true;
    }
    const i = this.indexOf(m.seq);
    if (i < 0) return false; // stale: a reply to something before this chunk
    if (err !== 0) {
      this.errnos[i] = -err;
      if (m.flags & NLM_F_ACK_TLVS) {
        const text = parseErrorPayload(buf, m).extAck;
        if (text !== undefined) (this.extAcks ??= new Map()).set(i, text);
      }
    }
    return false;
  }

  /** Index of the unacknowledged item with `seq`, or -1. Seqs of a chunk are consecutive unless the caller took some. */
  private indexOf(seq: number): number {
    const start = this.chunkStart;
    const end = this.items.length;
    const first = this.seqs[start]!;
    const guess = start + ((seq - first) >>> 0);
    if (guess < end && this.seqs[guess] === seq) return guess;
    for (let i = start; i < end; i++) if (this.seqs[i] === seq) return i;
    return -1;
  }
}
