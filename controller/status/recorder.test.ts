import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metrics } from '../metrics/index.js';
import type { Vip } from '../model/index.js';
import type { PassResult, PlanEvent } from '../reconcile/index.js';
import { aggregateEvents, describeEvent, LISTED_DESTINATIONS, StatusRecorder } from './recorder.js';

const VIP = 'tcp/11.0.0.1:80';
const added = (destination: string, weight = 1, vip = VIP): PlanEvent => ({ kind: 'added', vip, destination, weight });

describe('aggregateEvents', () => {
  it('one event per VIP and kind of change, listing its backends', () => {
    const out = aggregateEvents([
      { kind: 'service-added', vip: VIP, scheduler: 'wlc' },
      added('10.0.0.1:80'),
      added('10.0.0.2:80'),
      added('10.0.0.3:80', 0),
      added('10.0.0.9:80', 1, 'tcp/11.0.0.2:80'),
    ], () => false);
    assert.deepEqual(out, [
      { vip: VIP, reason: 'Added', message: 'IPVS service created (scheduler wlc)' },
      { vip: VIP, reason: 'Added', message: 'backends 10.0.0.1:80, 10.0.0.2:80 added with weight 1' },
      { vip: VIP, reason: 'Added', message: 'backend 10.0.0.3:80 added with weight 0' },
      { vip: 'tcp/11.0.0.2:80', reason: 'Added', message: 'backend 10.0.0.9:80 added with weight 1' },
    ]);
  });

  it(`names at most ${LISTED_DESTINATIONS} backends, then counts the rest`, () => {
    const events = Array.from({ length: 12 }, (_, i) => added(`10.0.0.${i + 1}:80`));
    const [e] = aggregateEvents(events, () => false);
    assert.equal(e?.message, 'backends 10.0.0.1:80, 10.0.0.2:80, 10.0.0.3:80, 10.0.0.4:80, 10.0.0.5:80 and 7 more added with weight 1');
  });

  it('keeps repairs apart from changes a source asked for, and different details apart', () => {
    const events: PlanEvent[] = [
      added('10.0.0.1:80'),
      added('10.0.0.2:80'),
      { kind: 'deleted', vip: VIP, destination: '10.0.0.3:80', reason: 'idle' },
      { kind: 'deleted', vip: VIP, destination: '10.0.0.4:80', reason: 'timeout' },
    ];
    const out = aggregateEvents(events, (e) => 'destination' in e && e.destination === '10.0.0.2:80');
    assert.deepEqual(out.map((e) => `${e.reason}: ${e.message}`), [
      'Added: backend 10.0.0.1:80 added with weight 1',
      'Repaired: backend 10.0.0.2:80 added with weight 1 (the kernel had drifted)',
      'Removed: backend 10.0.0.3:80 deleted (no connections left)',
      'Removed: backend 10.0.0.4:80 deleted (drain timeout)',
    ]);
  });
});

// The definition, rendering every event's template: aggregateEvents must agree with it.
function aggregateByTemplate(events: readonly PlanEvent[], repair: (e: PlanEvent) => boolean): Array<{ vip: string; reason: string; message: string }> {
  const groups = new Map<string, { first: PlanEvent; repair: boolean; destinations: string[] }>();
  for (const e of events) {
    const r = repair(e);
    const key = `${e.vip}\u0000${r}\u0000${describeEvent(e, r, '\u0000').message}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { first: e, repair: r, destinations: 'destination' in e ? [e.destination] : [] });
    else if ('destination' in e) g.destinations.push(e.destination);
  }
  return [...groups.values()].map((g) => {
    const n = g.destinations.length;
    const listed = n <= 1 ? undefined
      : `backends ${g.destinations.slice(0, LISTED_DESTINATIONS).join(', ')}${n > LISTED_DESTINATIONS ? ` and ${n - LISTED_DESTINATIONS} more` : ''}`;
    return { vip: g.first.vip, ...describeEvent(g.first, g.repair, listed) };
  });
}

describe('aggregateEvents against its definition', () => {
  it('agrees on 300 random event lists (runs, interleaved VIPs, repairs, near-equal fields)', () => {
    let seed = 7;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    const vips = ['tcp/11.0.0.1:80', 'tcp/11.0.0.2:80', 'udp/11.0.0.1:53'];
    const one = (): PlanEvent => {
      const vip = vips[rnd(vips.length)]!;
      const destination = `10.0.0.${rnd(6)}:80`;
      switch (rnd(8)) {
        case 0: return { kind: 'service-added', vip, scheduler: rnd(2) ? 'wlc' : 'rr' };
        case 1: return { kind: 'adopted', vip };
        case 2: return { kind: 'weight-changed', vip, destination, weight: rnd(2), was: rnd(2) };
        case 3: return { kind: 'weight-restored', vip, destination, weight: 1, drainedMs: rnd(3) * 400 }; // 0 and 400 ms render alike
        case 4: return { kind: 'drained', vip, destination, connections: rnd(3) };
        case 5: return { kind: 'deleted', vip, destination, reason: rnd(2) ? 'idle' : 'datagram' };
        default: return { kind: 'added', vip, destination, weight: rnd(2) };
      }
    };
    for (let round = 0; round < 300; round++) {
      const events: PlanEvent[] = [];
      const len = rnd(40);
      while (events.length < len) {
        const e = one();
        for (let k = rnd(4); k >= 0; k--) events.push('destination' in e ? { ...e, destination: `10.0.${k}.${rnd(9)}:80` } : e);
      }
      const repairSeed = rnd(1000);
      const repair = (e: PlanEvent): boolean => ('destination' in e ? e.destination.length : e.vip.length) % 3 === repairSeed % 3;
      assert.deepEqual(aggregateEvents(events, repair), aggregateByTemplate(events, repair), `round ${round}`);
    }
  });
});

describe('StatusRecorder events', () => {
  const vip: Vip = {
    key: VIP, protocol: 'tcp', address: '11.0.0.1', family: 4, port: 80, kind: 'named', names: ['a.marathon.l4lb.thisdcos.directory'],
    labels: ['/a:80'], sources: ['mesos'], backends: [],
  };
  const recorder = (): StatusRecorder => new StatusRecorder({
    version: 't', startedAt: new Date(), scheduler: 'wlc', resyncIntervalMs: 30_000,
    vips: () => [vip], rejected: () => [], sources: () => [], synced: () => true, isForwarding: () => true,
    drains: () => [], kernel: () => undefined, serviceKey: () => ({ protocol: 'tcp', address: '11.0.0.1', port: 80, family: 4 }) as never, dns: () => undefined,
  }, new Metrics({ sources: () => [], rejectedLabels: () => 0, ready: () => true }, { version: 't' }));
  const pass = (trigger: PassResult['trigger'], events: PlanEvent[]): PassResult => ({
    trigger, full: trigger !== 'change', startedAt: performance.now(), durationMs: 1, wallMs: 1, chunks: 1, maxChunkMs: 1, keys: 1,
    ops: { 'add-service': 0, 'edit-service': 0, 'delete-service': 0, 'add-destination': events.length, 'edit-destination': 0, 'delete-destination': 0 },
    opsTotal: events.length, failedOps: 0, vips: 1, backends: 0, draining: 0, foreign: 0, events, errors: [], failedVips: [],
  });

  it('a startup pass of 10 backends is one event for them; a resync re-adding one counts one repair', () => {
    const r = recorder();
    r.pass(pass('startup', Array.from({ length: 10 }, (_, i) => added(`10.0.0.${i + 1}:80`))));
    const events = r.vipDetails(VIP)[0]?.events ?? [];
    assert.equal(events.length, 1);
    assert.match(events[0]?.message ?? '', /^backends 10\.0\.0\.1:80, .* and 5 more added with weight 1$/);
    r.pass(pass('resync', [added('10.0.0.1:80'), added('10.0.0.2:80')]));
    assert.equal(r.status().reconcile.driftRepairs, 2, 'repairs count operations, not events');
    const after = r.vipDetails(VIP)[0]?.events ?? [];
    assert.equal(after.length, 2);
    assert.equal(after[1]?.reason, 'Repaired');
  });
});
