import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { loadConfig, ConfigError, parseDuration, formatDuration, configReference, SETTINGS, envName, flagName } from './index.js';

// One scratch dir for the whole file, removed at the end.
const scratch = mkdtempSync(join(tmpdir(), 'l4lb-config-'));
let files = 0;
after(() => rmSync(scratch, { recursive: true, force: true }));

function file(text: string): string {
  const p = join(scratch, String(++files), 'l4lb.yaml');
  mkdirSync(dirname(p));
  writeFileSync(p, text);
  return p;
}

function problems(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.problems;
  }
  assert.fail('expected a ConfigError');
}

test('defaults are DC/OS-compatible and every value says it came from the default', () => {
  const c = loadConfig({});
  assert.deepEqual(c.vips, { ipv4Min: '11.0.0.0', ipv4Max: '11.255.255.255', ipv6Min: 'fd01:c::', ipv6Max: 'fd01:c::ffff:ffff:ffff:ffff', ipv6: true });
  assert.equal(c.ipvs.scheduler, 'wlc');
  assert.equal(c.ipvs.tcpTimeoutMs, undefined, 'kernel timeouts are left alone unless configured');
  assert.equal(c.ipvs.drainTimeoutMs, 300_000);
  assert.equal(c.reconcile.resyncIntervalMs, 30_000);
  assert.equal(c.dataplane.interface, 'minuteman');
  assert.equal(c.stateDir, '/run/l4lb');
  assert.ok([...c.origin.values()].every((o) => o === 'default'));
});

test('file < environment < flags, and the origin of each value is kept', () => {
  const f = file('ipvs:\n  scheduler: rr\n  tcp-timeout: 15m\nreconcile:\n  resync-interval: 10s\nlog:\n  level: debug\n');
  const c = loadConfig({
    file: f,
    env: { L4LB_IPVS_SCHEDULER: 'sh', L4LB_RECONCILE_RESYNC_INTERVAL: '20s', PATH: '/bin' },
    flags: { 'ipvs.scheduler': 'mh' },
  });
  assert.equal(c.ipvs.scheduler, 'mh');
  assert.equal(c.origin.get('ipvs.scheduler'), 'flag');
  assert.equal(c.reconcile.resyncIntervalMs, 20_000);
  assert.equal(c.origin.get('reconcile.resync-interval'), 'env');
  assert.equal(c.ipvs.tcpTimeoutMs, 900_000);
  assert.equal(c.origin.get('ipvs.tcp-timeout'), 'file');
  assert.equal(c.log.level, 'debug');
  assert.equal(c.configFile, f);
});

test('every problem is reported at once, each naming where the value came from', () => {
  const f = file('ipvs:\n  schedular: rr\n  drain-timeout: forever\nvips:\n  ipv4-min: 11.0.0.300\n');
  const p = problems(() => loadConfig({ file: f, env: { L4LB_VIPS_IPV6: 'maybe' }, flags: { 'dataplane.interface': 'an-interface-name-too-long' } }));
  assert.equal(p.length, 5, p.join('\n'));
  assert.ok(p.some((x) => x === `${f}: unknown key "ipvs.schedular" (did you mean "ipvs.scheduler"?)`), p.join('\n'));
  assert.ok(p.some((x) => x.startsWith(`${f}: ipvs.drain-timeout = "forever": must be a duration`)));
  assert.ok(p.some((x) => x === `${f}: vips.ipv4-min = "11.0.0.300": must be an IPv4 address`));
  assert.ok(p.includes('L4LB_VIPS_IPV6 = "maybe": must be true or false'));
  assert.ok(p.some((x) => x.startsWith('--dataplane-interface = "an-interface-name-too-long": must be a Linux interface name')));
});

test('pool bounds must be ordered; out-of-range and wrong-family values are refused', () => {
  assert.deepEqual(problems(() => loadConfig({ flags: { 'vips.ipv4-min': '11.255.0.0', 'vips.ipv4-max': '11.0.0.0' } })), [
    'vips.ipv4-min (11.255.0.0) must be below vips.ipv4-max (11.0.0.0)',
  ]);
  assert.match(problems(() => loadConfig({ flags: { 'vips.ipv6-min': '11.0.0.0' } }))[0]!, /must be an IPv6 address/);
  assert.match(problems(() => loadConfig({ flags: { 'reconcile.resync-interval': '10ms' } }))[0]!, /must be between 1s and/);
  assert.match(problems(() => loadConfig({ flags: { 'ipvs.scheduler': 'fastest' } }))[0]!, /must be one of rr, wrr, lc, wlc/);
});

test('a missing file, a YAML syntax error and a non-mapping file are clear errors', () => {
  assert.deepEqual(problems(() => loadConfig({ file: '/nonexistent/l4lb.yaml' })), ['config file /nonexistent/l4lb.yaml does not exist']);
  assert.match(problems(() => loadConfig({ file: file('ipvs: [unclosed\n') }))[0]!, /^config file .*l4lb\.yaml: /);
  assert.match(problems(() => loadConfig({ file: file('- a list\n') }))[0]!, /the top level must be a mapping of keys/);
  // An empty file is no settings at all.
  assert.equal(loadConfig({ file: file('') }).ipvs.scheduler, 'wlc');
});

test('durations: units, bare seconds, and refusals', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('5m'), 300_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('900'), 900_000);
  assert.equal(parseDuration('1.5s'), 1500);
  for (const bad of ['', 's', '5 m', '5x', '-5s', '5m garbage']) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(250), '250ms');
});

test('every setting has a unique key, flag and environment variable, and a documented row', () => {
  const keys = SETTINGS.map((s) => s.key);
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(new Set(SETTINGS.map(flagName)).size, keys.length);
  assert.equal(new Set(SETTINGS.map(envName)).size, keys.length);
  const ref = configReference();
  for (const s of SETTINGS) assert.ok(ref.includes(`| \`${s.key}\` | \`--${flagName(s)}\` | \`${envName(s)}\` |`), s.key);
});

test('README.md embeds exactly the current configuration reference', async () => {
  const { readFileSync } = await import('node:fs');
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const m = /<!-- config-reference:start -->\n([\s\S]*?)<!-- config-reference:end -->/.exec(readme);
  assert.ok(m, 'README.md has the config-reference markers');
  assert.equal(m[1], configReference(), 'regenerate the README table from controller/config/schema.ts');
});

test('ipvs.scheduler accepts the model\'s IPVS_SCHEDULERS, the very list the per-VIP scheduler is checked against', async () => {
  const { IPVS_SCHEDULERS } = await import('../model/index.js');
  const setting = SETTINGS.find((s) => s.key === 'ipvs.scheduler');
  assert.ok(setting?.type.kind === 'enum');
  assert.equal(setting.type.values, IPVS_SCHEDULERS);
});
