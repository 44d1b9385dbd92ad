// RecordIO, the framing of the Mesos operator API's streaming responses
// (apache/mesos docs/recordio.md): each record is `<decimal byte length>\n`
// followed by that many bytes, here a JSON object. Chunk boundaries are
// arbitrary: a length prefix or a multi-byte UTF-8 character may be split.
// Pure: bytes in, records out (as bytes: the caller decides how to parse a
// record, and a big one is never turned into one string); the decoder never
// sees a socket.

import { excerpt, SourceError } from './errors.js';

/** Largest record accepted by default (a SUBSCRIBED snapshot of a big cluster is tens of MB). */
export const DEFAULT_MAX_RECORD_BYTES = 256 * 1024 * 1024;

export interface RecordIoOptions {
  /** Records longer than this fail with SRC_RECORDIO_TOO_LARGE. */
  maxRecordBytes?: number;
}

const NL = 0x0a;
const ZERO = 0x30;
const NINE = 0x39;
// More digits than this cannot be a sane length (and would lose precision).
const MAX_DIGITS = 15;

/**
 * Incremental decoder. `push` returns the records completed by a chunk; a
 * malformed prefix throws SourceError (SRC_RECORDIO_BAD_LENGTH or
 * SRC_RECORDIO_TOO_LARGE) with the stream offset and the bytes seen, and the
 * decoder stays failed: framing cannot be recovered, the caller reconnects.
 */
export class RecordIoDecoder {
  private readonly max: number;
  private inBody = false;
  private digits = 0;
  private length = 0;
  /** The body so far: a view of one chunk, or (once it spans chunks) a buffer of the record's full length. */
  private body: Buffer | undefined;
  private have = 0;
  private consumed = 0;
  private recordStart = 0;
  private count = 0;
  private failed: SourceError | undefined;

  constructor(opts: RecordIoOptions = {}) {
    this.max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  }

  /** Records decoded so far. */
  get records(): number {
    return this.count;
  }

  /** Bytes of an incomplete record held (prefix digits not counted). */
  get buffered(): number {
    return this.have;
  }

  push(chunk: Uint8Array): Buffer[] {
    if (this.failed !== undefined) throw this.failed;
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: Buffer[] = [];
    let i = 0;
    while (i < buf.length) {
      if (!this.inBody) {
        const b = buf[i] as number;
        if (b >= ZERO && b <= NINE) {
          if (this.digits === 0) this.recordStart = this.consumed + i;
          this.length = this.length * 10 + (b - ZERO);
          this.digits++;
          if (this.digits > MAX_DIGITS || this.length > this.max) {
            this.fail('SRC_RECORDIO_TOO_LARGE',
              `RecordIO record at byte ${this.recordStart} is longer than the ${this.max}-byte limit`, buf, i);
          }
          i++;
          continue;
        }
        if (b === NL && this.digits > 0) {
          this.inBody = true;
          i++;
          if (this.length === 0) this.emit(out);
          continue;
        }
        const what = b === NL ? 'an empty length' : `byte 0x${b.toString(16).padStart(2, '0')} in the length`;
        this.fail('SRC_RECORDIO_BAD_LENGTH',
          `RecordIO: ${what} at byte ${this.consumed + i} (record ${this.count + 1}); expected "<digits>\\n"`, buf, i);
      }
      const take = Math.min(this.length - this.have, buf.length - i);
      if (this.have === 0 && take === this.length) {
        this.body = buf.subarray(i, i + take); // the whole record in this chunk: no copy
      } else {
        // Copied into one buffer of the final size as the chunks arrive, so a big record
        // (an 11 MB SUBSCRIBED) is held once, not as its chunks plus their concatenation.
        this.body ??= Buffer.allocUnsafe(this.length);
        buf.copy(this.body, this.have, i, i + take);
      }
      this.have += take;
      i += take;
      if (this.have === this.length) this.emit(out);
    }
    this.consumed += buf.length;
    return out;
  }

  /** End of stream: throws SRC_RECORDIO_TRUNCATED if a record is incomplete. */
  end(): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.inBody || this.digits > 0) {
      const err = new SourceError('SRC_RECORDIO_TRUNCATED',
        `RecordIO stream ended inside record ${this.count + 1} (byte ${this.recordStart}): ` +
        `${this.inBody ? `${this.have} of ${this.length} bytes` : 'in the length prefix'}`,
        { offset: this.recordStart, expected: this.length, received: this.have, record: this.count + 1 });
      this.failed = err;
      throw err;
    }
  }

  private emit(out: Buffer[]): void {
    out.push(this.body ?? Buffer.alloc(0));
    this.body = undefined;
    this.have = 0;
    this.length = 0;
    this.digits = 0;
    this.inBody = false;
    this.count++;
  }

  private fail(code: 'SRC_RECORDIO_BAD_LENGTH' | 'SRC_RECORDIO_TOO_LARGE', message: string, buf: Buffer, i: number): never {
    const from = Math.max(0, i - 16);
    this.failed = new SourceError(code, message, {
      offset: this.consumed + i,
      record: this.count + 1,
      near: excerpt(buf.subarray(from, i + 24)),
    });
    throw this.failed;
  }
}

/** One record, framed: `<byte length>\n<payload>`. */
export function encodeRecord(payload: string | Uint8Array): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  return Buffer.concat([Buffer.from(`${body.length}\n`, 'latin1'), body]);
}
