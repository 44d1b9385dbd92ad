// Cross-checks l4lb's IPVS codec with ipvsadm, a client nobody here wrote:
// what we write, `ipvsadm -S -n` reads back exactly; what `ipvsadm -R` writes,
// `l4lb ipvs list -o json` reads back exactly. Randomized over every service
// kind, family, scheduler, flag and forwarding method the kernel supports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { join, dirname } from 'node:path';

import { requireKernel, run, exec, ipvsadm } from './lib.js';
import { IpvsHandle, serviceKeyId, destinationKeyId, type IpvsOp, type ServiceWithDestinations } from '../../native/ipvs/index.js';
import {
  randomRuleSet,
  restoreText,
  expectedSaveLines,
  saveLines,
  expectedThresholds,
  parseThresholds,
  thresholdEditLines,
  type RuleSet,
} from '../support/ipvs-rules.js';

requireKernel();
const l4lb = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'l4lb');

function opsFor(set: RuleSet): IpvsOp[] {
  const ops: IpvsOp[] = [];
  for (const { service, destinations } of set.services) {
    ops.push({ kind: 'add-service', service });
    for (const destination of destinations) ops.push({ kind: 'add-destination', service, destination });
  }
  return ops;
}

/** The kernel's table in a canonical, comparable form (no counters). */
function canonical(services: ServiceWithDestinations[]): unknown[] {
  return services
    .map((s) => {
      const { stats, destinations, ...svc } = s;
      void stats;
      return {
        id: serviceKeyId(s),
        svc,
        dests: destinations
          .map((d) => {
            const { stats: ds, activeConnections, inactiveConnections, persistentConnections, ...rest } = d;
            void ds;
            void activeConnections;
            void inactiveConnections;
            void persistentConnections;
            return { id: destinationKeyId(d), ...rest };
          })
          .sort((a, b) => a.id.localeCompare(b.id)),
      };
    })
    .sort((a, b) => a.id.localeCompare(b.id));
}

function canonicalSet(set: RuleSet): unknown[] {
  return canonical(
    set.services.map(({ service, destinations }) => ({
      ...service,
      stats: undefined as never,
      destinations: destinations.map((d) => ({ ...d, activeConnections: 0, inactiveConnections: 0, persistentConnections: 0, stats: undefined as never })),
    })),
  );
}

async function flushWithIpvsadm(): Promise<void> {
  await ipvsadm('-C');
}

for (const seed of [1, 2, 3]) {
  test(`what l4lb writes, ipvsadm -S -n reads back exactly (seed ${seed}: 300 services, up to 6 destinations each)`, async () => {
    const set = randomRuleSet(seed, { services: 300, maxDestinations: 6 });
    const h = IpvsHandle.open();
    try {
      const results = h.apply(opsFor(set));
      const failed = results.filter((r) => r.error);
      assert.deepEqual(failed.map((r) => r.error!.message), [], 'every operation applies');
      assert.equal(results.length, opsFor(set).length);
      const save = await ipvsadm('-S', '-n');
      assert.deepEqual(saveLines(save.stdout), expectedSaveLines(set));
      const thr = await ipvsadm('-Ln', '--thresholds');
      assert.deepEqual(parseThresholds(thr.stdout), expectedThresholds(set));
      // And our own read of what we wrote is the set itself.
      assert.deepEqual(canonical(h.dump()), canonicalSet(set));
    } finally {
      h.close();
      await flushWithIpvsadm();
    }
  });

  test(`what ipvsadm -R writes, l4lb ipvs list -o json reads back exactly (seed ${seed + 100})`, async () => {
    const set = randomRuleSet(seed + 100, { services: 300, maxDestinations: 6 });
    // Thresholds are not part of ipvsadm's save format: set them with -e lines in the same restore.
    await exec('ipvsadm', ['-R'], { input: restoreText(set) + thresholdEditLines(set).join('\n') + '\n' });
    try {
      const out = await exec(l4lb, ['ipvs', 'list', '-o', 'json']);
      const snap = JSON.parse(out.stdout) as { services: ServiceWithDestinations[] };
      assert.equal(snap.services.length, set.services.length);
      assert.deepEqual(canonical(snap.services), canonicalSet(set));
    } finally {
      await flushWithIpvsadm();
    }
  });
}

test('the table view lists every service and destination that ipvsadm shows', async () => {
  const set = randomRuleSet(42, { services: 20, maxDestinations: 3 });
  await exec('ipvsadm', ['-R'], { input: restoreText(set) });
  try {
    const out = await exec(l4lb, ['ipvs', 'list']);
    const dests = set.services.reduce((n, s) => n + s.destinations.length, 0);
    assert.match(out.stdout, new RegExp(`; ${set.services.length} services, ${dests} destinations\\n`));
    const rows = out.stdout.split('\n').slice(2).filter(Boolean);
    assert.equal(rows.length, set.services.length + dests);
    assert.equal(rows.filter((r) => r.startsWith('  -> ')).length, dests);
  } finally {
    await flushWithIpvsadm();
  }
});

test('l4lb ipvs list on an empty table says so, and JSON has the module info ipvsadm prints', async () => {
  const table = await exec(l4lb, ['ipvs', 'list']);
  assert.match(table.stdout, /No IPVS services\./);
  const snap = JSON.parse((await exec(l4lb, ['ipvs', 'list', '-o', 'json'])).stdout) as {
    info: { version: string; connectionTableSize: number };
    timeouts: { tcp: number; tcpFin: number; udp: number };
  };
  const head = (await ipvsadm('-Ln')).stdout.split('\n')[0]!;
  assert.equal(head, `IP Virtual Server version ${snap.info.version} (size=${snap.info.connectionTableSize})`);
  const t = (await ipvsadm('-Ln', '--timeout')).stdout.trim();
  assert.equal(t, `Timeout (tcp tcpfin udp): ${snap.timeouts.tcp} ${snap.timeouts.tcpFin} ${snap.timeouts.udp}`);
});

test('timeouts: what l4lb sets, ipvsadm reads; what ipvsadm sets, l4lb reads; 0 keeps a value', async () => {
  const h = IpvsHandle.open();
  try {
    h.setTimeouts({ tcp: 3600, tcpFin: 30, udp: 45 });
    assert.equal((await ipvsadm('-Ln', '--timeout')).stdout.trim(), 'Timeout (tcp tcpfin udp): 3600 30 45');
    await ipvsadm('--set', '901', '121', '301');
    assert.deepEqual(h.getTimeouts(), { tcp: 901, tcpFin: 121, udp: 301 });
    h.setTimeouts({ udp: 77 });
    assert.deepEqual(h.getTimeouts(), { tcp: 901, tcpFin: 121, udp: 77 });
  } finally {
    h.close();
  }
});

test('edit in place: scheduler, flags and weights change without re-adding', async () => {
  const set = randomRuleSet(7, { services: 30, maxDestinations: 4 });
  const h = IpvsHandle.open();
  try {
    assert.deepEqual(h.apply(opsFor(set)).filter((r) => r.error), []);
    const edits: IpvsOp[] = [];
    for (const e of set.services) {
      e.service = { ...e.service, scheduler: e.service.scheduler === 'rr' ? 'wlc' : 'rr', flags: e.service.flags & ~0x38 };
      edits.push({ kind: 'edit-service', service: e.service });
      e.destinations = e.destinations.map((d) => ({ ...d, weight: (d.weight + 7) % 65536 }));
      for (const d of e.destinations) edits.push({ kind: 'edit-destination', service: e.service, destination: d });
    }
    assert.deepEqual(h.apply(edits).filter((r) => r.error).map((r) => r.error!.message), []);
    assert.deepEqual(saveLines((await ipvsadm('-S', '-n')).stdout), expectedSaveLines(set));
  } finally {
    h.close();
    await flushWithIpvsadm();
  }
});

test('delete: services and destinations removed by l4lb are gone for ipvsadm', async () => {
  const set = randomRuleSet(8, { services: 40, maxDestinations: 4 });
  const h = IpvsHandle.open();
  try {
    assert.deepEqual(h.apply(opsFor(set)).filter((r) => r.error), []);
    const dels: IpvsOp[] = [];
    const kept: RuleSet = { services: [] };
    set.services.forEach((e, i) => {
      if (i % 2 === 0) {
        dels.push({ kind: 'delete-service', service: e.service });
      } else {
        const [gone, ...rest] = e.destinations;
        if (gone) dels.push({ kind: 'delete-destination', service: e.service, destination: gone });
        kept.services.push({ service: e.service, destinations: rest });
      }
    });
    assert.deepEqual(h.apply(dels).filter((r) => r.error), []);
    assert.deepEqual(saveLines((await ipvsadm('-S', '-n')).stdout), expectedSaveLines(kept));
  } finally {
    h.close();
    await flushWithIpvsadm();
  }
});

test('flush empties the table (ipvsadm -C equivalent)', async () => {
  await exec('ipvsadm', ['-R'], { input: restoreText(randomRuleSet(9, { services: 10, maxDestinations: 2 })) });
  const h = IpvsHandle.open();
  try {
    h.flush();
    assert.equal((await ipvsadm('-S', '-n')).stdout.trim(), '');
    assert.deepEqual(h.dump(), []);
  } finally {
    h.close();
  }
});

test('a single service and its destinations can be read without a full dump', async () => {
  const set = randomRuleSet(10, { services: 5, maxDestinations: 3 });
  await exec('ipvsadm', ['-R'], { input: restoreText(set) });
  const h = IpvsHandle.open();
  try {
    for (const { service, destinations } of set.services) {
      const got = h.service(service);
      assert.ok(got, 'service exists');
      assert.equal(serviceKeyId(got), serviceKeyId(service));
      assert.equal(h.destinations(service).length, destinations.length);
    }
    assert.equal(h.service({ ...set.services[0]!.service, port: 1, fwmark: 0, address: '198.51.100.250', protocol: 'tcp', family: 'inet' }), undefined);
  } finally {
    h.close();
    await run('ipvsadm', ['-C']);
  }
});
