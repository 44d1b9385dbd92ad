import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SourceError } from './errors.js';
import { encodeRecord, RecordIoDecoder } from './recordio.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/dcos-net/', import.meta.url));

// The recovered-agents capture as the master sends it: every line a record.
const captured = readFileSync(`${FIXTURES}recovered-agents.json`, 'utf8').split('\n').filter((l) => l !== '');
const stream = Buffer.concat(captured.map((r) => encodeRecord(r)));

function decodeChunks(chunks: Uint8Array[], opts = {}): string[] {
  const d = new RecordIoDecoder(opts);
  const out = chunks.flatMap((c) => d.push(c));
  d.end();
  return out.map((b) => b.toString('utf8'));
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof SourceError, `not a SourceError: ${String(e)}`);
    return e.code;
  }
  return undefined;
}

describe('RecordIO decoder', () => {
  it('decodes a captured SUBSCRIBE stream in one chunk', () => {
    assert.deepEqual(decodeChunks([stream]), captured);
  });

  it('gives the same records at every split point of the captured stream', () => {
    for (let k = 0; k <= stream.length; k++) {
      const got = decodeChunks([stream.subarray(0, k), stream.subarray(k)]);
      if (got.length !== captured.length || got.some((r, i) => r !== captured[i])) assert.fail(`split at byte ${k} decodes differently`);
    }
  });

  it('decodes the stream fed one byte at a time', () => {
    const chunks = [...stream].map((b) => Uint8Array.of(b));
    assert.deepEqual(decodeChunks(chunks), captured);
  });

  it('decodes every three-way split near record boundaries', () => {
    const bounds: number[] = [];
    let off = 0;
    for (const r of captured) {
      bounds.push(off);
      off += encodeRecord(r).length;
    }
    for (const b of bounds) {
      for (let i = Math.max(0, b - 3); i <= Math.min(stream.length, b + 4); i++) {
        for (let j = i; j <= Math.min(stream.length, i + 5); j++) {
          assert.deepEqual(decodeChunks([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]), captured, `splits ${i},${j}`);
        }
      }
    }
  });

  it('counts length in bytes and keeps multi-byte UTF-8 split across chunks', () => {
    const record = '{"name":"caf\u00e9 \ud83d\ude80"}';
    const bytes = encodeRecord(record);
    assert.equal(bytes.toString('latin1', 0, 3), '21\n');
    for (let k = 0; k <= bytes.length; k++) assert.deepEqual(decodeChunks([bytes.subarray(0, k), bytes.subarray(k)]), [record]);
  });

  it('accepts a zero-length record and records back to back', () => {
    assert.deepEqual(decodeChunks([Buffer.from('0\n2\n{}0\n')]), ['', '{}', '']);
  });

  it('accepts a Uint8Array that is not a Buffer', () => {
    const u = new Uint8Array(encodeRecord('{"type":"HEARTBEAT"}'));
    assert.deepEqual(decodeChunks([u]), ['{"type":"HEARTBEAT"}']);
  });

  it('reports the records decoded and the bytes held', () => {
    const d = new RecordIoDecoder();
    d.push(Buffer.from('7\n{"a":'));
    assert.equal(d.buffered, 5);
    assert.equal(d.records, 0);
    d.push(Buffer.from('1}'));
    assert.equal(d.records, 1);
    assert.equal(d.buffered, 0);
  });

  for (const [what, input] of [
    ['letters in the length', '12x\n{}'],
    ['an empty length', '\n{}'],
    ['a negative length', '-5\n{}'],
    ['a space before the length', ' 2\n{}'],
    ['CRLF after the length', '2\r\n{}'],
    ['JSON without a length', '{"type":"HEARTBEAT"}'],
  ] as const) {
    it(`fails on ${what} with SRC_RECORDIO_BAD_LENGTH and the offset`, () => {
      const d = new RecordIoDecoder();
      let err: SourceError | undefined;
      try {
        d.push(Buffer.concat([encodeRecord('{}'), Buffer.from(input)]));
      } catch (e) {
        err = e as SourceError;
      }
      assert.equal(err?.code, 'SRC_RECORDIO_BAD_LENGTH');
      assert.equal(err?.context['record'], 2);
      assert.ok(typeof err?.context['offset'] === 'number' && err.context['offset'] >= 4);
      assert.match(err?.message ?? '', /at byte \d+ \(record 2\)/);
      assert.equal(codeOf(() => d.push(Buffer.from('2\n{}'))), 'SRC_RECORDIO_BAD_LENGTH', 'stays failed');
    });
  }

  it('fails on a record longer than the limit as soon as the length is read', () => {
    const d = new RecordIoDecoder({ maxRecordBytes: 1000 });
    assert.equal(codeOf(() => d.push(Buffer.from('1001'))), 'SRC_RECORDIO_TOO_LARGE');
    assert.deepEqual(decodeChunks([Buffer.from(`1000\n${'x'.repeat(1000)}`)], { maxRecordBytes: 1000 }).map((r) => r.length), [1000]);
  });

  it('fails on a length with absurdly many digits', () => {
    assert.equal(codeOf(() => new RecordIoDecoder({ maxRecordBytes: Number.MAX_SAFE_INTEGER }).push(Buffer.from('0000000000000001\n'))), 'SRC_RECORDIO_TOO_LARGE');
  });

  it('fails at end of stream inside a record, or inside a length, with SRC_RECORDIO_TRUNCATED', () => {
    const a = new RecordIoDecoder();
    a.push(Buffer.from('100\n{"type":"HEARTBEAT"}'));
    assert.equal(codeOf(() => a.end()), 'SRC_RECORDIO_TRUNCATED');
    const b = new RecordIoDecoder();
    b.push(Buffer.from('10'));
    assert.equal(codeOf(() => b.end()), 'SRC_RECORDIO_TRUNCATED');
    const c = new RecordIoDecoder();
    c.push(encodeRecord('{}'));
    assert.equal(codeOf(() => c.end()), undefined, 'a clean end');
  });

  it('encodes a record as `<byte length>\\n<payload>`', () => {
    assert.equal(encodeRecord('{"type":"HEARTBEAT"}').toString(), '20\n{"type":"HEARTBEAT"}');
    assert.equal(encodeRecord(Buffer.from('ab')).toString(), '2\nab');
  });
});
