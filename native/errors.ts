// Typed errors of the native layer. Every error has a stable `code` that
// callers switch on; messages name the operation and the object concerned so
// that an operator can act on them without reading the source.
// The native layer never logs and never swallows: it throws or returns these.

import { getSystemErrorMap } from 'node:util';

const errnoMap = getSystemErrorMap();

/** `EEXIST` for 17; `E<n>` when the platform does not know the number. */
export function errnoName(errno: number): string {
  return errnoMap.get(-Math.abs(errno))?.[0] ?? `E${Math.abs(errno)}`;
}

/** strerror-like text: `file already exists`. */
export function errnoText(errno: number): string {
  return errnoMap.get(-Math.abs(errno))?.[1] ?? `errno ${Math.abs(errno)}`;
}

export abstract class NativeError extends Error {
  abstract readonly code: string;
}

/** A syscall failed (socket, bind, sendmsg, recvmsg, setsockopt...). */
export class SyscallError extends NativeError {
  readonly code = 'ERR_SYSCALL';
  readonly errnoName: string;
  constructor(
    readonly syscall: string,
    readonly errno: number,
  ) {
    super(`${syscall}: ${errnoName(errno)} (${errnoText(errno)})${hintFor(errno)}`);
    this.name = 'SyscallError';
    this.errnoName = errnoName(errno);
  }
}

/** The kernel answered a request with NLMSG_ERROR. */
export class NetlinkError extends NativeError {
  readonly code = 'ERR_NETLINK';
  readonly errnoName: string;
  constructor(
    readonly errno: number,
    /** What was attempted, e.g. `add service`. */
    readonly op: string,
    /** What it concerned, e.g. `TCP 198.51.100.10:80`; empty when not meaningful. */
    readonly object = '',
    /** The kernel's extended-ACK text, if any. */
    readonly extAck?: string,
    /** A sentence that says what the errno means for this operation. */
    explanation?: string,
  ) {
    const what = object ? `${op} ${object}` : op;
    const detail = explanation ?? errnoText(errno);
    super(`${what}: ${errnoName(errno)} (${detail})${extAck ? `: ${extAck}` : ''}${hintFor(errno)}`);
    this.name = 'NetlinkError';
    this.errnoName = errnoName(errno);
  }
}

/** No reply within the socket's receive timeout (SO_RCVTIMEO): never retried silently. */
export class NetlinkTimeoutError extends NativeError {
  readonly code = 'ERR_NETLINK_TIMEOUT';
  constructor(
    readonly op: string,
    readonly timeoutMs: number,
  ) {
    super(`${op}: no answer from the kernel within ${timeoutMs} ms`);
    this.name = 'NetlinkTimeoutError';
  }
}

/** The table changed while it was being dumped (NLM_F_DUMP_INTR); the dump must be redone. */
export class DumpInterruptedError extends NativeError {
  readonly code = 'ERR_NETLINK_DUMP_INTR';
  constructor(readonly op: string) {
    super(`${op}: the kernel table changed during the dump (NLM_F_DUMP_INTR)`);
    this.name = 'DumpInterruptedError';
  }
}

/** A datagram was larger than the receive buffer (MSG_TRUNC). */
export class TruncatedError extends NativeError {
  readonly code = 'ERR_NETLINK_TRUNCATED';
  constructor(
    readonly op: string,
    readonly size: number,
    readonly bufferSize: number,
  ) {
    super(`${op}: a ${size}-byte netlink message did not fit the ${bufferSize}-byte receive buffer`);
    this.name = 'TruncatedError';
  }
}

/**
 * The receive queue overflowed (ENOBUFS): replies were lost, so the outcome of
 * the requests in flight is unknown; the caller must dump and resync.
 */
export class OverrunError extends NativeError {
  readonly code = 'ERR_NETLINK_OVERRUN';
  constructor(readonly op: string) {
    super(`${op}: netlink receive buffer overflowed (ENOBUFS); replies were lost and the kernel state must be re-read`);
    this.name = 'OverrunError';
  }
}

/** A generic netlink family is not registered in this kernel. */
export class FamilyNotFoundError extends NativeError {
  readonly code = 'ERR_GENL_FAMILY_NOT_FOUND';
  constructor(
    readonly family: string,
    message?: string,
  ) {
    super(message ?? `generic netlink family ${family} not found in this kernel`);
    this.name = 'FamilyNotFoundError';
  }
}

function hintFor(errno: number): string {
  const name = errnoName(errno);
  if (name === 'EPERM' || name === 'EACCES') {
    return '; l4lb needs CAP_NET_ADMIN for this (run as root, or grant the capability)';
  }
  return '';
}
