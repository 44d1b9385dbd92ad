import { test } from 'node:test';
import assert from 'node:assert/strict';

import { WorkQueue } from './queue.js';

function q() {
  let t = 0;
  const queue = new WorkQueue(() => t, { baseMs: 1000, maxMs: 300_000 });
  return { queue, at: (ms: number) => (t = ms) };
}

test('queue: a key is queued once however often it is added', () => {
  const { queue } = q();
  for (let i = 0; i < 1000; i++) queue.add(`k${i % 10}`);
  assert.equal(queue.size, 10);
  assert.deepEqual([...queue.takeReady().keys()].sort(), Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
  assert.equal(queue.size, 0);
});

test('queue: per-key exponential backoff 1 s -> 5 min, reset by forget', () => {
  const { queue, at } = q();
  const delays: number[] = [];
  for (let i = 0; i < 12; i++) delays.push(queue.addRateLimited('bad'));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000, 300000]);
  assert.equal(queue.failures('bad'), 12);
  assert.ok(queue.backingOff('bad'));
  assert.equal(queue.takeReady().size, 0);
  at(300_000);
  assert.deepEqual([...queue.takeReady()], [['bad', 'retry']]);
  queue.forget('bad');
  assert.equal(queue.addRateLimited('bad'), 1000);
});

test('queue: a failing key does not delay the others', () => {
  const { queue } = q();
  queue.addRateLimited('bad');
  queue.add('good');
  assert.deepEqual([...queue.takeReady().keys()], ['good']);
  assert.equal(queue.nextReadyAt(), 1000);
});

test('queue: add during backoff makes the key ready now (a new desired state), keeping the count', () => {
  const { queue } = q();
  queue.addRateLimited('k');
  queue.addRateLimited('k');
  queue.add('k');
  assert.deepEqual([...queue.takeReady()], [['k', 'change']]);
  assert.equal(queue.addRateLimited('k'), 4000);
});

test('queue: addAfter keeps the sooner time', () => {
  const { queue, at } = q();
  queue.addAfter('d', 5000);
  queue.addAfter('d', 9000);
  assert.equal(queue.nextReadyAt(), 5000);
  queue.add('d');
  assert.equal(queue.nextReadyAt(), 0);
  at(0);
  assert.deepEqual([...queue.takeReady()], [['d', 'change']]);
});

test('queue: addMany is add for each key, with one clock read for the lot', () => {
  let t = 0;
  let reads = 0;
  const many = new WorkQueue(() => (reads++, t));
  const one = new WorkQueue(() => t);
  t = 5000;
  one.addRateLimited('backing-off'); // ready at 6000: a plain add makes it ready now, as in add()
  many.addRateLimited('backing-off');
  reads = 0;
  const keys = ['a', 'b', 'a', 'backing-off', ...Array.from({ length: 500 }, (_, i) => `k${i}`)];
  many.addMany(keys);
  for (const k of keys) one.add(k);
  assert.equal(reads, 1);
  assert.equal(many.size, one.size);
  assert.deepEqual([...many.takeReady()], [...one.takeReady()]);
  assert.equal(many.failures('backing-off'), 1, 'the failure count is kept, as add keeps it');
});
