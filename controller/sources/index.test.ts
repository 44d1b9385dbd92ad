import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '../log.js';
import { createSources, FileSource, MarathonSource, MesosSource } from './index.js';

describe('createSources', () => {
  it('builds one source per configured system, in a fixed order, none started', () => {
    const sources = createSources({
      file: [{ path: '/tmp/a.yaml' }, { path: '/tmp/b.yaml' }],
      marathon: { urls: ['http://marathon.mesos:8080'] },
      mesos: { masters: ['http://m1:5050', 'http://m2:5050'] },
    }, silentLogger());
    assert.deepEqual(sources.map((s) => [s.id, s.kind, s.constructor]), [
      ['mesos', 'mesos', MesosSource], ['marathon', 'marathon', MarathonSource],
      ['file:/tmp/a.yaml', 'file', FileSource], ['file:/tmp/b.yaml', 'file', FileSource],
    ]);
    assert.deepEqual(sources.map((s) => s.status().state), ['connecting', 'connecting', 'connecting', 'connecting']);
    assert.equal(sources[0]?.status().endpoint, 'http://m1:5050/api/v1');
  });

  it('refuses bad options with SRC_BAD_OPTIONS before anything starts', () => {
    assert.throws(() => createSources({ mesos: { masters: [] } }, silentLogger()), { code: 'SRC_BAD_OPTIONS' });
    assert.throws(() => createSources({ marathon: { urls: ['marathon:8080 x'] } }, silentLogger()), { code: 'SRC_BAD_OPTIONS' });
    assert.throws(() => createSources({ file: [{ path: '/a' }, { path: '/a' }] }, silentLogger()), { code: 'SRC_BAD_OPTIONS', message: 'two sources with the id file:/a' });
    assert.throws(() => createSources({ mesos: { masters: ['https://m1'], caFile: '/nonexistent' } }, silentLogger()), { code: 'SRC_BAD_OPTIONS' });
  });
});
