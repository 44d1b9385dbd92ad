import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { domainFrag, fqdnOf, hashName, toName } from './naming.js';

describe('domainFrag (mesos_state:domain_frag/1)', () => {
  // mesos_state's own remap_test/0 cases, through domain_frag (no dots in them).
  const remap: Array<[string, string]> = [
    ['fd%gsf---gs7-f$gs--d7fddg-123', 'fdgsf---gs7-fgs--d7fddg-123'],
    ['4abc123', '4abc123'],
    ['89fdgsf---gs7-fgs--d7fddg-123', '89fdgsf---gs7-fgs--d7fddg-123'],
    ['##fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789-', 'fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789'],
    ['fd%gsf---gs7-f$gs--d7fddg123456789012345678901234567890123456789-123', 'fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891'],
    ['89fdgsf---gs7-fgs--d7fddg---123', '89fdgsf---gs7-fgs--d7fddg---123'],
    ['%%fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789---123', 'fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891'],
    ['-4abc123', '4abc123'],
    ['$$fdgsf---gs7-fgs--d7fddg123456789012345678901234567890123456789-123', 'fdgsf---gs7-fgs--d7fddg1234567890123456789012345678901234567891'],
    ['89fdgsf---gs7-fgs--d7fddg-', '89fdgsf---gs7-fgs--d7fddg'],
    ['0-0', '0-0'],
  ];
  for (const [input, out] of remap) {
    it(`${input} -> ${out}`, () => assert.equal(domainFrag(input), out));
  }

  it('follows the reference examples', () => {
    assert.equal(domainFrag('/myapp'), 'myapp');
    assert.equal(domainFrag('/group/app'), 'groupapp');
    assert.equal(domainFrag('/api.hello-world'), 'api.hello-world');
    assert.equal(domainFrag('My_App'), 'my-app');
  });

  it('keeps dots as label separators, drops empty pieces, keeps pieces that mangle to nothing', () => {
    assert.equal(domainFrag('a..b.'), 'a.b');
    assert.equal(domainFrag('a.%%.b'), 'a..b');
    assert.equal(domainFrag('...'), '');
  });

  it('lower-cases ASCII only and drops every non-ASCII byte', () => {
    assert.equal(domainFrag('ÄpfelİX'), 'pfelx');
    assert.equal(domainFrag('über-app'), 'ber-app');
  });

  it('caps labels at 63 characters', () => {
    assert.equal(domainFrag('a'.repeat(100)), 'a'.repeat(63));
    assert.equal(domainFrag(`${'a'.repeat(62)}-_-b`), `${'a'.repeat(62)}b`);
    assert.equal(domainFrag(`${'a'.repeat(62)}-`), 'a'.repeat(62));
  });
});

describe('names', () => {
  it('joins mangled parts', () => {
    assert.equal(toName(['/myapp', 'marathon', 'l4lb', 'thisdcos', 'directory']), 'myapp.marathon.l4lb.thisdcos.directory');
    assert.equal(hashName('/api.hello-world', 'marathon'), 'api.hello-world.marathon');
    assert.equal(hashName('broker', '/kafka'), 'broker.kafka');
    assert.equal(fqdnOf(hashName('/my-service', 'marathon')), 'my-service.marathon.l4lb.thisdcos.directory');
  });
});
