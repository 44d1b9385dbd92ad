// Error paths in the real kernel: each failure is typed, names its object, and
// in a batch fails alone while everything around it applies.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { requireKernel, ipvsadm, ipvsServices } from './lib.js';
import { IpvsHandle, makeService, makeDestination, type IpvsOp } from '../../native/ipvs/index.js';
import { NetlinkError } from '../../native/errors.js';
import { saveLines } from '../support/ipvs-rules.js';

requireKernel();

const svc = makeService({ address: '198.51.100.10', port: 80, scheduler: 'rr' });
const dst = makeDestination({ address: '198.18.0.1', port: 8080 });

function expectNetlink(fn: () => void, errnoName: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof NetlinkError, `expected NetlinkError, got ${String(e)}`);
    assert.equal(e.errnoName, errnoName);
    assert.match(e.message, message);
    return true;
  });
}

test('duplicate service add is EEXIST and names the service', () => {
  const h = IpvsHandle.open();
  try {
    h.addService(svc);
    expectNetlink(() => h.addService(svc), 'EEXIST', /^add service TCP 198\.51\.100\.10:80: EEXIST \(the service already exists\)/);
    h.deleteService(svc);
  } finally {
    h.close();
  }
});

test('deleting or editing a missing service is ESRCH, naming it', () => {
  const h = IpvsHandle.open();
  try {
    expectNetlink(() => h.deleteService(svc), 'ESRCH', /^delete service TCP 198\.51\.100\.10:80: ESRCH \(no such service\)/);
    expectNetlink(() => h.editService(svc), 'ESRCH', /^edit service TCP 198\.51\.100\.10:80/);
    expectNetlink(() => h.addDestination(svc, dst), 'ESRCH', /^add destination 198\.18\.0\.1:8080 to TCP 198\.51\.100\.10:80: ESRCH/);
  } finally {
    h.close();
  }
});

test('destination errors: duplicate is EEXIST, missing is ENOENT, each naming service and destination', () => {
  const h = IpvsHandle.open();
  try {
    h.addService(svc);
    h.addDestination(svc, dst);
    expectNetlink(() => h.addDestination(svc, dst), 'EEXIST', /^add destination 198\.18\.0\.1:8080 to TCP 198\.51\.100\.10:80: EEXIST \(the destination already exists in this service\)/);
    const other = makeDestination({ address: '198.18.0.2', port: 8080 });
    expectNetlink(() => h.deleteDestination(svc, other), 'ENOENT', /^delete destination 198\.18\.0\.2:8080 of TCP 198\.51\.100\.10:80: ENOENT \(no such destination in this service\)/);
    expectNetlink(() => h.editDestination(svc, other), 'ENOENT', /^edit destination 198\.18\.0\.2:8080/);
    h.deleteService(svc);
  } finally {
    h.close();
  }
});

test('an unknown scheduler is refused with the module it would need', () => {
  const h = IpvsHandle.open();
  try {
    expectNetlink(
      () => h.addService({ ...svc, scheduler: 'nosuch' }),
      'ENOENT',
      /scheduler "nosuch" is not available in this kernel \(module ip_vs_nosuch\)/,
    );
  } finally {
    h.close();
  }
});

test('a batch with bad requests among good ones: exactly the bad ones fail, the rest apply', async () => {
  const h = IpvsHandle.open();
  try {
    const ops: IpvsOp[] = [];
    for (let i = 1; i <= 200; i++) {
      const s = makeService({ address: `198.51.100.${i}`, port: 80, scheduler: 'wlc' });
      ops.push({ kind: 'add-service', service: s });
      ops.push({ kind: 'add-destination', service: s, destination: makeDestination({ address: `198.18.1.${i}`, port: 80 }) });
    }
    // Four bad ones in the middle: a duplicate service, a duplicate destination,
    // an unknown scheduler, a destination of a service that does not exist.
    const bad = new Map<number, string>([
      [101, 'EEXIST'],
      [151, 'EEXIST'],
      [201, 'ENOENT'],
      [251, 'ESRCH'],
    ]);
    ops.splice(101, 0, { ...ops[0]! });
    ops.splice(151, 0, { ...ops[1]! });
    ops.splice(201, 0, { kind: 'add-service', service: makeService({ address: '198.51.100.250', port: 81, scheduler: 'nosuch' }) });
    ops.splice(251, 0, {
      kind: 'add-destination',
      service: makeService({ address: '198.51.100.251', port: 81 }),
      destination: makeDestination({ address: '198.18.2.1', port: 80 }),
    });
    // Small batches so the failures fall in different sendmsg calls.
    const results = h.apply(ops, { maxBatchBytes: 4096 });
    assert.equal(results.length, ops.length);
    const failures = new Map(results.flatMap((r, i) => (r.error ? [[i, (r.error as NetlinkError).errnoName] as const] : [])));
    assert.deepEqual(failures, bad);
    assert.equal((await ipvsServices()).length, 200);
    const save = saveLines((await ipvsadm('-S', '-n')).stdout);
    assert.equal(save.filter((l) => l.startsWith('-a ')).length, 200);
    h.flush();
  } finally {
    h.close();
  }
});

test('invalid input is refused before the kernel, with the reason, and never sent', () => {
  const h = IpvsHandle.open();
  try {
    const results = h.apply([
      { kind: 'add-service', service: { ...svc, port: 70000 } },
      { kind: 'add-service', service: svc },
      { kind: 'add-destination', service: svc, destination: { ...dst, weight: -1 } },
    ]);
    assert.match(results[0]!.error!.message, /port 70000 is outside 0-65535/);
    assert.equal(results[1]!.error, undefined);
    assert.match(results[2]!.error!.message, /weight -1 is outside 0-65535/);
    assert.equal(h.destinations(svc).length, 0);
    h.deleteService(svc);
  } finally {
    h.close();
  }
});
