// One daemon benchmark case, run inside the kernel in a FRESH network
// namespace: a Mesos master emulator holding N tasks (one VIP each, 10 task
// IPs each: N VIPs x 10 backends), `l4lb run` against it as a real process.
// Measures cold sync, event-to-kernel latency over 200 changes, a no-op
// resync and peak RSS; prints one JSON line.
//
//   node dist/bench/daemon-case.js <vips>
//
// Addresses: VIPs in 198.18.0.0/16 and backends in 198.19.0.0/16 (RFC 2544
// benchmarking ranges); nothing is ever sent to them.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { MesosMasterEmulator } from '../test/emulators/mesos-master.js';
import { Daemon, type LogLine } from '../test/kernel/e2e-lib.js';

export interface DaemonCaseResult {
  case: 'daemon';
  vips: number;
  /** Daemon start to the end of its first reconcile pass. */
  coldSyncMs: number;
  /** The first pass alone (plan + apply of every service and destination). */
  firstPassMs: number;
  firstPassOps: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  noopResyncMs: number;
  noopResyncOps: number;
  ipvsadmSaveMs: number;
  peakRssMiB: number;
  /** Peak RSS when the first pass was done: how much of the peak the cold sync accounts for. */
  peakRssColdSyncMiB: number;
  /** Minor page faults by the end of the first pass: in user-mode Linux each costs ~40 us, so memory touched is time. */
  minorFaultsColdSync: number;
}

const BACKENDS = 10;

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

/** Fields of /proc/<pid>/stat after the comm field (which may hold spaces): [0] is field 3, state. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** minflt, field 10 of /proc/<pid>/stat. */
function minorFaults(pid: number): number {
  return Number(statFields(pid)[7]);
}

function vmHwmMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2]);
  const say = (s: string) => process.stderr.write(`bench: daemon ${n} x ${BACKENDS}: ${s}\n`);
  const master = await MesosMasterEmulator.start({ heartbeatIntervalSeconds: 15 });
  master.addAgent({ id: 'S0', hostname: '198.19.255.254' });
  master.addFramework({ id: 'F0', name: 'marathon' });
  for (let i = 0; i < n; i++) {
    const ips = Array.from({ length: BACKENDS }, (_, j) => `198.19.${(i * BACKENDS + j) >> 8 & 255}.${((i * BACKENDS + j) & 255) || 1}`);
    master.addTask({ id: `t${i}`, frameworkId: 'F0', agentId: 'S0', name: `svc${i}`, ips, healthCheck: true, healthy: true, ports: [{ number: 8080, vips: [`/svc${i}:80`] }] });
  }
  // The master's own work (rendering 11 MB of state) is not l4lb's: a real master runs elsewhere.
  master.prerender();
  say('cluster ready, starting l4lb run');
  const t0 = performance.now();
  const d = new Daemon([
    '--mesos', master.url,
    '--dns-listen', '',
    '--state-dir', mkdtempSync(join(tmpdir(), 'l4lb-bench-')),
    '--vips-ipv4-min', '198.18.0.0',
    '--vips-ipv4-max', '198.18.255.255',
    '--reconcile-resync-interval', '4s',
    '--dataplane-hairpin', 'false',
    '--log-format', 'json',
  ]);
  // L4LB_BENCH_DAEMON_LOG: also sample the daemon's page faults and RSS every 50 ms through the cold sync.
  const samples: string[] = [];
  const sampler = process.env.L4LB_BENCH_DAEMON_LOG ? setInterval(() => {
    try {
      const f = statFields(d.proc.pid!);
      samples.push(JSON.stringify({ message: 'bench sample', at: new Date().toISOString(), minflt: Number(f[7]), rssMiB: Math.round(Number(f[21]) * 4096 / 104857.6) / 10 }));
    } catch {
      // the process is gone
    }
  }, 50) : undefined;
  try {
    const passes = () => d.lines.filter((l) => l.message === 'reconcile pass');
    const first = await d.waitFor((l) => l.message === 'reconcile pass', 'the first pass', 600_000);
    const coldSyncMs = performance.now() - t0;
    const peakRssColdSyncMiB = vmHwmMiB(d.proc.pid!);
    const minorFaultsColdSync = minorFaults(d.proc.pid!);
    clearInterval(sampler);
    say(`cold sync ${(coldSyncMs / 1000).toFixed(2)} s (${String(first['opsTotal'])} operations, ${minorFaultsColdSync} page faults)`);

    // Event -> kernel ACK: one health flip (10 weight edits) at a time; the pass
    // line is logged after the kernel acknowledged the batch.
    const latencies: number[] = [];
    const changedAt: number[] = [];
    for (let k = 0; k < 200; k++) {
      const before = passes().length;
      const ts = performance.now();
      changedAt.push(Date.now());
      // Every update is a real change: the first visit to a task fails its health check, the next restores it.
      master.updateTask('F0', `t${k % n}`, { state: 'TASK_RUNNING', healthy: Math.floor(k / n) % 2 === 1 });
      // The first pass that writes after the event (its trigger may read `drain` or `resync` when those coincide).
      await d.waitFor((l: LogLine) => l.message === 'reconcile pass' && Number(l['opsTotal']) > 0 && passes().indexOf(l) >= before, 'a pass that applies the change', 60_000);
      latencies.push(performance.now() - ts);
    }
    say(`200 changes: p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms`);

    const before = passes().length;
    const resync = await d.waitFor((l) => l.message === 'reconcile pass' && l['trigger'] === 'resync' && passes().indexOf(l) >= before, 'a no-op resync', 60_000);
    const s0 = performance.now();
    const save = spawnSync('ipvsadm', ['-S', '-n'], { maxBuffer: 1 << 30 });
    const ipvsadmSaveMs = performance.now() - s0;
    if (save.status !== 0) throw new Error(`ipvsadm -S failed: ${save.stderr}`);
    const hwm = vmHwmMiB(d.proc.pid!);
    const out: DaemonCaseResult = {
      case: 'daemon',
      vips: n,
      coldSyncMs,
      firstPassMs: Number(first['durationMs']),
      firstPassOps: Number(first['opsTotal']),
      latencyP50Ms: quantile(latencies, 0.5),
      latencyP99Ms: quantile(latencies, 0.99),
      noopResyncMs: Number(resync['durationMs']),
      noopResyncOps: Number(resync['opsTotal']),
      ipvsadmSaveMs,
      peakRssMiB: hwm,
      peakRssColdSyncMiB,
      minorFaultsColdSync,
    };
    process.stdout.write(JSON.stringify(out) + '\n');
    // L4LB_BENCH_DAEMON_LOG: keep the daemon's log lines for a closer look.
    if (process.env.L4LB_BENCH_DAEMON_LOG) {
      const changes = latencies.map((ms, i) => JSON.stringify({ message: 'bench change', at: new Date(changedAt[i]!).toISOString(), latencyMs: Math.round(ms * 10) / 10 }));
      writeFileSync(process.env.L4LB_BENCH_DAEMON_LOG, [...d.lines.map((l) => JSON.stringify(l)), ...changes, ...samples].join('\n') + '\n');
    }
  } finally {
    clearInterval(sampler);
    // SIGTERM, so a profiling run (L4LB_DAEMON_NODE_ARGS=--cpu-prof) writes its profile.
    await d.kill('SIGTERM');
    await master.stop();
  }
}

main().catch((e: Error) => {
  process.stderr.write(`bench: daemon case failed: ${e.message}\n`);
  process.exitCode = 1;
});
