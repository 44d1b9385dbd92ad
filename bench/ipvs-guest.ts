// Runs the IPVS benchmark cases inside the kernel, each in a fresh network
// namespace, and prints one JSON result per line on stdout (progress on stderr).

import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { CaseResult } from './ipvs-case.js';

const caseScript = fileURLToPath(new URL('./ipvs-case.js', import.meta.url));

export const SIZES: ReadonlyArray<readonly [number, number]> = [
  [1000, 10],
  [10000, 10],
];
export const CASES = ['batched', 'single', 'ipvsadm-restore', 'dump'] as const;

function runCase(kind: string, services: number, dests: number): CaseResult {
  const started = Date.now();
  process.stderr.write(`bench: ${kind} ${services} x ${dests} ... `);
  const r = spawnSync(
    'unshare',
    ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, caseScript, kind, String(services), String(dests), '1'],
    { encoding: 'utf8', maxBuffer: 1 << 26 },
  );
  if (r.status !== 0) {
    process.stderr.write('FAILED\n');
    throw new Error(`case ${kind} ${services}x${dests} exited ${r.status}:\n${r.stderr}`);
  }
  const res = JSON.parse(r.stdout.trim().split('\n').pop()!) as CaseResult;
  process.stderr.write(`${(res.ms / 1000).toFixed(3)} s (case wall ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  return res;
}

for (const [s, d] of SIZES) {
  for (const c of CASES) process.stdout.write(JSON.stringify(runCase(c, s, d)) + '\n');
}

// The daemon end to end (bench/daemon-case.ts), each size in a fresh namespace.
const daemonScript = fileURLToPath(new URL('./daemon-case.js', import.meta.url));
for (const vips of [100, 10000]) {
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', process.execPath, daemonScript, String(vips)], {
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`daemon case ${vips} exited ${r.status}`);
  process.stdout.write(r.stdout.trim().split('\n').pop()! + '\n');
}
