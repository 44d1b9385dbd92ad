// A synchronous netlink socket with deadlines.
//
// Every receive is bounded by SO_RCVTIMEO (and every send by SO_SNDTIMEO):
// when the kernel says nothing for `timeoutMs`, the call throws
// NetlinkTimeoutError; EAGAIN is never retried (moby/ipvs looped forever on
// it: kubernetes/kubernetes#71071). Replies are matched by sequence number
// and port id, so a late reply to an earlier, timed-out request is skipped.
//
// Receive buffer: one reusable userspace buffer per socket (default 64 KiB),
// read with MSG_TRUNC so a datagram larger than the buffer is detected rather
// than silently cut. The kernel never builds dump datagrams larger than
// 32 KiB (netlink_dump caps its skb at max_recvmsg_len <= 32 KiB), so only a
// single huge non-dump reply can be truncated; it is then lost and the call
// throws TruncatedError, and the socket grows its buffer to the reported size
// so that a retry succeeds. (Peeking every datagram first would cost one more
// syscall per datagram - ~14 us each in UML - for a case our requests never
// produce.)
//
// The socket is not re-entrant: calling it again from inside an onMessage
// callback throws. The MessageView handed to callbacks is reused; it and the
// Buffer are valid only during the callback.

import {
  AF_NETLINK,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  NLM_F_ACK,
  NLM_F_ACK_TLVS,
  NLM_F_DUMP_INTR,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLMSGERR_ATTR_MSG,
  SOL_NETLINK,
} from './constants.js';
import { Attrs, parseErrorPayload, readMessageHeader, type MessageView } from './reader.js';
import type { MessageWriter } from './writer.js';
import { align4 } from './writer.js';
import {
  DumpInterruptedError,
  NativeError,
  NetlinkError,
  NetlinkTimeoutError,
  OverrunError,
  SyscallError,
  TruncatedError,
} from '../errors.js';
import * as libc from '../ffi/libc.js';

export interface SocketOptions {
  /** SO_RCVTIMEO and SO_SNDTIMEO in ms; default 5000. No single syscall blocks longer. */
  timeoutMs?: number;
  /** Kernel receive queue; default 8 MiB via SO_RCVBUFFORCE, falling back to SO_RCVBUF when not permitted. */
  rcvBufBytes?: number;
  /** Kernel send buffer; default 1 MiB (SO_SNDBUFFORCE, fallback SO_SNDBUF). A send larger than sndbuf-32 gets EMSGSIZE. */
  sndBufBytes?: number;
  /** Userspace receive buffer, default 64 KiB (see the file comment on truncation). */
  recvBufBytes?: number;
}

/**
 * The syscalls the socket needs, as `native/ffi/libc.ts` provides them (value
 * or -errno). Injected so tests can play the kernel's part without patching
 * built-ins.
 */
export interface Syscalls {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Uint8Array): number;
  getsockname(fd: number, addr: Uint8Array): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  setsockoptTimeval(fd: number, level: number, name: number, ms: number): number;
  getsockoptInt(fd: number, level: number, name: number): number;
  sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array | null): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  /** Optional: several datagrams per syscall (see recvDatagram). */
  recvmmsg?(fd: number, vec: libc.MmsgVector, flags: number): number;
  close(fd: number): number;
}

export const libcSyscalls: Syscalls = libc.HAVE_RECVMMSG ? libc : { ...libc, recvmmsg: undefined };

/** Datagrams taken per recvmmsg: a dump chunk and its NLMSG_DONE, a reply and its ACK, fit in 2; 4 covers big dumps. */
const RECV_BATCH = 4;

/** A NetlinkSocket was used after close(), or re-entered from one of its own callbacks. */
export class SocketStateError extends NativeError {
  readonly code: 'ERR_NETLINK_SOCKET_CLOSED' | 'ERR_NETLINK_SOCKET_BUSY';
  constructor(code: 'ERR_NETLINK_SOCKET_CLOSED' | 'ERR_NETLINK_SOCKET_BUSY', message: string) {
    super(message);
    this.name = 'SocketStateError';
    this.code = code;
  }
}

const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_RCVBUF = 8 * 1024 * 1024;
const DEFAULT_SNDBUF = 1024 * 1024;
const DEFAULT_RECVBUF = 64 * 1024;
/** How many times one syscall is restarted after EINTR before it is an error. */
const MAX_EINTR_RETRIES = 8;
const ENOPROTOOPT = 92;
/** Bound on the datagrams dropped after an overrun (a 16 MiB queue holds ~22,000 error replies). */
const MAX_DISCARD_DATAGRAMS = 100_000;

const KERNEL_ADDR = Buffer.alloc(libc.SOCKADDR_NL_SIZE);
KERNEL_ADDR.writeUInt16LE(AF_NETLINK, 0);

const doneAttrs = new Attrs(NLMSGERR_ATTR_MSG);

export class NetlinkSocket {
  /** Netlink port id the kernel assigned at bind time. */
  readonly portId: number;
  /** The receive-timeout in ms (SO_RCVTIMEO / SO_SNDTIMEO). */
  readonly timeoutMs: number;
  /** Effective kernel receive buffer as the kernel reports it (SO_RCVBUF; the kernel doubles the request). */
  readonly rcvBufBytes: number;
  /** Effective kernel send buffer (SO_SNDBUF, doubled by the kernel); a send must stay below it minus 32. */
  readonly sndBufBytes: number;
  /** Whether the kernel accepted NETLINK_EXT_ACK (error strings) and NETLINK_CAP_ACK (short errors). */
  readonly extAck: boolean;
  readonly capAck: boolean;

  private fd: number;
  private seq = 0;
  private rbuf: Buffer;
  /** Wanted receive buffer size; grows after a truncation, and every buffer follows it. */
  private recvSize: number;
  /** recvmmsg buffers and how many of the datagrams they hold are still unread. */
  private vec: libc.MmsgVector | undefined;
  private vecCount = 0;
  private vecNext = 0;
  private busy = false;
  /** Seq of a dump whose NLMSG_DONE has not been read yet (after a timeout); 0 when none. */
  private pendingDump = 0;
  private readonly m: MessageView = { type: 0, flags: 0, seq: 0, pid: 0, start: 0, end: 0 };

  private constructor(
    readonly protocol: number,
    private readonly sys: Syscalls,
    fd: number,
    info: { portId: number; timeoutMs: number; rcvBuf: number; sndBuf: number; recvBuf: number; extAck: boolean; capAck: boolean },
  ) {
    this.fd = fd;
    this.portId = info.portId;
    this.timeoutMs = info.timeoutMs;
    this.rcvBufBytes = info.rcvBuf;
    this.sndBufBytes = info.sndBuf;
    this.extAck = info.extAck;
    this.capAck = info.capAck;
    this.recvSize = info.recvBuf;
    this.rbuf = Buffer.alloc(info.recvBuf);
  }

  /**
   * Opens an AF_NETLINK socket of `protocol` (NETLINK_ROUTE, NETLINK_GENERIC...):
   * SOCK_RAW|SOCK_CLOEXEC, timeouts, buffers, NETLINK_EXT_ACK and
   * NETLINK_CAP_ACK (best effort: see `extAck`/`capAck`), bound to a
   * kernel-assigned port id.
   */
  static open(protocol: number, opts: SocketOptions = {}, sys: Syscalls = libcSyscalls): NetlinkSocket {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) throw new RangeError(`timeoutMs must be a positive number, got ${timeoutMs}`);
    const recvBuf = opts.recvBufBytes ?? DEFAULT_RECVBUF;
    if (!Number.isInteger(recvBuf) || recvBuf < 512) throw new RangeError(`recvBufBytes must be an integer >= 512, got ${recvBuf}`);

    const fd = sys.socket(AF_NETLINK, libc.SOCK_RAW | libc.SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new SyscallError(`socket(AF_NETLINK, ${protocol})`, -fd);
    try {
      check('setsockopt(SO_RCVTIMEO)', sys.setsockoptTimeval(fd, libc.SOL_SOCKET, libc.SO_RCVTIMEO, timeoutMs));
      check('setsockopt(SO_SNDTIMEO)', sys.setsockoptTimeval(fd, libc.SOL_SOCKET, libc.SO_SNDTIMEO, timeoutMs));
      setBuffer(sys, fd, libc.SO_RCVBUFFORCE, libc.SO_RCVBUF, 'SO_RCVBUF', opts.rcvBufBytes ?? DEFAULT_RCVBUF);
      setBuffer(sys, fd, libc.SO_SNDBUFFORCE, libc.SO_SNDBUF, 'SO_SNDBUF', opts.sndBufBytes ?? DEFAULT_SNDBUF);
      const extAck = bestEffort('setsockopt(NETLINK_EXT_ACK)', sys.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1));
      const capAck = bestEffort('setsockopt(NETLINK_CAP_ACK)', sys.setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1));
      check('bind', sys.bind(fd, KERNEL_ADDR)); // pid 0: the kernel picks our port id
      const addr = Buffer.alloc(libc.SOCKADDR_NL_SIZE);
      check('getsockname', sys.getsockname(fd, addr));
      const rcvBuf = sys.getsockoptInt(fd, libc.SOL_SOCKET, libc.SO_RCVBUF);
      check('getsockopt(SO_RCVBUF)', rcvBuf);
      const sndBuf = sys.getsockoptInt(fd, libc.SOL_SOCKET, libc.SO_SNDBUF);
      check('getsockopt(SO_SNDBUF)', sndBuf);
      return new NetlinkSocket(protocol, sys, fd, {
        portId: addr.readUInt32LE(4),
        timeoutMs,
        rcvBuf,
        sndBuf,
        recvBuf,
        extAck,
        capAck,
      });
    } catch (e) {
      sys.close(fd);
      throw e;
    }
  }

  /** The next sequence number: u32, increments, wraps, never 0. */
  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  /** Size of the userspace receive buffer (grows after a TruncatedError). */
  get recvBufBytes(): number {
    return this.recvSize;
  }

  get closed(): boolean {
    return this.fd < 0;
  }

  /**
   * Sends the one request encoded in `w` (its seq must be `seq`), hands every
   * reply data message of that seq to `onMessage` and returns at the ACK, or
   * at NLMSG_DONE, or - when the request did not ask for an ACK - after the
   * first reply that is not NLM_F_MULTI. NLMSG_ERROR with an errno throws
   * NetlinkError(errno, op, object, extAck).
   */
  request(
    w: MessageWriter,
    seq: number,
    op: string,
    object: string,
    onMessage?: (buf: Buffer, m: MessageView) => void,
  ): void {
    this.enter();
    try {
      this.settle(op);
      const bytes = w.view();
      const flags = checkSingleMessage(bytes, seq, op);
      const wantAck = (flags & NLM_F_ACK) !== 0;
      this.sendBytes(bytes, op);
      const m = this.m;
      for (;;) {
        const len = this.recvDatagram(op);
        const buf = this.rbuf;
        let off = 0;
        while (off + NLMSG_HDRLEN <= len) {
          off = this.readHeader(buf, off, len);
          if (m.seq !== seq || (m.pid !== this.portId && m.pid !== 0)) continue; // stale or foreign
          switch (m.type) {
            case NLMSG_ERROR: {
              const e = parseErrorPayload(buf, m);
              if (e.errno !== 0) throw new NetlinkError(e.errno, op, object, e.extAck);
              return;
            }
            case NLMSG_DONE:
              throwIfDoneError(buf, m, op, object);
              return;
            case NLMSG_OVERRUN:
              throw new OverrunError(op);
            case NLMSG_NOOP:
              continue;
            default:
              if (onMessage) onMessage(buf, m);
              if (!wantAck && (m.flags & NLM_F_MULTI) === 0) return;
          }
        }
      }
    } catch (e) {
      if (e instanceof OverrunError) this.discardQueued();
      throw e;
    } finally {
      this.busy = false;
    }
  }

  /**
   * Sends the dump request in `w` (NLM_F_REQUEST|NLM_F_DUMP, seq `seq`) and
   * hands every data message to `onMessage` until NLMSG_DONE. The dump is
   * always read to its end, so the socket is ready for the next one: if a
   * message carried NLM_F_DUMP_INTR, DumpInterruptedError is thrown after
   * DONE (redo the dump); if `onMessage` threw, its first error is rethrown
   * after DONE; an error code in NLMSG_DONE throws NetlinkError.
   */
  dump(w: MessageWriter, seq: number, op: string, object: string, onMessage: (buf: Buffer, m: MessageView) => void): void {
    this.enter();
    try {
      this.settle(op);
      const bytes = w.view();
      checkSingleMessage(bytes, seq, op);
      this.sendBytes(bytes, op);
      this.pendingDump = seq;
      let interrupted = false;
      let callbackError: unknown = undefined;
      let failed = false;
      let transportError: NativeError | undefined;
      const m = this.m;
      for (;;) {
        let len: number;
        try {
          len = this.recvDatagram(op);
        } catch (e) {
          // A timeout leaves the dump pending (drained by the next call);
          // anything else (overrun, truncation) is remembered and the dump
          // is read to its end so the socket stays usable.
          if (e instanceof NetlinkTimeoutError || transportError !== undefined) {
            if (transportError instanceof OverrunError) this.discardQueued();
            throw transportError ?? e;
          }
          if (e instanceof OverrunError || e instanceof TruncatedError) {
            transportError = e;
            continue;
          }
          throw e;
        }
        const buf = this.rbuf;
        let off = 0;
        while (off + NLMSG_HDRLEN <= len) {
          off = this.readHeader(buf, off, len);
          if (m.seq !== seq || (m.pid !== this.portId && m.pid !== 0)) continue;
          if (m.flags & NLM_F_DUMP_INTR) interrupted = true;
          switch (m.type) {
            case NLMSG_DONE:
              this.pendingDump = 0;
              if (transportError instanceof OverrunError) this.discardQueued();
              if (transportError) throw transportError;
              throwIfDoneError(buf, m, op, object);
              if (failed) throw callbackError;
              if (interrupted) throw new DumpInterruptedError(op);
              return;
            case NLMSG_ERROR: {
              const e = parseErrorPayload(buf, m);
              if (e.errno === 0) continue; // an ACK (NLM_F_ACK on a dump): the DONE still follows
              this.pendingDump = 0; // an error ends (or refuses) the dump: no DONE follows
              if (transportError instanceof OverrunError) this.discardQueued();
              if (transportError) throw transportError;
              throw new NetlinkError(e.errno, op, object, e.extAck);
            }
            case NLMSG_OVERRUN:
              transportError ??= new OverrunError(op);
              continue;
            case NLMSG_NOOP:
              continue;
            default:
              if (failed || transportError) continue;
              try {
                onMessage(buf, m);
              } catch (e) {
                failed = true;
                callbackError = e;
              }
          }
        }
      }
    } finally {
      this.busy = false;
    }
  }

  /** Sends `bytes` (any number of messages) in one sendto. */
  send(bytes: Buffer, op: string): void {
    this.enter();
    try {
      this.settle(op);
      this.sendBytes(bytes, op);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Receives datagrams and hands each message (all of them: no seq or port
   * filtering) to `onMessage` until it returns true; the rest of that
   * datagram is dropped. Transport errors throw (timeout, overrun, truncation).
   */
  receive(op: string, onMessage: (buf: Buffer, m: MessageView) => boolean): void {
    this.enter();
    try {
      const m = this.m;
      for (;;) {
        const len = this.recvDatagram(op);
        const buf = this.rbuf;
        let off = 0;
        while (off + NLMSG_HDRLEN <= len) {
          off = this.readHeader(buf, off, len);
          if (m.type === NLMSG_OVERRUN) throw new OverrunError(op);
          if (onMessage(buf, m)) return;
        }
      }
    } catch (e) {
      if (e instanceof OverrunError) this.discardQueued();
      throw e;
    } finally {
      this.busy = false;
    }
  }

  /** Closes the socket; idempotent. Any later use throws SocketStateError. */
  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    this.sys.close(fd);
  }

  // ---- internals ----

  private enter(): void {
    if (this.fd < 0) {
      throw new SocketStateError('ERR_NETLINK_SOCKET_CLOSED', `netlink socket (protocol ${this.protocol}, port ${this.portId}) used after close()`);
    }
    if (this.busy) {
      throw new SocketStateError(
        'ERR_NETLINK_SOCKET_BUSY',
        `netlink socket (protocol ${this.protocol}, port ${this.portId}) re-entered from one of its own callbacks`,
      );
    }
    this.busy = true;
  }

  /** Reads the rest of a dump that an earlier call abandoned on a timeout. */
  private settle(op: string): void {
    if (this.pendingDump === 0) return;
    const seq = this.pendingDump;
    const what = `${op}: finishing an earlier dump that timed out`;
    this.pendingDump = 0;
    const m = this.m;
    for (;;) {
      const len = this.recvDatagram(what);
      let off = 0;
      while (off + NLMSG_HDRLEN <= len) {
        off = this.readHeader(this.rbuf, off, len);
        if (m.seq !== seq) continue;
        if (m.type === NLMSG_DONE) return;
        if (m.type === NLMSG_ERROR && this.rbuf.readInt32LE(m.start) !== 0) return;
      }
    }
  }

  /**
   * After ENOBUFS: reads and drops everything queued, without waiting. The
   * kernel reports ENOBUFS once per congestion episode and keeps dropping
   * replies silently until the queue has been emptied (NETLINK_S_CONGESTED),
   * so a socket that is reused without this loses later replies and times
   * out. Whatever is dropped answers requests whose outcome the caller was
   * just told is unknown. A dump left pending is read to its end here too.
   */
  private discardQueued(): void {
    // Datagrams already taken from the kernel by recvmmsg go first.
    while (this.vecNext < this.vecCount) {
      const i = this.vecNext++;
      if (this.pendingDump !== 0 && !this.vec!.truncated(i)) {
        this.rbuf = this.vec!.buffers[i]!;
        this.notePendingDumpEnd(this.vec!.length(i));
      }
    }
    const flags = libc.MSG_TRUNC | libc.MSG_DONTWAIT;
    for (let i = 0; i < MAX_DISCARD_DATAGRAMS; i++) {
      const size = this.rbuf.length;
      const r = this.sys.recv(this.fd, this.rbuf, size, flags);
      if (r >= 0) {
        if (this.pendingDump !== 0) this.notePendingDumpEnd(Math.min(r, size));
        continue;
      }
      if (r === -libc.EINTR || r === -libc.ENOBUFS) continue;
      return; // EAGAIN: empty (or the socket is unusable, which the next call reports)
    }
  }

  private notePendingDumpEnd(len: number): void {
    const m = this.m;
    let off = 0;
    while (off + NLMSG_HDRLEN <= len) {
      const mlen = this.rbuf.readUInt32LE(off);
      if (mlen < NLMSG_HDRLEN || off + mlen > len) return;
      off = this.readHeader(this.rbuf, off, len);
      if (m.seq === this.pendingDump && (m.type === NLMSG_DONE || m.type === NLMSG_ERROR)) this.pendingDump = 0;
    }
  }

  /** Decodes the header at `off` into this.m; returns the offset of the next message. */
  private readHeader(buf: Buffer, off: number, len: number): number {
    return readMessageHeader(buf, off, len, this.m);
  }

  private sendBytes(bytes: Buffer, op: string): void {
    for (let tries = 0; ; tries++) {
      const r = this.sys.sendto(this.fd, bytes, 0, KERNEL_ADDR);
      if (r >= 0) {
        if (r !== bytes.length) throw new SyscallError(`${op}: sendto sent ${r} of ${bytes.length} bytes`, 5 /* EIO */);
        return;
      }
      if (r === -libc.EINTR && tries < MAX_EINTR_RETRIES) continue;
      if (r === -libc.EAGAIN) throw new NetlinkTimeoutError(`${op}: send`, this.timeoutMs);
      throw new SyscallError(`${op}: sendto`, -r);
    }
  }

  /**
   * Receives one datagram; afterwards `this.rbuf` holds it and the length is
   * returned. With recvmmsg one syscall takes up to RECV_BATCH datagrams that
   * are already queued (a dump chunk and the NLMSG_DONE the kernel queues
   * while we read it; a reply and its ACK), and the next calls are served
   * from those buffers in order: the same order the kernel queue has, a third
   * fewer syscalls per destination dump.
   */
  private recvDatagram(op: string): number {
    if (this.vecNext < this.vecCount) return this.takeQueued(op);
    if (this.sys.recvmmsg) {
      if (!this.vec || this.vec.size !== this.recvSize) this.vec = new libc.MmsgVector(RECV_BATCH, this.recvSize);
      for (let tries = 0; ; tries++) {
        const r = this.sys.recvmmsg(this.fd, this.vec, libc.MSG_WAITFORONE | libc.MSG_TRUNC);
        if (r > 0) {
          this.vecCount = r;
          this.vecNext = 0;
          return this.takeQueued(op);
        }
        this.recvFailed(op, r === 0 ? -libc.EAGAIN : r, tries);
      }
    }
    if (this.rbuf.length !== this.recvSize) this.rbuf = Buffer.alloc(this.recvSize);
    for (let tries = 0; ; tries++) {
      const size = this.rbuf.length;
      const r = this.sys.recv(this.fd, this.rbuf, size, libc.MSG_TRUNC);
      if (r >= 0) {
        if (r > size) {
          this.recvSize = align4(r) + 4096;
          throw new TruncatedError(op, r, size);
        }
        return r;
      }
      this.recvFailed(op, r, tries);
    }
  }

  private takeQueued(op: string): number {
    const vec = this.vec!;
    const i = this.vecNext++;
    if (vec.truncated(i)) {
      const len = vec.length(i);
      // Lost; grow so that a retry of the request fits.
      this.recvSize = Math.max(this.recvSize, align4(len) + 4096);
      throw new TruncatedError(op, len, vec.size);
    }
    this.rbuf = vec.buffers[i]!;
    return vec.length(i);
  }

  /** Maps a failed receive to its error; returns (to retry) only on EINTR within the retry budget. */
  private recvFailed(op: string, r: number, tries: number): void {
    if (r === -libc.EINTR && tries < MAX_EINTR_RETRIES) return;
    if (r === -libc.EAGAIN) throw new NetlinkTimeoutError(op, this.timeoutMs);
    if (r === -libc.ENOBUFS) throw new OverrunError(op);
    throw new SyscallError(`${op}: recvfrom`, -r);
  }
}

function check(what: string, r: number): void {
  if (r < 0) throw new SyscallError(what, -r);
}

/** Options older kernels may not know: ENOPROTOOPT means "not supported", anything else is an error. */
function bestEffort(what: string, r: number): boolean {
  if (r >= 0) return true;
  if (r === -ENOPROTOOPT) return false;
  throw new SyscallError(what, -r);
}

/** SO_*BUFFORCE needs CAP_NET_ADMIN; without it fall back to the capped SO_*BUF. */
function setBuffer(sys: Syscalls, fd: number, force: number, plain: number, name: string, bytes: number): void {
  if (!Number.isInteger(bytes) || bytes <= 0) throw new RangeError(`${name} size must be a positive integer, got ${bytes}`);
  const r = sys.setsockoptInt(fd, libc.SOL_SOCKET, force, bytes);
  if (r >= 0) return;
  if (r !== -libc.EPERM) throw new SyscallError(`setsockopt(${name}FORCE)`, -r);
  check(`setsockopt(${name})`, sys.setsockoptInt(fd, libc.SOL_SOCKET, plain, bytes));
}

/** Checks that `bytes` is exactly one message with `seq`; returns its flags. */
function checkSingleMessage(bytes: Buffer, seq: number, op: string): number {
  if (bytes.length < NLMSG_HDRLEN || bytes.readUInt32LE(0) !== bytes.length || bytes.readUInt32LE(8) !== seq >>> 0) {
    throw new RangeError(`${op}: the writer must hold exactly one message with seq ${seq >>> 0}`);
  }
  return bytes.readUInt16LE(6);
}

/** NLMSG_DONE carries an int (0 or -errno), then ext-ACK TLVs when NLM_F_ACK_TLVS is set. */
function throwIfDoneError(buf: Buffer, m: MessageView, op: string, object: string): void {
  if (m.end - m.start < 4) return;
  const err = buf.readInt32LE(m.start);
  if (err >= 0) return;
  let extAck: string | undefined;
  if (m.flags & NLM_F_ACK_TLVS && m.start + 4 < m.end) {
    doneAttrs.parse(buf, m.start + 4, m.end);
    if (doneAttrs.has(NLMSGERR_ATTR_MSG)) extAck = doneAttrs.str(NLMSGERR_ATTR_MSG);
  }
  throw new NetlinkError(-err, op, object, extAck);
}
