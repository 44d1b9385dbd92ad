import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointSliceObject, serviceObject, type EndpointSpec } from '../../test/emulators/kubernetes-api.js';
import { VipTable } from '../model/index.js';
import { endpointState, serviceTasks, serviceVips, sliceServiceKey, type ServiceVips } from './kubernetes-objects.js';

const A = 'l4lb.thisdcos.directory/';

const svc = (annotations: Record<string, string>, ports = [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090 }]) =>
  serviceObject({ namespace: 'shop', name: 'myapp', annotations, ports: ports as Parameters<typeof serviceObject>[0]['ports'] });

const vipsOf = (annotations: Record<string, string>, ports?: Parameters<typeof svc>[1]): ServiceVips => {
  const v = serviceVips(svc(annotations, ports), 'kubernetes');
  assert.ok(v !== undefined);
  return v;
};

const slice = (name: string, endpoints: EndpointSpec[], o: { addressType?: 'IPv4' | 'IPv6' | 'FQDN'; ports?: Array<{ name?: string; port: number; protocol?: 'TCP' | 'UDP' }> } = {}) =>
  endpointSliceObject({ namespace: 'shop', name, service: 'myapp', addressType: o.addressType ?? 'IPv4', ports: o.ports ?? [{ name: 'http', port: 8080 }], endpoints });

describe('Kubernetes annotations -> VIP labels', () => {
  it('a Service without l4lb annotations is not l4lb\'s business', () => {
    assert.equal(serviceVips(svc({ 'prometheus.io/scrape': 'true' }), 'kubernetes'), undefined);
    assert.equal(serviceVips({ metadata: { name: 'x' } }, 'kubernetes'), undefined);
  });

  it('vip-<port name> labels that port, with the default framework kubernetes', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80' });
    assert.equal(v.key, 'shop/myapp');
    assert.equal(v.framework, 'kubernetes');
    assert.deepEqual(v.ports, [{ name: 'http', protocol: 'tcp', vips: [{ key: `${A}vip-http`, value: '/myapp:80' }] }]);
    assert.deepEqual(v.rejected, []);
  });

  it('vip labels the only port, named or not; framework marathon; commas give several VIPs; UDP ports stay UDP', () => {
    const v = vipsOf({ [`${A}vip`]: '/myapp:80, /legacy/web:8080', [`${A}framework`]: 'marathon' }, [{ port: 53, protocol: 'UDP' }] as never);
    assert.equal(v.framework, 'marathon');
    assert.deepEqual(v.ports, [{ name: '', protocol: 'udp', vips: [{ key: `${A}vip`, value: '/myapp:80' }, { key: `${A}vip`, value: '/legacy/web:8080' }] }]);
  });

  it('rejects, each with its reason, and keeps the good annotations', () => {
    const v = vipsOf({
      [`${A}vip-http`]: '/myapp:80,nocolon,/x:0',
      [`${A}vip-htp`]: '/typo:80',
      [`${A}vip`]: '/ambiguous:80',
      [`${A}vips-metrics`]: '/m:9090',
      [`${A}vip-metrics`]: '/%%%:9090',
    });
    assert.deepEqual(v.ports.map((p) => [p.name, p.vips.map((l) => l.value)]), [['http', ['/myapp:80']]]);
    assert.deepEqual(v.rejected.map((r) => [r.key.slice(A.length), r.value, r.code]), [
      ['vip', '/ambiguous:80', 'VIP_PORT_AMBIGUOUS'],
      ['vip-htp', '/typo:80', 'VIP_UNKNOWN_PORT'],
      ['vip-http', 'nocolon', 'VIP_MISSING_COLON'],
      ['vip-http', '/x:0', 'VIP_PORT_ZERO'],
      ['vip-metrics', '/%%%:9090', 'VIP_INVALID_NAME'],
      ['vips-metrics', '/m:9090', 'VIP_UNKNOWN_ANNOTATION'],
    ]);
    assert.ok(v.rejected.every((r) => r.taskId === 'shop/myapp' && r.source === 'kubernetes'));
    assert.match(v.rejected[1]?.message ?? '', /no port named "htp" \(ports: http, metrics\)/);
    assert.match(v.rejected[0]?.message ?? '', /has 2 ports: use l4lb\.thisdcos\.directory\/vip-<port name>/);
  });

  it('a bad framework skips every VIP of the Service (they would get a name nobody asked for)', () => {
    for (const bad of ['Marathon', 'mara thon', '', '-x', 'a.b']) {
      const v = vipsOf({ [`${A}vip-http`]: '/myapp:80', [`${A}framework`]: bad });
      assert.deepEqual(v.ports, [], bad);
      assert.deepEqual(v.rejected.map((r) => r.code), ['VIP_BAD_FRAMEWORK'], bad);
    }
  });

  it('SCTP ports cannot be VIPs', () => {
    const v = vipsOf({ [`${A}vip`]: '/sig:3868' }, [{ name: 'diameter', port: 3868, protocol: 'SCTP' }] as never);
    assert.deepEqual(v.rejected.map((r) => r.code), ['VIP_UNKNOWN_PROTOCOL']);
  });

  it('never throws on malformed objects', () => {
    for (const bad of [null, 1, 'x', [], { metadata: { annotations: { [`${A}vip`]: 3 } } }, { metadata: { annotations: { [`${A}vip`]: '/a:1' } }, spec: { ports: 'x' } }]) {
      const v = serviceVips(bad, 'kubernetes');
      if (v !== undefined) assert.deepEqual(v.ports, []);
    }
  });
});

describe('EndpointSlice endpoints -> backends', () => {
  it('conditions: ready -> running; serving+terminating -> killing; otherwise absent; nil ready is ready', () => {
    const s = (c: Record<string, boolean>) => endpointState({ conditions: c });
    assert.equal(s({ ready: true, serving: true, terminating: false }), 'running');
    assert.equal(s({}), 'running', 'nil ready = ready (API docs)');
    assert.equal(endpointState({}), 'running');
    assert.equal(s({ ready: false, serving: true, terminating: true }), 'killing');
    assert.equal(s({ ready: false, terminating: true }), undefined, 'nil serving = ready = false');
    assert.equal(s({ ready: false, serving: false, terminating: true }), undefined);
    assert.equal(s({ ready: false, serving: false, terminating: false }), undefined);
    assert.equal(s({ ready: true, serving: true, terminating: true }), 'running', 'publishNotReadyAddresses');
  });

  it('one Task per address with the slice\'s port of the same name; states from conditions', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80', [`${A}framework`]: 'marathon' });
    const { tasks, problems } = serviceTasks(v, [slice('myapp-abc', [
      { addresses: ['10.244.1.5'], ready: true, serving: true, terminating: false },
      { addresses: ['10.244.2.7'], ready: false, serving: true, terminating: true },
      { addresses: ['10.244.3.9'], ready: false, serving: false, terminating: false },
    ], { ports: [{ name: 'metrics', port: 9100 }, { name: 'http', port: 8080 }] })], 'kubernetes');
    assert.deepEqual(problems, []);
    assert.deepEqual(tasks, [
      { source: 'kubernetes', id: 'shop/myapp/10.244.1.5', name: 'myapp.shop', framework: 'marathon', taskIps: ['10.244.1.5'], state: 'running',
        ports: [{ name: 'http', protocol: 'tcp', port: 8080, vips: [{ key: `${A}vip-http`, value: '/myapp:80' }] }] },
      { source: 'kubernetes', id: 'shop/myapp/10.244.2.7', name: 'myapp.shop', framework: 'marathon', taskIps: ['10.244.2.7'], state: 'killing',
        ports: [{ name: 'http', protocol: 'tcp', port: 8080, vips: [{ key: `${A}vip-http`, value: '/myapp:80' }] }] },
    ]);
  });

  it('the model gives the Marathon name, weight 1 to ready and 0 to terminating pods', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80', [`${A}framework`]: 'marathon' });
    const { tasks } = serviceTasks(v, [slice('s', [
      { addresses: ['10.244.1.5'], ready: true }, { addresses: ['10.244.2.7'], ready: false, serving: true, terminating: true },
    ])], 'kubernetes');
    const table = new VipTable();
    table.replaceSource('kubernetes', tasks);
    const [vip] = table.vips();
    assert.deepEqual(vip?.names, ['myapp.marathon.l4lb.thisdcos.directory']);
    assert.deepEqual(vip?.backends.map((b) => [b.ip, b.port, b.weight, b.state]), [['10.244.1.5', 8080, 1, 'running'], ['10.244.2.7', 8080, 0, 'killing']]);
  });

  it('the port must match by name and protocol; unnamed Service ports match the slice port named ""', () => {
    const named = vipsOf({ [`${A}vip-http`]: '/myapp:80' });
    assert.deepEqual(serviceTasks(named, [slice('s', [{ addresses: ['10.0.0.1'] }], { ports: [{ name: 'http', port: 8080, protocol: 'UDP' }] })], 'k').tasks, []);
    assert.deepEqual(serviceTasks(named, [slice('s', [{ addresses: ['10.0.0.1'] }], { ports: [{ name: 'other', port: 8080 }] })], 'k').tasks, []);
    const unnamed = vipsOf({ [`${A}vip`]: '/myapp:80' }, [{ port: 80, targetPort: 8080 }] as never);
    const { tasks } = serviceTasks(unnamed, [slice('s', [{ addresses: ['10.0.0.1'] }], { ports: [{ port: 8080 }] })], 'k');
    assert.deepEqual(tasks.map((t) => [t.id, t.ports[0]?.port, t.ports[0]?.name]), [['shop/myapp/10.0.0.1', 8080, undefined]]);
  });

  it('addresses only of the slice\'s family (IPv6 canonical); FQDN slices are skipped; wrong-family addresses are problems', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80' });
    const { tasks, problems } = serviceTasks(v, [
      slice('v4', [{ addresses: ['10.0.0.1', 'fd00::1'] }]),
      slice('v6', [{ addresses: ['FD00:0:0::2'] }], { addressType: 'IPv6' }),
      slice('fqdn', [{ addresses: ['db.example.com'] }], { addressType: 'FQDN' }),
    ], 'k');
    assert.deepEqual(tasks.map((t) => t.taskIps), [['10.0.0.1'], ['fd00::2']]);
    assert.deepEqual(problems, ['EndpointSlice shop/v4: address "fd00::1" is not IPv4']);
  });

  it('an address in two slices is one backend, running if either slice says ready', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80' });
    const { tasks } = serviceTasks(v, [
      slice('a', [{ addresses: ['10.0.0.1'], ready: false, serving: true, terminating: true }]),
      slice('b', [{ addresses: ['10.0.0.1'], ready: true }]),
    ], 'k');
    assert.deepEqual(tasks.map((t) => [t.id, t.state, t.ports.length]), [['shop/myapp/10.0.0.1', 'running', 1]]);
  });

  it('slices belong to their Service by the kubernetes.io/service-name label', () => {
    assert.equal(sliceServiceKey(slice('s', [])), 'shop/myapp');
    assert.equal(sliceServiceKey({ metadata: { namespace: 'shop', name: 's' } }), undefined);
  });

  it('never throws on malformed slices', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80' });
    const bad = [null, 'x', { addressType: 'IPv4', ports: 'x' }, { addressType: 'IPv4', ports: [{ name: 'http', port: 99999 }], endpoints: [{ addresses: ['10.0.0.1'] }] },
      { addressType: 'IPv4', ports: [{ name: 'http', port: 80 }], endpoints: [null, { addresses: 'x' }, { addresses: [7] }, { conditions: 'x', addresses: ['10.0.0.2'] }] }];
    const { tasks } = serviceTasks(v, bad, 'k');
    assert.deepEqual(tasks.map((t) => t.taskIps[0]), ['10.0.0.2']);
  });
});

describe('Kubernetes: the scheduler annotation', () => {
  it('is known (no VIP_UNKNOWN_ANNOTATION) and applies to every VIP of the Service', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80', [`${A}vip-metrics`]: '/myapp-metrics:9090', [`${A}scheduler`]: 'sh' });
    assert.deepEqual(v.rejected, []);
    assert.equal(v.scheduler, 'sh');
    const { tasks } = serviceTasks(v, [slice('a', [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }], { ports: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9100 }] })], 'k');
    assert.deepEqual(tasks.map((t) => t.scheduler), ['sh', 'sh']);
    const table = new VipTable();
    table.replaceSource('k', tasks);
    assert.deepEqual(table.vips().map((x) => [x.port, x.scheduler]).sort(), [[80, 'sh'], [9090, 'sh']]);
  });

  it('absent: no scheduler field on the Service or its tasks', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80' });
    assert.equal('scheduler' in v, false);
    const { tasks } = serviceTasks(v, [slice('a', [{ addresses: ['10.0.0.1'] }])], 'k');
    assert.equal('scheduler' in (tasks[0] as object), false);
  });

  it('a bad value is VIP_BAD_SCHEDULER; the VIPs still serve with the default', () => {
    const v = vipsOf({ [`${A}vip-http`]: '/myapp:80', [`${A}scheduler`]: 'round-robin' });
    assert.deepEqual(v.rejected.map((r) => [r.taskId, r.key, r.value, r.code]), [['shop/myapp', `${A}scheduler`, 'round-robin', 'VIP_BAD_SCHEDULER']]);
    assert.equal(v.scheduler, undefined);
    assert.equal(v.ports.length, 1);
    const { tasks } = serviceTasks(v, [slice('a', [{ addresses: ['10.0.0.1'] }])], 'k');
    assert.equal(tasks[0]?.scheduler, undefined);
  });

  it('the unknown-annotation message names it', () => {
    const v = vipsOf({ [`${A}schedular`]: 'rr' });
    assert.match(v.rejected[0]?.message ?? '', /or l4lb\.thisdcos\.directory\/scheduler$/);
  });
});
