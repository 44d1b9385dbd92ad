import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { run, EXIT_FAILURE, EXIT_USAGE } from './program.js';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

test('version prints text and JSON', async () => {
  const text = await cli('version');
  assert.equal(text.code, 0);
  assert.match(text.out, /^l4lb \d+\.\d+\.\d+ \(node v\d+/);
  const json = await cli('version', '-o', 'json');
  assert.equal(json.code, 0);
  assert.match((JSON.parse(json.out) as { version: string }).version, /^\d+\.\d+\.\d+$/);
});

test('a wrong command line exits 2 with a one-line reason on stderr, no stack', async () => {
  const bad = await cli('ipvs', 'list', '-o', 'yaml');
  assert.equal(bad.code, EXIT_USAGE);
  assert.equal(bad.err, 'l4lb: unknown output format "yaml"; use one of: table, json\n');
  const unknown = await cli('frobnicate');
  assert.equal(unknown.code, EXIT_USAGE);
  assert.match(unknown.err, /unknown command 'frobnicate'/);
  assert.doesNotMatch(unknown.err, /\n\s+at /);
});

test('ipvs list on a kernel without IPVS explains what to do (exit 1)', async (t) => {
  // This runs on the build host: only meaningful where the host kernel has no IPVS.
  if (existsSync('/proc/net/ip_vs')) {
    t.skip('the host kernel has IPVS; the kernel suite covers `ipvs list` there');
    return;
  }
  const r = await cli('ipvs', 'list');
  assert.equal(r.code, EXIT_FAILURE);
  assert.equal(
    r.err,
    'l4lb: IPVS is not available in this kernel (generic netlink family IPVS not found); load it with `modprobe ip_vs` or use a kernel with CONFIG_IP_VS\n',
  );
});

test('help exits 0', async () => {
  const r = await cli('--help');
  assert.equal(r.code, 0);
  assert.match(r.out, /Usage: l4lb/);
});

test('run --help writes duration defaults as the config takes them (5m, 30s), not in ms', async () => {
  // Help is commander's own output (process.stdout): run the real binary.
  const bin = fileURLToPath(new URL('../../../bin/l4lb', import.meta.url));
  const text = execFileSync(process.execPath, [bin, 'run', '--help'], { encoding: 'utf8' });
  assert.match(text, /L4LB_IPVS_DRAIN_TIMEOUT; default 5m\]/);
  assert.match(text, /L4LB_RECONCILE_RESYNC_INTERVAL; default 30s\]/);
  assert.doesNotMatch(text, /default 300000/);
});
