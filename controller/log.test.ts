import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { createLogger, type LogLevel } from './log.js';

function capture(level: LogLevel, format: 'json' | 'text') {
  const stream = new PassThrough();
  const lines: string[] = [];
  stream.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter(Boolean)));
  return { log: createLogger({ level, format, stream }), lines };
}
const flush = () => new Promise((r) => setImmediate(r));

describe('createLogger', () => {
  it('JSON lines with timestamp, level, message and fields; children add their fields', async () => {
    const { log, lines } = capture('info', 'json');
    log.child({ component: 'reconcile' }).info('reconcile pass', { opsTotal: 3 });
    await flush();
    const line = JSON.parse(lines[0] ?? '{}') as Record<string, unknown>;
    assert.equal(line['message'], 'reconcile pass');
    assert.equal(line['level'], 'info');
    assert.equal(line['component'], 'reconcile');
    assert.equal(line['opsTotal'], 3);
    assert.match(String(line['timestamp']), /^\d{4}-\d\d-\d\dT/);
  });

  for (const format of ['json', 'text'] as const) {
    it(`${format}: a line below the level is dropped before it is formatted`, async () => {
      let formatted = 0;
      const meta = { detail: { toJSON: () => ++formatted } };
      const info = capture('info', format);
      info.log.child({ component: 'dataplane' }).debug('added VIP address', meta);
      await flush();
      assert.deepEqual(info.lines, []);
      assert.equal(formatted, 0, 'a dropped debug line was formatted');
      const debug = capture('debug', format);
      debug.log.debug('added VIP address', meta);
      await flush();
      assert.equal(debug.lines.length, 1);
      assert.equal(formatted, 1);
    });
  }

  it('a call below the level never reaches winston (children too); one at the level keeps the child fields', async () => {
    const { log, lines } = capture('info', 'json');
    const child = log.child({ component: 'dataplane' });
    // Every line reaches the root's write(): a child's own write() adds its fields and calls it.
    let writes = 0;
    const write = log.write.bind(log);
    log.write = ((...args: Parameters<typeof log.write>) => (writes++, write(...args))) as typeof log.write;
    for (let i = 0; i < 100; i++) child.debug('added VIP address', { address: `198.18.0.${i}` });
    log.debug('dropped');
    assert.equal(writes, 0);
    child.info('dataplane started');
    log.level = 'debug'; // the level is read per call
    child.debug('added VIP address', { address: '198.18.0.1' });
    await flush();
    assert.ok(writes >= 2);
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(parsed.map((l) => [l['level'], l['message'], l['component']]), [
      ['info', 'dataplane started', 'dataplane'],
      ['debug', 'added VIP address', 'dataplane'],
    ]);
  });
});
