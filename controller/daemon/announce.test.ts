// What the announcer publishes: names of forwarding VIPs, and SRV records for
// the named task ports behind them.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';

import { VipTable } from '../model/index.js';
import { port, task } from '../model/test-helpers.js';
import { Announcer } from './announce.js';
import type { Zone } from '../dns/zone.js';

type Srv = { port: number; target: string };

function srvAnswers(zone: Zone, name: string): Srv[] {
  const q = dnsPacket.decode(dnsPacket.encode({ type: 'query', id: 1, questions: [{ type: 'SRV', name }] })) as DecodedPacket;
  return (zone.answer(q).answers ?? []).filter((a) => a.type === 'SRV').map((a) => {
    const d = a.data as { port: number; target: string };
    return { port: d.port, target: d.target };
  });
}

function setup() {
  const table = new VipTable();
  table.upsertTask(task('t1', { ports: [port(['/myapp:80'], { name: 'Web_UI' }), port(['/myapp:53'], { name: 'dns', protocol: 'udp', port: 5353 })] }));
  table.upsertTask(task('t2', { ports: [port(['/plain:80'], { name: undefined })] }));
  const zones: Zone[] = [];
  const a = new Announcer({ addAddresses: () => undefined, removeAddresses: () => undefined }, () => table.names(), (z) => zones.push(z), () => table.vips());
  return { table, a, last: () => zones.at(-1)! };
}

test('the model keeps the names of the ports behind a VIP; unnamed ports give none', () => {
  const { table } = setup();
  const byPort = Object.fromEntries(table.vips().map((v) => [`${v.protocol}/${v.port}/${v.names[0]}`, v.portNames]));
  assert.deepEqual(byPort['tcp/80/myapp.marathon.l4lb.thisdcos.directory'], ['Web_UI']);
  assert.deepEqual(byPort['udp/53/myapp.marathon.l4lb.thisdcos.directory'], ['dns']);
  assert.equal(byPort['tcp/80/plain.marathon.l4lb.thisdcos.directory'], undefined);
});

test('SRV answers only for forwarding VIPs, with the VIP port and the name as target', async (t) => {
  const { table, a, last } = setup();
  const tcp = table.vips().find((v) => v.protocol === 'tcp' && v.names[0]?.startsWith('myapp.'))!;
  const udp = table.vips().find((v) => v.protocol === 'udp')!;
  a.publish();
  assert.deepEqual(srvAnswers(last(), '_web-ui._tcp.myapp.marathon.l4lb.thisdcos.directory'), []);

  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  await a.added([tcp.key]);
  // Additions are coalesced: the zone is rebuilt once the burst is over (50 ms).
  assert.deepEqual(srvAnswers(last(), '_web-ui._tcp.myapp.marathon.l4lb.thisdcos.directory'), []);
  mock.timers.tick(50);
  assert.deepEqual(srvAnswers(last(), '_web-ui._tcp.myapp.marathon.l4lb.thisdcos.directory'), [{ port: 80, target: 'myapp.marathon.l4lb.thisdcos.directory' }]);
  // The UDP VIP does not forward yet.
  assert.deepEqual(srvAnswers(last(), '_dns._udp.myapp.marathon.l4lb.thisdcos.directory'), []);

  await a.added([udp.key]);
  mock.timers.tick(50);
  assert.deepEqual(srvAnswers(last(), '_dns._udp.myapp.marathon.l4lb.thisdcos.directory'), [{ port: 53, target: 'myapp.marathon.l4lb.thisdcos.directory' }]);
  // An alias zone answers with its own name as target.
  assert.deepEqual(srvAnswers(last(), '_dns._udp.myapp.marathon.dclb.thisdcos.directory'), [{ port: 53, target: 'myapp.marathon.dclb.thisdcos.directory' }]);

  await a.removing([tcp.key]);
  // Removals publish at once (before the address goes).
  assert.deepEqual(srvAnswers(last(), '_web-ui._tcp.myapp.marathon.l4lb.thisdcos.directory'), []);
});

test('a slow rebuild widens the coalescing window (ten rebuilds worth, at most 1 s); a fast one narrows it back', async (t) => {
  const table = new VipTable();
  for (let i = 0; i < 4; i++) table.upsertTask(task(`t${i}`, { ports: [port([`/app${i}:80`])] }));
  const keys = table.vips().map((v) => v.key);
  // A fake clock: each rebuild "takes" whatever `cost` says.
  let clock = 0;
  let cost = 0;
  const published: number[] = [];
  const a = new Announcer(
    { addAddresses: () => undefined, removeAddresses: () => undefined },
    () => { clock += cost; return table.names(); },
    (z) => published.push(z.size),
    () => table.vips(),
    () => clock,
  );
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());

  assert.equal(a.coalesceMs(), 50);
  cost = 30;
  await a.added([keys[0]!]);
  mock.timers.tick(50);
  assert.deepEqual(published, [1]);
  // That rebuild took 30 ms: the next addition waits 300 ms, not 50.
  assert.equal(a.coalesceMs(), 300);
  await a.added([keys[1]!]);
  mock.timers.tick(299);
  assert.deepEqual(published, [1]);
  mock.timers.tick(1);
  assert.deepEqual(published, [1, 2]);

  // Never more than a second, however slow.
  cost = 500;
  await a.added([keys[2]!]);
  mock.timers.tick(300);
  assert.equal(a.coalesceMs(), 1000);
  cost = 1;
  await a.added([keys[3]!]);
  mock.timers.tick(999);
  assert.deepEqual(published, [1, 2, 3]);
  mock.timers.tick(1);
  assert.deepEqual(published, [1, 2, 3, 4]);
  // A fast rebuild brings the window back to 50 ms.
  assert.equal(a.coalesceMs(), 50);
});
