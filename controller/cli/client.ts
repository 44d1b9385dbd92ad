// The CLI's side of the status API: GET over the daemon's unix socket (or a
// TCP URL), with errors an operator can act on in one line.

import { request, type RequestOptions } from 'node:http';
import type { ApiError } from '../status/types.js';

export const DEFAULT_SOCKET = '/run/l4lb/l4lb.sock';

/** The daemon is not there: no socket, nobody listening, no permission, no answer. */
export class DaemonUnreachableError extends Error {
  readonly code = 'ERR_DAEMON_UNREACHABLE';
  constructor(where: string, why: string) {
    super(`cannot reach the l4lb daemon at ${where}: ${why}`);
    this.name = 'DaemonUnreachableError';
  }
}

/** The API answered with an error status (404 for an unknown VIP...). */
export class ApiRequestError extends Error {
  readonly code = 'ERR_API';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
}

export interface ApiTarget {
  /** Unix socket path. */
  socket?: string;
  /** `http://127.0.0.1:9090`: used instead of the socket when given. */
  server?: string;
}

export interface ApiResponse<T> {
  status: number;
  etag?: string;
  /** Undefined on 304 Not Modified. */
  body?: T;
}

function why(e: NodeJS.ErrnoException, socket: boolean): string {
  switch (e.code) {
    case 'ENOENT':
      return 'no such socket (is l4lb run running?)';
    case 'ECONNREFUSED':
      return socket ? 'nobody is listening on the socket (l4lb run stopped or crashed?)' : 'connection refused (is l4lb run running, with status.listen set?)';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied (run as root or as a member of the socket\'s group)';
    case 'ENOTSOCK':
      return 'not a socket';
    case 'ETIMEDOUT':
      return 'no answer within 10 s (the daemon is stuck?)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'the connection was closed (the daemon stopped?)';
    default:
      return e.code ? `${e.code} (${e.message})` : e.message;
  }
}

export class ApiClient {
  private readonly where: string;
  private readonly base: RequestOptions;

  constructor(target: ApiTarget) {
    if (target.server) {
      let u: URL;
      try {
        u = new URL(target.server);
      } catch {
        throw new ApiRequestError(0, `invalid --server URL ${JSON.stringify(target.server)}: use e.g. http://127.0.0.1:9090`);
      }
      if (u.protocol !== 'http:') throw new ApiRequestError(0, `--server must be an http:// URL (got ${u.protocol})`);
      this.where = u.origin;
      this.base = { host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port || 80 };
    } else {
      const socket = target.socket || DEFAULT_SOCKET;
      this.where = socket;
      this.base = { socketPath: socket };
    }
  }

  /** GET a JSON resource; `etag` makes an unchanged resource answer 304 with no body. */
  get<T>(path: string, etag?: string): Promise<ApiResponse<T>> {
    return new Promise((resolve, reject) => {
      const req = request({ ...this.base, path, method: 'GET', headers: { Accept: 'application/json', ...(etag ? { 'If-None-Match': etag } : {}) }, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('error', (e) => reject(new DaemonUnreachableError(this.where, why(e, !!this.base.socketPath))));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const tag = typeof res.headers.etag === 'string' ? res.headers.etag : undefined;
          if (status === 304) return resolve({ status, ...(tag ? { etag: tag } : {}) });
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            return reject(new ApiRequestError(status, `the daemon at ${this.where} sent something that is not JSON (HTTP ${status}); is it an l4lb status API?`));
          }
          if (status >= 400) {
            const err = body as Partial<ApiError>;
            return reject(new ApiRequestError(status, typeof err.message === 'string' ? err.message : `HTTP ${status}`));
          }
          resolve({ status, ...(tag ? { etag: tag } : {}), body: body as T });
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => reject(new DaemonUnreachableError(this.where, why(e, !!this.base.socketPath))));
      req.end();
    });
  }

  /** The body of a JSON resource (never 304). */
  async json<T>(path: string): Promise<T> {
    const r = await this.get<T>(path);
    return r.body as T;
  }
}
