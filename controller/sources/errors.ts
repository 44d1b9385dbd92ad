// Errors of the sources, each with a stable code. Connection problems never
// escape a running source (they become its status and a log line); these
// classes carry the context that line shows.
//
//   SRC_RECORDIO_BAD_LENGTH   a RecordIO length prefix is not `<digits>\n`
//   SRC_RECORDIO_TOO_LARGE    a record is longer than the decoder's limit
//   SRC_RECORDIO_TRUNCATED    the stream ended inside a record
//   SRC_SSE_TOO_LARGE         an SSE line or event is longer than the parser's limit
//   SRC_BAD_RECORD            a record is not JSON, or not the JSON object expected
//   SRC_HTTP_STATUS           the server answered with an unexpected HTTP status
//   SRC_REDIRECT              a redirect without Location, or too many redirects
//   SRC_CONNECT               TCP/TLS connection failed or broke
//   SRC_TIMEOUT               no answer, or no bytes for too long (silent server)
//   SRC_STREAM_ENDED          the server closed a stream that should stay open
//   SRC_SYNC_TIMEOUT          a source gave no complete view in time (`l4lb plan`)
//   SRC_FILE_READ             a VIP file cannot be read
//   SRC_FILE_SYNTAX           a VIP file is not valid YAML/JSON
//   SRC_FILE_INVALID          a VIP file parses but breaks the schema
//   SRC_BAD_OPTIONS           a source was configured wrongly (bad URL, unreadable CA file)

export type SourceErrorCode =
  | 'SRC_RECORDIO_BAD_LENGTH'
  | 'SRC_RECORDIO_TOO_LARGE'
  | 'SRC_RECORDIO_TRUNCATED'
  | 'SRC_SSE_TOO_LARGE'
  | 'SRC_BAD_RECORD'
  | 'SRC_HTTP_STATUS'
  | 'SRC_REDIRECT'
  | 'SRC_CONNECT'
  | 'SRC_TIMEOUT'
  | 'SRC_STREAM_ENDED'
  | 'SRC_SYNC_TIMEOUT'
  | 'SRC_FILE_READ'
  | 'SRC_FILE_SYNTAX'
  | 'SRC_FILE_INVALID'
  | 'SRC_BAD_OPTIONS';

export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly code: SourceErrorCode;
  /** Machine-readable details for logs (offsets, URLs, status codes, excerpts). */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: SourceErrorCode, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.context = context;
  }
}

/** Any thrown value as a SourceError (node errors keep their errno code in the context). */
export function asSourceError(e: unknown, fallback: SourceErrorCode = 'SRC_CONNECT'): SourceError {
  if (e instanceof SourceError) return e;
  const err = e as NodeJS.ErrnoException;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  return new SourceError(fallback, message, err?.code === undefined ? {} : { errno: err.code }, { cause: e });
}

/** Up to `max` bytes of raw input, printable, for error messages. */
export function excerpt(bytes: Uint8Array | string, max = 40): string {
  const text = typeof bytes === 'string' ? bytes : Buffer.from(bytes.subarray(0, max * 4)).toString('latin1');
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(cut);
}
