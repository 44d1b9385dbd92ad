import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeSse, SseParser, type SseEvent } from './sse.js';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/marathon/', import.meta.url));
const capture = readFileSync(`${FIXTURES}events.txt`);

function parse(chunks: Array<Uint8Array | string>): SseEvent[] {
  const p = new SseParser();
  const out = chunks.flatMap((c) => p.push(c));
  p.end();
  return out;
}

const ev = (type: string, data: string, lastEventId = ''): SseEvent => ({ type, data, lastEventId });

describe('SSE parser: the Marathon capture', () => {
  const expected = parse([capture]);

  it('reads the three events of events.txt with their types and JSON data', () => {
    assert.deepEqual(expected.map((e) => e.type), ['event_stream_attached', 'status_update_event', 'status_update_event']);
    const first = JSON.parse(expected[0]?.data ?? '') as { eventType: string };
    assert.equal(first.eventType, 'event_stream_attached');
    assert.equal((JSON.parse(expected[2]?.data ?? '') as { taskStatus: string }).taskStatus, 'TASK_RUNNING');
  });

  it('gives the same events at every split point', () => {
    for (let k = 0; k <= capture.length; k++) {
      assert.deepEqual(parse([capture.subarray(0, k), capture.subarray(k)]), expected, `split at ${k}`);
    }
  });

  it('gives the same events fed one byte at a time', () => {
    assert.deepEqual(parse([...capture].map((b) => Uint8Array.of(b))), expected);
  });

  it('gives the same events with CRLF or CR line ends, at every split point', () => {
    for (const eol of ['\r\n', '\r']) {
      const text = Buffer.from(capture.toString('utf8').replace(/\n/g, eol));
      for (let k = 0; k <= text.length; k++) {
        assert.deepEqual(parse([text.subarray(0, k), text.subarray(k)]), expected, `${JSON.stringify(eol)} split at ${k}`);
      }
    }
  });
});

describe('SSE parser: WHATWG rules', () => {
  it('joins data lines with LF and defaults the type to message', () => {
    assert.deepEqual(parse(['data: a\ndata: b\n\n']), [ev('message', 'a\nb')]);
  });

  it('removes one space after the colon, not more; a line without colon is a field with empty value', () => {
    assert.deepEqual(parse(['data:  two\n\n', 'data\n\n', 'data:\n\n']), [ev('message', ' two'), ev('message', ''), ev('message', '')]);
  });

  it('ignores comments, unknown fields, and events without data', () => {
    const p = new SseParser();
    assert.deepEqual(p.push(': keep-alive\nfoo: bar\nevent: x\n\n\r\n\r\n'), []);
    assert.equal(p.comments, 1);
    assert.deepEqual(p.push('data: y\n\n'), [ev('message', 'y')], 'the event type was reset by the empty dispatch');
  });

  it('strips one leading BOM, even split across chunks, and only at the start', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    assert.deepEqual(parse([Buffer.concat([bom, Buffer.from('data: a\n\n')])]), [ev('message', 'a')]);
    assert.deepEqual(parse([bom.subarray(0, 1), bom.subarray(1), 'data: a\n\n']), [ev('message', 'a')]);
    assert.deepEqual(parse(['data: a\n\n', '\ufeffdata: b\n\n']), [ev('message', 'a')], 'a later BOM is part of a field name');
  });

  it('keeps multi-byte UTF-8 split across chunks', () => {
    const bytes = Buffer.from('data: caf\u00e9 \ud83d\ude80\n\n');
    for (let k = 0; k <= bytes.length; k++) {
      assert.deepEqual(parse([bytes.subarray(0, k), bytes.subarray(k)]), [ev('message', 'caf\u00e9 \ud83d\ude80')], `split at ${k}`);
    }
  });

  it('keeps the last event id across events; an id with NUL is ignored', () => {
    assert.deepEqual(parse(['id: 1\ndata: a\n\ndata: b\n\nid: x\u0000y\ndata: c\n\nid\ndata: d\n\n']),
      [ev('message', 'a', '1'), ev('message', 'b', '1'), ev('message', 'c', '1'), ev('message', 'd', '')]);
  });

  it('takes retry only when it is all ASCII digits', () => {
    const p = new SseParser();
    p.push('retry: 1500\n');
    assert.equal(p.retryMs, 1500);
    p.push('retry: 15s\nretry: -1\nretry:\n');
    assert.equal(p.retryMs, 1500);
  });

  it('drops an incomplete event at the end of the stream', () => {
    const p = new SseParser();
    assert.deepEqual(p.push('event: a\ndata: x\n'), []);
    p.end();
    assert.deepEqual(p.push('\n'), [], 'the partial event is gone');
  });

  it('treats a lone CR at a chunk end as a line end and skips a following LF', () => {
    assert.deepEqual(parse(['data: a\r', '\ndata: b\r', '\r', 'data: c\n\n']), [ev('message', 'a\nb'), ev('message', 'c')]);
  });

  it('fails with SRC_SSE_TOO_LARGE on a line or data beyond the limit, and stays failed', () => {
    const p = new SseParser({ maxBytes: 10 });
    assert.throws(() => p.push('data: 0123456789'), { code: 'SRC_SSE_TOO_LARGE' });
    assert.throws(() => p.push('\n'), { code: 'SRC_SSE_TOO_LARGE' });
    const q = new SseParser({ maxBytes: 10 });
    assert.throws(() => q.push('data: 12345\ndata: 12345\n'), { code: 'SRC_SSE_TOO_LARGE' });
  });

  it('encodes an event the way a server writes it, and parses back', () => {
    const text = encodeSse({ type: 'status_update_event', id: '7', data: '{"a":1}\n{"b":2}' });
    assert.equal(text, 'event: status_update_event\nid: 7\ndata: {"a":1}\ndata: {"b":2}\n\n');
    assert.deepEqual(parse([text]), [ev('status_update_event', '{"a":1}\n{"b":2}', '7')]);
  });
});
