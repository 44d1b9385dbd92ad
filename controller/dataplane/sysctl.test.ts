import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acceptRaInterfaces, applySysctls, connReuseMode, desiredSysctls, explainSysctlError, parseKernelVersion, procSysctl, type SysctlIo } from './sysctl.js';

test('parseKernelVersion reads distribution release strings', () => {
  assert.deepEqual(parseKernelVersion('6.1.0-13-amd64'), { major: 6, minor: 1, patch: 0 });
  assert.deepEqual(parseKernelVersion('5.4.0-150-generic'), { major: 5, minor: 4, patch: 0 });
  assert.deepEqual(parseKernelVersion('4.18.0-553.el8_10.x86_64'), { major: 4, minor: 18, patch: 0 });
  assert.deepEqual(parseKernelVersion('5.10'), { major: 5, minor: 10, patch: 0 });
  assert.deepEqual(parseKernelVersion('6.18.44-fc-v657'), { major: 6, minor: 18, patch: 44 });
  assert.equal(parseKernelVersion(''), undefined);
  assert.equal(parseKernelVersion('linux'), undefined);
});

test('conn_reuse_mode: 0 before 5.9 (1 s SYN drop with conntrack), 1 from 5.9 on', () => {
  const cases: [string, '0' | '1'][] = [
    ['3.10.0-1160.el7.x86_64', '0'],
    ['4.19.0-26-amd64', '0'],
    ['5.4.0-150-generic', '0'],
    ['5.8.18', '0'],
    ['5.9.0', '1'],
    ['5.10.0-28-amd64', '1'],
    ['6.1.176', '1'],
    ['10.0.0', '1'],
  ];
  for (const [rel, want] of cases) assert.equal(connReuseMode(rel)?.value, want, rel);
  assert.match(connReuseMode('5.4.0')!.why, /k8s#70747/);
  assert.equal(connReuseMode('weird'), undefined);
});

test('desiredSysctls: the four fixed keys, then conn_reuse_mode by version or forced', () => {
  const old = desiredSysctls({ kernelRelease: '5.4.0' });
  assert.deepEqual(
    old.wants.map((w) => `${w.key}=${w.value}`),
    [
      'net.ipv4.vs.conntrack=1',
      'net.ipv4.vs.expire_nodest_conn=1',
      'net.ipv4.vs.expire_quiescent_template=1',
      'net.ipv4.ip_forward=1',
      'net.ipv4.vs.conn_reuse_mode=0',
    ],
  );
  assert.deepEqual(old.notes, []);
  assert.equal(desiredSysctls({ kernelRelease: '6.1.0' }).wants.at(-1)!.value, '1');
  // A RHEL kernel with the fix backported: the operator forces 1.
  const forced = desiredSysctls({ kernelRelease: '4.18.0-553.el8', connReuseMode: 1 });
  assert.equal(forced.wants.at(-1)!.value, '1');
  assert.equal(forced.wants.at(-1)!.why, 'forced by configuration');
  const unknown = desiredSysctls({ kernelRelease: '???' });
  assert.equal(unknown.wants.length, 4);
  assert.match(unknown.notes[0]!, /conn_reuse_mode left as it is/);
});

test('desiredSysctls: with IPv6 VIPs, IPv6 forwarding too (after ip_forward); without, never', () => {
  const keys = (ipv6: boolean) => desiredSysctls({ kernelRelease: '6.1.0', ipv6 }).wants.map((w) => `${w.key}=${w.value}`);
  assert.deepEqual(keys(true), [
    'net.ipv4.vs.conntrack=1',
    'net.ipv4.vs.expire_nodest_conn=1',
    'net.ipv4.vs.expire_quiescent_template=1',
    'net.ipv4.ip_forward=1',
    'net.ipv6.conf.all.forwarding=1',
    'net.ipv4.vs.conn_reuse_mode=1',
  ]);
  assert.ok(!keys(false).some((k) => k.startsWith('net.ipv6.')));
  assert.match(desiredSysctls({ kernelRelease: '6.1.0', ipv6: true }).wants[4]!.why, /accept_ra=2/);
});

function fakeRoot(values: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'l4lb-sysctl-'));
  for (const [k, v] of Object.entries(values)) {
    const parts = k.split('.');
    mkdirSync(join(root, ...parts.slice(0, -1)), { recursive: true });
    writeFileSync(join(root, ...parts), `${v}\n`);
  }
  return root;
}

test('applySysctls on a directory root: writes what differs, reads back, reports before/after', () => {
  const root = fakeRoot({
    'net.ipv4.vs.conntrack': '0',
    'net.ipv4.vs.expire_nodest_conn': '1',
    'net.ipv4.vs.expire_quiescent_template': '0',
    'net.ipv4.ip_forward': '0',
    'net.ipv4.vs.conn_reuse_mode': '1',
    'kernel.osrelease': '5.4.0-150-generic',
  });
  try {
    const io = procSysctl(root);
    assert.equal(io.kernelRelease(), '5.4.0-150-generic');
    const { wants } = desiredSysctls({ kernelRelease: io.kernelRelease() });
    const r = applySysctls(wants, io);
    assert.deepEqual(
      r.map((x) => [x.key, x.before, x.after, x.ok, x.changed]),
      [
        ['net.ipv4.vs.conntrack', '0', '1', true, true],
        ['net.ipv4.vs.expire_nodest_conn', '1', '1', true, false],
        ['net.ipv4.vs.expire_quiescent_template', '0', '1', true, true],
        ['net.ipv4.ip_forward', '0', '1', true, true],
        ['net.ipv4.vs.conn_reuse_mode', '1', '0', true, true],
      ],
    );
    assert.equal(readFileSync(join(root, 'net/ipv4/vs/conntrack'), 'utf8').trim(), '1');
    // Second pass: all in place, nothing written.
    assert.ok(applySysctls(wants, io).every((x) => x.ok && !x.changed));
    // verifyOnly never writes.
    writeFileSync(join(root, 'net/ipv4/ip_forward'), '0\n');
    const v = applySysctls(wants, io, { verifyOnly: true }).find((x) => x.key === 'net.ipv4.ip_forward')!;
    assert.deepEqual([v.ok, v.changed, v.after], [false, false, '0']);
    assert.equal(readFileSync(join(root, 'net/ipv4/ip_forward'), 'utf8').trim(), '0');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a missing IPVS sysctl is a clear per-key error naming ip_vs; the others still apply', () => {
  const root = fakeRoot({ 'net.ipv4.ip_forward': '0' });
  try {
    const r = applySysctls(desiredSysctls({ kernelRelease: '6.1.0' }).wants, procSysctl(root));
    const ct = r.find((x) => x.key === 'net.ipv4.vs.conntrack')!;
    assert.equal(ct.ok, false);
    assert.equal(ct.error?.errno, 'ENOENT');
    assert.match(ct.error!.message, /^read net\.ipv4\.vs\.conntrack: ENOENT: .*ip_vs module is not loaded/);
    const fwd = r.find((x) => x.key === 'net.ipv4.ip_forward')!;
    assert.deepEqual([fwd.ok, fwd.after], [true, '1']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** A /proc/sys mounted read-only (container without privileges): reads work, writes fail EROFS. */
function readOnlyIo(values: Record<string, string>): SysctlIo & { writes: number } {
  const io = {
    writes: 0,
    read: (k: string) => {
      const v = values[k];
      if (v === undefined) throw Object.assign(new Error(`ENOENT: ${k}`), { code: 'ENOENT' });
      return v;
    },
    write: () => {
      io.writes++;
      throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
    },
    kernelRelease: () => '6.1.0',
  };
  return io;
}

test('read-only /proc/sys: every key that needs a write is a clear EROFS error, keys already right are ok, no throw', () => {
  const io = readOnlyIo({
    'net.ipv4.vs.conntrack': '0',
    'net.ipv4.vs.expire_nodest_conn': '1',
    'net.ipv4.vs.expire_quiescent_template': '1',
    'net.ipv4.ip_forward': '1',
    'net.ipv4.vs.conn_reuse_mode': '1',
  });
  const r = applySysctls(desiredSysctls({ kernelRelease: io.kernelRelease() }).wants, io);
  assert.equal(io.writes, 1, 'only the key that differs is written');
  assert.deepEqual(r.filter((x) => !x.ok).map((x) => x.key), ['net.ipv4.vs.conntrack']);
  const e = r[0]!.error!;
  assert.equal(e.errno, 'EROFS');
  assert.match(e.message, /^write net\.ipv4\.vs\.conntrack: EROFS: \/proc\/sys is read-only here .*sysctl -w net\.ipv4\.vs\.conntrack=/);
  assert.deepEqual([r[0]!.before, r[0]!.after, r[0]!.changed], ['0', '0', false]);
});

test('a value the kernel does not keep is reported, not silently accepted', () => {
  const io: SysctlIo = { read: () => '2', write: () => {}, kernelRelease: () => '6.1.0' };
  const [r] = applySysctls([{ key: 'net.ipv4.vs.conntrack', value: '1', why: '' }], io);
  assert.equal(r!.ok, false);
  assert.match(r!.error!.message, /reads 2 after writing 1/);
});

test('explainSysctlError: permission errors say what to do', () => {
  const e = explainSysctlError('net.ipv4.ip_forward', 'write', Object.assign(new Error('x'), { code: 'EACCES' }));
  assert.match(e.message, /^write net\.ipv4\.ip_forward: EACCES: permission denied \(l4lb needs root or CAP_NET_ADMIN/);
});

test('IPv6 forwarding keeps router advertisements: interfaces at accept_ra=1 (and default) go to 2 first; a dotted name gets a note', () => {
  const root = mkdtempSync(join(tmpdir(), 'l4lb-sysctl-ra-'));
  try {
    const set = (iface: string, v: string) => {
      mkdirSync(join(root, 'net', 'ipv6', 'conf', iface), { recursive: true });
      writeFileSync(join(root, 'net', 'ipv6', 'conf', iface, 'accept_ra'), `${v}\n`);
    };
    for (const [i, v] of [['all', '1'], ['default', '1'], ['lo', '1'], ['eth0', '1'], ['eth1', '0'], ['eth2', '2'], ['eth0.100', '1']] as const) set(i, v);
    const io = procSysctl(root);
    const ra = acceptRaInterfaces(io);
    assert.deepEqual(ra, ['default', 'eth0', 'eth0.100', 'lo']);
    const { wants, notes } = desiredSysctls({ kernelRelease: '6.1.0', ipv6: true, acceptRaInterfaces: ra });
    const keys = wants.map((w) => `${w.key}=${w.value}`);
    assert.deepEqual(keys.filter((k) => k.startsWith('net.ipv6')), [
      'net.ipv6.conf.default.accept_ra=2', 'net.ipv6.conf.eth0.accept_ra=2', 'net.ipv6.conf.lo.accept_ra=2', 'net.ipv6.conf.all.forwarding=1',
    ]);
    assert.equal(notes.length, 1);
    assert.match(notes[0]!, /eth0\.100\/accept_ra to 2/);
    // Applied to the directory: written and read back; untouched where it was not 1.
    mkdirSync(join(root, 'net', 'ipv6', 'conf', 'all'), { recursive: true });
    writeFileSync(join(root, 'net', 'ipv6', 'conf', 'all', 'forwarding'), '0\n');
    const results = applySysctls(wants.filter((w) => w.key.startsWith('net.ipv6')), io);
    assert.ok(results.every((r) => r.ok), JSON.stringify(results));
    assert.equal(readFileSync(join(root, 'net', 'ipv6', 'conf', 'eth0', 'accept_ra'), 'utf8').trim(), '2');
    assert.equal(readFileSync(join(root, 'net', 'ipv6', 'conf', 'eth1', 'accept_ra'), 'utf8').trim(), '0');
    assert.deepEqual(acceptRaInterfaces(io), ['eth0.100']);
    // Without IPv6 VIPs nothing of it is wanted, whatever the interfaces say.
    assert.deepEqual(desiredSysctls({ kernelRelease: '6.1.0', acceptRaInterfaces: ra }).wants.filter((w) => w.key.startsWith('net.ipv6')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
