import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FileOwnershipStore, MemoryOwnershipStore, Ownership } from './ownership.js';

function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'l4lb-own-'));
  return d;
}

test('file record: claim writes before returning, release prunes, a new process reads it back', () => {
  const d = dir();
  try {
    const path = join(d, 'sub', 'owned.json');
    const a = Ownership.load(new FileOwnershipStore({ path, identity: 'boot1/ns1' }));
    assert.equal(a.size, 0);
    a.claim(['tcp/11.0.0.1:80', 'udp/[fd01:c::1]:53']);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { version: 1, identity: 'boot1/ns1', services: ['tcp/11.0.0.1:80', 'udp/[fd01:c::1]:53'] });
    a.release(['tcp/11.0.0.1:80']);
    const b = Ownership.load(new FileOwnershipStore({ path, identity: 'boot1/ns1' }));
    assert.deepEqual(b.keys(), ['udp/[fd01:c::1]:53']);
    assert.ok(b.isOwned('udp/[fd01:c::1]:53'));
    assert.equal(b.problem, undefined);
    // No temp files left behind.
    assert.deepEqual(readdirSync(join(d, 'sub')), ['owned.json']);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('file record from another boot or netns is ignored (that kernel table is gone)', () => {
  const d = dir();
  try {
    const path = join(d, 'owned.json');
    Ownership.load(new FileOwnershipStore({ path, identity: 'boot1/ns1' })).claim(['tcp/11.0.0.1:80']);
    const b = Ownership.load(new FileOwnershipStore({ path, identity: 'boot2/ns1' }));
    assert.equal(b.size, 0);
    assert.match(b.ignored ?? '', /boot1\/ns1.*boot2\/ns1/);
    assert.equal(b.problem, undefined);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('corrupt record: clear error, owns nothing, copy kept, the next claim rewrites it', () => {
  const d = dir();
  try {
    const path = join(d, 'owned.json');
    for (const bad of ['{not json', '{"version":2,"identity":"x","services":[]}', '{"version":1,"identity":"i","services":["bogus"]}']) {
      writeFileSync(path, bad);
      const o = Ownership.load(new FileOwnershipStore({ path, identity: 'i' }));
      assert.equal(o.problem?.code, 'ERR_OWNERSHIP_RECORD');
      assert.match(o.problem!.message, /owned\.json is corrupt .*kept a copy as .*owned\.json\.corrupt/);
      assert.equal(o.size, 0);
      assert.ok(o.degraded);
      assert.equal(readFileSync(`${path}.corrupt`, 'utf8'), bad);
      o.claim(['tcp/11.0.0.1:80']);
      assert.ok(!o.degraded);
      assert.deepEqual(Ownership.load(new FileOwnershipStore({ path, identity: 'i' })).keys(), ['tcp/11.0.0.1:80']);
    }
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('unwritable record: claim throws ERR_OWNERSHIP_WRITE and owns nothing new', () => {
  const d = dir();
  try {
    writeFileSync(join(d, 'file'), 'x');
    const o = Ownership.load(new FileOwnershipStore({ path: join(d, 'file', 'owned.json'), identity: 'i' }));
    assert.throws(() => o.claim(['tcp/11.0.0.1:80']), (e: Error & { code?: string }) => e.code === 'ERR_OWNERSHIP_WRITE' && /cannot write the ownership record/.test(e.message));
    assert.equal(o.isOwned('tcp/11.0.0.1:80'), false);
    assert.ok(!existsSync(join(d, 'file', 'owned.json')));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('memory store: claim/release are no-ops when nothing changes (no write)', () => {
  const s = new MemoryOwnershipStore(['tcp/11.0.0.1:80']);
  const o = Ownership.load(s);
  o.claim(['tcp/11.0.0.1:80']);
  o.release(['tcp/11.0.0.9:80']);
  assert.equal(s.saves, 0);
  s.failSave = true;
  assert.throws(() => o.release(['tcp/11.0.0.1:80']), /cannot write/);
  assert.ok(o.isOwned('tcp/11.0.0.1:80'));
});
