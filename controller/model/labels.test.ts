import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIp, hostPort, parseIp } from './ip.js';
import {
  isVipLabelKey, parseLegacyLabel, parseNetworkScope, parsePort, parseProtocols, parseVipValue,
} from './labels.js';

const code = (r: { ok: boolean; code?: string }): string | undefined => (r.ok ? undefined : r.code);

describe('VIP label keys', () => {
  it('are keys starting with VIP or vip', () => {
    for (const k of ['VIP_0', 'VIP_8d0c7a3e-0a6f-4b8e-9a4b-0c6a3b1f2e11', 'vip_port0', 'VIP']) assert.ok(isVipLabelKey(k), k);
    for (const k of ['Vip_0', 'network-scope', 'xVIP_0', '']) assert.ok(!isVipLabelKey(k), k);
  });
});

describe('VIP label values', () => {
  const ok = (value: string) => {
    const r = parseVipValue(value);
    assert.ok(r.ok, `${value}: ${r.ok ? '' : r.message}`);
    return r.target;
  };

  it('named forms keep the raw host', () => {
    assert.deepEqual(ok('myapp:80'), { kind: 'named', host: 'myapp', port: 80 });
    assert.deepEqual(ok('/myapp:80'), { kind: 'named', host: '/myapp', port: 80 });
    assert.deepEqual(ok('/group/app:8080'), { kind: 'named', host: '/group/app', port: 8080 });
    assert.deepEqual(ok('/api.hello-world:80'), { kind: 'named', host: '/api.hello-world', port: 80 });
  });

  it('IP VIPs of both families, split at the last colon', () => {
    assert.deepEqual(ok('10.1.2.3:53'), { kind: 'ip', family: 4, address: '10.1.2.3', port: 53 });
    assert.deepEqual(ok('FD00:0::1:80'), { kind: 'ip', family: 6, address: 'fd00::1', port: 80 });
    assert.deepEqual(ok('[fd00::1]:443'), { kind: 'ip', family: 6, address: 'fd00::1', port: 443 });
  });

  it('not-quite IPs are names, as in dcos-net (inet:parse_strict_address)', () => {
    assert.equal(ok('010.1.2.3:80').kind, 'named');
    assert.equal(ok('1.2.3:80').kind, 'named');
    assert.equal(ok('[1.2.3.4]:80').kind, 'named');
  });

  it('rejects with a stable code per problem', () => {
    assert.equal(code(parseVipValue('myapp')), 'VIP_MISSING_COLON');
    assert.equal(code(parseVipValue(':80')), 'VIP_EMPTY_NAME');
    assert.equal(code(parseVipValue('myapp:')), 'VIP_PORT_NOT_INTEGER');
    assert.equal(code(parseVipValue('myapp:http')), 'VIP_PORT_NOT_INTEGER');
    assert.equal(code(parseVipValue('myapp:8 0')), 'VIP_PORT_NOT_INTEGER');
    assert.equal(code(parseVipValue('myapp:80.5')), 'VIP_PORT_NOT_INTEGER');
    assert.equal(code(parseVipValue('myapp:0')), 'VIP_PORT_ZERO');
    assert.equal(code(parseVipValue('myapp:-5')), 'VIP_PORT_ZERO');
    assert.equal(code(parseVipValue('myapp:65536')), 'VIP_PORT_TOO_LARGE');
    assert.equal(code(parseVipValue('myapp:99999999999999999999999')), 'VIP_PORT_TOO_LARGE');
  });

  it('accepts Erlang integer syntax for ports', () => {
    assert.deepEqual(parsePort('+80'), { ok: true, port: 80 });
    assert.deepEqual(parsePort('080'), { ok: true, port: 80 });
    assert.deepEqual(parsePort('65535'), { ok: true, port: 65535 });
  });
});

describe('protocols', () => {
  it('tcp, udp in any case, and comma lists giving both', () => {
    assert.deepEqual(parseProtocols('TCP'), { ok: true, protocols: ['tcp'] });
    assert.deepEqual(parseProtocols('udp,tcp'), { ok: true, protocols: ['tcp', 'udp'] });
    assert.deepEqual(parseProtocols('tcp, udp, tcp'), { ok: true, protocols: ['tcp', 'udp'] });
  });
  it('anything else is VIP_UNKNOWN_PROTOCOL', () => {
    for (const p of ['', 'sctp', 'tcp,', 'http']) assert.equal(code(parseProtocols(p)), 'VIP_UNKNOWN_PROTOCOL', p);
  });
});

describe('network-scope', () => {
  it('absent or container -> container; host -> host; else rejected', () => {
    assert.deepEqual(parseNetworkScope([]), { ok: true, scope: 'container' });
    assert.deepEqual(parseNetworkScope([{ key: 'network-scope', value: 'container' }]), { ok: true, scope: 'container' });
    assert.deepEqual(parseNetworkScope([{ key: 'network-scope', value: 'host' }]), { ok: true, scope: 'host' });
    assert.equal(code(parseNetworkScope([{ key: 'network-scope', value: 'Host' }])), 'VIP_BAD_NETWORK_SCOPE');
    assert.equal(code(parseNetworkScope([
      { key: 'network-scope', value: 'host' }, { key: 'network-scope', value: 'host' },
    ])), 'VIP_BAD_NETWORK_SCOPE');
  });
});

describe('legacy VIP_PORT<n> labels', () => {
  it('parse index, protocol and the name:port part', () => {
    assert.deepEqual(parseLegacyLabel('VIP_PORT0', 'tcp://def:80'), { ok: true, legacy: { index: 0, protocol: 'tcp', value: 'def:80' } });
    assert.deepEqual(parseLegacyLabel('vip_port12', 'udp://x:53'), { ok: true, legacy: { index: 12, protocol: 'udp', value: 'x:53' } });
  });
  it('ignore other keys and reject bad ones', () => {
    assert.equal(parseLegacyLabel('VIP_0', 'tcp://a:1'), null);
    assert.equal(code(parseLegacyLabel('VIP_PORT', 'tcp://a:1') ?? { ok: true }), 'VIP_LEGACY_BAD_INDEX');
    assert.equal(code(parseLegacyLabel('VIP_PORT-1', 'tcp://a:1') ?? { ok: true }), 'VIP_LEGACY_BAD_INDEX');
    assert.equal(code(parseLegacyLabel('VIP_PORT0', 'TCP://a:1') ?? { ok: true }), 'VIP_LEGACY_BAD_SCHEME');
    assert.equal(code(parseLegacyLabel('VIP_PORT0', 'a:1') ?? { ok: true }), 'VIP_LEGACY_BAD_SCHEME');
  });
});

describe('IP text', () => {
  it('formats canonically (RFC 5952)', () => {
    const f6 = (s: string) => formatIp(6, (parseIp(s) as { value: bigint }).value);
    assert.equal(f6('FD01:000C:0:0:0:0:0:1'), 'fd01:c::1');
    assert.equal(f6('1:0:0:1:0:0:0:1'), '1:0:0:1::1');
    assert.equal(f6('1:0:1:0:1:0:1:0'), '1:0:1:0:1:0:1:0');
    assert.equal(f6('::'), '::');
    assert.equal(f6('::ffff:1.2.3.4'), '::ffff:102:304');
    assert.equal(hostPort('fd01:c::1', 80), '[fd01:c::1]:80');
    assert.equal(hostPort('11.0.0.1', 80), '11.0.0.1:80');
  });
  it('accepts zones only on link-local addresses', () => {
    assert.equal(parseIp('fe80::1%eth0')?.address, 'fe80::1');
    assert.equal(parseIp('fd00::1%eth0'), undefined);
    assert.equal(parseIp('fe80::1%01'), undefined);
  });
});
