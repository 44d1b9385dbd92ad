// A VIP's own IPVS scheduler end to end: a Marathon app whose port carries
// `l4lb.scheduler` gets an IPVS service with that scheduler (as `ipvsadm -S`
// reads it back), and changing the label edits the service in place: the
// destinations stay exactly as they were and no pass adds or deletes any.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { requireKernel, cleanupAfter, createBackend, ipvsadm, run, type Backend } from './lib.js';
import { MarathonEmulator } from '../emulators/marathon.js';
import { Daemon, countLandings, deployHttpApp, dig, e2eDaemonFlags, l4lb, until, type LogLine } from './e2e-lib.js';

requireKernel();
const cleanup = cleanupAfter();
const DNS_PORT = 5354;

let marathon: MarathonEmulator;
let backends: Backend[] = [];
let daemon: Daemon;
let vip = '';
const socket = join(mkdtempSync(join(tmpdir(), 'l4lb-sock-')), 'l4lb.sock');

/** The SCHEDULER column of `l4lb get vips` for the VIP. */
async function cliScheduler(): Promise<string | undefined> {
  const out = (await run(process.execPath, [l4lb, 'get', 'vips', '--socket', socket], { timeoutMs: 30_000 })).stdout.split('\n');
  const cols = out[0]?.split(/\s{2,}/) ?? [];
  const row = out.find((l) => l.includes(` ${vip} `))?.split(/\s{2,}/);
  return row?.[cols.indexOf('SCHEDULER')];
}

/** The service line and the destination lines of the VIP, as `ipvsadm -S -n` prints them. */
async function saved(): Promise<{ service: string | undefined; destinations: string[] }> {
  const lines = (await ipvsadm('-S', '-n')).stdout.split('\n');
  return {
    service: lines.find((l) => l.startsWith(`-A -t ${vip}:80 `)),
    destinations: lines.filter((l) => l.startsWith(`-a -t ${vip}:80 `)).sort(),
  };
}

before(async () => {
  backends = [await createBackend(0, cleanup), await createBackend(1, cleanup)];
  marathon = await MarathonEmulator.start({ agents: backends.map((b, i) => ({ id: `agent-${i}`, host: b.addr, ip: b.addr })) });
  cleanup.add(() => marathon.stop());
  await deployHttpApp(marathon, backends, { id: '/sched', instances: 2, vip: '/sched:80', portLabels: { 'l4lb.scheduler': 'rr' } }, cleanup);
  daemon = new Daemon(['--marathon', marathon.url, '--dns-listen', `127.0.0.1:${DNS_PORT}`, ...e2eDaemonFlags(mkdtempSync(join(tmpdir(), 'l4lb-state-'))), '--status-socket', socket]);
  cleanup.add(() => daemon.kill('SIGKILL'));
});

after(async () => {
  await daemon?.kill('SIGKILL');
});

test('port label l4lb.scheduler: rr gives an IPVS service with scheduler rr (the default is wlc)', async () => {
  vip = await until('DNS answer', async () => (await dig(DNS_PORT, 'sched.marathon.l4lb.thisdcos.directory')) || undefined).catch((e: Error) => {
    throw new Error(`${e.message}; daemon log:\n${daemon.lines.slice(-25).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  const s = await until('2 destinations', async () => {
    const x = await saved();
    return x.destinations.length === 2 ? x : undefined;
  });
  assert.equal(s.service, `-A -t ${vip}:80 -s rr`);
  assert.equal(await cliScheduler(), 'rr', 'l4lb get vips shows the VIP\'s own scheduler');
  // rr alternates strictly: 10 requests, 5 each.
  assert.deepEqual(Object.values(await countLandings(`http://${vip}:80/`, 10)).sort(), [5, 5]);
});

test('changing the label to sh edits the service in place: scheduler sh, destinations unchanged, no destination op', async () => {
  const before = await saved();
  const from = daemon.lines.length;
  marathon.updateApp('/sched', (app) => {
    const defs = app['portDefinitions'] as Array<{ labels: Record<string, string> }>;
    defs[0]!.labels['l4lb.scheduler'] = 'sh';
  });
  await until('scheduler sh', async () => ((await saved()).service === `-A -t ${vip}:80 -s sh` ? true : undefined)).catch((e: Error) => {
    throw new Error(`${e.message}; ipvsadm still has ${before.service}; daemon log:\n${daemon.lines.slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
  });
  // ipvsadm can see the change before the pass that wrote it has logged.
  const isPass = (l: LogLine): l is LogLine & { ops: Record<string, number>; opsTotal: number } => l.message === 'reconcile pass';
  await until('the pass that wrote the change', async () => (daemon.lines.slice(from).some((l) => isPass(l) && l.opsTotal > 0) ? true : undefined));
  const after = await saved();
  assert.deepEqual(after.destinations, before.destinations);
  // Every pass since the change, summed: exactly one service edit and nothing else.
  const passes = daemon.lines.slice(from).filter(isPass);
  const total: Record<string, number> = {};
  for (const p of passes) {
    for (const [k, n] of Object.entries(p.ops)) total[k] = (total[k] ?? 0) + n;
  }
  assert.deepEqual(total, { 'add-service': 0, 'edit-service': 1, 'delete-service': 0, 'add-destination': 0, 'edit-destination': 0, 'delete-destination': 0 },
    JSON.stringify(passes));
  assert.equal(await cliScheduler(), 'sh');
  // sh hashes the source address: every request from this node lands on one task.
  assert.equal(Object.keys(await countLandings(`http://${vip}:80/`, 6)).length, 1);
});
