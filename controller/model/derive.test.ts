import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sortBackends } from './derive.js';
import type { Backend } from './types.js';

const b = (ip: string, port: number): Backend => ({ ip, port, weight: 1, taskId: 't', framework: 'marathon', source: 's', state: 'running', health: 'unknown' });

describe('sortBackends', () => {
  it('orders by family, then address as a number, then port', () => {
    const list = [b('::10', 80), b('10.0.0.10', 80), b('::2', 80), b('10.0.0.2', 8080), b('10.0.0.2', 80), b('9.255.255.255', 65535), b('fd00::1', 1), b('255.255.255.255', 0)];
    assert.deepEqual(sortBackends(list).map((x) => `${x.ip}:${x.port}`), [
      '9.255.255.255:65535', '10.0.0.2:80', '10.0.0.2:8080', '10.0.0.10:80', '255.255.255.255:0', '::2:80', '::10:80', 'fd00::1:1',
    ]);
  });

  it('returns a copy and leaves short lists as they are', () => {
    const one = [b('10.0.0.1', 1)];
    assert.notEqual(sortBackends(one), one);
    assert.deepEqual(sortBackends([]), []);
  });
});
