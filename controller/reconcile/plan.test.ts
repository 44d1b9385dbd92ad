import { test } from 'node:test';
import assert from 'node:assert/strict';

import { describeOp, emptyStats, makeDestination, makeService, type DestinationEntry, type IpvsOp, type ServiceWithDestinations } from '../../native/ipvs/index.js';
import type { Backend, Vip } from '../model/index.js';
import { DrainState } from './drain.js';
import { DEFAULT_PLAN_CONFIG, plan, type PlanConfig, type PlanEvent } from './plan.js';

// ---- builders -------------------------------------------------------------

function be(ip: string, port = 8080, weight: 0 | 1 = 1): Backend {
  return { ip, port, weight, taskId: `t-${ip}`, framework: 'marathon', source: 'mesos', state: weight ? 'running' : 'killing', health: 'healthy' };
}

function vip(address: string, port: number, backends: Backend[], protocol: 'tcp' | 'udp' = 'tcp'): Vip {
  const family = address.includes(':') ? 6 : 4;
  const host = family === 6 ? `[${address}]` : address;
  return { key: `${protocol}/${host}:${port}`, protocol, address, family, port, kind: 'ip', names: [], labels: [], sources: ['mesos'], backends };
}

interface DestSpec {
  ip: string;
  port?: number;
  weight?: number;
  active?: number;
  inactive?: number;
  forward?: 'masq' | 'route';
}

function svc(address: string, port: number, dests: DestSpec[], o: { protocol?: 'tcp' | 'udp'; scheduler?: string; fwmark?: number } = {}): ServiceWithDestinations {
  const s = makeService({ address, port, protocol: o.protocol ?? 'tcp', scheduler: o.scheduler ?? 'wlc', fwmark: o.fwmark ?? 0 });
  return {
    ...s,
    stats: emptyStats(),
    destinations: dests.map(
      (d): DestinationEntry => ({
        ...makeDestination({ address: d.ip, port: d.port ?? 8080, weight: d.weight ?? 1, forward: d.forward ?? 'masq' }),
        activeConnections: d.active ?? 0,
        inactiveConnections: d.inactive ?? 0,
        persistentConnections: 0,
        stats: emptyStats(),
      }),
    ),
  };
}

const NOW = 1_000_000;

function owned(...keys: string[]) {
  const s = new Set(keys);
  return { isOwned: (k: string) => s.has(k) };
}

function drains(entries: Array<[vip: string, dest: string, startedAt: number]> = []): DrainState {
  const d = new DrainState();
  d.apply(entries.map(([v, dest, startedAt]) => ({ vip: v, dest, startedAt })));
  return d;
}

const op = (o: IpvsOp): string => {
  const d = describeOp(o);
  const w = o.kind === 'add-destination' || o.kind === 'edit-destination' ? ` w=${o.destination.weight}` : '';
  const s = o.kind === 'add-service' || o.kind === 'edit-service' ? ` s=${o.service.scheduler}` : '';
  return `${d.op} ${d.object}${w}${s}`;
};
const ev = (e: PlanEvent): string => `${e.kind}${'destination' in e ? ` ${e.destination}` : ''}${'reason' in e ? ` ${e.reason}` : ''}`;

const A = '11.0.0.1';
const K = `tcp/${A}:80`;
const KU = `udp/${A}:53`;

interface Case {
  name: string;
  desired: Vip[];
  actual: ServiceWithDestinations[];
  owned?: string[];
  drains?: Array<[string, string, number]>;
  now?: number;
  config?: Partial<PlanConfig>;
  ops: string[];
  events?: string[];
  claim?: string[];
  remove?: string[];
  foreign?: string[];
  drainAfter?: Array<[string, string, number | undefined]>;
  deadline?: number;
}

const cases: Case[] = [
  {
    name: 'in sync: zero ops, zero groups (TestDoNothing)',
    desired: [vip(A, 80, [be('10.0.0.1'), be('10.0.0.2', 8080, 0)]), vip('fd01:c::1', 53, [be('fd00::5', 53)], 'udp')],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', weight: 0 }]), svc('fd01:c::1', 53, [{ ip: 'fd00::5', port: 53 }], { protocol: 'udp' })],
    owned: [K, 'udp/[fd01:c::1]:53'],
    ops: [],
  },
  {
    name: 'new VIP: service first, then its destinations; claimed',
    desired: [vip(A, 80, [be('10.0.0.2'), be('10.0.0.1')])],
    actual: [],
    ops: ['add service TCP 11.0.0.1:80 s=wlc', 'add destination 10.0.0.2:8080 to TCP 11.0.0.1:80 w=1', 'add destination 10.0.0.1:8080 to TCP 11.0.0.1:80 w=1'],
    events: ['service-added', 'added 10.0.0.2:8080', 'added 10.0.0.1:8080'],
    claim: [K],
  },
  {
    name: 'owned VIP deleted by someone (ipvsadm -D): re-created, no new claim',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [],
    owned: [K],
    ops: ['add service TCP 11.0.0.1:80 s=wlc', 'add destination 10.0.0.1:8080 to TCP 11.0.0.1:80 w=1'],
    claim: [],
  },
  {
    name: 'one backend added: one add-destination',
    desired: [vip(A, 80, [be('10.0.0.1'), be('10.0.0.3')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }])],
    owned: [K],
    ops: ['add destination 10.0.0.3:8080 to TCP 11.0.0.1:80 w=1'],
  },
  {
    name: 'backend killing/unhealthy (desired weight 0): edit in place',
    desired: [vip(A, 80, [be('10.0.0.1', 8080, 0)])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1', active: 3 }])],
    owned: [K],
    ops: ['edit destination 10.0.0.1:8080 of TCP 11.0.0.1:80 w=0'],
    events: ['weight-changed 10.0.0.1:8080'],
  },
  {
    name: 'weight 0 left by a crash, backend desired at 1: weight restored (k8s#92019)',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1', weight: 0 }])],
    owned: [K],
    ops: ['edit destination 10.0.0.1:8080 of TCP 11.0.0.1:80 w=1'],
  },
  {
    name: 'forwarding method drifted (ipvsadm -e -g): edited back in place',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1', forward: 'route' }])],
    owned: [K],
    ops: ['edit destination 10.0.0.1:8080 of TCP 11.0.0.1:80 w=1'],
    events: ['destination-edited 10.0.0.1:8080'],
  },
  {
    name: 'scheduler changed: edit-service in place, destinations untouched',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }], { scheduler: 'rr' })],
    owned: [K],
    ops: ['edit service TCP 11.0.0.1:80 s=wlc'],
    events: ['service-edited'],
  },
  {
    name: 'per-VIP scheduler: the VIP\'s own, else the configured one',
    desired: [{ ...vip(A, 80, [be('10.0.0.1')]), scheduler: 'mh' }, vip('11.0.0.2', 80, [])],
    actual: [],
    config: { scheduler: 'rr' },
    ops: ['add service TCP 11.0.0.1:80 s=mh', 'add destination 10.0.0.1:8080 to TCP 11.0.0.1:80 w=1', 'add service TCP 11.0.0.2:80 s=rr'],
  },
  {
    name: 'per-VIP scheduler changed (rr -> sh): exactly one service edit, no destination op',
    desired: [{ ...vip(A, 80, [be('10.0.0.1'), be('10.0.0.2', 8080, 0)]), scheduler: 'sh' }],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', weight: 0 }], { scheduler: 'rr' })],
    owned: [K],
    ops: ['edit service TCP 11.0.0.1:80 s=sh'],
    events: ['service-edited'],
  },
  {
    name: 'per-VIP scheduler dropped: back to the configured one, in place',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }], { scheduler: 'sh' })],
    owned: [K],
    ops: ['edit service TCP 11.0.0.1:80 s=wlc'],
    events: ['service-edited'],
  },
  {
    name: 'per-VIP scheduler already in the kernel: nothing to do',
    desired: [{ ...vip(A, 80, [be('10.0.0.1')]), scheduler: 'sh' }],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }], { scheduler: 'sh' })],
    owned: [K],
    ops: [],
  },
  {
    name: 'global scheduler from config',
    desired: [vip(A, 80, [])],
    actual: [svc(A, 80, [], { scheduler: 'wlc' })],
    owned: [K],
    config: { scheduler: 'rr' },
    ops: ['edit service TCP 11.0.0.1:80 s=rr'],
  },
  {
    name: 'TCP backend removed with connections: weight 0, drain starts now',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }, { ip: '10.0.0.2', active: 2, inactive: 1 }])],
    owned: [K],
    ops: ['edit destination 10.0.0.2:8080 of TCP 11.0.0.1:80 w=0'],
    events: ['drained 10.0.0.2:8080'],
    drainAfter: [[K, 'inet/10.0.0.2/8080', NOW]],
    deadline: NOW + DEFAULT_PLAN_CONFIG.drainTimeoutMs,
  },
  {
    name: 'TCP backend removed with no connections: deleted at once',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }])],
    owned: [K],
    ops: ['delete destination 10.0.0.2:8080 of TCP 11.0.0.1:80'],
    events: ['deleted 10.0.0.2:8080 idle'],
  },
  {
    name: 'draining, connections left, before the timeout: nothing to write, recheck by the deadline',
    desired: [vip(A, 80, [])],
    actual: [svc(A, 80, [{ ip: '10.0.0.2', weight: 0, inactive: 4 }])],
    owned: [K],
    drains: [[K, 'inet/10.0.0.2/8080', NOW - 1000]],
    config: { drainTimeoutMs: 10_000 },
    ops: [],
    drainAfter: [[K, 'inet/10.0.0.2/8080', NOW - 1000]],
    deadline: NOW + 9000,
  },
  {
    name: 'draining, drain timeout passed: deleted',
    desired: [vip(A, 80, [])],
    actual: [svc(A, 80, [{ ip: '10.0.0.2', weight: 0, active: 7 }])],
    owned: [K],
    drains: [[K, 'inet/10.0.0.2/8080', NOW - 10_000]],
    config: { drainTimeoutMs: 10_000 },
    ops: ['delete destination 10.0.0.2:8080 of TCP 11.0.0.1:80'],
    events: ['deleted 10.0.0.2:8080 timeout'],
    drainAfter: [[K, 'inet/10.0.0.2/8080', undefined]],
  },
  {
    name: 'draining, connections gone: deleted',
    desired: [vip(A, 80, [])],
    actual: [svc(A, 80, [{ ip: '10.0.0.2', weight: 0 }])],
    owned: [K],
    drains: [[K, 'inet/10.0.0.2/8080', NOW - 1000]],
    ops: ['delete destination 10.0.0.2:8080 of TCP 11.0.0.1:80'],
    events: ['deleted 10.0.0.2:8080 idle'],
    drainAfter: [[K, 'inet/10.0.0.2/8080', undefined]],
  },
  {
    name: 'after a restart: undesired weight-0 destination drains from now (no write)',
    desired: [vip(A, 80, [])],
    actual: [svc(A, 80, [{ ip: '10.0.0.2', weight: 0, active: 1 }])],
    owned: [K],
    ops: [],
    drainAfter: [[K, 'inet/10.0.0.2/8080', NOW]],
    deadline: NOW + DEFAULT_PLAN_CONFIG.drainTimeoutMs,
  },
  {
    name: 'backend comes back during drain: weight restored, drain cleared',
    desired: [vip(A, 80, [be('10.0.0.2')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.2', weight: 0, active: 1 }])],
    owned: [K],
    drains: [[K, 'inet/10.0.0.2/8080', NOW - 5000]],
    ops: ['edit destination 10.0.0.2:8080 of TCP 11.0.0.1:80 w=1'],
    events: ['weight-restored 10.0.0.2:8080'],
    drainAfter: [[K, 'inet/10.0.0.2/8080', undefined]],
  },
  {
    name: 'drain entry of a destination someone deleted: cleared',
    desired: [vip(A, 80, [])],
    actual: [svc(A, 80, [])],
    owned: [K],
    drains: [[K, 'inet/10.0.0.2/8080', NOW - 5000]],
    ops: [],
    drainAfter: [[K, 'inet/10.0.0.2/8080', undefined]],
  },
  {
    name: 'UDP backend removed: deleted at once even with connections',
    desired: [vip(A, 53, [be('10.0.0.1', 53)], 'udp')],
    actual: [svc(A, 53, [{ ip: '10.0.0.1', port: 53 }, { ip: '10.0.0.2', port: 53, active: 0, inactive: 9 }], { protocol: 'udp' })],
    owned: [KU],
    ops: ['delete destination 10.0.0.2:53 of UDP 11.0.0.1:53'],
    events: ['deleted 10.0.0.2:53 datagram'],
  },
  {
    name: 'UDP backends replaced: adds before deletes (never an empty service)',
    desired: [vip(A, 53, [be('10.0.0.3', 53)], 'udp')],
    actual: [svc(A, 53, [{ ip: '10.0.0.1', port: 53, inactive: 1 }], { protocol: 'udp' })],
    owned: [KU],
    ops: ['add destination 10.0.0.3:53 to UDP 11.0.0.1:53 w=1', 'delete destination 10.0.0.1:53 of UDP 11.0.0.1:53'],
  },
  {
    name: 'owned service no longer desired: deleted (removal hook first)',
    desired: [],
    actual: [svc(A, 80, [{ ip: '10.0.0.1', active: 5 }])],
    owned: [K],
    ops: ['delete service TCP 11.0.0.1:80'],
    events: ['service-deleted'],
    remove: [K],
  },
  {
    name: 'foreign services are never touched, even in the VIP pool (11.0.0.0/8), fwmark and SCTP too',
    desired: [],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }], { scheduler: 'rr' }), svc('0.0.0.0', 0, [], { fwmark: 7 }), { ...svc('11.0.0.9', 80, []), protocol: 'sctp' }],
    ops: [],
    foreign: [K],
  },
  {
    name: 'foreign service that becomes desired: adopted (claimed) and converged in place',
    desired: [vip(A, 80, [be('10.0.0.1'), be('10.0.0.3')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }, { ip: '10.0.0.2' }], { scheduler: 'rr' })],
    ops: [
      'edit service TCP 11.0.0.1:80 s=wlc',
      'add destination 10.0.0.3:8080 to TCP 11.0.0.1:80 w=1',
      'delete destination 10.0.0.2:8080 of TCP 11.0.0.1:80',
    ],
    events: ['adopted', 'service-edited', 'added 10.0.0.3:8080', 'deleted 10.0.0.2:8080 idle'],
    claim: [K],
  },
  {
    name: 'foreign service identical to the desired one: adopted with zero writes',
    desired: [vip(A, 80, [be('10.0.0.1')])],
    actual: [svc(A, 80, [{ ip: '10.0.0.1' }])],
    ops: [],
    events: ['adopted'],
    claim: [K],
  },
  {
    name: 'IPv6 VIP with an IPv6 backend',
    desired: [vip('fd01:c::1', 80, [be('fd00::7', 80)])],
    actual: [],
    ops: ['add service TCP [fd01:c::1]:80 s=wlc', 'add destination [fd00::7]:80 to TCP [fd01:c::1]:80 w=1'],
  },
];

for (const c of cases) {
  test(`plan: ${c.name}`, () => {
    const d = drains(c.drains);
    const p = plan(c.desired, c.actual, {
      owned: owned(...(c.owned ?? [])),
      drains: d,
      now: c.now ?? NOW,
      config: { ...DEFAULT_PLAN_CONFIG, ...c.config },
    });
    assert.deepEqual(p.ops.map(op), c.ops);
    assert.equal(p.opKeys.length, p.ops.length);
    if (c.ops.length === 0 && !c.claim?.length && !c.drainAfter && c.deadline === undefined) assert.deepEqual(p.groups, []);
    if (c.events) assert.deepEqual(p.groups.flatMap((g) => g.events).map(ev), c.events);
    if (c.claim) assert.deepEqual(p.groups.filter((g) => g.claim).map((g) => g.key), c.claim);
    assert.deepEqual(p.groups.filter((g) => g.remove).map((g) => g.key), c.remove ?? []);
    assert.deepEqual(p.foreign, c.foreign ?? []);
    if (c.drainAfter) {
      d.apply(p.groups.flatMap((g) => g.drainUpdates));
      for (const [v, dest, at] of c.drainAfter) assert.equal(d.startedAt(v, dest), at, `drain start of ${dest}`);
    }
    if (c.deadline !== undefined) assert.equal(p.groups.find((g) => g.key === K)?.drainDeadline, c.deadline);
  });
}

test('plan: ops of several VIPs are grouped, and opKeys map each op to its VIP', () => {
  const p = plan(
    [vip('11.0.0.2', 80, [be('10.0.0.1')]), vip(A, 80, [be('10.0.0.1')])],
    [svc('11.0.0.3', 80, [])],
    { owned: owned('tcp/11.0.0.3:80'), drains: new DrainState(), now: NOW, config: DEFAULT_PLAN_CONFIG },
  );
  assert.deepEqual(p.groups.map((g) => g.key), ['tcp/11.0.0.1:80', 'tcp/11.0.0.2:80', 'tcp/11.0.0.3:80']);
  assert.deepEqual(p.opKeys, ['tcp/11.0.0.1:80', 'tcp/11.0.0.1:80', 'tcp/11.0.0.2:80', 'tcp/11.0.0.2:80', 'tcp/11.0.0.3:80']);
  for (let i = 0; i < p.ops.length; i++) assert.ok(p.groups.find((g) => g.key === p.opKeys[i])!.ops.includes(p.ops[i]!));
});

test('plan: a table of 1,000 VIPs in sync plans nothing; one changed backend plans one op', () => {
  const desired: Vip[] = [];
  const actual: ServiceWithDestinations[] = [];
  for (let i = 0; i < 1000; i++) {
    const addr = `11.0.${i >> 8}.${i & 255}`;
    desired.push(vip(addr, 80, [be('10.1.0.1'), be('10.1.0.2')]));
    actual.push(svc(addr, 80, [{ ip: '10.1.0.1' }, { ip: '10.1.0.2' }]));
  }
  const ctx = { owned: { isOwned: () => true }, drains: new DrainState(), now: NOW, config: DEFAULT_PLAN_CONFIG };
  assert.equal(plan(desired, actual, ctx).ops.length, 0);
  desired[500] = vip(desired[500]!.address, 80, [be('10.1.0.1'), be('10.1.0.2', 8080, 0)]);
  assert.deepEqual(plan(desired, actual, ctx).ops.map(op), ['edit destination 10.1.0.2:8080 of TCP 11.0.1.244:80 w=0']);
});
