// Companion of harness.test.ts: adds the very same service. If two kernel
// test files ever shared a network namespace, one of them would see EEXIST
// (or find the other's service, links or named namespaces) and fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ip, ipvsadm, ipvsServices, requireKernel } from './lib.js';

requireKernel();

test('fresh netns: no services, links or named netns left by another file', async () => {
  assert.deepEqual(await ipvsServices(), []);
  assert.equal((await ip('-o', 'link', 'show')).stdout.trim().split('\n').length, 1);
  assert.equal((await ip('netns', 'list')).stdout.trim(), '');
});

test('the same service as harness.test.ts can be added here (no EEXIST)', async () => {
  await ipvsadm('-A', '-t', '198.51.100.10:80', '-s', 'rr');
  assert.deepEqual(await ipvsServices(), ['-A -t 198.51.100.10:80 -s rr']);
  // Left in place on purpose: the namespace dies with this file.
});
