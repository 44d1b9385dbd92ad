import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelError } from './errors.js';
import { homeOffset, phash2, phash2String, sha1Mod } from './hash.js';
import { formatIp } from './ip.js';
import { hashName } from './naming.js';
import { resolveOptions } from './options.js';

// Reference vectors (shared/reference/dcos-vips.md §3), computed with erl (OTP 25).
const DCOS_POOL = resolveOptions().ipv4; // 11.0.0.0 - 11.255.255.255
const CODE_DEFAULT_POOL = resolveOptions({ ipv4Max: '11.255.255.254' }).ipv4;
const homeV4 = (name: string, pool = DCOS_POOL): string => formatIp(4, pool.min + homeOffset(pool, name));

describe('phash2', () => {
  it('matches erlang:phash2/1 on the documented check value', () => {
    assert.equal(phash2String('Scott9'), 38990304);
  });

  it('hashes the empty binary to the initval (27 bits)', () => {
    assert.equal(phash2(new Uint8Array()), 0x08d12e65 & ((1 << 27) - 1));
    assert.equal(phash2(new Uint8Array(), 2 ** 32), 0x08d12e65);
  });

  it('accepts ranges 1..2^32 like Erlang and throws a coded error otherwise', () => {
    assert.equal(phash2String('anything', 1), 0);
    assert.ok(phash2String('anything', 2 ** 32) >= 0);
    for (const bad of [0, -1, 2 ** 32 + 1, 1.5, Number.NaN]) {
      assert.throws(() => phash2String('x', bad), (e: unknown) => e instanceof ModelError && e.code === 'MODEL_BAD_RANGE');
    }
  });

  it('hashes the UTF-8 bytes of a string', () => {
    assert.equal(phash2String('é'), phash2(new Uint8Array([0xc3, 0xa9])));
  });

  it('covers every tail length 0..11 past a 12-byte block', () => {
    const seen = new Set<number>();
    for (let n = 0; n <= 24; n++) seen.add(phash2(new Uint8Array(n).fill(0xff), 2 ** 32));
    assert.equal(seen.size, 25);
  });
});

describe('named VIP addresses (DC/OS vectors)', () => {
  const vectors: Array<[string, string]> = [
    ['myapp.marathon', '11.215.13.222'],
    ['acme.marathon', '11.9.179.74'],
    ['broker.kafka', '11.175.100.139'],
    ['my-service.marathon', '11.134.216.93'],
    ['web.marathon', '11.225.36.193'],
  ];
  for (const [name, ip] of vectors) {
    it(`${name} -> ${ip} over DC/OS's 11.0.0.0-11.255.255.255`, () => assert.equal(homeV4(name), ip));
  }

  it('myapp.marathon -> 11.215.14.108 with dcos-net\'s code default max 11.255.255.254', () => {
    assert.equal(homeV4('myapp.marathon', CODE_DEFAULT_POOL), '11.215.14.108');
  });

  it('hashes label forms through domain_frag (/myapp, My_App)', () => {
    assert.equal(hashName('/myapp', 'marathon'), 'myapp.marathon');
    assert.equal(homeV4(hashName('/myapp', 'marathon')), '11.215.13.222');
    assert.equal(homeV4(hashName('/my-service', 'marathon')), '11.134.216.93');
    assert.equal(hashName('broker', 'kafka'), 'broker.kafka');
    assert.equal(hashName('My_App', 'marathon'), 'my-app.marathon');
  });

  it('IPv6: fd01:c:: + SHA-1(name) mod (max - min)', () => {
    const pool = resolveOptions().ipv6;
    assert.equal(formatIp(6, pool.min + homeOffset(pool, 'myapp.marathon')), 'fd01:c::621e:db48:bbc5:ef03');
    assert.equal(sha1Mod('abc', 2n ** 160n), 0xa9993e364706816aba3e25717850c26c9cd0d89dn);
  });
});
