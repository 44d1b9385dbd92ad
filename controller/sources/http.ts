// The HTTP edge of the sources: node:http/node:https with a custom CA,
// DC/OS token or basic auth, redirects followed to the leader (Mesos answers
// 307 with a protocol-relative `//host:port/api/v1`), and deadlines on
// injected timers. Streaming bodies are handed to the caller unread.

import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { asSourceError, excerpt, SourceError } from './errors.js';
import { parseJson } from './json.js';
import type { Timers } from './timers.js';

export interface HttpAuth {
  /** DC/OS service or user token: sent as `Authorization: token=<token>`. */
  token?: string;
  /** HTTP basic auth. */
  basic?: { username: string; password: string };
}

export interface HttpClientOptions {
  auth?: HttpAuth;
  /** PEM CA bundle file that signs the server's certificate (https URLs). */
  caFile?: string;
  /** PEM CA bundle contents (instead of caFile). */
  ca?: string | Buffer;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Redirects followed per request (default 5). */
  maxRedirects?: number;
  /** Deadline for connect + response headers, ms (default 10,000). */
  timeoutMs?: number;
}

export interface OpenResponse {
  /** The URL that answered (after redirects). */
  url: URL;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** Destroys the request and socket; idempotent. */
  close(): void;
}

export interface RequestInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The Authorization header value for the options, if any. */
export function authorizationHeader(auth: HttpAuth | undefined): string | undefined {
  if (auth?.token !== undefined) return `token=${auth.token}`;
  if (auth?.basic !== undefined) {
    return `Basic ${Buffer.from(`${auth.basic.username}:${auth.basic.password}`, 'utf8').toString('base64')}`;
  }
  return undefined;
}

/** A URL the way a log line shows it: no credentials. */
export function showUrl(url: URL | string): string {
  const u = new URL(String(url));
  u.username = '';
  u.password = '';
  return u.toString();
}

export class HttpClient {
  private readonly ca: string | Buffer | undefined;
  private readonly headers: Record<string, string>;
  private readonly maxRedirects: number;
  private readonly timeoutMs: number;

  constructor(opts: HttpClientOptions, private readonly timers: Timers) {
    if (opts.caFile !== undefined) {
      try {
        this.ca = readFileSync(opts.caFile);
      } catch (e) {
        throw new SourceError('SRC_BAD_OPTIONS', `cannot read CA file ${opts.caFile}: ${(e as Error).message}`, { caFile: opts.caFile });
      }
    } else {
      this.ca = opts.ca;
    }
    const authz = authorizationHeader(opts.auth);
    this.headers = { 'User-Agent': 'l4lb', ...(authz !== undefined && { Authorization: authz }), ...opts.headers };
    this.maxRedirects = opts.maxRedirects ?? 5;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /**
   * Sends a request, following redirects; resolves with the first
   * non-redirect response of any status, its body unread. Rejects with
   * SRC_CONNECT, SRC_TIMEOUT (no headers in time) or SRC_REDIRECT.
   */
  async open(url: URL, init: RequestInit = {}): Promise<OpenResponse> {
    let current = url;
    for (let hop = 0; ; hop++) {
      const res = await this.once(current, init);
      if (!REDIRECTS.has(res.status)) return res;
      res.close();
      const location = res.headers.location;
      if (location === undefined || location === '') {
        throw new SourceError('SRC_REDIRECT', `${showUrl(current)} answered ${res.status} without a Location`, { url: showUrl(current) });
      }
      if (hop >= this.maxRedirects) {
        throw new SourceError('SRC_REDIRECT', `more than ${this.maxRedirects} redirects from ${showUrl(url)}`, { url: showUrl(url) });
      }
      // `//leader:5050/api/v1` (Mesos) keeps the scheme of the request.
      current = new URL(location, current);
    }
  }

  /** GET a JSON document; rejects with SRC_HTTP_STATUS on non-2xx and SRC_BAD_RECORD on bad JSON. */
  async getJson(url: URL, opts: { timeoutMs?: number; maxBytes?: number; accept404?: boolean } = {}): Promise<{ status: number; value: unknown; url: URL }> {
    const res = await this.open(url, { headers: { Accept: 'application/json' }, ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) });
    const text = await this.readBody(res, opts.maxBytes ?? 512 * 1024 * 1024, opts.timeoutMs ?? this.timeoutMs);
    if (opts.accept404 === true && res.status === 404) return { status: 404, value: undefined, url: res.url };
    if (res.status < 200 || res.status > 299) throw statusError(res, text);
    const parsed = parseJson(text);
    if (!parsed.ok) {
      throw new SourceError('SRC_BAD_RECORD', `${showUrl(res.url)}: response is not JSON (${parsed.message})`, { url: showUrl(res.url), near: excerpt(text) });
    }
    return { status: res.status, value: parsed.value, url: res.url };
  }

  /** Reads a whole body as UTF-8 within a deadline and a size limit. */
  readBody(res: OpenResponse, maxBytes: number, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      let size = 0;
      let done = false;
      const finish = (err: SourceError | undefined): void => {
        if (done) return;
        done = true;
        this.timers.clearTimeout(timer);
        if (err === undefined) {
          resolve(Buffer.concat(parts).toString('utf8'));
        } else {
          res.close();
          reject(err);
        }
      };
      const where = showUrl(res.url);
      const timer = this.timers.setTimeout(() =>
        finish(new SourceError('SRC_TIMEOUT', `${where}: body not received within ${timeoutMs} ms`, { url: where })), timeoutMs);
      res.body.on('data', (c: Buffer) => {
        size += c.length;
        if (size > maxBytes) finish(new SourceError('SRC_BAD_RECORD', `${where}: response larger than ${maxBytes} bytes`, { url: where }));
        else parts.push(c);
      });
      res.body.on('end', () => finish(undefined));
      res.body.on('error', (e) => finish(new SourceError('SRC_CONNECT', `${where}: ${e.message}`, { url: where })));
      res.body.on('close', () => finish(new SourceError('SRC_CONNECT', `${where}: connection closed mid-body`, { url: where })));
    });
  }

  /** The start of a body (error pages), at most `maxBytes`; never rejects. Closes the response. */
  readHead(res: OpenResponse, maxBytes = 4096, timeoutMs = 2000): Promise<string> {
    return new Promise((resolve) => {
      const parts: Buffer[] = [];
      let size = 0;
      const done = (): void => {
        this.timers.clearTimeout(timer);
        res.close();
        resolve(Buffer.concat(parts).toString('utf8'));
      };
      const timer = this.timers.setTimeout(done, timeoutMs);
      res.body.on('data', (c: Buffer) => {
        if (size >= maxBytes) return;
        parts.push(c.subarray(0, maxBytes - size));
        size += c.length;
        if (size >= maxBytes) done();
      });
      res.body.on('end', done);
      res.body.on('error', done);
      res.body.on('close', done);
    });
  }

  private once(url: URL, init: RequestInit): Promise<OpenResponse> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      if (!isHttps && url.protocol !== 'http:') {
        reject(new SourceError('SRC_BAD_OPTIONS', `unsupported URL scheme in ${showUrl(url)}`, { url: showUrl(url) }));
        return;
      }
      const headers: Record<string, string> = { ...this.headers, ...init.headers };
      if (url.username !== '' && headers['Authorization'] === undefined) {
        const basic = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
        headers['Authorization'] = `Basic ${Buffer.from(basic, 'utf8').toString('base64')}`;
      }
      if (init.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(init.body));
      const options: https.RequestOptions = { method: init.method ?? 'GET', headers, agent: false };
      if (isHttps && this.ca !== undefined) options.ca = this.ca;
      const req = (isHttps ? https : http).request(url, options);
      let settled = false;
      const timeoutMs = init.timeoutMs ?? this.timeoutMs;
      const timer = this.timers.setTimeout(() => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(new SourceError('SRC_TIMEOUT', `${showUrl(url)}: no response within ${timeoutMs} ms`, { url: showUrl(url) }));
      }, timeoutMs);
      req.on('error', (e) => {
        this.timers.clearTimeout(timer);
        if (settled) return;
        settled = true;
        const err = asSourceError(e);
        reject(new SourceError(err.code, `${showUrl(url)}: ${err.message}`, { ...err.context, url: showUrl(url) }, { cause: e }));
      });
      req.on('response', (res) => {
        this.timers.clearTimeout(timer);
        if (settled) {
          res.destroy();
          return;
        }
        settled = true;
        let closed = false;
        resolve({
          url,
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: res,
          close: () => {
            if (closed) return;
            closed = true;
            res.destroy();
            req.destroy();
          },
        });
      });
      req.end(init.body);
    });
  }
}

/** SRC_HTTP_STATUS with the start of the body, for a log line. */
export function statusError(res: OpenResponse, body: string): SourceError {
  return new SourceError('SRC_HTTP_STATUS', `${showUrl(res.url)} answered HTTP ${res.status}${body.trim() === '' ? '' : `: ${excerpt(body.trim(), 200)}`}`,
    { url: showUrl(res.url), status: res.status });
}
