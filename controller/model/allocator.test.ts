import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { Allocator } from './allocator.js';
import { homeOffset } from './hash.js';

// The canonical rule, computed from scratch: names in sorted order, each at
// its hash offset, probing +1 past taken and reserved offsets.
function bruteForce(size: bigint, hash: (n: string) => bigint, names: Set<string>, reserved: Set<bigint>) {
  const taken = new Set<bigint>(reserved);
  const at = new Map<string, bigint>();
  const unallocated: string[] = [];
  for (const n of [...names].sort()) {
    let s = hash(n);
    let placed = false;
    for (let i = 0n; i < size; i++) {
      if (!taken.has(s)) {
        taken.add(s);
        at.set(n, s);
        placed = true;
        break;
      }
      s = (s + 1n) % size;
    }
    if (!placed) unallocated.push(n);
  }
  return { at, unallocated };
}

function assertCanonical(a: Allocator, size: bigint, hash: (n: string) => bigint, names: Set<string>, reserved: Set<bigint>, step: string) {
  const want = bruteForce(size, hash, names, reserved);
  for (const n of names) assert.equal(a.offsetOf(n), want.at.get(n), `${step}: ${n}`);
  assert.deepEqual(a.unallocated(), want.unallocated, `${step}: unallocated`);
}

describe('Allocator', () => {
  it('puts a lone name at its hash offset', () => {
    const a = new Allocator(100n, () => 42n);
    assert.deepEqual(a.update({ addNames: ['x'] }), [{ name: 'x', after: 42n }]);
    assert.equal(a.offsetOf('x'), 42n);
  });

  it('resolves a collision by name order, whatever the arrival order', () => {
    const hash = () => 7n;
    const a = new Allocator(10n, hash);
    a.update({ addNames: ['b'] });
    const moved = a.update({ addNames: ['a'] });
    assert.equal(a.offsetOf('a'), 7n);
    assert.equal(a.offsetOf('b'), 8n);
    assert.deepEqual(moved, [{ name: 'a', after: 7n }, { name: 'b', before: 7n, after: 8n }]);
    const c = new Allocator(10n, hash);
    c.update({ addNames: ['a', 'b'] });
    assert.equal(c.offsetOf('a'), 7n);
    assert.equal(c.offsetOf('b'), 8n);
  });

  it('wraps from the last offset to the first', () => {
    const a = new Allocator(4n, () => 3n);
    a.update({ addNames: ['a', 'b'] });
    assert.equal(a.offsetOf('b'), 0n);
  });

  it('never places a name on a reserved offset, and moves it off one', () => {
    const a = new Allocator(10n, () => 5n);
    a.update({ addNames: ['a'] });
    assert.deepEqual(a.update({ reserve: [5n] }), [{ name: 'a', before: 5n, after: 6n }]);
    a.update({ reserve: [5n] }); // reference counted
    a.update({ unreserve: [5n] });
    assert.equal(a.offsetOf('a'), 6n);
    a.update({ unreserve: [5n] });
    assert.equal(a.offsetOf('a'), 5n);
  });

  it('reports names that find no free offset, and places them once one frees', () => {
    const a = new Allocator(2n, () => 0n);
    a.update({ addNames: ['a', 'b', 'c'] });
    assert.deepEqual(a.unallocated(), ['c']);
    a.update({ removeNames: ['a'] });
    assert.deepEqual(a.unallocated(), []);
    assert.equal(a.offsetOf('b'), 0n);
    assert.equal(a.offsetOf('c'), 1n);
  });

  it('equals the from-scratch canonical layout after every random change (dense pools)', () => {
    for (let round = 0; round < 60; round++) {
      const size = BigInt(3 + randomInt(14));
      const hash = (n: string) => BigInt(n.charCodeAt(0) * 7 + n.length) % size;
      const a = new Allocator(size, hash);
      const names = new Set<string>();
      const reserved = new Map<bigint, number>();
      const universe = Array.from({ length: 24 }, (_, i) => String.fromCharCode(97 + (i % 8)).repeat(1 + Math.floor(i / 8)));
      for (let step = 0; step < 80; step++) {
        const op = randomInt(4);
        const batch: Parameters<Allocator['update']>[0] = {};
        if (op === 0 || op === 1) {
          const add = universe.filter(() => randomInt(6) === 0);
          const remove = [...names].filter(() => randomInt(4) === 0);
          batch.addNames = add;
          batch.removeNames = remove;
          for (const n of remove) names.delete(n);
          for (const n of add) names.add(n);
        } else if (op === 2) {
          const r = BigInt(randomInt(Number(size)));
          batch.reserve = [r];
          reserved.set(r, (reserved.get(r) ?? 0) + 1);
        } else {
          const held = [...reserved.keys()];
          if (held.length === 0) continue;
          const r = held[randomInt(held.length)] as bigint;
          batch.unreserve = [r];
          const c = (reserved.get(r) ?? 0) - 1;
          if (c === 0) reserved.delete(r);
          else reserved.set(r, c);
        }
        a.update(batch);
        assertCanonical(a, size, hash, names, new Set(reserved.keys()), `round ${round} step ${step}`);
      }
    }
  });

  it('re-places O(1) names per change in a sparse pool of 10,000', () => {
    const size = 0xffffffn;
    const hash = (n: string) => homeOffset({ family: 4, size }, n);
    const a = new Allocator(size, hash);
    a.update({ addNames: Array.from({ length: 10_000 }, (_, i) => `app-${i}.marathon`) });
    const before = a.placements;
    a.update({ addNames: ['one-more.marathon'] });
    a.update({ removeNames: ['app-17.marathon'] });
    a.update({ reserve: [a.offsetOf('app-18.marathon') as bigint] });
    assert.ok(a.placements - before <= 6, `placed ${a.placements - before}`);
  });
});
