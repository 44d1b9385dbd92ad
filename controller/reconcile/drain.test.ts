import { test } from 'node:test';
import assert from 'node:assert/strict';

import { decideUndesired, DrainState } from './drain.js';

const T = 60_000;

test('decideUndesired: the drain rule, case by case', () => {
  const rows: Array<[string, Parameters<typeof decideUndesired>[0], number, unknown]> = [
    ['udp: at once, even with connections', { protocol: 'udp', activeConnections: 0, inactiveConnections: 5, startedAt: undefined }, 0, { action: 'delete', reason: 'datagram', startedAt: 0 }],
    ['sctp: at once (as kube-proxy)', { protocol: 'sctp', activeConnections: 3, inactiveConnections: 0, startedAt: undefined }, 0, { action: 'delete', reason: 'datagram', startedAt: 0 }],
    ['tcp idle: at once', { protocol: 'tcp', activeConnections: 0, inactiveConnections: 0, startedAt: undefined }, 0, { action: 'delete', reason: 'idle', startedAt: 0 }],
    ['tcp busy, first seen: drain from now', { protocol: 'tcp', activeConnections: 1, inactiveConnections: 0, startedAt: undefined }, 100, { action: 'drain', startedAt: 100, deadline: 100 + T }],
    ['tcp busy, inactive only: still drains', { protocol: 'tcp', activeConnections: 0, inactiveConnections: 2, startedAt: 50 }, 100, { action: 'drain', startedAt: 50, deadline: 50 + T }],
    ['tcp busy, just before the timeout', { protocol: 'tcp', activeConnections: 1, inactiveConnections: 0, startedAt: 0 }, T - 1, { action: 'drain', startedAt: 0, deadline: T }],
    ['tcp busy, at the timeout: deleted', { protocol: 'tcp', activeConnections: 1, inactiveConnections: 0, startedAt: 0 }, T, { action: 'delete', reason: 'timeout', startedAt: 0 }],
  ];
  for (const [name, d, now, want] of rows) assert.deepEqual(decideUndesired(d, now, T), want, name);
});

test('DrainState: set, clear, forget a VIP, count', () => {
  const s = new DrainState();
  s.apply([{ vip: 'a', dest: 'x', startedAt: 1 }, { vip: 'a', dest: 'y', startedAt: 2 }, { vip: 'b', dest: 'x', startedAt: 3 }]);
  assert.equal(s.size, 3);
  assert.equal(s.startedAt('a', 'y'), 2);
  assert.deepEqual([...s.entries('a')], [['x', 1], ['y', 2]]);
  s.apply([{ vip: 'a', dest: 'x' }]);
  assert.equal(s.startedAt('a', 'x'), undefined);
  s.forgetVip('b');
  assert.equal(s.size, 1);
  assert.deepEqual([...s.entries('b')], []);
});
