// `make bench`: benchmarks with their baselines measured in the same run and
// the same kernel, printed as a table of times and ratios. Not a test: the
// figures go into issue notes and docs, never into assertions.
//
//   node dist/bench/run.js [ipvs]

import { runInKernel } from '../test/harness/index.js';
import { renderTable } from '../controller/cli/output/table.js';
import type { CaseResult } from './ipvs-case.js';
import type { DaemonCaseResult } from './daemon-case.js';
import { modelSuite } from './model.js';

interface Row {
  what: string;
  l4lb: number;
  baselineName: string;
  baseline: number;
  target?: number;
  /** Default: milliseconds, printed as seconds. */
  unit?: 'MiB';
}

const sec = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

async function ipvsSuite(): Promise<Row[]> {
  process.stderr.write('bench: booting a kernel with IPVS (user-mode Linux when the host has none) ...\n');
  const guest = new URL('./ipvs-guest.js', import.meta.url).pathname;
  const r = await runInKernel({
    argv: [process.execPath, guest],
    timeoutMs: 20 * 60_000,
    onOutput: (stream, chunk) => {
      if (stream === 'stderr') process.stderr.write(chunk);
    },
  });
  process.stderr.write(`bench: kernel ${r.kernel} (${r.mode}), boot ${(r.bootMs / 1000).toFixed(1)} s\n`);
  if (r.code !== 0) throw new Error(`benchmark run failed (exit ${r.code}):\n${r.stderr}`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
  const results = lines.map((l) => JSON.parse(l) as CaseResult).filter((x) => (x as { case: string }).case !== 'daemon');
  const daemon = lines.map((l) => JSON.parse(l) as DaemonCaseResult).filter((x) => x.case === 'daemon');
  const get = (c: string, s: number) => {
    const x = results.find((y) => y.case === c && y.services === s);
    if (!x) throw new Error(`missing result ${c} ${s}`);
    return x;
  };
  const rows: Row[] = [];
  for (const s of [...new Set(results.map((x) => x.services))]) {
    const d = get('batched', s).dests;
    const size = `${s.toLocaleString('en')} x ${d}`;
    const restore = get('ipvsadm-restore', s).ms;
    const batched = get('batched', s);
    rows.push({ what: `program ${size}: l4lb batched, cold process`, l4lb: batched.ms, baselineName: 'ipvsadm -R', baseline: restore, target: 0.025 });
    rows.push({ what: `program ${size}: l4lb batched, warm (daemon)`, l4lb: batched.extra.warmMs!, baselineName: 'ipvsadm -R', baseline: restore, target: 0.025 });
    rows.push({ what: `program ${size}: encode only (no syscalls)`, l4lb: batched.extra.encodeMs!, baselineName: 'l4lb batched', baseline: batched.ms });
    rows.push({ what: `program ${size}: one request + ACK per op`, l4lb: get('single', s).ms, baselineName: 'ipvsadm -R', baseline: restore });
    const dump = get('dump', s);
    rows.push({ what: `dump ${size}: l4lb (library)`, l4lb: dump.ms, baselineName: 'ipvsadm -S -n', baseline: dump.extra.ipvsadmSaveMs!, target: 0.35 });
    rows.push({ what: `dump ${size}: l4lb ipvs list -o json (process)`, l4lb: dump.extra.cliJsonMs!, baselineName: 'ipvsadm -S -n', baseline: dump.extra.ipvsadmSaveMs! });
  }
  const small = daemon.find((x) => x.vips === 100);
  const big = daemon.find((x) => x.vips === 10000);
  if (small && big) {
    const restore10k = get('ipvsadm-restore', 10000).ms;
    rows.push({ what: 'l4lb run: cold sync 10,000 x 10 from emulated Mesos (start to first pass done)', l4lb: big.coldSyncMs, baselineName: 'ipvsadm -R', baseline: restore10k, target: 0.05 });
    rows.push({ what: 'l4lb run: first reconcile pass alone, 10,000 x 10', l4lb: big.firstPassMs, baselineName: 'ipvsadm -R', baseline: restore10k, target: 0.05 });
    rows.push({ what: 'l4lb run: event -> kernel ACK p50, 10,000 VIPs', l4lb: big.latencyP50Ms, baselineName: 'p50 at 100 VIPs', baseline: small.latencyP50Ms, target: 2 });
    rows.push({ what: 'l4lb run: event -> kernel ACK p99, 10,000 VIPs', l4lb: big.latencyP99Ms, baselineName: 'p99 at 100 VIPs', baseline: small.latencyP99Ms, target: 2 });
    rows.push({ what: `l4lb run: no-op resync 10,000 x 10 (${big.noopResyncOps} writes)`, l4lb: big.noopResyncMs, baselineName: 'ipvsadm -S -n', baseline: big.ipvsadmSaveMs, target: 0.4 });
    rows.push({ what: 'l4lb run: peak RSS at 10,000 x 10', l4lb: big.peakRssMiB, baselineName: 'budget', baseline: 200, target: 1, unit: 'MiB' });
    rows.push({ what: 'l4lb run: peak RSS at 10,000 x 10, by the end of the cold sync', l4lb: big.peakRssColdSyncMiB, baselineName: 'budget', baseline: 200, unit: 'MiB' });
  }
  return rows;
}

async function main(): Promise<void> {
  const which = process.argv[2] ?? 'all';
  const rows: Row[] = [];
  if (which === 'all' || which === 'model') rows.push(...(await modelSuite()));
  if (which === 'all' || which === 'ipvs') rows.push(...(await ipvsSuite()));
  const table = rows.map((r) => {
    const ratio = r.l4lb / r.baseline;
    const verdict = r.target === undefined ? '' : ratio <= r.target ? `<= ${r.target}x: met` : `<= ${r.target}x: MISSED`;
    const fmt = (v: number) => (r.unit === 'MiB' ? `${v.toFixed(0)} MiB` : sec(v));
    return [r.what, fmt(r.l4lb), `${r.baselineName} ${fmt(r.baseline)}`, `${ratio.toFixed(3)}x`, verdict];
  });
  process.stdout.write('\n' + renderTable(['BENCHMARK', 'L4LB', 'BASELINE (SAME RUN)', 'RATIO', 'TARGET'], table));
}

main().catch((e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  process.exitCode = 1;
});
