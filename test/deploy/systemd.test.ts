// deploy/systemd, offline: systemd's own checker accepts the unit (on a copy
// whose paths point at this checkout), its hardening holds, and the
// environment file sets only variables `l4lb run` reads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, envName } from '../../controller/config/schema.js';
import { loadSettings } from '../../controller/config/load.js';
import { ROOT, scratch, envEntries, read, unitValues } from './files.js';

const UNIT = 'deploy/systemd/l4lb.service';
const INSTALL_DIR = '/opt/l4lb';
const ANALYZE = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].find((p) => existsSync(p));
const noAnalyze = ANALYZE ? false : 'systemd-analyze is not installed (Debian package systemd)';
/** The exposure `systemd-analyze security` gave when the unit was hardened (6.3 before). */
const MAX_EXPOSURE = 2.5;

/** The unit with /opt/l4lb and the node binary replaced by this checkout's, in a temp dir. */
function localUnit(): string {
  const text = read(UNIT);
  assert.ok(text.includes(`${INSTALL_DIR}/bin/l4lb`), `the unit runs ${INSTALL_DIR}/bin/l4lb`);
  const local = text.replaceAll(`${INSTALL_DIR}/`, `${ROOT}/`).replace(/^ExecStart=\/usr\/bin\/node /m, `ExecStart=${process.execPath} `);
  assert.ok(existsSync(join(ROOT, 'bin/l4lb')) && existsSync(join(ROOT, 'deploy/README.md')));
  const path = join(scratch('unit'), 'l4lb.service');
  writeFileSync(path, local);
  return path;
}

function verify(path: string): { status: number | null; output: string } {
  const r = spawnSync(ANALYZE!, ['verify', path], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

test('systemd: `systemd-analyze verify` accepts the unit without a warning', { skip: noAnalyze }, () => {
  const r = verify(localUnit());
  assert.equal(r.output, '', 'no warnings (an unknown or misspelt directive is only a warning)');
  assert.equal(r.status, 0);
});

test('systemd: the verify check itself fails on a misspelt directive', { skip: noAnalyze }, () => {
  const path = localUnit();
  writeFileSync(path, read(UNIT).replace(/^ProtectSystem=strict$/m, 'ProtectSytem=strict').replaceAll(`${INSTALL_DIR}/`, `${ROOT}/`));
  assert.match(verify(path).output, /Unknown key 'ProtectSytem'/);
});

test(`systemd: \`systemd-analyze security\` exposure is at most ${MAX_EXPOSURE}`, { skip: noAnalyze }, () => {
  const r = spawnSync(ANALYZE!, ['security', '--offline=true', localUnit()], { encoding: 'utf8', timeout: 60_000 });
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout);
  assert.ok(m, `no exposure line in: ${r.stdout.slice(-300)}${r.stderr}`);
  assert.ok(Number(m[1]) <= MAX_EXPOSURE, `exposure ${m[1]} > ${MAX_EXPOSURE}`);
});

test('systemd: the daemon gets exactly NET_ADMIN, NET_RAW and NET_BIND_SERVICE, and no way to more', () => {
  const u = read(UNIT);
  const caps = unitValues(u, 'Service', 'CapabilityBoundingSet').flatMap((v) => v.split(/\s+/));
  assert.deepEqual(caps.sort(), ['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW']);
  assert.deepEqual(unitValues(u, 'Service', 'AmbientCapabilities'), [], 'root needs no ambient capabilities');
  assert.deepEqual(unitValues(u, 'Service', 'User'), [], 'root: see the comment in the unit');
  for (const [k, v] of [
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectKernelModules', 'yes'],
    ['ProtectKernelTunables', 'yes'],
    ['RestrictNamespaces', 'yes'],
    ['SystemCallArchitectures', 'native'],
    ['SystemCallErrorNumber', 'EPERM'],
  ]) {
    assert.deepEqual(unitValues(u, 'Service', k!), [v], k);
  }
  assert.ok(unitValues(u, 'Service', 'SystemCallFilter')[0]!.split(/\s+/).includes('@system-service'));
  // The sysctls the daemon sets are all under net.ipv4 (controller/dataplane/sysctl.ts).
  assert.ok(unitValues(u, 'Service', 'ReadWritePaths').join(' ').split(/\s+/).includes('/proc/sys/net/ipv4'));
});

test('systemd: modules load outside the sandbox (+), the same list prepare-node.mjs loads', () => {
  const pre = unitValues(read(UNIT), 'Service', 'ExecStartPre');
  const modprobe = pre.filter((c) => /modprobe/.test(c));
  assert.equal(modprobe.length, 1);
  // ProtectKernelModules drops CAP_SYS_MODULE: only a '+' command can load modules.
  assert.match(modprobe[0]!, /^[-@:!]*\+[-@:!]*\/\S*modprobe -a /);
  const unitModules = modprobe[0]!.split(/\s+/).slice(2).sort();
  const script = read('deploy/container/prepare-node.mjs');
  const lists = [...script.matchAll(/^const (\w+_MODULES) = \[([^\]]*)\];/gm)].flatMap((m) => [...m[2]!.matchAll(/'([^']+)'/g)].map((x) => x[1]!));
  assert.ok(lists.length > 0, 'prepare-node.mjs declares its module lists');
  assert.deepEqual(unitModules, lists.sort());
});

test('systemd: the state directory is the unit\'s preserved RuntimeDirectory', () => {
  const u = read(UNIT);
  assert.deepEqual(unitValues(u, 'Service', 'RuntimeDirectory'), ['l4lb']);
  assert.deepEqual(unitValues(u, 'Service', 'RuntimeDirectoryPreserve'), ['yes'], 'the ownership record survives restarts');
  const env = envEntries(read('deploy/systemd/l4lb.env'));
  const stateDir = env.find((e) => !e.commented && e.key === 'L4LB_STATE_DIR')?.value ?? SETTINGS.find((s) => s.key === 'state-dir')!.default;
  assert.equal(stateDir, '/run/l4lb');
  assert.deepEqual(unitValues(u, 'Service', 'EnvironmentFile'), ['-/etc/default/l4lb']);
  assert.match(unitValues(u, 'Service', 'ExecStart')[0]!, /^\/usr\/bin\/node (--[a-z-]+=\d+ )*\/opt\/l4lb\/bin\/l4lb run$/);
});

test('systemd: l4lb.env sets (and shows) only variables `l4lb run` reads, with valid values', () => {
  const env = envEntries(read('deploy/systemd/l4lb.env'));
  // L4LB_CONFIG is the --config option's variable (controller/cli/run.ts).
  const known = new Set(['L4LB_CONFIG', ...SETTINGS.map(envName)]);
  assert.ok(env.length >= 3);
  for (const e of env) assert.ok(known.has(e.key), `l4lb.env line ${e.line}: ${e.key} is not a variable of l4lb run`);
  const active = Object.fromEntries(env.filter((e) => !e.commented && e.key !== 'L4LB_CONFIG').map((e) => [e.key, e.value]));
  const examples = Object.fromEntries(env.filter((e) => e.commented && e.key !== 'L4LB_CONFIG').map((e) => [e.key, e.value]));
  loadSettings({ env: active });
  loadSettings({ env: { ...active, ...examples } });
});
