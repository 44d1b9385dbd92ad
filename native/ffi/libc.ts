// The only door to libc, and the only module that imports koffi.
//
// Each function is a thin, typed wrapper around one syscall wrapper of glibc.
// Convention: the result is the syscall's value (>= 0) or -errno. errno is read
// with koffi.errno() immediately after the call, before any other JS runs (a
// later JS allocation or GC could otherwise clobber it). Nothing here throws
// for a failing syscall, logs, or retries: policy lives in the callers.
//
// Pointer arguments are Buffers (or Uint8Array views): koffi passes a pointer
// to their bytes for the duration of the call, without copying, so a
// subarray() of a larger reusable buffer costs nothing.

import koffi from 'koffi';

// dlopen(NULL): the process itself, whose libc (glibc or musl) node already
// links; no library file name to guess.
const lib = koffi.load(null);

// Declared as in <sys/socket.h> / <unistd.h>, with `void *` for every byte
// pointer so that Buffers go straight through.
const c_socket = lib.func('int socket(int domain, int type, int protocol)') as (d: number, t: number, p: number) => number;
const c_bind = lib.func('int bind(int fd, void *addr, uint32_t addrlen)') as (fd: number, addr: Uint8Array, len: number) => number;
const c_getsockname = lib.func('int getsockname(int fd, void *addr, void *addrlen)') as (
  fd: number,
  addr: Uint8Array,
  lenInOut: Uint8Array,
) => number;
const c_setsockopt = lib.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)') as (
  fd: number,
  level: number,
  name: number,
  val: Uint8Array,
  len: number,
) => number;
const c_getsockopt = lib.func('int getsockopt(int fd, int level, int name, void *val, void *len)') as (
  fd: number,
  level: number,
  name: number,
  val: Uint8Array,
  lenInOut: Uint8Array,
) => number;
const c_sendto = lib.func('intptr_t sendto(int fd, void *buf, size_t len, int flags, void *addr, uint32_t addrlen)') as (
  fd: number,
  buf: Uint8Array,
  len: number,
  flags: number,
  addr: Uint8Array | null,
  addrlen: number,
) => number;
const c_recvfrom = lib.func('intptr_t recvfrom(int fd, void *buf, size_t len, int flags, void *addr, void *addrlen)') as (
  fd: number,
  buf: Uint8Array,
  len: number,
  flags: number,
  addr: null,
  addrlen: null,
) => number;
const c_close = lib.func('int close(int fd)') as (fd: number) => number;
const c_recvmmsg = lib.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)') as (
  fd: number,
  vec: Uint8Array,
  vlen: number,
  flags: number,
  timeout: null,
) => number;

// <bits/socket.h>, <asm-generic/socket.h> (x86_64, aarch64: the generic values).
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVTIMEO = 20; // SO_RCVTIMEO_OLD: struct timeval with 64-bit fields on LP64
export const SO_SNDTIMEO = 21;
export const SO_SNDBUFFORCE = 32;
export const SO_RCVBUFFORCE = 33;
export const MSG_PEEK = 0x2;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_WAITFORONE = 0x10000;

// errno values the callers branch on (asm-generic/errno-base.h, errno.h).
export const EPERM = 1;
export const EINTR = 4;
export const EBADF = 9;
export const EAGAIN = 11; // == EWOULDBLOCK on Linux
export const ENOBUFS = 105;

/** `struct timeval` is two 64-bit longs on LP64: 16 bytes. */
export const TIMEVAL_SIZE = 16;
/** `struct sockaddr_nl`: u16 family, u16 pad, u32 pid, u32 groups. */
export const SOCKADDR_NL_SIZE = 12;

function result(r: number): number {
  // Read errno before anything else can run.
  if (r < 0) return -koffi.errno();
  return r;
}

/** socket(2): a file descriptor or -errno. */
export function socket(domain: number, type: number, protocol: number): number {
  return result(c_socket(domain, type, protocol));
}

/** bind(2): 0 or -errno. */
export function bind(fd: number, addr: Uint8Array): number {
  return result(c_bind(fd, addr, addr.length));
}

/** getsockname(2) into `addr`: the address length or -errno. */
export function getsockname(fd: number, addr: Uint8Array): number {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(addr.length, 0);
  const r = c_getsockname(fd, addr, len);
  if (r < 0) return -koffi.errno();
  return len.readUInt32LE(0);
}

/** setsockopt(2) with an `int` value: 0 or -errno. */
export function setsockoptInt(fd: number, level: number, name: number, value: number): number {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value | 0, 0);
  return result(c_setsockopt(fd, level, name, v, 4));
}

/** setsockopt(2) with a `struct timeval` of `ms` milliseconds (SO_RCVTIMEO, SO_SNDTIMEO): 0 or -errno. */
export function setsockoptTimeval(fd: number, level: number, name: number, ms: number): number {
  const tv = Buffer.alloc(TIMEVAL_SIZE);
  const whole = Math.floor(ms / 1000);
  tv.writeBigInt64LE(BigInt(whole), 0);
  tv.writeBigInt64LE(BigInt(Math.round((ms - whole * 1000) * 1000)), 8);
  return result(c_setsockopt(fd, level, name, tv, TIMEVAL_SIZE));
}

/** getsockopt(2) of an `int` option: its value (>= 0 for the options we read) or -errno. */
export function getsockoptInt(fd: number, level: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4, 0);
  const r = c_getsockopt(fd, level, name, v, len);
  if (r < 0) return -koffi.errno();
  return v.readInt32LE(0);
}

/** sendto(2) of `buf` (all of it) to `addr` (null: the connected/default peer): bytes sent or -errno. */
export function sendto(fd: number, buf: Uint8Array, flags: number, addr: Uint8Array | null): number {
  return result(c_sendto(fd, buf, buf.length, flags, addr, addr ? addr.length : 0));
}

/**
 * recv(2) into buf[0..len) (no source address): the datagram's length or
 * -errno. With MSG_TRUNC the real length is returned even when it is larger
 * than `len` (the excess is lost unless MSG_PEEK was also given).
 */
export function recv(fd: number, buf: Uint8Array, len: number, flags: number): number {
  return result(c_recvfrom(fd, buf, len, flags, null, null));
}

/** close(2): 0 or -errno. */
export function close(fd: number): number {
  return result(c_close(fd));
}

// struct mmsghdr on LP64 Linux (x86_64, aarch64): struct msghdr (56 bytes:
// name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48)
// then unsigned msg_len at 56, padded to 64. struct iovec: base 0, len 8.
const MMSGHDR_SIZE = 64;
const IOVEC_SIZE = 16;
const LP64 = process.arch === 'x64' || process.arch === 'arm64';

/**
 * Receive buffers for recvmmsg(2), with the mmsghdr/iovec array that points
 * at them by address (Buffer memory does not move). Reused across calls.
 */
export class MmsgVector {
  readonly buffers: Buffer[];
  private readonly hdrs: Buffer;
  private readonly iovs: Buffer;

  constructor(
    readonly count: number,
    readonly size: number,
  ) {
    this.buffers = Array.from({ length: count }, () => Buffer.alloc(size));
    this.hdrs = Buffer.alloc(count * MMSGHDR_SIZE);
    this.iovs = Buffer.alloc(count * IOVEC_SIZE);
    const iovBase = koffi.address(this.iovs);
    for (let i = 0; i < count; i++) {
      this.iovs.writeBigUInt64LE(koffi.address(this.buffers[i]!), i * IOVEC_SIZE);
      this.iovs.writeBigUInt64LE(BigInt(size), i * IOVEC_SIZE + 8);
      this.hdrs.writeBigUInt64LE(iovBase + BigInt(i * IOVEC_SIZE), i * MMSGHDR_SIZE + 16);
      this.hdrs.writeBigUInt64LE(1n, i * MMSGHDR_SIZE + 24);
    }
  }

  /** Bytes the kernel reported for datagram i (larger than `size` when it was truncated under MSG_TRUNC). */
  length(i: number): number {
    return this.hdrs.readUInt32LE(i * MMSGHDR_SIZE + 56);
  }

  /** Whether datagram i did not fit its buffer. */
  truncated(i: number): boolean {
    return (this.hdrs.readUInt32LE(i * MMSGHDR_SIZE + 48) & MSG_TRUNC) !== 0 || this.length(i) > this.size;
  }

  /** The raw mmsghdr array, for recvmmsg(). */
  get headers(): Buffer {
    return this.hdrs;
  }
}

/** Whether recvmmsg can be used on this platform (the mmsghdr layout above). */
export const HAVE_RECVMMSG = LP64 && process.platform === 'linux';

/**
 * recvmmsg(2) into `vec` (blocking for the first datagram up to SO_RCVTIMEO,
 * then taking only what is already queued when `flags` has MSG_WAITFORONE):
 * the number of datagrams received, or -errno.
 */
export function recvmmsg(fd: number, vec: MmsgVector, flags: number): number {
  return result(c_recvmmsg(fd, vec.headers, vec.count, flags, null));
}
