// Conformance: every dcos-net capture, served record by record by the Mesos
// master emulator over loopback and read by the real Mesos source, yields
// exactly the task parses dcos-net's own tests expect (expected.json).

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { asDcosNet } from '../model/test-helpers.js';
import { captureRecords, MesosMasterEmulator } from '../../test/emulators/mesos-master.js';
import { MesosSource } from './mesos.js';
import { staticResolver } from './resolver.js';
import { captureLogger, RecordingSink, waitFor } from './test-helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIRS = [`${ROOT}test/fixtures/dcos-net`, '/work/shared/fixtures/dcos-net'];


let master: MesosMasterEmulator | undefined;
after(async () => master?.stop());

for (const dir of DIRS) {
  describe(`dcos-net captures through the Mesos emulator and source: ${dir}`, () => {
    if (!existsSync(`${dir}/expected.json`)) {
      it('fixtures present', { skip: `${dir}/expected.json not found` }, () => {});
      return;
    }
    const expected = JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')) as Record<string, unknown>;
    const files = Object.keys(expected).filter((k) => !k.startsWith('_'));

    it('lists every capture of the folder', () => {
      assert.ok(files.length >= 6, `only ${files.length} captures listed`);
    });

    // Each capture whole, in 7-byte writes, and with every record parsed task by task (the big-record path).
    for (const [file, chunkBytes, split] of files.flatMap((f) => [[f, 0, false], [f, 7, false], [f, 0, true]] as const)) {
      const how = `${chunkBytes > 0 ? ` in ${chunkBytes}-byte writes` : ''}${split ? ', parsed task by task' : ''}`;
      it(`${file}${how}: the source's view is exactly expected.json`, async () => {
        master ??= await MesosMasterEmulator.start();
        const records = captureRecords(readFileSync(`${dir}/${file}`, 'utf8'));
        master.replay(records, { chunkBytes });
        const { logger, lines } = captureLogger('info');
        const source = new MesosSource({
          masters: [master.url], resolver: staticResolver(), recovery: { settleMs: 0 }, ...(split && { splitRecordBytes: 0 }),
        }, logger);
        const sink = new RecordingSink();
        source.start(sink);
        try {
          await waitFor(() => source.counters.records >= records.length && sink.state === 'synced', `${records.length} records and a sync`);
          const got = Object.fromEntries([...sink.tasks.values()].map((t) => [t.id, asDcosNet(t)]));
          assert.deepEqual(got, expected[file]);
          assert.equal(source.status().reconnects, 0);
          assert.deepEqual(lines.filter((l) => l['level'] !== 'info'), [], 'no warnings');
          for (const t of sink.tasks.values()) assert.equal(t.rejected, undefined, `${t.id} has rejected labels`);
        } finally {
          await source.stop();
        }
      });
    }
  });
}
