// text/event-stream (Server-Sent Events), parsed per the WHATWG HTML
// "event stream interpretation" rules: UTF-8 with an optional leading BOM;
// lines end in CRLF, LF or CR (even split across chunks); `:` starts a
// comment; `field: value` with one optional space after the colon; `data`
// lines join with LF; an empty line dispatches (nothing if no data); `id`
// with a NUL is ignored; `retry` only when all ASCII digits; unknown fields
// are ignored; an incomplete event at end of stream is dropped.
// Pure: bytes in, events out.

import { StringDecoder } from 'node:string_decoder';
import { SourceError } from './errors.js';

export interface SseEvent {
  /** `event:` field, or `message` when absent. */
  type: string;
  data: string;
  /** The last event ID buffer at dispatch (it persists across events). */
  lastEventId: string;
}

export interface SseOptions {
  /** Longest line or event data accepted (default 16 MiB): SRC_SSE_TOO_LARGE beyond. */
  maxBytes?: number;
}

export const DEFAULT_SSE_MAX_BYTES = 16 * 1024 * 1024;

export class SseParser {
  private readonly max: number;
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  private skipLf = false;
  private bomChecked = false;
  private eventType = '';
  private data: string[] = [];
  private dataLength = 0;
  private idBuffer = '';
  private failed: SourceError | undefined;
  /** Reconnection time from the last valid `retry:` field, in ms. */
  retryMs: number | undefined;
  /** Comment lines seen (`:` lines; servers use them as keep-alives). */
  comments = 0;

  constructor(opts: SseOptions = {}) {
    this.max = opts.maxBytes ?? DEFAULT_SSE_MAX_BYTES;
  }

  /** The last event ID buffer (what a client sends back as Last-Event-ID). */
  get lastEventId(): string {
    return this.idBuffer;
  }

  /** Feed bytes (or already decoded text); returns the events they complete. */
  push(chunk: Uint8Array | string): SseEvent[] {
    if (this.failed !== undefined) throw this.failed;
    let text = typeof chunk === 'string' ? chunk : this.decoder.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    if (!this.bomChecked && text.length > 0) {
      this.bomChecked = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const out: SseEvent[] = [];
    let start = 0;
    if (this.skipLf && text.length > 0) {
      if (text.charCodeAt(0) === 0x0a) start = 1;
      this.skipLf = false;
    }
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      const line = this.pending === '' ? text.slice(start, i) : this.pending + text.slice(start, i);
      this.pending = '';
      if (c === 0x0d) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 0x0a) i++;
        } else {
          this.skipLf = true;
        }
      }
      start = i + 1;
      this.line(line, out);
    }
    if (start < text.length) {
      this.pending += text.slice(start);
      if (this.pending.length > this.max) this.fail(`an SSE line is longer than ${this.max} characters`);
    }
    return out;
  }

  /** End of stream: a partial event is dropped, as the standard says. */
  end(): void {
    this.pending = '';
    this.data = [];
    this.dataLength = 0;
    this.eventType = '';
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.charCodeAt(0) === 0x3a) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 0x20) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data.push(value);
        this.dataLength += value.length + 1;
        if (this.dataLength > this.max) this.fail(`an SSE event's data is longer than ${this.max} characters`);
        break;
      case 'id':
        if (!value.includes('\u0000')) this.idBuffer = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length === 0) {
      this.eventType = '';
      return;
    }
    out.push({ type: this.eventType === '' ? 'message' : this.eventType, data: this.data.join('\n'), lastEventId: this.idBuffer });
    this.data = [];
    this.dataLength = 0;
    this.eventType = '';
  }

  private fail(message: string): never {
    this.failed = new SourceError('SRC_SSE_TOO_LARGE', message, { limit: this.max });
    throw this.failed;
  }
}

/** One event as a server writes it (`data` split at line breaks). */
export function encodeSse(event: { type?: string; data: string; id?: string }): string {
  let s = '';
  if (event.type !== undefined) s += `event: ${event.type}\n`;
  if (event.id !== undefined) s += `id: ${event.id}\n`;
  for (const line of event.data.split(/\r\n|\r|\n/)) s += `data: ${line}\n`;
  return `${s}\n`;
}
