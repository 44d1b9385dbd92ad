import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Command } from 'commander';
import yaml from 'js-yaml';
import { silentLogger } from '../log.js';
import { MarathonEmulator } from '../../test/emulators/marathon.js';
import { MesosMasterEmulator } from '../../test/emulators/mesos-master.js';
import { waitFor } from '../sources/test-helpers.js';
import { parseDuration, registerPlan } from './plan.js';

const EXAMPLE = fileURLToPath(new URL('../../../test/fixtures/vips.yaml', import.meta.url));

const open: Array<{ stop(): Promise<void> }> = [];
after(async () => {
  for (const x of open) await x.stop();
});

async function plan(...argv: string[]): Promise<string> {
  let out = '';
  const program = new Command('l4lb').exitOverride();
  registerPlan(program, (s) => void (out += s), { logger: silentLogger() }).exitOverride();
  await program.parseAsync(argv, { from: 'user' });
  return out;
}

interface PlanJson {
  vips: Array<{ protocol: string; address: string; port: number; names: string[]; backends: Array<{ ip: string; port: number; weight: number }> }>;
  rejected: Array<{ key: string; value: string; code: string }>;
  sources: Array<{ id: string; state: string; tasks: number }>;
}

async function mesos(): Promise<MesosMasterEmulator> {
  const m = await MesosMasterEmulator.start();
  open.push(m);
  m.addAgent({ id: 'S0', hostname: '10.0.0.1' });
  m.addFramework({ id: 'F0', name: 'marathon' });
  m.addTask({ id: 'web.1', frameworkId: 'F0', agentId: 'S0', ips: ['9.0.0.1'], ports: [{ number: 80, vips: ['/web:80'] }] });
  m.addTask({ id: 'web.2', frameworkId: 'F0', agentId: 'S0', ips: ['9.0.0.2'], ports: [{ number: 80, vips: ['/web:80', 'bad-no-port'] }], healthy: false, healthCheck: true });
  return m;
}

describe('l4lb plan', () => {
  it('--mesos -o json: the desired table with DC/OS addresses, weights and rejected labels', async () => {
    const m = await mesos();
    const r = JSON.parse(await plan('plan', '--mesos', m.url, '-o', 'json')) as PlanJson;
    assert.deepEqual(r.vips.map((v) => [v.protocol, v.address, v.port, v.names, v.backends.map((b) => `${b.ip}:${b.port}/${b.weight}`)]), [
      ['tcp', '11.225.36.193', 80, ['web.marathon.l4lb.thisdcos.directory'], ['9.0.0.1:80/1', '9.0.0.2:80/0']],
    ]);
    assert.deepEqual(r.rejected.map((x) => [x.key, x.value, x.code]), [['VIP_1', 'bad-no-port', 'VIP_MISSING_COLON']]);
    assert.deepEqual(r.sources.map((s) => [s.id, s.state, s.tasks]), [['mesos', 'stopped', 2]]);
    await waitFor(() => m.subscribers === 0, 'the stream closed when plan returned');
  });

  it('-o table: one row per backend, then the rejected labels and a summary', async () => {
    const m = await mesos();
    const text = await plan('plan', '--mesos', m.url);
    const lines = text.split('\n');
    assert.match(lines[0] ?? '', /^PROTOCOL\s+ADDRESS\s+PORT\s+NAME\s+BACKEND\s+WEIGHT\s+STATE\s+SOURCE$/);
    assert.match(lines[1] ?? '', /^tcp\s+11\.225\.36\.193\s+80\s+web\.marathon\.l4lb\.thisdcos\.directory\s+9\.0\.0\.1:80\s+1\s+running\s+mesos$/);
    assert.match(lines[2] ?? '', /^\s+9\.0\.0\.2:80\s+0\s+running\/unhealthy\s+mesos$/);
    assert.ok(text.includes('REJECTED LABELS'));
    assert.match(text, /VIP_MISSING_COLON: "bad-no-port" has no ":<port>"/);
    assert.match(text, /1 VIPs, 2 backends, 1 rejected labels from mesos \(http:\/\/127\.0\.0\.1:\d+\/api\/v1, 2 tasks\)/);
  });

  it('-o yaml gives the same data as -o json', async () => {
    const m = await mesos();
    const j = JSON.parse(await plan('plan', '--mesos', m.url, '-o', 'json')) as PlanJson;
    const y = yaml.load(await plan('plan', '--mesos', m.url, '-o', 'yaml')) as PlanJson;
    assert.deepEqual(y.vips, j.vips);
    assert.deepEqual(y.rejected, j.rejected);
  });

  it('--marathon: VIPs from app definitions', async () => {
    const mt = await MarathonEmulator.start();
    open.push(mt);
    mt.deployApp({ id: '/my-service', instances: 2, portDefinitions: [{ protocol: 'tcp', port: 5555, labels: { VIP_0: '/my-service:5555' }, name: 'my-vip' }] });
    const r = JSON.parse(await plan('plan', '--marathon', mt.url, '-o', 'json')) as PlanJson;
    assert.deepEqual(r.vips.map((v) => [v.address, v.port, v.names[0], v.backends.map((b) => `${b.ip}:${b.port}`)]), [
      ['11.134.216.93', 5555, 'my-service.marathon.l4lb.thisdcos.directory', ['10.0.1.1:31000', '10.0.1.1:31001']],
    ]);
  });

  it('--file: the example VIP file', async () => {
    const r = JSON.parse(await plan('plan', '--file', EXAMPLE, '-o', 'json')) as PlanJson;
    assert.equal(r.vips.length, 5);
    assert.equal(r.vips.find((v) => v.names[0] === 'myapp.marathon.l4lb.thisdcos.directory')?.address, '11.215.13.222');
  });

  it('several sources at once, sent with a token', async () => {
    const m = await mesos();
    const r = JSON.parse(await plan('plan', '--mesos', m.url, '--file', EXAMPLE, '--token', 't0k', '-o', 'json')) as PlanJson;
    assert.deepEqual(r.sources.map((s) => s.id).sort(), ['file:' + EXAMPLE, 'mesos'].sort());
    assert.equal(m.requests[0]?.headers.authorization, 'token=t0k');
  });

  it('fails with SRC_SYNC_TIMEOUT, naming the source and its last error, when a source never syncs', async () => {
    const m = await mesos();
    m.failNext(10_000, 503, 'No leader elected');
    await assert.rejects(plan('plan', '--mesos', m.url, '--timeout', '300ms'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'SRC_SYNC_TIMEOUT');
      assert.match(e.message, /^no complete view within 0\.3 s from mesos \(http:\/\/127\.0\.0\.1:\d+\/api\/v1: .*HTTP 503: "No leader elected"\)$/);
      return true;
    });
  });

  it('refuses a command line without a source, a bad format or a bad duration (usage errors)', async () => {
    await assert.rejects(plan('plan'), { code: 'ERR_USAGE', message: 'give at least one of --mesos URL, --marathon URL, --file F' });
    await assert.rejects(plan('plan', '--file', EXAMPLE, '-o', 'xml'), { code: 'ERR_USAGE' });
    await assert.rejects(plan('plan', '--file', EXAMPLE, '--timeout', 'soon'), { code: 'ERR_USAGE' });
    await assert.rejects(plan('plan', '--file', EXAMPLE, '--user', 'nopassword'), { code: 'ERR_USAGE' });
  });

  it('parses durations', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('1.5'), 1500);
    assert.throws(() => parseDuration('-1s'), { code: 'ERR_USAGE' });
  });
});
