// Smoke tests of the real-kernel harness itself, run INSIDE the kernel:
// IPVS is really there, this file has a fresh netns, links can be made, and
// real TCP connections are balanced by IPVS. netns-isolation.test.ts adds the
// same service as this file: both pass only if every file has its own netns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addDummy, cleanupAfter, createBackend, httpGet, ip, ipvsadm, ipvsServices, requireKernel, run, startHttpServer,
} from './lib.js';

const kernel = requireKernel();
const cleanup = cleanupAfter();

test(`IPVS is present (${kernel.mode}: ${kernel.kernel})`, async () => {
  const { stdout } = await ipvsadm('-Ln');
  assert.match(stdout, /^IP Virtual Server version \d+\.\d+\.\d+/m);
});

test('this file starts in a fresh netns: no IPVS services, only lo, lo up', async () => {
  assert.deepEqual(await ipvsServices(), []);
  const links = (await ip('-o', 'link', 'show')).stdout.trim().split('\n');
  assert.equal(links.length, 1, `expected only lo, got:\n${links.join('\n')}`);
  assert.match(links[0]!, /^1: lo: <[^>]*\bUP\b/);
});

test('ipvsadm -A adds a service and -Ln lists it; adding it again is EEXIST', async () => {
  await ipvsadm('-A', '-t', '198.51.100.10:80', '-s', 'rr');
  const { stdout } = await ipvsadm('-Ln');
  assert.match(stdout, /^TCP {2}198\.51\.100\.10:80 rr\s*$/m);
  // The isolation check relies on a duplicate add failing: prove it does.
  const dup = await run('ipvsadm', ['-A', '-t', '198.51.100.10:80', '-s', 'rr']);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /already exists/i);
  // Left in place on purpose: netns-isolation.test.ts adds the same service
  // and must not see it, whichever file runs first.
});

test('a scheduler module autoloads on first use (kernel modprobe helper works)', async () => {
  await ipvsadm('-A', '-t', '198.51.100.11:80', '-s', 'wlc');
  assert.ok((await ipvsServices()).includes('-A -t 198.51.100.11:80 -s wlc'));
  await ipvsadm('-D', '-t', '198.51.100.11:80');
});

test('a dummy link can be created and carries a VIP', async () => {
  await addDummy('vipt0', ['198.51.100.99'], cleanup);
  const { stdout } = await ip('-o', 'addr', 'show', 'dev', 'vipt0');
  assert.match(stdout, /inet 198\.51\.100\.99\/32/);
  await ip('link', 'del', 'vipt0');
});

test('real traffic: 20 connections to a VIP over rr land 10/10 on two masqueraded backends', async () => {
  const vip = '198.51.100.20';
  // The VIP must be a local address, or nothing connects.
  await addDummy('vip0', [vip], cleanup);
  const backends = [await createBackend(0, cleanup), await createBackend(1, cleanup)];
  for (const b of backends) await startHttpServer(b, { body: b.name }, cleanup);
  await ipvsadm('-A', '-t', `${vip}:80`, '-s', 'rr');
  cleanup.add(() => run('ipvsadm', ['-D', '-t', `${vip}:80`]));
  for (const b of backends) await ipvsadm('-a', '-t', `${vip}:80`, '-r', `${b.addr}:80`, '-m');

  const hits: Record<string, number> = {};
  for (let i = 0; i < 20; i++) {
    const { status, body } = await httpGet(`http://${vip}/`);
    assert.equal(status, 200);
    hits[body.trim()] = (hits[body.trim()] ?? 0) + 1;
  }
  assert.deepEqual(hits, { be0: 10, be1: 10 });
  // IPVS itself accounted them (the connection table lists masqueraded entries).
  const conns = (await ipvsadm('-Lnc')).stdout;
  assert.match(conns, new RegExp(`${vip.replace(/\./g, '\\.')}:80\\s+203\\.0\\.113\\.[26]:80`));
});
