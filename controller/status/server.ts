// Where the status API listens: a unix socket (default /run/l4lb/l4lb.sock,
// mode 0660, so only root and the socket's group read it) and optionally a
// loopback TCP port. A socket file left by a crashed daemon is replaced; one
// a live daemon answers on is an error (two daemons on one node would fight
// over the kernel).

import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { chmodSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseListenAddress } from '../dns/server.js';
import { parseIp } from '../model/index.js';

export class StatusListenError extends Error {
  readonly code = 'ERR_STATUS_LISTEN';
  constructor(message: string) {
    super(message);
    this.name = 'StatusListenError';
  }
}

export interface StatusServerOptions {
  /** Unix socket path; empty or undefined: none. */
  socket?: string;
  /** `host:port` or `[v6]:port` addresses for TCP. */
  listen?: readonly string[];
  /** Allow a TCP address that is not loopback (the API has no authentication). */
  allowNonLoopback?: boolean;
  handler: (req: IncomingMessage, res: ServerResponse) => void;
}

/** 127.0.0.0/8 or ::1. */
export function isLoopback(host: string): boolean {
  const ip = parseIp(host);
  if (!ip) return false;
  return ip.family === 4 ? ip.address.startsWith('127.') : ip.address === '::1';
}

export class StatusServer {
  private readonly servers: Server[] = [];
  private socketIno: number | undefined;

  constructor(private readonly opts: StatusServerOptions) {}

  async start(): Promise<void> {
    try {
      if (this.opts.socket) await this.listenSocket(this.opts.socket);
      for (const a of this.opts.listen ?? []) await this.listenTcp(a);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** Where it listens: socket paths and `host:port`. */
  addresses(): string[] {
    return this.servers.map((s) => {
      const a = s.address();
      if (typeof a === 'string') return a;
      return a ? (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : '';
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    this.servers.length = 0;
    // Remove the socket only if it is still the one we made (a successor may have replaced it).
    const path = this.opts.socket;
    if (path && this.socketIno !== undefined) {
      try {
        if (statSync(path).ino === this.socketIno) unlinkSync(path);
      } catch {
        // already gone
      }
      this.socketIno = undefined;
    }
  }

  private newServer(): Server {
    const s = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, this.opts.handler);
    s.maxConnections = 128;
    // A client that sends garbage gets a 400 from Node and is dropped; never an unhandled error.
    s.on('clientError', (_e, sock) => {
      if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else sock.destroy();
    });
    return s;
  }

  private async listenSocket(path: string): Promise<void> {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    let st;
    try {
      st = lstatSync(path);
    } catch {
      st = undefined;
    }
    if (st) {
      if (!st.isSocket()) throw new StatusListenError(`status socket ${path} exists and is not a socket; remove it or set status.socket`);
      if (await answers(path)) throw new StatusListenError(`status socket ${path} is in use: another l4lb is running on this node (or set status.socket)`);
      unlinkSync(path); // left by a daemon that died
    }
    const s = this.newServer();
    // umask for the bind itself: the socket never exists with wider permissions than 0660.
    const old = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', (e: NodeJS.ErrnoException) => reject(new StatusListenError(`status API cannot listen on ${path}: ${e.code ?? e.message}`)));
        s.listen(path, () => resolve());
      });
    } finally {
      process.umask(old);
    }
    chmodSync(path, 0o660);
    this.socketIno = statSync(path).ino;
    this.servers.push(s);
  }

  private async listenTcp(addr: string): Promise<void> {
    let a: { host: string; port: number };
    try {
      a = parseListenAddress(addr);
    } catch {
      throw new StatusListenError(`invalid status.listen address ${JSON.stringify(addr)}: use host:port or [ipv6]:port`);
    }
    if (!this.opts.allowNonLoopback && !isLoopback(a.host)) {
      throw new StatusListenError(`status.listen ${addr} is not a loopback address; the status API has no authentication (set status.allow-non-loopback to serve it anyway)`);
    }
    const s = this.newServer();
    await new Promise<void>((resolve, reject) => {
      s.once('error', (e: NodeJS.ErrnoException) => reject(new StatusListenError(`status API cannot listen on ${addr}: ${e.code ?? e.message}`)));
      s.listen({ host: a.host, port: a.port }, () => resolve());
    });
    this.servers.push(s);
  }
}

/** True when something accepts connections on the unix socket. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(path);
    const done = (v: boolean) => {
      c.destroy();
      resolve(v);
    };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(1000, () => done(false));
  });
}
