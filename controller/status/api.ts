// The status API's routes: read-only, JSON (metrics in Prometheus text).
//   GET /v1/vips                dcos-net's shape (ETag as dcos-net sends one)
//   GET /v1/l4lb/vips           l4lb's summaries (what `l4lb get vips` prints)
//   GET /v1/l4lb/vips/{ref}     details with live kernel counters and events
//   GET /v1/status              sources, passes, errors, rejected labels
//   GET /healthz /readyz /metrics
// Wrong method: 405 with Allow. Unknown path: 404. A handler that throws
// answers 500 and the daemon goes on; nothing here writes to the kernel.

import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { StatusProvider } from './recorder.js';
import type { ApiError } from './types.js';

const ALLOW = 'GET, HEAD';

type Route = (p: StatusProvider, req: IncomingMessage, res: ServerResponse, param?: string) => Promise<void> | void;

const ROUTES: ReadonlyArray<{ path: RegExp; handle: Route }> = [
  { path: /^\/v1\/vips$/, handle: (p, req, res) => json(req, res, 200, p.dcosVips(), true) },
  { path: /^\/v1\/l4lb\/vips$/, handle: (p, req, res) => json(req, res, 200, p.vipSummaries(), true) },
  {
    path: /^\/v1\/l4lb\/vips\/([^/]+)$/,
    handle: (p, req, res, ref) => {
      const items = p.vipDetails(ref!);
      if (items.length === 0) return error(req, res, 404, 'not_found', `no VIP matches ${JSON.stringify(ref)} (a name like myapp.marathon, IP:PORT, or a key like tcp/198.51.100.7:80)`);
      json(req, res, 200, { items });
    },
  },
  { path: /^\/v1\/status$/, handle: (p, req, res) => json(req, res, 200, p.status()) },
  {
    path: /^\/healthz$/,
    handle: (p, req, res) => {
      const h = p.health();
      text(req, res, h.ok ? 200 : 503, `${h.message}\n`);
    },
  },
  {
    path: /^\/readyz$/,
    handle: (p, req, res) =>
      p.ready() ? text(req, res, 200, 'ok\n') : text(req, res, 503, 'not ready: no reconcile pass has succeeded yet (sources still syncing, or the kernel could not be read)\n'),
  },
  {
    path: /^\/metrics$/,
    handle: async (p, req, res) => {
      const m = await p.metrics();
      send(req, res, 200, m.contentType, m.body);
    },
  },
];

export function createApiHandler(provider: StatusProvider, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void route(provider, req, res).catch((e: unknown) => {
      log.warn('status API request failed', { component: 'status', method: req.method, url: req.url, error: (e as Error).message });
      if (!res.headersSent) error(req, res, 500, 'internal', 'the request failed; see the daemon log');
      else res.destroy();
    });
  };
}

async function route(p: StatusProvider, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // Only the path matters; query strings are ignored. A trailing slash is tolerated.
  const raw = (req.url ?? '/').split('?')[0]!;
  const path = raw.length > 1 ? raw.replace(/\/+$/, '') : raw;
  for (const r of ROUTES) {
    const m = r.path.exec(path);
    if (!m) continue;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', ALLOW);
      return error(req, res, 405, 'method_not_allowed', `${req.method} is not allowed on ${path}; the status API is read-only (${ALLOW})`);
    }
    let param: string | undefined;
    if (m[1] !== undefined) {
      try {
        param = decodeURIComponent(m[1]);
      } catch {
        return error(req, res, 400, 'bad_request', `malformed percent-encoding in ${JSON.stringify(m[1])}`);
      }
    }
    return r.handle(p, req, res, param);
  }
  error(req, res, 404, 'not_found', `no route ${JSON.stringify(path)}; try /v1/vips, /v1/l4lb/vips, /v1/status, /healthz, /readyz, /metrics`);
}

function send(req: IncomingMessage, res: ServerResponse, status: number, type: string, body: string, etag?: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  if (etag) res.setHeader('ETag', etag);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
}

function json(req: IncomingMessage, res: ServerResponse, status: number, value: unknown, withEtag = false): void {
  const body = JSON.stringify(value) + '\n';
  if (!withEtag) return send(req, res, status, 'application/json', body);
  // `--watch` polls with If-None-Match: an unchanged table costs no body.
  const etag = `"${createHash('sha1').update(body).digest('base64url')}"`;
  if (req.headers['if-none-match'] === etag) {
    res.statusCode = 304;
    res.setHeader('ETag', etag);
    res.end();
    return;
  }
  send(req, res, status, 'application/json', body, etag);
}

function text(req: IncomingMessage, res: ServerResponse, status: number, body: string): void {
  send(req, res, status, 'text/plain; charset=utf-8', body);
}

function error(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  const body: ApiError = { error: code, message };
  json(req, res, status, body);
}
