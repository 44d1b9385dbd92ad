import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeTimers } from './fake-timers.js';
import { createDnsResolver, staticResolver } from './resolver.js';

describe('agent resolver', () => {
  it('answers IPv4 literals without a lookup; IPv6 literals have no IPv4', async () => {
    const r = createDnsResolver({ lookup: () => assert.fail('no lookup for literals') });
    assert.equal(r.peek('10.0.0.1'), '10.0.0.1');
    assert.equal(await r.resolve('10.0.0.1'), '10.0.0.1');
    assert.equal(r.peek('fd00::1'), null);
    assert.equal(await r.resolve('fd00::1'), undefined);
  });

  it('looks a name up once, caches it, and shares a lookup in flight', async () => {
    let calls = 0;
    const r = createDnsResolver({ lookup: async () => (calls++, '10.1.1.1') });
    assert.equal(r.peek('agent-1'), undefined, 'unknown before the lookup');
    const [a, b] = await Promise.all([r.resolve('agent-1'), r.resolve('agent-1')]);
    assert.deepEqual([a, b, r.peek('agent-1'), calls], ['10.1.1.1', '10.1.1.1', '10.1.1.1', 1]);
    await r.resolve('agent-1');
    assert.equal(calls, 1);
  });

  it('caches failures for a shorter time, then asks again', async () => {
    const clock = new FakeTimers();
    let answer: string | undefined;
    let calls = 0;
    const r = createDnsResolver({ lookup: async () => (calls++, answer), timers: clock, negativeTtlMs: 1000, ttlMs: 60_000 });
    assert.equal(await r.resolve('agent-2'), undefined);
    assert.equal(r.peek('agent-2'), null, 'a cached failure');
    assert.equal(await r.resolve('agent-2'), undefined);
    assert.equal(calls, 1);
    clock.advance(1001);
    answer = '10.2.2.2';
    assert.equal(await r.resolve('agent-2'), '10.2.2.2');
    assert.equal(calls, 2);
  });

  it('turns lookup errors and non-IPv4 answers into "no address"', async () => {
    const r = createDnsResolver({ lookup: async (h) => (h === 'bad' ? Promise.reject(new Error('ENOTFOUND')) : 'not-an-ip') });
    assert.equal(await r.resolve('bad'), undefined);
    assert.equal(await r.resolve('weird'), undefined);
  });

  it('a stale answer stays usable for peek until it is refreshed', async () => {
    const clock = new FakeTimers();
    const r = createDnsResolver({ lookup: async () => '10.3.3.3', timers: clock, ttlMs: 1000 });
    await r.resolve('agent-3');
    clock.advance(5000);
    assert.equal(r.peek('agent-3'), '10.3.3.3');
  });

  it('static resolver: a table plus IPv4 literals', async () => {
    const r = staticResolver({ 'agent-1.example': '10.0.0.9' });
    assert.equal(r.peek('agent-1.example'), '10.0.0.9');
    assert.equal(r.peek('10.0.0.1'), '10.0.0.1');
    assert.equal(r.peek('unknown'), null);
    assert.equal(await r.resolve('unknown'), undefined);
  });
});
