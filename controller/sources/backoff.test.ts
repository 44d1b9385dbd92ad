import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backoff } from './backoff.js';
import { FakeTimers } from './fake-timers.js';
import { Watchdog } from './watch.js';

describe('Backoff', () => {
  it('doubles from 0.5 s to a 30 s cap without jitter', () => {
    const b = new Backoff({ random: () => 0 });
    assert.deepEqual(Array.from({ length: 9 }, () => b.next()), [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    assert.equal(b.attempts, 9);
  });

  it('draws each delay in [d * (1 - jitter), d]', () => {
    const lo = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0.999999 });
    const hi = new Backoff({ initialMs: 1000, jitter: 0.5, random: () => 0 });
    assert.equal(lo.next(), 500);
    assert.equal(hi.next(), 1000);
    const real = new Backoff({ initialMs: 1000 });
    for (let i = 0; i < 100; i++) {
      const d = real.next();
      real.reset();
      assert.ok(d >= 500 && d <= 1000, String(d));
    }
  });

  it('starts over after reset, and never goes below the initial delay as cap', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 50, random: () => 0 });
    assert.deepEqual([b.next(), b.next()], [100, 100]);
    b.reset();
    assert.equal(b.attempts, 0);
  });
});

describe('Watchdog', () => {
  it('fires after the timeout without kicks, not before, and re-arms lazily on kicks', () => {
    const clock = new FakeTimers();
    const fired: number[] = [];
    const w = new Watchdog(clock, (silent) => fired.push(silent));
    w.arm(1000);
    clock.advance(900);
    w.kick();
    clock.advance(900);
    assert.deepEqual(fired, []);
    assert.equal(clock.size, 1, 'one timer, however many kicks');
    clock.advance(100);
    assert.deepEqual(fired, [1000]);
    w.stop();
    assert.equal(clock.size, 0);
  });
});

describe('FakeTimers', () => {
  it('fires due timers in time order, including those they set, and can cancel', () => {
    const clock = new FakeTimers();
    const log: string[] = [];
    clock.setTimeout(() => log.push(`b@${clock.now()}`), 20);
    clock.setTimeout(() => {
      log.push(`a@${clock.now()}`);
      clock.setTimeout(() => log.push(`c@${clock.now()}`), 5);
    }, 10);
    const d = clock.setTimeout(() => log.push('d'), 15);
    clock.clearTimeout(d);
    assert.equal(clock.nextIn(), 10);
    clock.advance(30);
    assert.deepEqual(log, ['a@10', 'c@15', 'b@20']);
    assert.equal(clock.now(), 30);
  });
});
