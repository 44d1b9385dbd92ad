// Shared HTTP plumbing of the emulators: listen on 127.0.0.1:0 (plain or
// TLS), log requests, check Authorization, and the faults every emulator
// offers (answer an error status, stall without answering). Emulator
// subclasses only route requests.

import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface EmulatorServerOptions {
  host?: string;
  port?: number;
  /** Serve HTTPS with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Answer 401 unless the request's Authorization header is exactly this. */
  requireAuthorization?: string;
}

export interface RecordedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** What the emulator did: `ok`, `fault:500`, `stall`, `401`, ... */
  outcome: string;
}

interface Fault {
  kind: 'status' | 'stall';
  status: number;
  body: string;
  /** Only requests whose path starts with this (default: any). */
  path?: string;
}

export abstract class EmulatorServer {
  /** Every request received, in order. */
  readonly requests: RecordedRequest[] = [];
  private server: http.Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly faults: Fault[] = [];
  private readonly stalled = new Set<http.ServerResponse>();
  private base = '';

  constructor(protected readonly serverOptions: EmulatorServerOptions = {}) {}

  /** `http://127.0.0.1:<port>` (or https). */
  get url(): string {
    return this.base;
  }

  async listen(): Promise<void> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.dispatch(req, res);
    const tls = this.serverOptions.tls;
    const server = tls === undefined ? http.createServer(handler) : https.createServer({ key: tls.key, cert: tls.cert }, handler);
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.serverOptions.port ?? 0, this.serverOptions.host ?? '127.0.0.1', () => resolve());
    });
    this.server = server;
    const addr = server.address() as AddressInfo;
    this.base = `${tls === undefined ? 'http' : 'https'}://${addr.address}:${addr.port}`;
  }

  /** Closes the server and every open connection (streams included). */
  async stop(): Promise<void> {
    this.onStop();
    for (const res of this.stalled) res.destroy();
    this.stalled.clear();
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `count` requests (optionally only under `path`) get `status` with `body`. */
  failNext(count: number, status = 500, body = 'Internal Server Error', path?: string): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: 'status', status, body, ...(path !== undefined && { path }) });
  }

  /** The next `count` requests (optionally only under `path`) are read and never answered. */
  stallNext(count: number, path?: string): void {
    for (let i = 0; i < count; i++) this.faults.push({ kind: 'stall', status: 0, body: '', ...(path !== undefined && { path }) });
  }

  /** Requests whose path (without query) equals `path`. */
  count(path: string, method?: string): number {
    return this.requests.filter((r) => r.url.split('?')[0] === path && (method === undefined || r.method === method)).length;
  }

  protected abstract route(req: http.IncomingMessage, res: http.ServerResponse, body: string, rec: RecordedRequest): void;

  protected onStop(): void {}

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, outcome: 'ok' };
    this.requests.push(rec);
    const path = rec.url.split('?')[0] ?? '';
    const i = this.faults.findIndex((f) => f.path === undefined || path.startsWith(f.path));
    if (i >= 0) {
      const f = this.faults.splice(i, 1)[0] as Fault;
      if (f.kind === 'stall') {
        rec.outcome = 'stall';
        this.stalled.add(res);
        res.on('close', () => this.stalled.delete(res));
        return;
      }
      rec.outcome = `fault:${f.status}`;
      res.writeHead(f.status, { 'Content-Type': 'text/plain' }).end(f.body);
      return;
    }
    const want = this.serverOptions.requireAuthorization;
    if (want !== undefined && req.headers.authorization !== want) {
      rec.outcome = '401';
      res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'acsjwt realm="DCOS"' }).end('Unauthorized');
      return;
    }
    this.route(req, res, body, rec);
  }
}
